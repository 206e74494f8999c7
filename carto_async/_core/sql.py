"""SQL API query requests, options and result parsing (sans-I/O; reference §9.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async._core.sql_template import render, skeleton
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import converter
from carto_async.models.sql import Bounds, SQLField, SQLResult

__all__ = [
    "GET_QUERY_LIMIT",
    "MAX_DP",
    "SQL_PATH",
    "VALID_FORMATS",
    "bounds_query",
    "is_read_only",
    "parse_bounds",
    "parse_result",
    "query_fields",
    "query_request",
]

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


VALID_FORMATS: tuple[str, ...] = (
    "json",
    "geojson",
    "topojson",
    "csv",
    "svg",
    "kml",
    "shp",
    "spatialite",
    "gpkg",
    "arraybuffer",
)

#: The decimal places ``ST_AsGeoJSON`` and friends can honour.
MAX_DP = 15

_SORT_ORDERS = ("asc", "desc")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def query_fields(
    q: str,
    *,
    params: Mapping[str, Any] | None = None,
    fmt: str | None = None,
    skipfields: str | Sequence[str] | None = None,
    dp: int | None = None,
    page: int | None = None,
    rows_per_page: int | None = None,
    order_by: str | None = None,
    sort_order: str | None = None,
    filename: str | None = None,
) -> dict[str, str]:
    """The wire fields of a query (``q`` rendered from ``params``), every option validated.

    Raises :class:`ValidationError` listing every problem before anything is sent. ``page``
    needs ``rows_per_page`` (the server pages only with both, so ``page`` defaults to 0);
    ``sort_order`` needs ``order_by``.
    """
    problems: list[str] = []
    if not isinstance(q, str) or not q.strip():
        raise ValidationError("the SQL query is empty")
    if params is not None:
        try:
            q = render(q, params)
        except ValidationError as exc:
            problems.extend(exc.problems)
    fields: dict[str, str] = {"q": q}
    if fmt is not None:
        if not isinstance(fmt, str) or fmt.lower() not in VALID_FORMATS:
            problems.append(f"format must be one of {', '.join(VALID_FORMATS)}, not {fmt!r}")
        else:
            fields["format"] = fmt.lower()
    if skipfields is not None:
        names = [skipfields] if isinstance(skipfields, str) else skipfields
        if not isinstance(names, Sequence) or not names:
            problems.append("skipfields must be a column name or a non-empty list of them")
        elif not all(isinstance(n, str) and n and "," not in n for n in names):
            problems.append(
                f"skipfields must be non-empty column names without commas, not {names!r}"
            )
        else:
            fields["skipfields"] = ",".join(names)
    if dp is not None:
        if not _is_int(dp) or not 0 <= dp <= MAX_DP:
            problems.append(
                f"dp (decimal places) must be an integer from 0 to {MAX_DP}, not {dp!r}"
            )
        else:
            fields["dp"] = str(dp)
    if rows_per_page is not None:
        if not _is_int(rows_per_page) or rows_per_page < 1:
            problems.append(f"rows_per_page must be a positive integer, not {rows_per_page!r}")
        else:
            fields["rows_per_page"] = str(rows_per_page)
            fields["page"] = "0"
    if page is not None:
        if not _is_int(page) or page < 0:
            problems.append(f"page must be an integer >= 0, not {page!r}")
        elif rows_per_page is None:
            problems.append("page needs rows_per_page (the server pages only with both)")
        else:
            fields["page"] = str(page)
    if order_by is not None:
        # The server wraps it as ORDER BY "<order_by>" without escaping: refuse what could
        # close the quotes.
        if not isinstance(order_by, str) or not order_by or '"' in order_by or "\x00" in order_by:
            problems.append(
                f"order_by must be one column name without double quotes, not {order_by!r}"
            )
        else:
            fields["order_by"] = order_by
    if sort_order is not None:
        if not isinstance(sort_order, str) or sort_order.lower() not in _SORT_ORDERS:
            problems.append(f"sort_order must be 'asc' or 'desc', not {sort_order!r}")
        elif order_by is None:
            problems.append("sort_order needs order_by")
        else:
            fields["sort_order"] = sort_order.lower()
    if filename is not None:
        if not isinstance(filename, str) or not filename.strip():
            problems.append(f"filename must be a non-empty string, not {filename!r}")
        else:
            fields["filename"] = filename
    if problems:
        raise ValidationError(f"invalid SQL query: {'; '.join(problems)}", problems=problems)
    return fields


def query_request(
    q: str,
    *,
    params: Mapping[str, Any] | None = None,
    fmt: str | None = None,
    skipfields: str | Sequence[str] | None = None,
    dp: int | None = None,
    page: int | None = None,
    rows_per_page: int | None = None,
    order_by: str | None = None,
    sort_order: str | None = None,
    filename: str | None = None,
    idempotent: bool | None = None,
) -> RequestSpec:
    """GET for short queries, form POST for long ones. The key goes in a Basic auth header.

    ``idempotent`` defaults to :func:`is_read_only` of the rendered query: only reads are
    repeated after an ambiguous failure.
    """
    fields = query_fields(
        q,
        params=params,
        fmt=fmt,
        skipfields=skipfields,
        dp=dp,
        page=page,
        rows_per_page=rows_per_page,
        order_by=order_by,
        sort_order=sort_order,
        filename=filename,
    )
    if idempotent is None:
        # Judge the statement, not the data: a value such as "'; delete" is a quoted literal.
        idempotent = is_read_only(skeleton(q, params) if params is not None else fields["q"])
    if len(fields["q"]) <= GET_QUERY_LIMIT:
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


_TRAILING_SEMICOLONS_RE = re.compile(r"[\s;]+\Z")


_BOUNDS_SQL = (
    "SELECT ST_XMin(ST_Extent(the_geom)) as minx, ST_YMin(ST_Extent(the_geom)) as miny, "
    "ST_XMax(ST_Extent(the_geom)) as maxx, ST_YMax(ST_Extent(the_geom)) as maxy "
    "FROM (\n{}\n) as subq"
)


def bounds_query(q: str, params: Mapping[str, Any] | None = None) -> str:
    """The query CartoDB.js ``getBounds`` sends: the extent of ``q``'s ``the_geom``.

    ``q`` sits on lines of its own so that a trailing ``--`` comment cannot swallow the
    closing parenthesis; a trailing ``;`` is dropped (it cannot end a subquery).
    """
    if not isinstance(q, str) or not q.strip():
        raise ValidationError("the SQL query is empty")
    if params is not None:
        q = render(q, params)
    inner = _TRAILING_SEMICOLONS_RE.sub("", q)
    # S608: q is the caller's own query, run on their own database.
    return _BOUNDS_SQL.format(inner)


def parse_bounds(result: SQLResult) -> Bounds | None:
    """The :class:`Bounds` of a :func:`bounds_query` result; ``None`` when no row has a geometry."""
    if not result.rows:
        return None
    row = result.rows[0]
    values = [row.get(k) for k in ("minx", "miny", "maxx", "maxy")]
    if any(v is None for v in values):
        return None
    try:
        minx, miny, maxx, maxy = (float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise APIError(f"unexpected bounds row from the SQL API: {row!r:.200}") from None
    return Bounds(minx=minx, miny=miny, maxx=maxx, maxy=maxy)


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
