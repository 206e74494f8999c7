"""Turn an error response of any CARTO service into the right exception, in the server's words."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from carto_async._core.http import Service, parse_rate_limit
from carto_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimitKind,
    ServerError,
    UnprocessableEntityError,
)
from carto_async.models.maps import MapErrorContext

__all__ = [
    "EXPIRED_LAYERGROUP_HINT",
    "decode_body",
    "error_from_response",
    "import_slots_exhausted",
    "messages_from_body",
]

_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_IMPORT_SLOTS_RE = re.compile(r"allowed (\d+) import slots")
# Windshaft's MapStore, for a layergroup token it no longer (or never) had.
_EXPIRED_LAYERGROUP_RE = re.compile(r"Invalid or nonexistent map configuration token")
EXPIRED_LAYERGROUP_HINT = (
    "the layergroup has expired or never existed (anonymous maps live 2 hours after their "
    "last use): create the map again with maps.create(), or instantiate the named map again"
)
_HTML_TITLE_RE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")


def decode_body(content: bytes, content_type: str | None) -> Any:
    """JSON when the body is JSON (whatever the content type says), else text, else ``None``."""
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") or (content_type or "").startswith("application/json"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _flatten(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    if isinstance(value, Mapping):
        out = []
        for key, item in value.items():
            # Rails validation errors are keyed by field: {"errors": {"imports": "..."}}.
            out.extend(
                f"{key}: {m}" if key not in ("imports", "message") else m for m in _flatten(item)
            )
        return out
    return [str(value)]


def messages_from_body(body: Any) -> tuple[list[str], list[str]]:
    """The human messages and machine codes (types/subtypes/contexts) of an error body.

    Handles every shape: Rails imports ``{"errors": {"imports": msg}}``, Rails
    ``{"errors": msg, "errors_cause": ...}``, SQL ``{"error": [msg], "context": ..,
    "detail": ..}``, Maps ``{"errors": [msg], "errors_with_context": [{type, subtype, ...}]}``,
    plain text and HTML pages.
    """
    codes: list[str] = []
    if isinstance(body, Mapping):
        messages: list[str] = []
        if "errors_with_context" in body and isinstance(body["errors_with_context"], list):
            for item in body["errors_with_context"]:
                if isinstance(item, Mapping):
                    if item.get("message"):
                        messages.append(str(item["message"]))
                    codes.extend(
                        str(item[k]) for k in ("type", "subtype") if item.get(k) is not None
                    )
        if not messages:
            messages = _flatten(body.get("errors")) + _flatten(body.get("error"))
        if not messages and body.get("message"):
            messages = [str(body["message"])]
        codes.extend(str(body[k]) for k in ("context", "detail") if isinstance(body.get(k), str))
        if body.get("errors_cause"):
            messages.extend(_flatten(body["errors_cause"]))
        return messages, codes
    if isinstance(body, str):
        text = body.strip()
        if "<html" in text[:500].lower() or "<!doctype" in text[:100].lower():
            title = _HTML_TITLE_RE.search(text)
            plain = title.group(1) if title else _TAG_RE.sub(" ", text)
            text = " ".join(plain.split())[:200]
        return ([text[:500]] if text else []), codes
    return [], codes


def import_slots_exhausted(status_code: int, body: Any) -> bool:
    """True for the Import API's "already using your allowed N import slots" 429."""
    if status_code != 429 or not isinstance(body, Mapping):
        return False
    messages, _ = messages_from_body(body)
    return any(_IMPORT_SLOTS_RE.search(m) for m in messages)


def _default_message(status_code: int, service: Service) -> str:
    if status_code == 401:
        if service in (Service.IMPORTS, Service.RAILS):
            return (
                "Unauthorized: this endpoint needs the account's master API key "
                "(the server answered 401 with an empty body)"
            )
        return "Unauthorized: the API key is missing or unknown"
    if status_code == 404:
        return "Not found"
    if status_code >= 500:
        return f"CARTO server error (HTTP {status_code})"
    return f"HTTP {status_code}"


def error_from_response(
    *,
    status_code: int,
    content: bytes,
    headers: Mapping[str, str],
    service: Service,
    method: str | None = None,
    url: str | None = None,
    request: Any = None,
) -> APIStatusError:
    """Build the exception for an error response; ``url`` must already be redacted."""
    body = decode_body(content, headers.get("content-type"))
    messages, codes = messages_from_body(body)
    message = "; ".join(messages) if messages else _default_message(status_code, service)
    if status_code == 401 and service in (Service.IMPORTS, Service.RAILS) and not messages:
        message = _default_message(401, service)
    contexts: tuple[MapErrorContext, ...] = ()
    if isinstance(body, Mapping) and isinstance(body.get("errors_with_context"), list):
        contexts = tuple(
            MapErrorContext.from_json(item)
            for item in body["errors_with_context"]
            if isinstance(item, Mapping)
        )
    if service is Service.MAPS and any(_EXPIRED_LAYERGROUP_RE.search(m) for m in messages):
        message = f"{message} ({EXPIRED_LAYERGROUP_HINT})"
        codes.append("layergroup-expired")
    common: dict[str, Any] = {
        "status_code": status_code,
        "body": body,
        "headers": headers,
        "request": request,
        "method": method,
        "url": url,
        "error_codes": tuple(codes),
        "errors_with_context": contexts,
    }
    if status_code == 429:
        limits = parse_rate_limit(headers)
        kind: RateLimitKind
        if import_slots_exhausted(status_code, body):
            kind = "import-slots"
        elif "datasource" in codes or "render" in codes or "timeout" in message.lower():
            kind = "timeout"
        else:
            kind = "rate-limit"
        return RateLimitError(
            message,
            kind=kind,
            retry_after=limits.retry_after if limits else None,
            limit=limits.limit if limits else None,
            remaining=limits.remaining if limits else None,
            reset=limits.reset if limits else None,
            **common,
        )
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    return cls(message, **common)
