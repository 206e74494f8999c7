"""PostgreSQL to SQLite: the statement translation behind LocalCarto's database.

CARTO users write PostgreSQL/PostGIS and SQLite runs it. :func:`split_statements` cuts a query
into :class:`Statement` objects (trigger bodies stay whole) and :func:`translate` rewrites one
into SQLite text: ``::`` casts and ``CAST(x AS type)`` (into native casts or the ``_pg_*``
functions of ``_pgvalues``), ``ILIKE``, ``public.`` and ``cartodb.`` prefixes, ``E''`` and
dollar-quoted strings, ``geometry(Point,4326)`` and ``serial`` column types, index methods,
``CDB_UserTables()``; unquoted names are folded to lower case. :func:`translate_error` gives a
SQLite error message PostgreSQL's wording (``relation "x" does not exist``).

Statements a rewrite cannot express (``TRUNCATE``, ``CREATE TABLE ... AS``,
``CDB_CartodbfyTable``) are run by ``_db``; result column names and types are ``_pgcolumns``'.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import attrs

from carto_async.testing import _geometry
from carto_async.testing._geofunctions import pop_function_error

__all__ = [
    "CAST_FUNCTION_DECLS",
    "Statement",
    "Token",
    "split_statements",
    "tokenize",
    "translate",
    "translate_error",
]

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


# --------------------------------------------------------------------------- errors

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
        return pop_function_error() or message
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
