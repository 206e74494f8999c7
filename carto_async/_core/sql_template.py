"""Safe SQL templating: ``{{name}}`` placeholders filled with quoted literals (sans-I/O).

Values are quoted by their Python type, never pasted: a ``str`` becomes a string literal, an
``int`` a number, a ``list`` a parenthesised list for ``IN``, ``None`` ``NULL``. Identifiers
(table and column names) are only accepted through the explicit :class:`Identifier` wrapper,
so a string can never become SQL syntax.

Rules that keep this safe whatever the value holds:

* a string with a backslash is written as an ``E'...'`` literal with backslashes doubled, so
  it means the same with ``standard_conforming_strings`` on or off; quotes are always doubled;
  ``$$``, ``--``, ``/*`` and ``;`` inside a literal are inert. NUL cannot be stored in
  PostgreSQL text and is refused;
* negative numbers are parenthesised: ``a -{{n}}`` with ``n=-1`` must not become ``a --1``
  (a comment);
* a placeholder inside a quoted string, a quoted identifier, a dollar-quoted body or a comment
  of the template is refused (it would be quoted twice, or not at all); the template is read
  with ``standard_conforming_strings`` both on and off, and a placeholder has to be outside
  every literal either way;
* every problem (an unknown placeholder, an unused value, a value of no SQL type) is reported
  at once in one :class:`~carto_async.ValidationError`.

Example::

    render("select * from {{t}} where name = {{name}} and n in {{ns}}",
           {"t": Identifier("public", "my table"), "name": "O'Brien", "ns": [1, 2]})
    # select * from "public"."my table" where name = 'O''Brien' and n in (1, 2)
"""

from __future__ import annotations

import bisect
import datetime as dt
import decimal
import math
import numbers
import re
import uuid
from collections.abc import Mapping
from typing import Any

from carto_async.errors import ValidationError

__all__ = [
    "Identifier",
    "code_only",
    "find_placeholders",
    "quote_identifier",
    "quote_literal",
    "render",
    "skeleton",
]

#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes), silently naming another one.
MAX_IDENTIFIER_BYTES = 63

_PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOLLAR_TAG_RE = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")


class Identifier:
    """A table, column or schema name to put in a query, quoted as an identifier.

    Give the parts of a qualified name separately: ``Identifier("public", "my table")`` is
    ``"public"."my table"``; ``Identifier("a.b")`` is the single name ``"a.b"``. Names are
    always double-quoted, so they are case-sensitive (``Identifier("Stores")`` is not
    ``stores``).
    """

    __slots__ = ("parts",)
    __module__ = "carto_async"

    parts: tuple[str, ...]

    def __init__(self, *parts: str) -> None:
        problems = _identifier_problems(parts)
        if problems:
            raise ValidationError("; ".join(problems), problems=problems)
        object.__setattr__(self, "parts", tuple(parts))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Identifier is immutable")

    def __reduce__(self) -> tuple[type[Identifier], tuple[str, ...]]:
        return (Identifier, self.parts)  # copy, deepcopy and pickle rebuild it

    def __repr__(self) -> str:
        return f"Identifier({', '.join(map(repr, self.parts))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identifier) and other.parts == self.parts

    def __hash__(self) -> int:
        return hash(("Identifier", self.parts))

    def __str__(self) -> str:
        return self.sql()

    def sql(self) -> str:
        """The quoted identifier, ready to put in a query."""
        return ".".join(quote_identifier(part) for part in self.parts)


def _identifier_problems(parts: tuple[Any, ...]) -> list[str]:
    if not parts:
        return ["an Identifier needs at least one name"]
    problems = []
    for part in parts:
        if not isinstance(part, str):
            problems.append(f"identifier parts must be strings, not {type(part).__name__}")
        elif not part:
            problems.append("an identifier cannot be empty")
        elif "\x00" in part:
            problems.append(f"identifier {part!r} contains a NUL character")
        elif len(_utf8(part, problems)) > MAX_IDENTIFIER_BYTES:
            problems.append(
                f"identifier {part[:20]!r}... is longer than PostgreSQL's "
                f"{MAX_IDENTIFIER_BYTES} bytes; it would be truncated to another name"
            )
    return problems


