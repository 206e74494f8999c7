"""SQL text: tokens, statements, and the names PostgreSQL gives result columns.

:func:`tokenize` splits PostgreSQL text into tokens (comments, ``E''`` and dollar-quoted
strings, quoted identifiers); :func:`split_statements` cuts a query on its top-level
semicolons. :func:`select_items` and :func:`pg_column_name` give each output column of a
SELECT the name PostgreSQL gives it (``count``, ``st_astext``, ``?column?``): DuckDB names an
expression after its text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

__all__ = [
    "Statement",
    "Token",
    "pg_column_name",
    "select_items",
    "significant",
    "split_statements",
    "tokenize",
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
  | (?P<param>\?\d*|\$\d+)
  | (?P<op>\|\||<>|!=|<=|>=|->>|->|.)
    """,
    re.X | re.S,
)

Token = tuple[str, str]  # (kind, text)


def tokenize(sql: str) -> list[Token]:
    """Split SQL into tokens (whitespace and comments included)."""
    return [(m.lastgroup or "op", m.group()) for m in _TOKEN_RE.finditer(sql)]


def significant(tokens: Sequence[Token]) -> list[Token]:
    """The tokens that are neither whitespace nor comments."""
    return [t for t in tokens if t[0] not in ("ws", "comment")]


@attrs.frozen
class Statement:
    """One statement: its tokens and its leading keywords (lower case)."""

    tokens: tuple[Token, ...]
    words: tuple[str, ...]

    @property
    def keyword(self) -> str:
        """The first keyword (``select``, ``insert``...), or ``""``."""
        return self.words[0] if self.words else ""

    @property
    def text(self) -> str:
        """The statement as written."""
        return "".join(t for _, t in self.tokens)


def make_statement(tokens: Sequence[Token]) -> Statement:
    """A :class:`Statement` from its tokens."""
    words = tuple(t.lower() for k, t in tokens if k == "ident")[:4]
    return Statement(tuple(tokens), words)


def split_statements(sql: str) -> list[Statement]:
    """Split on top-level semicolons; empty statements are dropped."""
    statements: list[Statement] = []
    current: list[Token] = []
    for kind, text in tokenize(sql):
        if kind == "op" and text == ";":
            if significant(current):
                statements.append(make_statement(current))
            current = []
            continue
        current.append((kind, text))
    if significant(current):
        statements.append(make_statement(current))
    return statements


# --------------------------------------------------------------------------- column names

_SELECT_END = frozenset(
    [
        "from",
        "where",
        "group",
        "having",
        "order",
        "limit",
        "offset",
        "union",
        "except",
        "intersect",
        "window",
        "into",
    ]
)
_NOT_ALIASES = frozenset(["end", "null", "true", "false", "current_timestamp", "current_date"])
_VALUE_WORDS = {
    "current_timestamp": "current_timestamp",
    "current_date": "current_date",
    "current_time": "current_time",
    "true": "bool",
    "false": "bool",
}
_CAST_TYPE_NAMES = {
    "int": "int4",
    "integer": "int4",
    "int4": "int4",
    "smallint": "int2",
    "int2": "int2",
    "bigint": "int8",
    "int8": "int8",
    "real": "float4",
    "float4": "float4",
    "float": "float8",
    "float8": "float8",
    "double": "float8",
    "numeric": "numeric",
    "decimal": "numeric",
    "text": "text",
    "varchar": "varchar",
    "boolean": "bool",
    "bool": "bool",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "date": "date",
    "json": "json",
    "jsonb": "jsonb",
    "geometry": "geometry",
    "geography": "geography",
}


def select_items(tokens: Sequence[Token]) -> list[tuple[list[Token], str | None]] | None:
    """(expression tokens, alias) for each item of the outer SELECT list; None with a ``*``."""
    items: list[list[Token]] = []
    depth = 0
    inside = False
    for kind, text in tokens:
        if kind in ("ws", "comment"):
            continue
        low = text.lower()
        if kind == "op" and text in ("(", "["):
            depth += 1
        elif kind == "op" and text in (")", "]"):
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
        elif not (depth == 0 and not items[-1] and low in ("distinct", "all")):
            items[-1].append((kind, text))
    if not inside:
        return None
    out: list[tuple[list[Token], str | None]] = []
    for tokens_of_item in items:
        item = tokens_of_item
        if not item or item[-1][1] == "*":
            return None
        alias: str | None = None
        if len(item) >= 3 and item[-2][0] == "ident" and item[-2][1].lower() == "as":
            alias = _ident_name(item[-1])
            item = item[:-2]
        elif (
            len(item) >= 2
            and item[-1][0] in ("ident", "qident")
            and item[-1][1].lower() not in _NOT_ALIASES
            and item[-2][1] != "."
            and item[-2][1] != "::"
            and (item[-2][0] in ("ident", "qident", "number", "string") or item[-2][1] == ")")
        ):
            alias = _ident_name(item[-1])
            item = item[:-1]
        out.append((item, alias))
    return out


def _ident_name(token: Token) -> str:
    kind, text = token
    if kind == "qident":
        return text[1:-1].replace('""', '"')
    return text.lower()


def pg_column_name(item: Sequence[Token]) -> str:
    """PostgreSQL's name for an output expression: column, function, cast type or ``?column?``."""
    tokens = list(item)
    if not tokens:
        return "?column?"
    # A trailing ``::type`` names the column after the type unless the operand has a name.
    depth = 0
    for index in range(len(tokens) - 1, -1, -1):
        kind, text = tokens[index]
        if text in (")", "]"):
            depth += 1
        elif text in ("(", "["):
            depth -= 1
        elif depth == 0 and kind == "cast":
            inner = pg_column_name(tokens[:index])
            if inner != "?column?":
                return inner
            type_word = tokens[index + 1][1].lower() if index + 1 < len(tokens) else ""
            return _CAST_TYPE_NAMES.get(type_word, type_word)
        elif depth == 0 and kind == "op" and text not in (".",):
            return "?column?"
    first = tokens[0]
    low = first[1].lower()
    if first[0] == "ident" and low == "case":
        return "case"
    if first[0] == "ident" and low == "cast" and len(tokens) > 2:
        inner_tokens = tokens[2:-1]
        as_index = max(
            (i for i, t in enumerate(inner_tokens) if t[0] == "ident" and t[1].lower() == "as"),
            default=None,
        )
        if as_index is not None:
            inner = pg_column_name(inner_tokens[:as_index])
            if inner != "?column?":
                return inner
            type_word = inner_tokens[as_index + 1][1].lower()
            return _CAST_TYPE_NAMES.get(type_word, type_word)
    if len(tokens) == 1:
        if first[0] == "qident":
            return _ident_name(first)
        if first[0] == "ident":
            return _VALUE_WORDS.get(low, low)
        return "?column?"
    # qualified names: a.b.c -> c, a.f(...) -> f
    names = [t for t in tokens if t[0] in ("ident", "qident")]
    if tokens[-1][0] in ("ident", "qident") and all(
        t[0] in ("ident", "qident") or t[1] == "." for t in tokens
    ):
        return _ident_name(tokens[-1])
    position = 0
    while position + 2 < len(tokens) and tokens[position + 1][1] == ".":
        position += 2
    head = tokens[position]
    if (
        head[0] in ("ident", "qident")
        and position + 1 < len(tokens)
        and tokens[position + 1][1] == "("
        and tokens[-1][1] == ")"
    ):
        return _ident_name(head)
    if names and first[0] == "ident" and low in ("exists", "array"):
        return low
    return "?column?"
