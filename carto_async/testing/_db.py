"""LocalCarto's database: one SQLite connection shared by threads, spoken to in PostgreSQL.

Statements are translated from the PostgreSQL/PostGIS spellings CARTO users write into
SQLite (``::`` casts, ``ILIKE``, ``public.`` prefixes, ``geometry(Point,4326)`` column
types, ``CREATE TABLE ... AS``, ``TRUNCATE``, ``CDB_CartodbfyTable``, ``CDB_UserTables()``),
result columns get PostgreSQL's names (``count`` rather than ``count(*)``) and errors get
PostgreSQL's wording (``relation "x" does not exist``).

Column types are SQLite declared types picked so that each maps to one PostgreSQL type
*and* has the right SQLite affinity: geometry columns are ``GEOMETRY_TEXT(type,srid)``
(text affinity, so hex EWKB is never read as a number), booleans ``BOOLEAN`` (0/1),
timestamps ``TIMESTAMPTZ`` (ISO-8601 text in UTC), dates ``DATE``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from carto_async.testing import _geometry

__all__ = [
    "CARTO_COLUMNS",
    "CARTO_NAMES",
    "Database",
    "QueryError",
    "QueryResult",
    "Statement",
    "format_timestamp",
    "infer_decl",
    "parse_timestamp",
    "pg_column_name",
    "pg_type",
    "quote_ident",
    "select_items",
    "split_statements",
    "tokenize",
    "translate",
    "translate_error",
]

# cartodb_id is AUTOINCREMENT so that, like CARTO's sequence, deleted ids are never reused.
CARTO_COLUMNS = (
    ("cartodb_id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("the_geom", "GEOMETRY_TEXT(0,4326)"),
    ("the_geom_webmercator", "GEOMETRY_TEXT(0,3857)"),
)
CARTO_NAMES = frozenset(name for name, _ in CARTO_COLUMNS)


@attrs.frozen
class QueryResult:
    """Outcome of one statement."""

    columns: list[str]
    decl_types: list[str | None]
    rows: list[tuple[Any, ...]]
    rowcount: int


class QueryError(sqlite3.DatabaseError):
    """A statement failed; ``str(exc)`` is (close to) what PostgreSQL would have said."""

    def __init__(self, message: str, sqlite_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlite_message = sqlite_message


def quote_ident(name: str) -> str:
    """``"name"`` with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- timestamps

