"""Response bodies as the real CARTO services render them (reference §3, §4, §9, §10)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

from starlette.responses import Response

__all__ = [
    "CORS_HEADERS",
    "HTTP_CODE_MESSAGES",
    "JSON_TYPE",
    "SQL_RATE_LIMIT_BODY",
    "error_text",
    "express_json",
    "http_code_message",
    "rails_empty",
    "rails_json",
    "rails_jsonp",
    "server_error",
    "sql_error",
    "user_not_found",
]

JSON_TYPE = "application/json; charset=utf-8"

#: The SQL API's CORS headers, on every response of its routes.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Expose-Headers": "*",
}

SQL_RATE_LIMIT_BODY: dict[str, Any] = {
    "error": ["You are over platform's limits. Please contact us to know more details"],
    "context": "limit",
    "detail": "rate-limit",
}

#: ``http_response_code_message`` of an import whose download got a non-2xx answer. The
#: presenter has a longer table; these are the codes a local download can produce, plus the
#: per-family texts it falls back to.
HTTP_CODE_MESSAGES: dict[str, str] = {
    "401": "This usually means CARTO is not authorized to retrieve this file. If you have "
    "authorization, download the file manually and upload it from your computer.",
    "403": "This usually means CARTO is not authorized to retrieve this file. If you have "
    "authorization, download the file manually and upload it from your computer. Tip: Should "
    "you be using 'https' instead of 'http' in your URL?",
    "404": "This usually means no file was found at the specified URL.",
    "500": "This usually means the file provider responded with an internal server error. They "
    "might be overloaded or having some down time. Try again later!",
    "503": "This usually means the file provider responded with an internal server error. They "
    "might be overloaded or having some down time. Try again later!",
}
_FAMILY_MESSAGES = {
    "1": "This usually means more actions are required to download this file.",
    "3": "This usually means an unknown redirection error has occured.",
    "4": "This usually means an unknown client error has occured.",
    "5": "This usually means an unknown server error has occured.",
}

_JSONP_CALLBACK_RE = re.compile(r"\A[$a-z_][0-9a-z_$]*\Z", re.IGNORECASE)


def http_code_message(code: str) -> str:
    """The presenter's explanation of a download's HTTP status."""
    return HTTP_CODE_MESSAGES.get(code) or _FAMILY_MESSAGES.get(
        code[:1], "This is an unkown type of HTTP status code."
    )


@functools.cache
def _error_texts() -> dict[str, dict[str, str]]:
    raw = resources.files("carto_async.data").joinpath("import_error_codes.json").read_text("utf-8")
    texts: dict[str, dict[str, str]] = json.loads(raw)
    return texts


def error_text(code: int | None) -> dict[str, str] | None:
    """``get_error_text`` for ``code``: ``None`` for no code and for codes without a text (1010)."""
    if code is None:
        return None
    return _error_texts().get(str(code))


def _rails_dumps(data: Any) -> bytes:
    # ActiveSupport escapes HTML-significant characters in JSON (escape_html_entities_in_json),
    # so the error texts' <a href=...> travel as \u003ca ...\u003e.
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


def rails_json(data: Any, status: int = 200) -> Response:
    """A Rails ``render json:`` response."""
    return Response(_rails_dumps(data), status_code=status, media_type=JSON_TYPE)


def rails_jsonp(data: Any, status: int, callback: object) -> Response:
    """A Rails ``render_jsonp`` response: plain JSON, or ``/**/cb(...)`` with a valid callback."""
    if callback is None or callback == "":
        return rails_json(data, status)
    if not isinstance(callback, str) or not _JSONP_CALLBACK_RE.match(callback):
        return rails_json({"errors": {"callback": "Invalid callback format"}}, 400)
    body = b"/**/" + callback.encode() + b"(" + _rails_dumps(data) + b")"
    return Response(body, status_code=status, media_type="text/javascript; charset=utf-8")


def rails_empty(status: int) -> Response:
    """``head :<status>``: the Rails answer with no body (401 for a missing or wrong key)."""
    return Response(b"", status_code=status, media_type="text/html")


def express_json(data: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An Express ``res.json`` response (``JSON.stringify``: no spaces)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=dict(headers or {}))


def sql_error(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An SQL API error body ``{"error":[message]}``."""
    return express_json({"error": [message]}, status, headers)


def user_not_found(user: str, headers: Mapping[str, str] | None = None) -> Response:
    """The SQL API's 404 for a user that does not exist."""
    message = (
        f"Sorry, we can't find CARTO user '{user}'. Please check that you have entered the "
        "correct domain."
    )
    return sql_error(message, 404, headers)


_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    "</html>\r\n"
)
_RAILS_500_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head>\n  <title>We're sorry, but something went wrong (500)"
    '</title>\n</head>\n<body>\n  <div class="dialog">\n    <h1>We\'re sorry, but something '
    "went wrong.</h1>\n  </div>\n</body>\n</html>\n"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


def server_error(status: int, *, service: str) -> Response:
    """A 5xx as a client meets it in production.

    502/503/504 come from the nginx in front of every service (an HTML page); a 500 comes from
    the application itself: Rails' static error page, or the SQL API's JSON error.
    """
    if status == 500 and service == "sql":
        return sql_error("Internal Server Error", 500)
    if status == 500:
        return Response(_RAILS_500_PAGE, status_code=500, media_type="text/html; charset=utf-8")
    page = _NGINX_PAGE.format(code=status, reason=_REASONS.get(status, "Error"))
    return Response(page, status_code=status, media_type="text/html")
