"""Result columns the PostgreSQL way: the names and types LocalCarto's SQL API reports.

SQLite names an expression column after its text (``count(*)``, ``CAST(x AS INTEGER)``) and
declares a type only for table columns, where PostgreSQL says ``count`` (``int8``) and ``x``.
:func:`pg_column_name` renames a column and hints its type, :func:`select_items` finds the
expression behind each alias of a SELECT, :func:`infer_decl` guesses a type from the values
when nothing else tells, and :func:`pg_type` maps a declared type to PostgreSQL's type name
(``DOUBLE PRECISION`` -> ``float8``) for the SQL API's ``fields``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

from carto_async.testing import _geometry
from carto_async.testing._geofunctions import FUNCTION_DECL_TYPES
from carto_async.testing._pgsql import CAST_FUNCTION_DECLS, Token, tokenize

__all__ = ["PG_TYPES", "infer_decl", "pg_column_name", "pg_type", "select_items"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


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
    **FUNCTION_DECL_TYPES,
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
