"""Credentials, base URLs and key redaction (sans-I/O)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import attrs

from carto_async.errors import ValidationError

__all__ = ["REDACTED", "Credentials", "is_loopback_host", "redact", "redact_url"]

REDACTED = "***"

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_KEY_PARAMS = frozenset({"api_key", "map_key"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``*.localhost`` and loopback IP addresses."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """Return ``url`` with any ``api_key``/``map_key`` query value and userinfo password masked."""
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
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` (and its URL-encoded form) in ``text``."""
    if not secret:
        return text
    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        text = text.replace(form, REDACTED)
    return text


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
    api_key: str | None = attrs.field(default=None)
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
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"base_url must be an http(s) URL, got {redact_url(url)!r}")
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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``CARTO_USER``, ``CARTO_API_KEY`` and optional ``CARTO_BASE_URL``."""
        env = os.environ if environ is None else environ
        user = env.get("CARTO_USER", "").strip()
        if not user:
            raise ValidationError(
                "no CARTO credentials: set CARTO_USER and CARTO_API_KEY (and CARTO_BASE_URL "
                "for on-premise servers)"
            )
        return cls(
            user,
            api_key=env.get("CARTO_API_KEY") or None,
            base_url=env.get("CARTO_BASE_URL", "").strip(),
        )

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