def _utf8(text: str, problems: list[str]) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        problems.append(f"{text[:20]!r} is not valid Unicode (a lone surrogate)")
        return b""


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted PostgreSQL identifier (inner quotes doubled)."""
    problems = _identifier_problems((name,))
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)
    return '"' + name.replace('"', '""') + '"'


def _quote_string(text: str) -> str:
    problems: list[str] = []
    _utf8(text, problems)
    if "\x00" in text:
        problems.append("PostgreSQL text cannot hold a NUL character (\\x00)")
    if problems:
        raise ValueError("; ".join(problems))
    body = text.replace("'", "''")
    if "\\" in text:
        # E'' reads backslashes as escapes whatever standard_conforming_strings says.
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


def _number(text: str, negative: bool) -> str:
    return f"({text})" if negative else text


def _quote_float(value: float) -> str:
    if math.isnan(value):
        return "'NaN'::float8"
    if math.isinf(value):
        return "'Infinity'::float8" if value > 0 else "'-Infinity'::float8"
    return _number(repr(value), value < 0 or math.copysign(1.0, value) < 0)


def _quote_decimal(value: decimal.Decimal) -> str:
    if value.is_snan():
        raise ValueError("a signalling NaN Decimal has no SQL value")
    if value.is_nan():
        return "'NaN'::numeric"
    if value.is_infinite():
        return "'Infinity'::numeric" if value > 0 else "'-Infinity'::numeric"
    return _number(str(value), value.is_signed())


def _quote_timedelta(value: dt.timedelta) -> str:
    return (
        f"'{value.days} days {value.seconds} seconds {value.microseconds} microseconds'::interval"
    )


def quote_literal(value: Any) -> str:
    """``value`` as a PostgreSQL literal, chosen by its Python type.

    ``None`` → ``NULL``; ``bool`` → ``TRUE``/``FALSE``; ``int``, ``float`` (``NaN`` and
    infinities as ``'NaN'::float8`` ...) and :class:`~decimal.Decimal` → numbers; ``str`` →
    a string literal; ``bytes`` → ``bytea``; ``datetime`` → ``timestamptz`` when aware, else
    ``timestamp``; ``date``, ``time`` (``timetz`` when aware), ``timedelta`` → ``interval``;
    ``UUID``; a ``list``/``tuple``/``set`` → ``(a, b, c)`` for ``IN``; an :class:`Identifier`
    → the quoted name. Anything else raises :class:`ValueError` (``TypeError`` for types).
    """
    if value is None:
        return "NULL"
    if isinstance(value, Identifier):
        return value.sql()
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return "TRUE" if value else "FALSE"  # numpy booleans too
    if isinstance(value, int | numbers.Integral):
        return _number(str(int(value)), int(value) < 0)
    if isinstance(value, decimal.Decimal):
        return _quote_decimal(value)
    if isinstance(value, float | numbers.Real):
        return _quote_float(float(value))
    if isinstance(value, str):
        return _quote_string(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return f"decode('{bytes(value).hex()}', 'hex')"
    if isinstance(value, dt.datetime):
        kind = "timestamp" if value.utcoffset() is None else "timestamptz"
        return f"'{value.isoformat()}'::{kind}"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, dt.time):
        kind = "time" if value.utcoffset() is None else "timetz"
        return f"'{value.isoformat()}'::{kind}"
    if isinstance(value, dt.timedelta):
        return _quote_timedelta(value)
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        if not items:
            raise ValueError("an empty list has no SQL form (`x IN ()` is a syntax error)")
        for item in items:
            if isinstance(item, list | tuple | set | frozenset | Mapping):
                raise TypeError("lists for IN hold single values, not nested collections")
        return "(" + ", ".join(quote_literal(item) for item in items) + ")"
    raise TypeError(
        f"{type(value).__name__} values have no SQL literal form; "
        "use str, int, float, Decimal, bool, None, date/time, bytes, UUID, a list, "
        "or Identifier for names"
    )


def _noncode_re(backslash_escapes: bool) -> re.Pattern[str]:
    plain = r"'(?:[^'\\]|\\.|'')*(?:'|\Z)" if backslash_escapes else r"'(?:[^']|'')*(?:'|\Z)"
    return re.compile(
        r"(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z)"  # E'' string: backslash escapes
        + "|"
        + plain  # '' string
        + r'|"(?:[^"]|"")*(?:"|\Z)'  # quoted identifier
        + r"|--[^\n]*(?:\n|\Z)"  # line comment
        + r"|/\*"  # block comment: nested in PostgreSQL, skipped by hand
        + r"|(?<![\w$])\$(?P<tag>(?:[^\W\d]\w*)?)\$(?:.*?\$(?P=tag)\$|.*\Z)",  # $tag$ ... $tag$
        re.DOTALL,
    )


#: Literals, quoted names and comments, as read with standard_conforming_strings on / off.
_NONCODE_RE = {True: _noncode_re(False), False: _noncode_re(True)}
_COMMENT_MARK_RE = re.compile(r"/\*|\*/")


def _skip_block_comment(sql: str, i: int) -> int:
    """Index just past the (nested, as in PostgreSQL) ``/* */`` comment opened at ``i``."""
    depth = 1
    for mark in _COMMENT_MARK_RE.finditer(sql, i + 2):
        depth += 1 if mark.group(0) == "/*" else -1
        if depth == 0:
            return mark.end()
    return len(sql)


def _code_spans(sql: str, *, standard_strings: bool) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of ``sql`` outside literals, quoted names and comments."""
    pattern = _NONCODE_RE[standard_strings]
    spans: list[tuple[int, int]] = []
    start = 0
    while (match := pattern.search(sql, start)) is not None:
        end = _skip_block_comment(sql, match.start()) if match.group(0) == "/*" else match.end()
        spans.append((start, match.start()))
        start = end
    spans.append((start, len(sql)))
    return spans


