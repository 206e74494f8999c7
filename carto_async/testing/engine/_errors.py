"""DuckDB's error messages in PostgreSQL's words (what CARTO's SQL API answers)."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["QueryError", "pg_message"]


class QueryError(Exception):
    """A statement failed; ``str(exc)`` is (close to) what PostgreSQL would have said."""

    def __init__(self, message: str, engine_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.engine_message = engine_message


_Render = Callable[[re.Match[str]], str]

_PATTERNS: list[tuple[re.Pattern[str], _Render]] = [
    (
        re.compile(r'Table with name "?([^"!]+?)"? does not exist!.*', re.S),
        lambda m: f'relation "{m[1]}" does not exist',
    ),
    (
        re.compile(r'Table with name "?([^"]+?)"? does not exist because schema.*', re.S),
        lambda m: f'relation "{m[1]}" does not exist',
    ),
    (
        re.compile(r'Referenced column "([^"]+)" not found in FROM clause!.*', re.S),
        lambda m: f'column "{m[1]}" does not exist',
    ),
    (
        re.compile(r'Table "([^"]+)" does not have a column named "([^"]+)".*', re.S),
        lambda m: f"column {m[1]}.{m[2]} does not exist",
    ),
    (
        re.compile(r'Table "([^"]+)" does not have a column with name "([^"]+)".*', re.S),
        lambda m: f'column "{m[2]}" of relation "{m[1]}" does not exist',
    ),
    (
        re.compile(r"(?:Scalar|Table|Aggregate) Function with name (\w+) does not exist!.*", re.S),
        lambda m: f"function {m[1]} does not exist",
    ),
    (
        re.compile(r"Macro (\w+)\(\) does not support the supplied arguments.*", re.S),
        lambda m: f"function {m[1]} does not exist",
    ),
    (
        re.compile(r'Ambiguous reference to column name "([^"]+)".*', re.S),
        lambda m: f'column reference "{m[1]}" is ambiguous',
    ),
    (
        re.compile(r"NOT NULL constraint failed: [^.]+\.(\S+)", re.S),
        lambda m: f'null value in column "{m[1]}" violates not-null constraint',
    ),
    (
        re.compile(r'(?:Table|View|Sequence) with name "([^"]+)" already exists!?.*', re.S),
        lambda m: f'relation "{m[1]}" already exists',
    ),
    (
        re.compile(r"Could not convert string '(.*)' to BOOL.*", re.S),
        lambda m: f'invalid input syntax for type boolean: "{m[1]}"',
    ),
    (
        re.compile(r"Could not convert string '(.*)' to INT(?:32|64|16)?.*", re.S),
        lambda m: f'invalid input syntax for integer: "{m[1]}"',
    ),
    (
        re.compile(r"Could not convert string '(.*)' to (?:DOUBLE|FLOAT|DECIMAL).*", re.S),
        lambda m: f'invalid input syntax for type double precision: "{m[1]}"',
    ),
    (
        re.compile(
            r"Failed to parse geometry.*|.*Failed to parse WKT.*|Could not parse.*WK.*", re.S
        ),
        lambda m: "parse error - invalid geometry",
    ),
    (
        re.compile(r"(ST_[XYZM]) only supports POINT geometries.*", re.S),
        lambda m: f"Argument to {m[1]}() must have type POINT",
    ),
    (
        re.compile(
            r"Cannot cast GEOMETRY with CRS '(?:EPSG:)?(\d*)' to GEOMETRY with different CRS"
            r" '(?:EPSG:)?(\d+)'.*",
            re.S,
        ),
        lambda m: f"Geometry SRID ({m[1] or 0}) does not match column SRID ({m[2]})",
    ),
    (
        re.compile(r"syntax error at or near (\S+).*", re.S),
        lambda m: f"syntax error at or near {m[1]}",
    ),
    (re.compile(r"syntax error at end of input.*", re.S), lambda m: "syntax error at end of input"),
    (
        re.compile(r"division by zero.*|Could not divide.*by zero.*", re.S | re.I),
        lambda m: "division by zero",
    ),
    (
        re.compile(r"INTERRUPT.*|Interrupted!?.*|.*interrupted.*", re.S | re.I),
        lambda m: "canceling statement due to statement timeout",
    ),
]
_PREFIX = re.compile(r"^(?:[A-Za-z ]+ Error|Error): ")


def pg_message(message: str) -> str:
    """PostgreSQL's wording for a DuckDB error message, where there is an obvious one."""
    text = _PREFIX.sub("", message.strip(), count=1)
    for pattern, render in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return render(match)
    return text.split("\n\nLINE ")[0].split("\nLINE ")[0].strip()
