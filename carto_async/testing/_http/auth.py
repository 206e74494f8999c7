"""API keys and where each service reads them from (reference §2)."""

from __future__ import annotations

import base64
import binascii
import enum
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

import attrs

from carto_async.testing._apikeys import ApiKeyStore, AuthApiError, StoredKey

__all__ = [
    "DEFAULT_PUBLIC_KEY",
    "PRESET_REGULAR_NAME",
    "KeyKind",
    "Keys",
    "basic_credentials",
    "new_key",
    "rails_basic_credentials",
    "sql_key",
]

#: The token of every CARTO user's "Default public" key.
DEFAULT_PUBLIC_KEY = "default_public"

# Rails matches the header with /basic\s(?<auth>\w+)/i: only [A-Za-z0-9_] of the base64 is
# captured, so a value containing "+" or "/" is cut short and authentication fails.
_RAILS_BASIC_RE = re.compile(r"basic\s(?P<auth>\w+)", re.IGNORECASE | re.ASCII)
_B64_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/")


class KeyKind(enum.Enum):
    """What a key is: the master key, a regular key (its grants decide), the public user."""

    MASTER = "master"
    REGULAR = "regular"
    PUBLIC = "public"


def new_key() -> str:
    """A random key shaped like CARTO's (40 hex digits)."""
    return secrets.token_hex(20)


#: The name of LocalCarto's preset regular key (``LocalCarto.regular_api_key``).
PRESET_REGULAR_NAME = "LocalCarto regular"


@attrs.frozen
class Keys:
    """The keys of the one LocalCarto user, read from its Auth API key store.

    Created, regenerated and deleted keys count at once: :meth:`key` and :meth:`kind` ask
    the store. Tokens stay out of the repr (and so of the server's).
    """

    store: ApiKeyStore = attrs.field(repr=False)
    public: str = DEFAULT_PUBLIC_KEY

    @classmethod
    def create(cls, username: str, master: str, **store_options: Any) -> Keys:
        """A store with the master key, the default public key and the preset regular key.

        The preset regular key may call the SQL and Maps APIs and, like any regular key,
        reads the public tables plus what it is granted (nothing, until a test grants it).
        """
        store = ApiKeyStore(username, master, **store_options)
        store.create(
            PRESET_REGULAR_NAME, [{"type": "apis", "apis": ["sql", "maps"]}], token=new_key()
        )
        return cls(store)

    @property
    def master(self) -> str:
        """The master key's token (it changes when the key is regenerated)."""
        return self.store.master.token

    @property
    def regular(self) -> str:
        """The preset regular key's token (empty once that key is deleted)."""
        for key in self.store.all_keys():
            if key.name == PRESET_REGULAR_NAME and key.is_regular:
                return key.token
        return ""

    def key(self, token: str | None) -> StoredKey | None:
        """The key a SQL or Maps request runs as: no key is the default public key, an
        unknown one is ``None``."""
        return self.store.for_request(token)

    def kind(self, token: str | None) -> KeyKind | None:
        """The kind of ``token``; no token is the public user, an unknown one is ``None``."""
        key = self.key(token)
        if key is None:
            return None
        if key.is_master:
            return KeyKind.MASTER
        return KeyKind.REGULAR if key.is_regular else KeyKind.PUBLIC

    def is_master(self, token: object) -> bool:
        """Warden's ``auth_api`` strategy: ``token`` is the master key (no key is not)."""
        try:
            self.store.authenticate(token, master=True)
        except AuthApiError:
            return False
        return True


def _ruby_decode64(text: str) -> str:
    # Ruby's lenient unpack("m"): skips characters outside the alphabet, decodes a short last
    # group as far as it goes and drops a lone trailing character.
    clean = "".join(c for c in text if c in _B64_ALPHABET)
    rest = len(clean) % 4
    if rest == 1:
        clean = clean[:-1]
    elif rest:
        clean += "=" * (4 - rest)
    try:
        return base64.b64decode(clean).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def rails_basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, key)`` from an ``Authorization`` header as the Rails APIs parse it, or ``None``.

    >>> rails_basic_credentials("Basic ZGVtbzprZXk=")
    ('demo', 'key')
    """
    if not header:
        return None
    match = _RAILS_BASIC_RE.search(header)
    if match is None:
        return None
    parts = _ruby_decode64(match["auth"]).split(":")
    return parts[0], (parts[1] if len(parts) > 1 else "")


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, key)`` from a well-formed ``Authorization: Basic`` header, or ``None``."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, key = decoded.partition(":")
    return (user, key) if sep else None


def sql_key(
    header: str | None, query: Mapping[str, object], body: Mapping[str, object]
) -> tuple[str | None, str | None]:
    """``(basic_user, key)`` for the SQL API: header, then query string, then body.

    ``map_key`` is an alias of ``api_key``. ``basic_user`` is set only when the key came from a
    Basic header, so the caller can check it against the URL's user.
    """
    creds = basic_credentials(header)
    if creds is not None:
        return creds
    for source in (query, body):
        for name in ("api_key", "map_key"):
            value = source.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, str) and value:
                return None, value
    return None, None
