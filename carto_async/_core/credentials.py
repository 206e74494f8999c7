"""Credentials, base URLs and key redaction (sans-I/O)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import (
    SplitResult,
    parse_qsl,
    quote,
    quote_plus,
    urlencode,
    urlsplit,
    urlunsplit,
)

import attrs

from carto_async.errors import ValidationError

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_USER",
    "REDACTED",
    "Credentials",
    "is_loopback_host",
    "redact",
    "redact_url",
]

REDACTED = "***"

#: The environment variables :meth:`Credentials.from_env` reads (the command line too).
ENV_USER = "CARTO_USER"
ENV_API_KEY = "CARTO_API_KEY"
ENV_BASE_URL = "CARTO_BASE_URL"

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_KEY_PARAMS = frozenset({"api_key", "map_key"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and literal loopback addresses (``127.0.0.0/8``, ``::1``).

    Other names, ``*.localhost`` included, go wherever the resolver says, so they do not count.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """Return ``url`` with any ``api_key``/``map_key`` query value and its userinfo masked.

    The whole userinfo goes: in ``https://KEY@host`` the user part is the secret.
    """
    parts = urlsplit(str(url))
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k in _KEY_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if k in _KEY_PARAMS else v) for k, v in pairs], safe="*/:"
            )
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` (and its URL-encoded form) in ``text``."""
    if not secret:
        return text
    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        text = text.replace(form, REDACTED)
    return text


def _check_api_key(instance: object, attribute: object, value: str | None) -> None:
    # The messages never quote the value: it is the secret.
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(f"api_key must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(
            "api_key is empty: give the account's API key, or leave api_key out (None) to "
            "act as the public user, who can only read public data"
        )
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(
            "api_key has surrounding whitespace or control characters (a stray newline from "
            "a file or a shell variable?); give the key alone"
        )


def _valid_port(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return False
    return True


def _check_username(value: str) -> str:
    if not value or not _USERNAME_RE.match(value):
        raise ValidationError(
            f"invalid CARTO username {value!r}: use letters, digits, '-' and '_' only"
        )
    return value


@attrs.frozen(repr=False)
class Credentials:
    """Who you are on CARTO and where your account lives.

    ``base_url`` is the account's root: ``https://{user}.carto.com`` on CARTO cloud (the default),
    ``https://host/user/{user}`` on premise, or any URL you give (LocalCarto's ``server.base_url``).
    The key never appears in the repr.

    Example::

        creds = Credentials("demo", api_key="...")                     # https://demo.carto.com
        creds = Credentials("demo", api_key="...", base_url="https://carto.example.com/user/demo")
        creds = Credentials.from_env()    # CARTO_USER, CARTO_API_KEY, CARTO_BASE_URL
    """

    username: str = attrs.field(converter=_check_username)
    api_key: str | None = attrs.field(default=None, validator=_check_api_key)
    base_url: str = attrs.field(default="")
    allow_insecure_http: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.base_url:
            object.__setattr__(self, "base_url", f"https://{self.username}.carto.com")
        url = self.base_url.rstrip("/")
        if "{user}" in url or "{username}" in url:
            url = url.replace("{username}", self.username).replace("{user}", self.username)
        parts = urlsplit(url)
        problems: list[str] = []
        # The messages name the part that is wrong, never the URL: a URL given by mistake
        # may hold the key anywhere.
        if "@" in parts.netloc:
            # Userinfo would travel in every request and show in every URL printed or
            # logged; the key has one place, api_key.
            problems.append(
                "base_url must not carry credentials (https://user:key@host/...): "
                "give the key as api_key"
            )
        elif parts.scheme not in ("http", "https"):
            # Only a short word is shown: in "KEY:..." urlsplit finds a scheme too.
            shown = parts.scheme.isalpha() and len(parts.scheme) <= 6
            problems.append(
                f"base_url must be an http(s) URL, not {parts.scheme}://..."
                if shown
                else "base_url must be an http(s) URL starting with https:// (or http://)"
            )
        elif not parts.hostname or not _valid_port(parts):
            problems.append("base_url must be an http(s) URL with a host and a valid port")
        elif parts.query or parts.fragment:
            problems.append("base_url must not carry a query string or fragment")
        elif (
            parts.scheme == "http"
            and self.api_key
            and not self.allow_insecure_http
            and not is_loopback_host(parts.hostname)
        ):
            problems.append(
                f"refusing to send the API key over plain http:// to {parts.hostname}; "
                "use https, or pass allow_insecure_http=True if you really mean it"
            )
        if problems:
            raise ValidationError("; ".join(problems), problems=problems)
        object.__setattr__(self, "base_url", url)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        username: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        allow_insecure_http: bool = False,
    ) -> Credentials:
        """Read ``CARTO_USER``, ``CARTO_API_KEY`` and optional ``CARTO_BASE_URL``.

        A value given as an argument wins over its variable (the command line's flags do
        this). ``CARTO_API_KEY`` unset means the public user; set but empty it is a
        :class:`ValidationError`, since that is how a secret that did not arrive looks
        (``CARTO_API_KEY=$UNSET_SECRET``).
        """
        env = os.environ if environ is None else environ
        user = username or env.get(ENV_USER, "").strip()
        if not user:
            raise ValidationError(
                f"no CARTO credentials: set {ENV_USER} and {ENV_API_KEY} (and {ENV_BASE_URL} "
                "for on-premise servers)"
            )
        if api_key is None and ENV_API_KEY in env:
            api_key = env[ENV_API_KEY].strip()
            if not api_key:
                raise ValidationError(
                    f"{ENV_API_KEY} is set but empty: set it to the account's API key, or "
                    "unset it to act as the public user"
                )
        return cls(
            user,
            api_key=api_key,
            base_url=base_url or env.get(ENV_BASE_URL, "").strip(),
            allow_insecure_http=allow_insecure_http,
        )

    def required_key(self, what: str) -> str:
        """The key, for an API that cannot be used without one.

        Raises :class:`ValidationError` before anything is sent when there is none: the
        server would answer 401 only after reading the whole request (a whole file, for an
        upload).
        """
        if not self.api_key:
            raise ValidationError(
                f"{what} needs an API key and these credentials have none (no api_key is "
                "the public user, who can only read public data through the SQL and Maps APIs)"
            )
        return self.api_key

    def url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/api/v1/imports``."""
        return self.base_url + "/" + path.lstrip("/")

    def redact(self, text: str) -> str:
        """Mask this key wherever it appears in ``text``."""
        return redact(redact_url(text) if "://" in text else text, self.api_key)

    def __repr__(self) -> str:
        key = REDACTED if self.api_key else None
        return (
            f"Credentials(username={self.username!r}, api_key={key!r}, base_url={self.base_url!r})"
        )
