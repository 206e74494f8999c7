"""What to send and what came back, described without doing any I/O."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

import attrs

__all__ = [
    "CHUNK_SIZE",
    "KeyPlacement",
    "RateLimitInfo",
    "RequestSpec",
    "Service",
    "body_headers",
    "declared_length",
    "parse_rate_limit",
    "parse_retry_after",
]


class Service(Enum):
    """Which CARTO service answers a request; each has its own error body shape."""

    IMPORTS = "imports"  # Rails Import API: {"errors": {"imports": "..."}}
    RAILS = "rails"  # Sync tables / exports: {"errors": "..."}
    SQL = "sql"  # SQL API: {"error": ["..."]}
    MAPS = "maps"  # Maps API: {"errors": [...], "errors_with_context": [...]}


class KeyPlacement(Enum):
    """Where the API key travels. Never in a JSON body."""

    QUERY = "query"  # ?api_key=..., the only reliable way on the Rails endpoints
    BASIC = "basic"  # Authorization: Basic, keeps the key out of URLs (SQL and Maps APIs)
    NONE = "none"  # anonymous / public


#: How many bytes a streamed body reads from its source at a time.
CHUNK_SIZE = 256 * 1024

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@attrs.frozen
class RequestSpec:
    """One API request, before the transport adds the base URL, the key and a body stream.

    ``creates_job`` marks a POST that makes server-side work (an import, export, sync or batch
    job): it is never retried once the request may have reached the server.
    """

    method: str
    path: str
    service: Service
    params: Mapping[str, str] = attrs.field(factory=dict)
    json: Any = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    key: KeyPlacement = KeyPlacement.QUERY
    creates_job: bool = False
    idempotent: bool | None = None

    @property
    def is_idempotent(self) -> bool:
        """True when repeating the request cannot do the work twice."""
        if self.creates_job:
            return False
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in _IDEMPOTENT_METHODS


@attrs.frozen
class RateLimitInfo:
    """The ``Carto-Rate-Limit-*`` headers of a response (``None`` where absent)."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None
    retry_after: float | None = None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Negative, empty or unparseable values give ``None`` (the docs' ``-1`` means "allowed").
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if seconds < 0 or math.isnan(seconds):
        return None
    return seconds


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """Parse the rate-limit headers; ``None`` when the response carried none of them."""
    info = RateLimitInfo(
        limit=_int_header(headers, "carto-rate-limit-limit"),
        remaining=_int_header(headers, "carto-rate-limit-remaining"),
        reset=_int_header(headers, "carto-rate-limit-reset"),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )
    if info == RateLimitInfo():
        return None
    return info


def body_headers(*, content_type: str | None, length: int | None, gzip: bool) -> dict[str, str]:
    """The content headers of a streamed request body.

    A body of known length (and not compressed on the fly) says ``Content-Length``; any other
    goes ``Transfer-Encoding: chunked``. ``gzip`` adds ``Content-Encoding: gzip``.
    """
    out: dict[str, str] = {}
    if content_type is not None:
        out["Content-Type"] = content_type
    if gzip:
        out["Content-Encoding"] = "gzip"
    if length is not None and not gzip:
        out["Content-Length"] = str(length)
    else:
        out["Transfer-Encoding"] = "chunked"
    return out


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The length of a response body as the caller will read it, when the headers tell it.

    ``Content-Length`` counts the bytes on the wire: when the body is compressed
    (``Content-Encoding``), the decoded size is unknown, so this is ``None``.
    """
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    value = _int_header(headers, "content-length")
    return value if value is not None and value >= 0 else None
