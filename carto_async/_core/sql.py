"""SQL API query requests and result parsing (sans-I/O; reference §9.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import converter
from carto_async.models.sql import SQLField, SQLResult

__all__ = ["GET_QUERY_LIMIT", "SQL_PATH", "is_read_only", "parse_result", "query_request"]

SQL_PATH = "/api/v2/sql"

#: Queries longer than this go as a form POST: proxies cap URL lengths around 8 KiB.
GET_QUERY_LIMIT = 1024


_COMMENT_RE = re.compile(r"^\s*(--[^\n]*\n|/\*.*?\*/)", re.DOTALL)
_READ_ONLY_RE = re.compile(r"^\s*\(*\s*(select|with|show|explain|values|table)\b", re.IGNORECASE)
_WRITE_RE = re.compile(
    r"\b(insert|update|delete|create|drop|alter|truncate|grant|copy|"
    r"refresh|vacuum|cdb_\w+)\b",
    re.IGNORECASE,
)


def is_read_only(q: str) -> bool:
    """True for a query that cannot change data, so repeating it is safe (conservative)."""
    text = q
    while (m := _COMMENT_RE.match(text)) is not None:
        text = text[m.end() :]
    if ";" in text.strip().rstrip(";"):
        return False  # several statements: do not guess
    return bool(_READ_ONLY_RE.match(text)) and not _WRITE_RE.search(text)


def query_request(
    q: str,
    *,
    fmt: str | None = None,
    params: Mapping[str, str] | None = None,
    idempotent: bool | None = None,
) -> RequestSpec:
    """GET for short queries, form POST for long ones. The key goes in a Basic auth header."""
    if not isinstance(q, str) or not q.strip():
        raise ValidationError("the SQL query is empty")
    fields = {"q": q, **(params or {})}
    if fmt is not None:
        fields["format"] = fmt
    if len(q) <= GET_QUERY_LIMIT:
        return RequestSpec(
            "GET",
            SQL_PATH,
            Service.SQL,
            params=fields,
            key=KeyPlacement.BASIC,
            idempotent=idempotent,
        )
    return RequestSpec(
        "POST", SQL_PATH, Service.SQL, data=fields, key=KeyPlacement.BASIC, idempotent=idempotent
    )


def parse_result(body: Any) -> SQLResult:
    """An :class:`SQLResult` from a ``format=json`` body.

    A body that carries ``error`` with HTTP 200 (an error after streaming began) raises.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("rows"), list):
        raise APIError(f"unexpected SQL API response: {str(body)[:200]}")
    if body.get("error"):
        errors = body["error"]
        message = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
        raise APIError(f"the query failed after it began returning rows: {message}")
    fields = {
        str(name): converter.structure({"type": "unknown", **spec}, SQLField)
        for name, spec in (body.get("fields") or {}).items()
        if isinstance(spec, Mapping)
    }
    return SQLResult(
        rows=list(body["rows"]),
        fields=fields,
        total_rows=int(body.get("total_rows", len(body["rows"]))),
        time=float(body.get("time") or 0.0),
        notices=list(body.get("notices") or []),
        warnings=list(body.get("warnings") or []),
        infos=list(body.get("infos") or []),
        raw={k: v for k, v in body.items() if k != "rows"},
    )
