"""COPY FROM / COPY TO statements, requests, rows encoding and errors (sans-I/O; reference §9.3).

* ``POST /api/v2/sql/copyfrom?q=COPY ... FROM STDIN ...``: ``q`` only in the query string,
  the raw body is the data (``Content-Encoding: gzip`` allowed). Success is
  ``{"time": s, "total_rows": n}``. The request is marked ``creates_job``: once data went out
  it is never repeated (a second COPY would load the rows twice).
* ``GET|POST /api/v2/sql/copyto``: ``q`` (``COPY (...) TO STDOUT ...``) and ``filename``;
  the raw COPY output comes back as ``application/octet-stream``. An error after the
  response began is appended to the body as a JSON object (``{"error": [...]}``):
  :class:`CopyToErrorDetector` finds it while the data streams through.
* The server only takes a ``q`` that starts with ``COPY `` (case-insensitive, one space);
  :func:`copy_from_statement` / :func:`copy_to_statement` build one from a table, columns and
  options, with every name quoted; a raw statement is checked by :func:`check_statement`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import numbers
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async._core.sql import GET_QUERY_LIMIT, is_read_only
from carto_async._core.sql_template import Identifier, code_only, quote_literal
from carto_async.errors import (
    APIError,
    APIStatusError,
    CopyFailedError,
    CopyGzipError,
    CopyInputTooSlowError,
    CopyInterruptedError,
    CopySizeLimitError,
    NoRowsCopiedError,
    QuotaExceededError,
    ValidationError,
)
from carto_async.models.sql import CopyResult

__all__ = [
    "COPYFROM_PATH",
    "COPYTO_PATH",
    "CopyFormat",
    "CopyToErrorDetector",
    "CsvRowEncoder",
    "check_statement",
    "copy_error",
    "copy_from_request",
    "copy_from_statement",
    "copy_to_request",
    "copy_to_statement",
    "parse_copy_from",
    "resolve_copy_from",
    "resolve_copy_to",
]

COPYFROM_PATH = "/api/v2/sql/copyfrom"
COPYTO_PATH = "/api/v2/sql/copyto"

CopyFormat = Literal["csv", "text"]
_FORMATS = ("csv", "text")
_COPY_PREFIX_RE = re.compile(r"copy\s", re.IGNORECASE)
_FROM_STDIN_RE = re.compile(r"\bfrom\s+stdin\b", re.IGNORECASE)
_TO_STDOUT_RE = re.compile(r"\bto\s+stdout\b", re.IGNORECASE)
_LEADING_RE = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)


# --------------------------------------------------------------------------- statements


def _table(table: str | Identifier, problems: list[str]) -> str:
    if isinstance(table, Identifier):
        return table.sql()
    if not isinstance(table, str) or not table:
        problems.append(f"table must be a name or an Identifier, not {table!r}")
        return ""
    if "." in table:
        problems.append(
            f"table {table!r} has a dot: pass Identifier({', '.join(map(repr, table.split('.')))})"
            f" for a schema-qualified name, or Identifier({table!r}) for a name with a dot"
        )
        return ""
    try:
        return Identifier(table).sql()
    except ValidationError as exc:
        problems.extend(exc.problems)
        return ""


def _columns(columns: Sequence[str] | None, problems: list[str]) -> str:
    if columns is None:
        return ""
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
        problems.append(f"columns must be a non-empty list of names, not {columns!r}")
        return ""
    quoted = []
    for name in columns:
        try:
            quoted.append(Identifier(name).sql())
        except ValidationError as exc:
            problems.extend(f"column {name!r}: {p}" for p in exc.problems)
    if len(set(columns)) != len(columns):
        problems.append(f"columns repeat a name: {list(columns)!r}")
    return " (" + ", ".join(quoted) + ")"


def _one_char(name: str, value: str, problems: list[str]) -> None:
    if not isinstance(value, str) or len(value.encode("utf-8", "replace")) != 1:
        problems.append(f"{name} must be a single one-byte character, not {value!r}")
    elif value in "\r\n":
        problems.append(f"{name} cannot be a newline or carriage return")


def _options(
    *,
    format: str,
    header: bool | None,
    delimiter: str | None,
    null: str | None,
    quote: str | None,
    escape: str | None,
    encoding: str | None,
    problems: list[str],
) -> str:
    fmt = format.lower() if isinstance(format, str) else format
    if fmt not in _FORMATS:
        problems.append(
            f"format must be 'csv' or 'text', not {format!r}"
            + (" (binary COPY is not supported)" if fmt == "binary" else "")
        )
        return ""
    parts = [f"FORMAT {fmt}"]
    given: object = header  # checked at run time too: callers may not be type-checked
    if header is not None:
        if not isinstance(given, bool):
            problems.append(f"header must be True or False, not {header!r}")
        elif fmt != "csv":
            problems.append("header is only available in csv format")
        else:
            parts.append(f"HEADER {'true' if header else 'false'}")
    if delimiter is not None:
        _one_char("delimiter", delimiter, problems)
        if delimiter == "\\" and fmt == "text":
            problems.append("delimiter cannot be a backslash in text format")
        parts.append(f"DELIMITER {_literal(delimiter, problems)}")
    if null is not None:
        if not isinstance(null, str) or "\r" in null or "\n" in null:
            problems.append(f"null must be a string without newlines, not {null!r}")
        else:
            parts.append(f"NULL {_literal(null, problems)}")
    for name, value in (("quote", quote), ("escape", escape)):
        if value is None:
            continue
        if fmt != "csv":
            problems.append(f"{name} is only available in csv format")
            continue
        _one_char(name, value, problems)
        parts.append(f"{name.upper()} {_literal(value, problems)}")
    if fmt == "csv" and delimiter is not None and delimiter == (quote or '"'):
        problems.append("delimiter and quote must differ")
    if encoding is not None:
        if not isinstance(encoding, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", encoding):
            problems.append(f"encoding must be an encoding name such as 'UTF8', not {encoding!r}")
        else:
            parts.append(f"ENCODING '{encoding}'")
    return " WITH (" + ", ".join(parts) + ")"


def _literal(value: Any, problems: list[str]) -> str:
    try:
        return quote_literal(value)
    except (TypeError, ValueError) as exc:
        problems.append(str(exc))
        return "''"


def _raise(problems: list[str], what: str) -> None:
    if problems:
        problems = list(dict.fromkeys(problems))
        raise ValidationError(f"invalid {what}: {'; '.join(problems)}", problems=problems)


def copy_from_statement(
    table: str | Identifier,
    columns: Sequence[str] | None = None,
    *,
    format: CopyFormat = "csv",
    header: bool | None = None,
    delimiter: str | None = None,
    null: str | None = None,
    quote: str | None = None,
    escape: str | None = None,
    encoding: str | None = None,
) -> str:
    """``COPY "table" ("a", "b") FROM STDIN WITH (FORMAT csv, ...)``, every name quoted.

    A ``str`` table is one name (quoted, so case-sensitive); give a schema-qualified name as
    ``Identifier("schema", "table")``. ``header`` defaults to the server's default (false).
    """
    problems: list[str] = []
    target = _table(table, problems) + _columns(columns, problems)
    options = _options(
        format=format,
        header=header,
        delimiter=delimiter,
        null=null,
        quote=quote,
        escape=escape,
        encoding=encoding,
        problems=problems,
    )
    _raise(problems, "COPY FROM")
    return f"COPY {target} FROM STDIN{options}"


def copy_to_statement(
    source: str | Identifier,
    columns: Sequence[str] | None = None,
    *,
    format: CopyFormat = "csv",
    header: bool | None = None,
    delimiter: str | None = None,
    null: str | None = None,
    quote: str | None = None,
    escape: str | None = None,
    encoding: str | None = None,
) -> str:
    """``COPY (query) TO STDOUT WITH (...)`` for a query, or ``COPY "table" (cols) TO STDOUT``
    for an :class:`Identifier`. The query sits on lines of its own (a trailing ``--`` comment
    cannot swallow the parenthesis); a trailing ``;`` is dropped."""
    problems: list[str] = []
    if isinstance(source, Identifier):
        target = source.sql() + _columns(columns, problems)
    elif isinstance(source, str) and source.strip():
        if columns is not None:
            problems.append("columns go with a table (Identifier), not with a query")
        target = "(\n" + re.sub(r"[\s;]+\Z", "", source) + "\n)"
    else:
        problems.append(f"source must be a query or an Identifier, not {source!r:.60}")
        target = ""
    options = _options(
        format=format,
        header=header,
        delimiter=delimiter,
        null=null,
        quote=quote,
        escape=escape,
        encoding=encoding,
        problems=problems,
    )
    _raise(problems, "COPY TO")
    return f"COPY {target} TO STDOUT{options}"


def check_statement(statement: str, direction: Literal["from", "to"]) -> str:
    """``statement`` made to start with ``COPY `` (leading blanks and comments dropped), after
    checking it is a ``COPY ... FROM STDIN`` (``direction="from"``) or ``COPY ... TO STDOUT``."""
    if not isinstance(statement, str) or not statement.strip():
        raise ValidationError("the COPY statement is empty")
    text = statement[_LEADING_RE.match(statement).end() :]  # type: ignore[union-attr]
    if not _COPY_PREFIX_RE.match(text):
        raise ValidationError(f"not a COPY statement: {statement[:80]!r}")
    text = "COPY " + text[5:]
    code = code_only(text)
    pattern, wanted = (
        (_FROM_STDIN_RE, "COPY ... FROM STDIN")
        if direction == "from"
        else (_TO_STDOUT_RE, "COPY ... TO STDOUT")
    )
    if not pattern.search(code):
        raise ValidationError(f"the statement must be a {wanted}: {statement[:80]!r}")
    return text


def _is_statement(text: Any) -> bool:
    return isinstance(text, str) and bool(
        _COPY_PREFIX_RE.match(text[_LEADING_RE.match(text).end() :])  # type: ignore[union-attr]
    )


def resolve_copy_from(
    statement_or_table: str | Identifier,
    columns: Sequence[str] | None = None,
    **options: Any,
) -> str:
    """A raw ``COPY ... FROM STDIN`` checked, or one built from a table (``options`` are
    :func:`copy_from_statement`'s; they cannot go with a raw statement)."""
    if _is_statement(statement_or_table):
        given = [k for k, v in options.items() if v is not None]
        if columns is not None or given:
            raise ValidationError(
                f"columns and options ({', '.join(given) or 'columns'}) go with a table name, "
                "not with a COPY statement: write them in the statement"
            )
        return check_statement(str(statement_or_table), "from")
    return copy_from_statement(statement_or_table, columns, **options)


def resolve_copy_to(
    statement_or_query: str | Identifier,
    columns: Sequence[str] | None = None,
    **options: Any,
) -> str:
    """A raw ``COPY ... TO STDOUT`` checked, or one built from a query or table."""
    if _is_statement(statement_or_query):
        given = [k for k, v in options.items() if v is not None]
        if columns is not None or given:
            raise ValidationError(
                f"columns and options ({', '.join(given) or 'columns'}) go with a query or "
                "table, not with a COPY statement: write them in the statement"
            )
        return check_statement(str(statement_or_query), "to")
    return copy_to_statement(statement_or_query, columns, **options)


# --------------------------------------------------------------------------- requests


def copy_from_request(statement: str, *, gzip: bool = False) -> RequestSpec:
    """``POST /api/v2/sql/copyfrom?q=...``; the transport sends the body stream.

    Marked ``creates_job``: after an ambiguous failure it is never repeated, since the rows may
    be in the table already.
    """
    headers = {"Content-Type": "application/octet-stream"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    return RequestSpec(
        "POST",
        COPYFROM_PATH,
        Service.SQL,
        params={"q": check_statement(statement, "from")},
        headers=headers,
        key=KeyPlacement.BASIC,
        creates_job=True,
    )


def copy_to_request(statement: str, *, filename: str | None = None) -> RequestSpec:
    """``GET /api/v2/sql/copyto`` (a form ``POST`` for long statements); stream the response.

    Repeatable when the statement only reads (``COPY (select ...)`` or a table).
    """
    q = check_statement(statement, "to")
    fields = {"q": q}
    if filename is not None:
        if not isinstance(filename, str) or not filename.strip():
            raise ValidationError(f"filename must be a non-empty string, not {filename!r}")
        fields["filename"] = filename
    return _get_or_post(COPYTO_PATH, fields, idempotent=_copy_to_reads_only(q))


def _copy_to_reads_only(q: str) -> bool:
    """True when ``COPY (query) TO STDOUT`` (or a table) cannot change data: a COPY of an
    ``INSERT ... RETURNING`` can, and is not repeated."""
    code = code_only(q)
    ends = [m.start() for m in _TO_STDOUT_RE.finditer(code)]
    inner = q[len("COPY ") : ends[-1]].strip() if ends else ""
    if not inner.startswith("("):
        return True  # COPY table TO STDOUT
    return is_read_only(inner[1:].rsplit(")", 1)[0])


def _get_or_post(path: str, fields: dict[str, str], *, idempotent: bool) -> RequestSpec:
    if len(fields["q"]) <= GET_QUERY_LIMIT:
        return RequestSpec(
            "GET", path, Service.SQL, params=fields, key=KeyPlacement.BASIC, idempotent=idempotent
        )
    return RequestSpec(
        "POST", path, Service.SQL, data=fields, key=KeyPlacement.BASIC, idempotent=idempotent
    )


def parse_copy_from(body: Any) -> CopyResult:
    """A :class:`CopyResult` from a copyfrom success body ``{"time", "total_rows"}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("total_rows"), int):
        raise APIError(f"unexpected COPY FROM response: {str(body)[:200]}")
    return CopyResult(total_rows=int(body["total_rows"]), time=float(body.get("time") or 0.0))


# --------------------------------------------------------------------------- errors

_COPY_ERRORS: tuple[tuple[re.Pattern[str], type[CopyFailedError]], ...] = (
    (re.compile(r"^No rows copied"), NoRowsCopiedError),
    (re.compile(r"^Error while gunzipping"), CopyGzipError),
    (re.compile(r"^DB Quota exceeded"), QuotaExceededError),
    (re.compile(r"^COPY FROM maximum POST size of .* exceeded"), CopySizeLimitError),
    (re.compile(r"input data too slow"), CopyInputTooSlowError),
)


def copy_error(error: APIStatusError) -> APIStatusError:
    """The typed error for an error response of a COPY endpoint.

    A 400 becomes a :class:`~carto_async.CopyFailedError` (or the subclass its message names);
    other statuses (a 429 statement timeout, 401, 403 ...) are returned unchanged.
    """
    if error.status_code != 400 or isinstance(error, CopyFailedError):
        return error
    cls: type[CopyFailedError] = CopyFailedError
    for pattern, candidate in _COPY_ERRORS:
        if pattern.search(error.message):
            cls = candidate
            break
    return cls(
        error.message,
        status_code=error.status_code,
        body=error.body,
        headers=error.headers,
        request=error.request,
        method=error.method,
        url=error.url,
        error_codes=error.error_codes,
    )


_MARKER = b'{"error":['
#: An appended error object longer than this is taken for data.
MAX_ERROR_BYTES = 64 * 1024


class CopyToErrorDetector:
    """Finds an error object the server appended to a 200 COPY TO body, incrementally.

    Feed it each chunk as it arrives and pass on what :meth:`feed` returns; at the end,
    :meth:`close` returns the rest or raises :class:`~carto_async.CopyInterruptedError`.
    Only a possible error object at the end is held back: from the last ``{"error":[`` that
    no newline follows (``JSON.stringify`` never writes one), at most ``MAX_ERROR_BYTES``.

    Example::

        detector = CopyToErrorDetector()
        async for chunk in response.aiter_bytes():
            out.write(detector.feed(chunk))
        out.write(detector.close())
    """

    def __init__(self, *, max_error_bytes: int = MAX_ERROR_BYTES) -> None:
        self._tail = b""
        self._max = max_error_bytes
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` (and of earlier held bytes) that are surely data."""
        self.bytes_seen += len(chunk)
        data = self._tail + chunk
        line_start = data.rfind(b"\n") + 1
        marker = data.rfind(_MARKER, line_start)
        # An error object sits at the end of the stream, on one line, and cannot hold the
        # marker itself (its quotes are escaped): hold from the last marker of the last line,
        # or a partial marker at the very end.
        if marker >= 0 and len(data) - marker <= self._max:
            hold = marker
        else:
            hold = len(data)
            for size in range(min(len(_MARKER) - 1, len(data)), 0, -1):
                if data.endswith(_MARKER[:size]):
                    hold = len(data) - size
                    break
        self._tail = data[hold:]
        return data[:hold]

    def close(self) -> bytes:
        """The held bytes when they are data; raises when they are the server's error."""
        tail, self._tail = self._tail, b""
        if not tail.startswith(_MARKER):
            return tail
        try:
            body = json.loads(tail)
        except ValueError:
            return tail
        if not isinstance(body, dict) or not isinstance(body.get("error"), list):
            return tail
        messages = [str(m) for m in body["error"]] or ["COPY TO failed"]
        codes = tuple(str(body[k]) for k in ("context", "detail") if isinstance(body.get(k), str))
        message = "; ".join(messages)
        kind = "timeout" if "datasource" in codes or "timeout" in message.lower() else "error"
        raise CopyInterruptedError(
            f"COPY TO failed after {self.bytes_seen - len(tail)} bytes: {message}",
            body=body,
            error_codes=codes,
            kind=kind,
        )


# --------------------------------------------------------------------------- rows to CSV


@attrs.frozen
class CsvRowEncoder:
    """Python rows (sequences of values) as PostgreSQL COPY CSV bytes.

    ``None`` is NULL (an empty unquoted field), an empty string is ``""`` (a quoted empty
    field), booleans are ``true``/``false``, dates and times ISO-8601, ``bytes`` ``\\x`` hex,
    lists and dicts JSON. Matches ``COPY ... WITH (FORMAT csv)`` with the default delimiter,
    quote and NULL.
    """

    delimiter: str = ","

    def field(self, value: Any) -> str:
        """One value as a CSV field."""
        if value is None:
            return ""
        if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
            text = "true" if value else "false"  # numpy booleans too
        elif isinstance(value, int | numbers.Integral):
            text = str(int(value))
        elif isinstance(value, decimal.Decimal):
            text = str(value)
        elif isinstance(value, float | numbers.Real):
            text = repr(float(value))
            text = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)
        elif isinstance(value, str):
            text = value
        elif isinstance(value, bytes | bytearray | memoryview):
            text = "\\x" + bytes(value).hex()
        elif isinstance(value, dt.date | dt.time):
            text = value.isoformat()
        elif isinstance(value, uuid.UUID):
            text = str(value)
        elif isinstance(value, list | tuple | dict):
            text = json.dumps(value, ensure_ascii=False)
        else:
            raise ValidationError(f"{type(value).__name__} values cannot be written to CSV")
        if "\x00" in text:
            raise ValidationError("PostgreSQL text cannot hold a NUL character (\\x00)")
        if text in {"", "\\."} or any(c in text for c in (self.delimiter, '"', "\r", "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    def row(self, values: Sequence[Any]) -> str:
        """One row as a CSV line (with its newline)."""
        return self.delimiter.join(self.field(v) for v in values) + "\n"

    def encode(self, rows: Iterable[Sequence[Any]]) -> bytes:
        """Many rows as UTF-8 CSV bytes."""
        return "".join(self.row(r) for r in rows).encode("utf-8")