def code_only(sql: str) -> str:
    """``sql`` with its literals, quoted names and comments blanked out (same length), to
    search for keywords (standard_conforming_strings on, as on CARTO)."""
    out = [" "] * len(sql)
    for start, end in _code_spans(sql, standard_strings=True):
        out[start:end] = sql[start:end]
    return "".join(out)


def find_placeholders(sql: str) -> list[tuple[str, int, int, bool]]:
    """Every ``{{name}}`` of ``sql``: ``(name, start, end, in_code)``.

    ``in_code`` is false for a placeholder inside a literal, quoted identifier or comment,
    read with ``standard_conforming_strings`` on or off.
    """
    matches = list(_PLACEHOLDER_RE.finditer(sql))
    if not matches:
        return []
    # Without a backslash both readings are the same: scan once.
    settings = (True, False) if "\\" in sql else (True,)
    readings = [_code_spans(sql, standard_strings=on) for on in settings]
    found = []
    for match in matches:
        in_code = all(_inside(spans, match.start(), match.end()) for spans in readings)
        found.append((match.group(1), match.start(), match.end(), in_code))
    return found


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """True when ``[start, end)`` lies within one of the sorted, disjoint ``spans``."""
    index = bisect.bisect_right(spans, start, key=lambda span: span[0]) - 1
    return index >= 0 and spans[index][0] <= start and end <= spans[index][1]


def render(sql: str, params: Mapping[str, Any]) -> str:
    """``sql`` with each ``{{name}}`` replaced by ``params[name]`` quoted as a literal.

    Raises :class:`~carto_async.ValidationError` listing every problem: unknown or unused
    names, placeholders inside literals or comments, values with no SQL form.
    """
    if not isinstance(params, Mapping):
        raise ValidationError(f"params must be a mapping of names to values, not {type(params)}")
    problems: list[str] = []
    for name in params:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(f"parameter name {name!r} is not a valid name (letters, digits, _)")
    placeholders = find_placeholders(sql)
    quoted: dict[str, str] = {}
    pieces: list[str] = []
    last = 0
    for name, start, end, in_code in placeholders:
        pieces.append(sql[last:start])
        last = end
        if not _NAME_RE.match(name):
            problems.append(f"placeholder {sql[start:end]!r} is not a valid name")
            continue
        if not in_code:
            problems.append(
                f"placeholder {{{{{name}}}}} is inside a quoted string, quoted name or comment;"
                " write it bare: values are quoted for you"
            )
            continue
        if name not in params:
            problems.append(f"placeholder {{{{{name}}}}} has no value in params")
            continue
        if name not in quoted:
            try:
                quoted[name] = quote_literal(params[name])
            except (TypeError, ValueError, ValidationError) as exc:
                problems.append(f"parameter {name!r}: {exc}")
                continue
        pieces.append(quoted[name])
    pieces.append(sql[last:])
    named = {p[0] for p in placeholders}
    for name in params:
        if isinstance(name, str) and _NAME_RE.match(name) and name not in named:
            problems.append(f"parameter {name!r} is not used by any {{{{placeholder}}}}")
    if problems:
        problems = list(dict.fromkeys(problems))
        raise ValidationError(
            f"cannot fill the SQL template: {'; '.join(problems)}", problems=problems
        )
    return "".join(pieces)


def skeleton(sql: str, params: Mapping[str, Any]) -> str:
    """``sql`` with literal values as ``NULL`` and identifiers filled in: what the statement
    does, without the data. Used to tell reads from writes, since a quoted value cannot
    change that but a name (a function's) can."""

    def fill(match: re.Match[str]) -> str:
        value = params.get(match.group(1))
        return value.sql() if isinstance(value, Identifier) else "NULL"

    return _PLACEHOLDER_RE.sub(fill, sql)