_TS_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.I,
)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Read an ISO-8601-ish date or timestamp (naive values are UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    stamp: dt.datetime | None
    try:
        stamp = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        stamp = _parse_timestamp_loosely(value)
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def _parse_timestamp_loosely(value: str) -> dt.datetime | None:
    # Forms fromisoformat refuses: single-digit months/days/hours, offsets like +5.
    match = _TS_RE.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    tz = dt.UTC
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = dt.timezone(sign * offset)
    try:
        return dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None


def format_timestamp(stamp: dt.datetime) -> str:
    """Storage form of a ``TIMESTAMPTZ`` value: ``2020-01-02T03:04:05Z`` (UTC)."""
    s = stamp.astimezone(dt.UTC) if stamp.tzinfo is not None else stamp
    text = f"{s.year:04d}-{s.month:02d}-{s.day:02d}T{s.hour:02d}:{s.minute:02d}:{s.second:02d}"
    if s.microsecond:
        text += f".{s.microsecond:06d}".rstrip("0")
    return text + "Z"


def _cast_timestamp(kind: str) -> Callable[[Any], str | None]:
    pg_names = {"timestamptz": "timestamp with time zone", "timestamp": "timestamp"}

    def cast(value: Any) -> str | None:
        if value is None:
            return None
        stamp = parse_timestamp(value if isinstance(value, str) else str(value))
        if stamp is None:
            name = pg_names.get(kind, kind)
            raise ValueError(f'invalid input syntax for type {name}: "{value}"')
        if kind == "date":
            return stamp.strftime("%Y-%m-%d")
        return format_timestamp(stamp)

    return cast


def _lenient(cast: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def fn(value: Any) -> str | None:
        try:
            return cast(value)
        except ValueError:
            return None

    return fn


_TRUE = frozenset(("t", "true", "y", "yes", "on", "1"))
_FALSE = frozenset(("f", "false", "n", "no", "off", "0"))


def _cast_bool(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(bool(value))
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise ValueError(f'invalid input syntax for type boolean: "{value}"')


def _cast_json(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    try:
        json.loads(text)
    except ValueError:
        raise ValueError("invalid input syntax for type json") from None
    return text


def _cast_geography(value: Any) -> str | None:
    return None if value is None else _geometry.to_hex(_geometry.as_geometry(value))


def _now() -> str:
    return format_timestamp(dt.datetime.now(dt.UTC))


def _concat(*args: Any) -> str:
    return "".join(str(a) for a in args if a is not None)


# --------------------------------------------------------------------------- SQL dialect

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<estring>[eE]'(?:[^'\\]|\\.|'')*')
  | (?P<string>'[^']*(?:''[^']*)*')
  | (?P<dollar>\$\$.*?\$\$|\$(?P<tag>[A-Za-z_]\w*)\$.*?\$(?P=tag)\$)
  | (?P<qident>"[^"]*(?:""[^"]*)*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[^\W\d][\w$]*)
  | (?P<cast>::)
  | (?P<param>\?\d*|[:@$][^\W\d]\w*)
  | (?P<op>\|\||<>|!=|<=|>=|->>|->|.)
    """,
    re.X | re.S,
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


Token = tuple[str, str]  # (kind, text); kind "expr" marks an already-translated fragment

_NOT_FUNCTIONS = _words(
    """select from where and or not in exists on using as values then else when case by
    having join is like ilike between returning set into table with union all any some
    distinct over filter within group order limit offset lateral insert update delete
    create if default check primary key references unique do conflict window partition
    except intersect recursive return"""
)

_NATIVE_TYPES = {
    "int": "INTEGER",
    "integer": "INTEGER",
    "int4": "INTEGER",
    "smallint": "SMALLINT",
    "int2": "SMALLINT",
    "bigint": "BIGINT",
    "int8": "BIGINT",
    "real": "REAL",
    "float4": "REAL",
    "float": "DOUBLE PRECISION",
    "float8": "DOUBLE PRECISION",
    "double precision": "DOUBLE PRECISION",
    "numeric": "NUMERIC",
    "decimal": "NUMERIC",
    "text": "TEXT",
    "varchar": "VARCHAR",
    "character varying": "VARCHAR",
    "char": "CHAR",
    "character": "CHAR",
    "bpchar": "CHAR",
    "name": "TEXT",
    "citext": "TEXT",
    "uuid": "TEXT",
    "regclass": "TEXT",
}
# Types SQLite cannot cast to natively: a function does the conversion.
_FUNCTION_CASTS = {
    "boolean": "_pg_bool",
    "bool": "_pg_bool",
    "date": "_pg_date",
    "timestamp": "_pg_timestamp",
    "timestamp without time zone": "_pg_timestamp",
    "timestamptz": "_pg_timestamptz",
    "timestamp with time zone": "_pg_timestamptz",
    "geometry": "_pg_geometry",
    "geography": "_pg_geography",
    "json": "_pg_json",
    "jsonb": "_pg_jsonb",
}
CAST_FUNCTION_DECLS = {
    "_pg_bool": "BOOLEAN",
    "_pg_date": "DATE",
    "_pg_timestamp": "TIMESTAMP",
    "_pg_timestamptz": "TIMESTAMPTZ",
    "_pg_geometry": "GEOMETRY_TEXT",
    "_pg_geography": "GEOGRAPHY_TEXT",
    "_pg_json": "JSON",
    "_pg_jsonb": "JSONB",
}
# SQLite declared type (upper case, without arguments) -> PostgreSQL type name.
PG_TYPES = {
    **dict.fromkeys(("INTEGER", "INT", "INT4", "MEDIUMINT", "SERIAL"), "int4"),
    **dict.fromkeys(("SMALLINT", "INT2", "TINYINT"), "int2"),
    **dict.fromkeys(("BIGINT", "INT8"), "int8"),
    **dict.fromkeys(("REAL", "FLOAT4"), "float4"),
    **dict.fromkeys(("DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT8"), "float8"),
    **dict.fromkeys(("NUMERIC", "DECIMAL"), "numeric"),
    **dict.fromkeys(("TEXT", "CLOB"), "text"),
    **dict.fromkeys(("VARCHAR", "CHARACTER VARYING", "NVARCHAR"), "varchar"),
    **dict.fromkeys(("CHAR", "CHARACTER"), "bpchar"),
    **dict.fromkeys(("BOOLEAN", "BOOL"), "bool"),
    **dict.fromkeys(("TIMESTAMP", "DATETIME"), "timestamp"),
    **dict.fromkeys(("BLOB", "BYTEA"), "bytea"),
    "DATE": "date",
    "TIMESTAMPTZ": "timestamptz",
    "TIME": "time",
    "JSON": "json",
    "JSONB": "jsonb",
    "BOX2D": "box2d",
    "GEOMETRY_TEXT": "geometry",
    "GEOGRAPHY_TEXT": "geography",
}


def pg_type(decl: str | None) -> str:
    """PostgreSQL type name for a declared type (``DOUBLE PRECISION`` -> ``float8``)."""
    if not decl:
        return "text"
    base = " ".join(decl.upper().split("(")[0].split())
    if base in PG_TYPES:
        return PG_TYPES[base]
    first = base.split(" ")[0]
    return PG_TYPES.get(first, first.lower())


_LW_TYPES = {kind.lower(): code for code, kind in enumerate(_geometry.KINDS, start=1)}
_LW_TYPES["geometry"] = 0
_SERIAL = {"serial": "INTEGER", "serial4": "INTEGER", "bigserial": "INTEGER", "serial8": "INTEGER"}
_USER_TABLES_SQL = (
    "(SELECT name AS cdb_usertables FROM sqlite_master WHERE type = 'table'"
    " AND name NOT LIKE 'sqlite^_%' ESCAPE '^' ORDER BY name)"
)


def tokenize(sql: str) -> list[Token]:
    """Split SQL into tokens (whitespace and comments included)."""
    return [(m.lastgroup or "op", m.group()) for m in _TOKEN_RE.finditer(sql)]


def _significant(tokens: Sequence[Token]) -> list[int]:
    return [i for i, (kind, _) in enumerate(tokens) if kind not in ("ws", "comment")]


@attrs.frozen
class Statement:
    """One statement: its tokens and its leading keywords (lower-case)."""

    tokens: tuple[Token, ...]
    words: tuple[str, ...]

    @property
    def keyword(self) -> str:
        """The first keyword (``select``, ``insert``...), or ``""``."""
        return self.words[0] if self.words else ""


def split_statements(sql: str) -> list[Statement]:
    """Split on top-level semicolons (trigger bodies stay whole); empty statements dropped."""
    statements: list[Statement] = []
    current: list[Token] = []
    case_depth = 0
    in_trigger = False

    def flush() -> None:
        words = tuple(t.lower() for k, t in current if k == "ident")[:4]
        if any(kind not in ("ws", "comment") for kind, _ in current):
            statements.append(Statement(tuple(current), words))
        current.clear()

    for kind, text in tokenize(sql):
        if kind == "ident":
            word = text.lower()
            if not current or all(k in ("ws", "comment", "ident") for k, _ in current):
                lead = [t.lower() for k, t in current if k == "ident"] + [word]
                if lead[:2] == ["create", "trigger"] or lead[:3] in (
                    ["create", "temp", "trigger"],
                    ["create", "temporary", "trigger"],
                ):
                    in_trigger = True
            if in_trigger and word == "case":
                case_depth += 1
            elif in_trigger and word == "end":
                if case_depth:
                    case_depth -= 1
                else:
                    in_trigger = False
        if kind == "op" and text == ";" and not in_trigger:
            flush()
            continue
        current.append((kind, text))
    flush()
    return statements


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _unescape_estring(body: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}

    def sub(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xX":
            return chr(int(code[1:], 16))
        if code[0] in "uU":
            return chr(int(code[1:], 16))
        return escapes.get(code, code)

    body = body.replace("''", "'")
    return re.sub(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{4}|.)", sub, body, flags=re.S)


def _matching_open(out: list[Token], close: int) -> int:
    depth = 0
    for i in range(close, -1, -1):
        if out[i] == ("op", ")"):
            depth += 1
        elif out[i] == ("op", "("):
            depth -= 1
            if depth == 0:
                return i
    return 0


def _prev_sig(out: list[Token], i: int) -> int:
    i -= 1
    while i >= 0 and out[i][0] in ("ws", "comment"):
        i -= 1
    return i


def _operand_start(out: list[Token]) -> int:
    """Index in ``out`` where the operand of a trailing ``::`` cast begins."""
    i = _prev_sig(out, len(out))
    if i < 0:
        return 0
    start = i
    if out[i] == ("op", ")"):
        start = _matching_open(out, i)
        j = _prev_sig(out, start)
        if j >= 0 and (
            (out[j][0] == "ident" and out[j][1].lower() not in _NOT_FUNCTIONS)
            or out[j][0] == "qident"
        ):
            start = j
    while True:  # include qualifiers: table.column, schema.function(...)
        dot = _prev_sig(out, start)
        owner = _prev_sig(out, dot)
        qualified = dot >= 0 and out[dot] == ("op", ".") and owner >= 0
        if not (qualified and out[owner][0] in ("ident", "qident")):
            return start
        start = owner


def _read_type(tokens: Sequence[Token], pos: int) -> tuple[str, str, int]:
    """Parse a PostgreSQL type name at ``pos``: (lower-case name, ``(args)`` text, next pos)."""
    sig = [i for i in range(pos, len(tokens)) if tokens[i][0] not in ("ws", "comment")]
    if not sig or tokens[sig[0]][0] not in ("ident", "qident"):
        return "", "", pos
    words = [tokens[sig[0]][1].strip('"').lower()]
    k = 1

    def word(n: int) -> str:
        return tokens[sig[n]][1].lower() if n < len(sig) and tokens[sig[n]][0] == "ident" else ""

    if words[0] == "double" and word(k) == "precision":
        words.append("precision")
        k += 1
    elif words[0] in ("character", "char") and word(k) == "varying":
        words.append("varying")
        k += 1
    args = ""
    if k < len(sig) and tokens[sig[k]] == ("op", "("):
        end = k
        while end < len(sig) and tokens[sig[end]] != ("op", ")"):
            end += 1
        args = "".join(tokens[sig[n]][1] for n in range(k, min(end + 1, len(sig))))
        k = end + 1
    zone = word(k) in ("with", "without") and (word(k + 1), word(k + 2)) == ("time", "zone")
    if words[0] in ("timestamp", "time") and zone:
        words += [word(k), "time", "zone"]
        k += 3
    if k + 1 < len(sig) and tokens[sig[k]] == ("op", "[") and tokens[sig[k + 1]] == ("op", "]"):
        words = ["text"]  # arrays are kept as their text form
        k += 2
    nxt = sig[k - 1] + 1 if k - 1 < len(sig) else len(tokens)
    return " ".join(words), args, nxt


def _cast_expr(operand: str, type_name: str, args: str) -> str:
    func = _FUNCTION_CASTS.get(type_name)
    if func is not None:
        return f"{func}({operand})"
    native = _NATIVE_TYPES.get(type_name)
    if native is None:
        return operand  # a type SQLite has no equivalent for: keep the value as it is
    suffix = args if native in ("VARCHAR", "CHAR", "NUMERIC") else ""
    return f"CAST({operand} AS {native}{suffix})"


def _rewrite_cast_call(out: list[Token], open_idx: int) -> None:
    """Rewrite a just-closed ``CAST(expr AS pgtype)`` in ``out`` in place."""
    body = out[open_idx + 1 : -1]
    depth, as_at = 0, -1
    for i, (kind, text) in enumerate(body):
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0 and kind == "ident" and text.lower() == "as":
            as_at = i
    if as_at < 0:
        return
    type_name, args, _ = _read_type(body, as_at + 1)
    operand = "".join(t for _, t in body[:as_at]).strip()
    start = _prev_sig(out, open_idx)
    out[start:] = [("expr", _cast_expr(operand, type_name, args))]


def _ddl_type(tokens: Sequence[Token], pos: int, word: str) -> tuple[str, int]:
    """Replacement for a column type in CREATE/ALTER TABLE, and where its tokens end."""
    if word in _SERIAL:
        return _SERIAL[word], pos + 1
    if word in ("geometry", "geography"):
        _, args, nxt = _read_type(tokens, pos)
        parts = [p.strip().strip("'\"").lower() for p in args.strip("()").split(",") if p.strip()]
        kind = parts[0] if parts else "geometry"
        base = kind[:-2] if kind.endswith("zm") else kind.rstrip("zm")
        if base not in _LW_TYPES:
            base = kind  # "geometry" ends in m
        code = _LW_TYPES.get(base, 0)
        srid = int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else 0
        # PointZ / PointZM keep their dimensions in the type name; values are stored 2D.
        prefix = ("GEOMETRY_TEXT" if word == "geometry" else "GEOGRAPHY_TEXT") + (
            f"_{kind[len(base) :].upper()}" if kind != base else ""
        )
        return (f"{prefix}({code},{srid})" if args else prefix), nxt
    name, args, nxt = _read_type(tokens, pos)
    if name in ("timestamp with time zone", "timestamptz"):
        return "TIMESTAMPTZ", nxt
    if name in ("timestamp without time zone", "timestamp"):
        return "TIMESTAMP", nxt
    return "", pos


def _is_type_position(out: list[Token]) -> bool:
    """Whether the next token is a column's type: ``(name <here>``, ``, name <here>``..."""
    name = _prev_sig(out, len(out))
    if name < 0 or out[name][0] not in ("ident", "qident"):
        return False
    if out[name][1].lower() in ("column", "add", "table", "exists"):
        return False
    before = _prev_sig(out, name)
    return before >= 0 and (
        out[before][1] in ("(", ",") or out[before][1].lower() in ("column", "add")
    )


def translate(statement: Statement) -> str:
    """SQLite text of one PostgreSQL statement."""
    tokens = statement.tokens
    ddl = statement.keyword in ("create", "alter")
    out: list[Token] = []
    cast_opens: list[int] = []
    opens: list[int] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        low = text.lower()
        if kind == "estring":
            out.append(("string", _sql_string(_unescape_estring(text[2:-1]))))
        elif kind == "dollar":
            body = text[text.index("$", 1) + 1 : text.rindex("$", 0, len(text) - 1)]
            out.append(("string", _sql_string(body)))
        elif kind in ("ident", "qident") and text.strip('"').lower() in ("public", "cartodb"):
            following = _significant(tokens[i + 1 : i + 4])
            ahead = [tokens[i + 1 + n] for n in following]
            if len(ahead) >= 2 and ahead[0] == ("op", ".") and ahead[1][0] in ("ident", "qident"):
                i = i + 1 + following[0] + 1
                continue
            out.append((kind, text))
        elif kind == "ident" and low == "ilike":
            out.append(("ident", "LIKE"))
        elif kind == "ident" and low == "cdb_usertables":
            following = _significant(tokens[i + 1 :])
            if following and tokens[i + 1 + following[0]] == ("op", "("):
                j = i + 1 + following[0]
                while j < len(tokens) and tokens[j] != ("op", ")"):
                    j += 1
                out.append(("expr", _USER_TABLES_SQL))
                i = j + 1
                continue
            out.append((kind, text))
        elif kind == "cast":
            type_name, args, nxt = _read_type(tokens, i + 1)
            start = _operand_start(out)
            operand = "".join(t for _, t in out[start:]).strip()
            out[start:] = [("expr", _cast_expr(operand, type_name, args))]
            i = nxt
            continue
        elif ddl and kind == "ident" and _is_type_position(out):
            replacement, nxt = _ddl_type(tokens, i, low)
            if replacement:
                out.append(("expr", replacement))
                i = nxt
                continue
            out.append((kind, text))
        elif text == "(" and kind == "op":
            prev = _prev_sig(out, len(out))
            if prev >= 0 and out[prev][0] == "ident" and out[prev][1].lower() == "cast":
                cast_opens.append(len(out))
            opens.append(len(out))
            out.append((kind, text))
        elif text == ")" and kind == "op":
            out.append((kind, text))
            start = opens.pop() if opens else -1
            if cast_opens and cast_opens[-1] == start:
                cast_opens.pop()
                _rewrite_cast_call(out, start)
        elif kind == "ident":
            out.append((kind, low))  # PostgreSQL folds unquoted names to lower case
        else:
            out.append((kind, text))
        i += 1
    sql = "".join(text for _, text in out).strip()
    if ddl:
        # SQLite has one index method and wants expression defaults in parentheses.
        sql = re.sub(r"(?i)\bUSING\s+(?:gist|btree|gin|brin|hash|spgist)\b", "", sql)
        sql = re.sub(r"(?i)\bDEFAULT\s+([^\W\d]\w*\s*\([^()]*\))", r"DEFAULT (\1)", sql)
    return sql


_CAST_NAME_RE = re.compile(
    r"CAST\s*\((?P<inner>.*)\s+AS\s+"
    r"(?P<type>[A-Za-z][A-Za-z ]*(?:\(\s*\d+(?:\s*,\s*\d+)?\s*\))?)\s*\)",
    re.I | re.S,
)
_FUNC_NAME_RE = re.compile(r"(?P<func>[^\W\d][\w$]*)\s*\((?P<inner>.*)\)", re.S)
_IDENT_RE = re.compile(r"[^\W\d][\w$]*")
_VALUE_WORDS = {
    "current_timestamp": ("current_timestamp", "TIMESTAMPTZ"),
    "current_date": ("current_date", "DATE"),
    "current_time": ("current_time", "TIME"),
    "true": ("bool", "BOOLEAN"),
    "false": ("bool", "BOOLEAN"),
}
_FUNCTION_DECLS = {
    **_geometry.FUNCTION_DECL_TYPES,
    "count": "BIGINT",
    "now": "TIMESTAMPTZ",
    "length": "INTEGER",
    "char_length": "INTEGER",
    "lower": "TEXT",
    "upper": "TEXT",
    "concat": "TEXT",
    "trim": "TEXT",
    "replace": "TEXT",
    "substr": "TEXT",
    "substring": "TEXT",
    "random": "DOUBLE PRECISION",
}


def _balanced(text: str) -> bool:
    depth = 0
    for kind, tok in tokenize(text):
        if kind == "op" and tok == "(":
            depth += 1
        elif kind == "op" and tok == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def pg_column_name(raw: str, *, expression: bool = True) -> tuple[str, str | None]:
    """PostgreSQL's name for a result column SQLite named ``raw``, and a type hint.

    ``count(*)`` -> ``count``, ``CAST(x AS INTEGER)`` -> ``x``, ``1`` -> ``?column?``.
    With ``expression=False`` only function calls and casts are renamed.
    """
    text = raw.strip()
    match = _CAST_NAME_RE.fullmatch(text)
    if match and _balanced(match["inner"]):
        decl = re.sub(r"\s*([(),])\s*", r"\1", " ".join(match["type"].upper().split()))
        inner, _ = pg_column_name(match["inner"])
        base = decl.split("(")[0]
        return (inner if inner != "?column?" else pg_type(base)), decl
    match = _FUNC_NAME_RE.fullmatch(text)
    if match and _balanced(match["inner"]):
        func = match["func"].lower()
        if func in CAST_FUNCTION_DECLS:
            decl = CAST_FUNCTION_DECLS[func]
            inner, _ = pg_column_name(match["inner"])
            return (inner if inner != "?column?" else pg_type(decl)), decl
        return func, _FUNCTION_DECLS.get(func)
    if _IDENT_RE.fullmatch(text):
        return _VALUE_WORDS.get(text.lower(), (text, None))
    if not expression:
        return text, None
    if re.fullmatch(r'"(?:[^"]|"")*"', text):
        return text[1:-1].replace('""', '"'), None
    match = re.fullmatch(r"[^\W\d][\w$]*\.([^\W\d][\w$]*)", text)
    if match:
        return match.group(1), None
    if re.match(r"case\b", text, re.I) and text.lower().endswith("end"):
        return "case", None
    if re.fullmatch(r"[-+]?\d+", text):
        return "?column?", "INTEGER"
    if re.fullmatch(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?", text):
        return "?column?", "NUMERIC"
    if re.fullmatch(r"'(?:[^']|'')*'", text):
        return "?column?", "TEXT"
    return "?column?", None


_SELECT_END = _words("from where group having order limit offset union except intersect window")
_NOT_ALIASES = _words("end null true false current_timestamp current_date current_time")


def select_items(sql: str) -> list[tuple[str, bool]] | None:
    """(expression, has an alias) for each item of a SELECT's output list; None with a ``*``.

    SQLite names an aliased column after its alias only, so this is how the type of
    ``count(*) AS n`` or ``x::date AS d`` is found.
    """
    items: list[list[Token]] = []
    depth = 0
    inside = False
    for kind, text in tokenize(sql):
        low = text.lower()
        if kind == "op" and text == "(":
            depth += 1
        elif kind == "op" and text == ")":
            depth -= 1
        if depth == 0 and kind == "ident" and not inside and low == "select":
            inside = True
            items = [[]]
            continue
        if not inside:
            continue
        if depth == 0 and kind == "ident" and low in _SELECT_END:
            break
        if depth == 0 and kind == "op" and text == ",":
            items.append([])
        elif kind not in ("ws", "comment") and not (
            depth == 0 and not items[-1] and low in ("distinct", "all")
        ):
            items[-1].append((kind, text))
    expressions = []
    for item in items:
        if not item or item[-1][1] == "*":
            return None
        keep = len(item)
        if len(item) >= 3 and item[-2][1].lower() == "as":
            keep -= 2
        elif (
            len(item) >= 2
            and item[-1][0] in ("ident", "qident")
            and item[-1][1].lower() not in _NOT_ALIASES
            and item[-2][1] != "."
            and item[-2][0] in ("ident", "qident", "number", "string", "op", "expr")
            and (item[-2][0] != "op" or item[-2][1] == ")")
        ):
            keep -= 1  # an alias without AS
        expressions.append((" ".join(text for _, text in item[:keep]), keep < len(item)))
    return expressions


_HEXGEOM_RE = re.compile(r"0[01]0[1-7]0{4}[0-9A-F]*|0[01]0[1-7]000020[0-9A-F]*")


def infer_decl(values: Sequence[Any]) -> str:
    """Declared type for an expression column, guessed from its values."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return "TEXT"
    if kinds == {int}:
        big = any(not -(2**31) <= v < 2**31 for v in values if v is not None)
        return "BIGINT" if big else "INTEGER"
    if kinds <= {int, float}:
        return "DOUBLE PRECISION"
    if kinds == {str}:
        sample = next(v for v in values if v is not None)
        if len(sample) >= 18 and _HEXGEOM_RE.fullmatch(sample):
            with contextlib.suppress(_geometry.GeometryError):
                _geometry.from_hex(sample)
                return "GEOMETRY_TEXT"
        return "TEXT"
    if bytes in kinds:
        return "BYTEA"
    return "TEXT"


_ERROR_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r'near "(.*)": syntax error', re.S), lambda m: f'syntax error at or near "{m[1]}"'),
    (re.compile(r"incomplete input"), lambda m: "syntax error at end of input"),
    (
        re.compile(r'unrecognized token: "(.*)"', re.S),
        lambda m: f'syntax error at or near "{m[1]}"',
    ),
    (
        re.compile(r"no such table: (?:main\.|temp\.)?(.+)"),
        lambda m: f'relation "{m[1]}" does not exist',
    ),
    (
        re.compile(r"no such column: (.+)"),
        lambda m: (
            f"column {m[1]} does not exist" if "." in m[1] else f'column "{m[1]}" does not exist'
        ),
    ),
    (re.compile(r"no such function: (.+)"), lambda m: f"function {m[1]} does not exist"),
    (
        re.compile(r"wrong number of arguments to function (\w+)\(\)"),
        lambda m: f"function {m[1]} does not exist",
    ),
    (
        re.compile(r"(?:table|index|view) (\S+) already exists"),
        lambda m: f'relation "{m[1]}" already exists',
    ),
    (
        re.compile(r"table (\S+) has no column named (.+)"),
        lambda m: f'column "{m[2]}" of relation "{m[1]}" does not exist',
    ),
    (
        re.compile(r"UNIQUE constraint failed: (\w+)\.(\w+)"),
        lambda m: (
            "duplicate key value violates unique constraint "
            + (f'"{m[1]}_pkey"' if m[2] == "cartodb_id" else f'"{m[1]}_{m[2]}_key"')
        ),
    ),
    (
        re.compile(r"NOT NULL constraint failed: \w+\.(\w+)"),
        lambda m: f'null value in column "{m[1]}" violates not-null constraint',
    ),
    (
        re.compile(r"ambiguous column name: (.+)"),
        lambda m: f'column reference "{m[1]}" is ambiguous',
    ),
    (
        re.compile(r"(\d+) values for (\d+) columns"),
        lambda m: (
            "INSERT has more expressions than target columns"
            if int(m[1]) > int(m[2])
            else "INSERT has more target columns than expressions"
        ),
    ),
    (re.compile(r"interrupted"), lambda m: "canceling statement due to statement timeout"),
]


def translate_error(message: str, statement: Statement | None = None) -> str:
    """PostgreSQL's wording for a SQLite error message, where there is an obvious one."""
    if "raised exception" in message or "raised error" in message:
        return _geometry.pop_function_error() or message
    near = re.fullmatch(r'near "(.*)": syntax error', message, re.S)
    if near and statement is not None:
        # Identifiers were lower-cased on the way in; quote the token as the user wrote it.
        written = next((t for _, t in statement.tokens if t.lower() == near[1].lower()), near[1])
        return f'syntax error at or near "{written}"'
    for pattern, render in _ERROR_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            text = render(match)
            if statement is not None and statement.words[:2] == ("drop", "table"):
                text = text.replace("relation", "table", 1)
            return text
    return message


# --------------------------------------------------------------------------- database

_WRITE_ACTIONS = frozenset(
    getattr(sqlite3, f"SQLITE_{name}")
    for name in _words(
        """INSERT UPDATE DELETE CREATE_TABLE CREATE_INDEX CREATE_TRIGGER CREATE_VIEW
        DROP_TABLE DROP_INDEX DROP_TRIGGER DROP_VIEW ALTER_TABLE"""
    )
)
_CREATE_ACTIONS = frozenset(
    (sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_VIEW)
)
_TEMP_ACTIONS = frozenset(
    getattr(sqlite3, f"SQLITE_{name}")
    for name in ("CREATE_TEMP_VIEW", "DROP_TEMP_VIEW", "CREATE_TEMP_TABLE")
)
_ROW_STATEMENTS = frozenset(("select", "with", "values"))
# Session and privilege statements have no SQLite meaning; accepted and ignored.
_IGNORED = _words("begin start commit end rollback abort vacuum set grant revoke comment")
_NAMES = itertools.count(1)


class Database:
    """One SQLite database (a file path, or in memory when ``path`` is None) shared by threads.

    A single ``sqlite3`` connection (``check_same_thread=False``) is guarded by a re-entrant
    lock: every public method takes it, so calls from the server's worker threads are
    serialised. Use :meth:`transaction` to group several calls atomically; it holds the
    lock for its whole duration. The PostGIS-like functions of ``_geometry`` are registered.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self._savepoints = itertools.count(1)
        self._denied: str | None = None
        conn = self._conn
        if path:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        _geometry.register_functions(conn)
        functions: dict[str, tuple[int, Callable[..., Any]]] = {
            "_pg_bool": (1, _cast_bool),
            "_pg_date": (1, _cast_timestamp("date")),
            "_pg_timestamp": (1, _cast_timestamp("timestamp")),
            "_pg_timestamptz": (1, _cast_timestamp("timestamptz")),
            "_pg_json": (1, _cast_json),
            "_pg_jsonb": (1, _cast_json),
            "_pg_geography": (1, _cast_geography),
            "_carto_date": (1, _lenient(_cast_timestamp("date"))),
            "_carto_timestamptz": (1, _lenient(_cast_timestamp("timestamptz"))),
            "concat": (-1, _concat),
            "greatest": (-1, lambda *a: max((v for v in a if v is not None), default=None)),
            "least": (-1, lambda *a: min((v for v in a if v is not None), default=None)),
        }
        for name, (nargs, func) in functions.items():
            conn.create_function(name, nargs, _geometry.sql_function(func), deterministic=True)
        conn.create_function("now", 0, _now)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; later calls raise :class:`QueryError`."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise QueryError("database is closed")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically (nestable: inner blocks are savepoints)."""
        with self._lock:
            conn = self._connection()
            name = f"carto_sp_{next(self._savepoints)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                # An interrupt may already have rolled the whole transaction back.
                with contextlib.suppress(sqlite3.OperationalError):
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")

    # -- catalogue ------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        """Whether a table or view of that name exists (SQLite names ignore case)."""
        found = self.execute_native(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name = ? COLLATE NOCASE",
            (name,),
        )
        return bool(found.rows)

    def list_tables(self) -> list[str]:
        """User tables, sorted by name."""
        found = self.execute_native(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite^_%' ESCAPE '^' ORDER BY name"
        )
        return [row[0] for row in found.rows]

    def drop_table(self, name: str) -> None:
        """Drop a table if it exists."""
        with self._lock:
            self._connection().execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")

    def row_count(self, name: str) -> int:
        """Number of rows of a table."""
        return int(self.execute(f"SELECT count(*) FROM {quote_ident(name)}").rows[0][0])  # noqa: S608

    def table_columns(self, name: str) -> list[tuple[str, str]]:
        """``(column, declared type)`` pairs of a table, in order."""
        with self._lock:
            rows = self._connection().execute(f"PRAGMA table_info({quote_ident(name)})").fetchall()
            return [(row[1], row[2] or "") for row in rows]

    # -- statements -----------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run one statement written in PostgreSQL (or plain SQLite) and fetch its rows.

        ``params`` bind ``?`` placeholders. Raises :class:`QueryError` with a
        PostgreSQL-style message on failure.
        """
        statements = split_statements(sql)
        if len(statements) > 1:
            raise QueryError("cannot insert multiple commands into a prepared statement")
        with self._lock:
            if not statements:
                return QueryResult([], [], [], 0)
            return self._run(statements[0], tuple(params))

    def run_statements(
        self, sql: str, *, read_only: bool = False, timeout: float | None = None
    ) -> QueryResult:
        """Run every statement of ``sql`` in one transaction; return the last one's result.

        This is what a SQL API ``q`` needs: ``BEGIN``/``COMMIT`` inside it are accepted and
        ignored, ``ROLLBACK`` discards what ran before it. ``read_only`` rejects writes to
        the user's tables with PostgreSQL's ``permission denied for table ...``; ``timeout``
        (seconds) cancels a long statement with ``canceling statement due to statement
        timeout``.
        """
        statements = split_statements(sql)
        with self._lock:
            conn = self._connection()
            if read_only:
                self._denied = None
                conn.set_authorizer(self._authorize)
            if timeout is not None:
                deadline = time.monotonic() + timeout
                conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            try:
                return self._run_all(statements)
            finally:
                if read_only:
                    conn.set_authorizer(None)
                if timeout is not None:
                    conn.set_progress_handler(None, 0)

    def _run_all(self, statements: list[Statement]) -> QueryResult:
        result = QueryResult([], [], [], 0)
        pending = list(statements)
        while True:
            try:
                with self.transaction():
                    while pending:
                        statement = pending.pop(0)
                        if statement.keyword in ("rollback", "abort"):
                            raise _Rollback
                        if statement.keyword not in _IGNORED:
                            result = self._run(statement, ())
                return result
            except _Rollback:
                result = QueryResult([], [], [], 0)

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, _src: str | None
    ) -> int:
        if action not in _WRITE_ACTIONS or db == "temp":
            return sqlite3.SQLITE_OK
        if (arg1 or "").startswith("sqlite_temp") or action in _TEMP_ACTIONS:
            return sqlite3.SQLITE_OK
        target = arg2 if action == sqlite3.SQLITE_ALTER_TABLE else arg1
        if action in _CREATE_ACTIONS or (target or "").startswith("sqlite_"):
            target = None  # creating objects is refused at the schema level
        if self._denied is None:
            self._denied = target or ""
        return sqlite3.SQLITE_DENY

    def _run(self, statement: Statement, params: tuple[Any, ...]) -> QueryResult:
        if statement.keyword in _IGNORED:
            return QueryResult([], [], [], 0)
        special = self._special(statement)
        if special is not None:
            return special
        sql = translate(statement)
        decls = None
        if statement.keyword in _ROW_STATEMENTS:
            # A view cannot hold parameters; output types do not depend on their values.
            unbound = [("ident", "NULL") if k == "param" else (k, t) for k, t in statement.tokens]
            decls = self._describe(translate(_statement(unbound)) if params else sql)
        try:
            cursor = self._connection().execute(sql, params)
            try:
                rows = cursor.fetchall()
                description = cursor.description
                rowcount = cursor.rowcount
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            raise self._error(exc, statement) from exc
        if description is None:
            if statement.words[:2] in (("create", "table"), ("alter", "table")) and "_TEXT" in sql:
                self._install_geometry_triggers(statement)
            return QueryResult([], [], [], max(rowcount, 0))
        columns, types = self._name_columns(
            statement, sql, [d[0] for d in description], decls, rows
        )
        return QueryResult(columns, types, rows, len(rows))

    def _name_columns(
        self,
        statement: Statement,
        sql: str,
        raw_names: list[str],
        decls: list[str | None] | None,
        rows: list[tuple[Any, ...]],
    ) -> tuple[list[str], list[str | None]]:
        """PostgreSQL names and declared (or inferred) types of a result's columns."""
        items = select_items(sql) if decls is not None else None
        if items is not None and len(items) != len(raw_names):
            items = None
        table_decls: dict[str, str] = {}
        if decls is None and statement.keyword in ("insert", "update", "delete"):
            table_decls = self._returning_decls(statement)
        columns: list[str] = []
        types: list[str | None] = []
        for index, raw in enumerate(raw_names):
            decl = decls[index] if decls is not None and index < len(decls) else None
            decl = decl or table_decls.get(raw)
            if decl:  # a column of a table
                columns.append(raw)
                types.append(decl)
                continue
            if items is not None and items[index][1]:
                name, hint = raw, pg_column_name(items[index][0])[1]  # an aliased expression
            else:
                name, hint = pg_column_name(raw, expression=decls is not None)
            columns.append(name)
            types.append(hint or infer_decl([row[index] for row in rows]))
        return columns, types

    def _install_geometry_triggers(self, statement: Statement) -> None:
        """Make geometry columns of a user-created table parse what is written to them.

        PostgreSQL turns ``'SRID=4326;POINT(1 2)'`` into a geometry on INSERT and checks
        the column's type and SRID; these triggers do the same (storing hex EWKB).
        """
        names = [t.strip('"') for k, t in statement.tokens if k in ("ident", "qident")]
        lowered = [n.lower() for n in names]
        position = lowered.index("table") + 1
        while lowered[position] in ("if", "not", "exists", "public", "cartodb"):
            position += 1
        table = names[position]
        conn = self._connection()
        carto = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (table + "__carto_insert",),
        ).fetchone()
        for column, decl in self.table_columns(table):
            match = re.fullmatch(
                r"(?:GEOMETRY|GEOGRAPHY)_TEXT(?:_Z|_M|_ZM)?(?:\((\d+),(-?\d+)\))?", decl
            )
            if match is None or (carto and column in CARTO_NAMES):
                continue
            code, srid = int(match.group(1) or 0), int(match.group(2) or 0)
            quoted, target = quote_ident(column), quote_ident(table)
            body = (
                f"UPDATE {target} SET {quoted} = "  # noqa: S608
                f"_geometry_column(NEW.{quoted}, {code}, {srid}) WHERE rowid = NEW.rowid;"
            )
            for event in ("INSERT", f"UPDATE OF {quoted}"):
                name = quote_ident(f"{table}__{column}__{event.split()[0].lower()}")
                conn.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {target}"
                    f" WHEN NEW.{quoted} IS NOT NULL BEGIN {body} END"
                )

    def _error(self, exc: sqlite3.Error, statement: Statement) -> QueryError:
        message = str(exc)
        if message == "not authorized":
            target, self._denied = self._denied, None
            if statement.words[:2] == ("drop", "table"):
                dropped = [t.strip('"') for k, t in statement.tokens if k in ("ident", "qident")]
                return QueryError(f"must be owner of table {dropped[-1]}", message)
            if target:
                return QueryError(f"permission denied for table {target}", message)
            return QueryError("permission denied for schema public", message)
        return QueryError(translate_error(message, statement), message)

    def _describe(self, sql: str) -> list[str | None] | None:
        # SQLite only reports declared types through a view's table_info.
        conn = self._connection()
        view = f"_carto_describe_{next(_NAMES)}"
        try:
            conn.execute(f"CREATE TEMP VIEW {view} AS {sql}")
        except sqlite3.Error:
            _geometry.pop_function_error()
            return None
        try:
            info = conn.execute(f"PRAGMA temp.table_info({view})").fetchall()
        except sqlite3.Error:
            _geometry.pop_function_error()
            return None
        finally:
            conn.execute(f"DROP VIEW temp.{view}")
        return [row[2] or None for row in info]

    def _returning_decls(self, statement: Statement) -> dict[str, str]:
        sig = [t for k, t in statement.tokens if k in ("ident", "qident")]
        words = [t.lower() for t in sig]
        for keyword in ("into", "update", "from"):
            if keyword in words:
                name = sig[words.index(keyword) + 1].strip('"')
                if name.lower() in ("or", "only") and len(sig) > words.index(keyword) + 2:
                    name = sig[words.index(keyword) + 2].strip('"')
                return dict(self.table_columns(name))
        return {}

    def _special(self, statement: Statement) -> QueryResult | None:
        words = statement.words
        sig = [tok for tok in statement.tokens if tok[0] not in ("ws", "comment")]
        texts = [t.lower() for _, t in sig]
        if words and words[0] == "truncate":
            names = [
                t.strip('"')
                for k, t in sig[1:]
                if k in ("ident", "qident") and t.lower() not in _TRUNCATE_WORDS
            ]
            for name in names:
                self._run(_statement(tokenize(f"DELETE FROM {quote_ident(name)}")), ())  # noqa: S608
            return QueryResult([], [], [], 0)
        if (
            len(texts) >= 4
            and texts[0] == "select"
            and "cdb_cartodbfytable" in texts[1:4]
            and texts[-1] == ")"
        ):
            strings = [t[1:-1].replace("''", "'") for k, t in sig if k == "string"]
            if not strings:
                return None
            name = strings[-1].split(".")[-1].strip('"')
            self.cartodbfy(name)
            return QueryResult(["cdb_cartodbfytable"], ["TEXT"], [(name,)], 1)
        if words[:2] == ("create", "table") or words[:3] in (
            ("create", "temp", "table"),
            ("create", "temporary", "table"),
        ):
            return self._create_table_as(statement, sig)
        return None

    def _create_table_as(self, statement: Statement, sig: list[Token]) -> QueryResult | None:
        texts = [t.lower() for _, t in sig]
        pos = texts.index("table") + 1
        if texts[pos : pos + 3] == ["if", "not", "exists"]:
            pos += 3
        if texts[pos].strip('"') in ("public", "cartodb") and texts[pos + 1 : pos + 2] == ["."]:
            pos += 2
        if texts[pos + 1 : pos + 2] != ["as"]:
            return None
        name = sig[pos][1].strip('"')
        # Everything after the AS token is the query.
        seen = 0
        start = 0
        for index, (kind, _) in enumerate(statement.tokens):
            if kind not in ("ws", "comment"):
                seen += 1
                if seen == pos + 2:
                    start = index + 1
                    break
        query = _statement(statement.tokens[start:])
        if self.table_exists(name):
            if "exists" in texts[:pos]:
                return QueryResult([], [], [], 0)
            raise QueryError(f'relation "{name}" already exists')
        result = self._run(query, ())
        if len(set(result.columns)) != len(result.columns):
            dup = next(c for c in result.columns if result.columns.count(c) > 1)
            raise QueryError(f'column "{dup}" specified more than once')
        temp = "TEMP " if texts[1] in ("temp", "temporary") else ""
        spec = ", ".join(
            f"{quote_ident(c)} {d or ''}".rstrip()
            for c, d in zip(result.columns, result.decl_types, strict=True)
        )
        conn = self._connection()
        try:
            conn.execute(f"CREATE {temp}TABLE {quote_ident(name)} ({spec})")
            if result.rows:
                marks = ", ".join("?" * len(result.columns))
                conn.executemany(f"INSERT INTO {quote_ident(name)} VALUES ({marks})", result.rows)  # noqa: S608
        except sqlite3.Error as exc:
            raise self._error(exc, statement) from exc
        if "_TEXT" in spec:
            self._install_geometry_triggers(statement)
        return QueryResult([], [], [], len(result.rows))

    # -- CARTO tables ---------------------------------------------------------------------

    def create_carto_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        """Create a table with CARTO's system columns first, then ``columns``."""
        spec = [f"{quote_ident(c)} {d}" for c, d in (*CARTO_COLUMNS, *columns)]
        with self._lock:
            self._connection().execute(f"CREATE TABLE {quote_ident(name)} ({', '.join(spec)})")

    def install_carto_triggers(self, name: str) -> None:
        """Keep ``the_geom`` valid (SRID 4326) and ``the_geom_webmercator`` in sync on writes."""
        table = quote_ident(name)
        body = (
            f"UPDATE {table} SET the_geom = _carto_geom(NEW.the_geom),"  # noqa: S608
            " the_geom_webmercator = _carto_webmercator(_carto_geom(NEW.the_geom))"
            " WHERE cartodb_id = NEW.cartodb_id;"
        )
        with self._lock:
            conn = self._connection()
            conn.execute(
                f"CREATE TRIGGER {quote_ident(name + '__carto_insert')} AFTER INSERT ON {table}"
                f" WHEN NEW.the_geom IS NOT NULL BEGIN {body} END"
            )
            conn.execute(
                f"CREATE TRIGGER {quote_ident(name + '__carto_update')}"
                f" AFTER UPDATE OF the_geom ON {table} BEGIN {body} END"
            )

    def cartodbfy(self, name: str) -> None:
        """Turn a table into a CARTO table, as ``CDB_CartodbfyTable`` does.

        Adds ``cartodb_id`` (keeping an existing one whose values are unique integers),
        ``the_geom`` (converting a text or geometry column of that name; an unreadable one is
        kept as ``the_geom_1``) and ``the_geom_webmercator``, and installs the triggers.
        """
        with self.transaction():
            columns = self.table_columns(name)
            if not columns:
                raise QueryError(f'relation "{name}" does not exist')
            table = quote_ident(name)
            present = {c for c, _ in columns}
            id_expr = "NULL"
            if "cartodb_id" in present:
                check = (
                    "SELECT count(*), count(DISTINCT cartodb_id), count(cartodb_id),"
                    " coalesce(sum(CAST(CAST(cartodb_id AS INTEGER) AS TEXT)"
                    " IS NOT CAST(cartodb_id AS TEXT)), 0), min(cartodb_id) FROM "
                )
                stats = self.execute_native(check + table).rows[0]
                total, distinct, present_ids, bad, lowest = stats
                if total != distinct or total != present_ids or bad or (lowest or 0) < 0:
                    raise QueryError("CDB(_CDB_Has_Usable_Primary_ID): Error: invalid cartodb_id")
                id_expr = "CAST(cartodb_id AS INTEGER)"
            geom_expr = "NULL"
            keep = [(c, d) for c, d in columns if c not in CARTO_NAMES]
            if "the_geom" in present:
                try:
                    self.execute(f"SELECT count(_carto_geom_lenient(the_geom)) FROM {table}")  # noqa: S608
                    geom_expr = "_carto_geom_lenient(the_geom)"
                except QueryError:
                    keep.append(("the_geom_1", dict(columns)["the_geom"]))
            staging = f"{name}__cartodbfy"
            self.create_carto_table(staging, keep)
            sources = [id_expr, geom_expr, f"_carto_webmercator({geom_expr})"] + [
                "the_geom" if c == "the_geom_1" else quote_ident(c) for c, _ in keep
            ]
            targets = [c for c, _ in (*CARTO_COLUMNS, *keep)]
            order = "cartodb_id" if id_expr != "NULL" else "rowid"
            conn = self._connection()
            conn.execute(
                f"INSERT INTO {quote_ident(staging)} ({', '.join(map(quote_ident, targets))})"  # noqa: S608
                f" SELECT {', '.join(sources)} FROM {table} ORDER BY {order}"
            )
            conn.execute(f"DROP TABLE {table}")
            self.rename_table(staging, name)
            self.install_carto_triggers(name)

    def rename_table(self, old: str, new: str) -> None:
        """Rename a table without re-checking every view (SQLite's legacy rename)."""
        with self._lock:
            conn = self._connection()
            conn.execute("PRAGMA legacy_alter_table=ON")
            try:
                conn.execute(f"ALTER TABLE {quote_ident(old)} RENAME TO {quote_ident(new)}")
            finally:
                conn.execute("PRAGMA legacy_alter_table=OFF")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Plain SQLite ``executemany`` (no translation), for bulk loading."""
        with self._lock:
            self._connection().executemany(sql, rows)

    def execute_native(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run SQLite SQL as is (no translation, no renaming); errors are still translated."""
        with self._lock:
            try:
                cursor = self._connection().execute(sql, params)
                try:
                    rows = cursor.fetchall()
                    description = cursor.description
                    rowcount = len(rows) if description else max(cursor.rowcount, 0)
                finally:
                    cursor.close()
            except sqlite3.Error as exc:
                raise QueryError(translate_error(str(exc)), str(exc)) from exc
            columns = [d[0] for d in description or ()]
            return QueryResult(columns, [None] * len(columns), rows, rowcount)


def _statement(tokens: Sequence[Token]) -> Statement:
    return Statement(tuple(tokens), tuple(t.lower() for k, t in tokens if k == "ident")[:4])


_TRUNCATE_WORDS = frozenset(
    ("table", "only", "restart", "continue", "identity", "cascade", "restrict", "public", "cartodb")
)


class _Rollback(Exception):
    """Unwinds a ``run_statements`` transaction when the SQL itself says ROLLBACK."""
