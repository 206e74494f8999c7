"""PostgreSQL's ``COPY ... FROM STDIN`` / ``COPY ... TO STDOUT`` for LocalCarto (reference §9.3).

The statement grammar (``WITH (FORMAT csv, HEADER true, DELIMITER ',', NULL '', QUOTE '"',
ESCAPE '"')`` and the older ``WITH CSV HEADER DELIMITER ','`` spelling), the CSV and text
formats read incrementally (:class:`RowDecoder`) and written (:func:`encode_rows`) as
PostgreSQL reads and writes them: in CSV an unquoted empty field is NULL and a quoted one an
empty string; in text ``\\N`` is NULL and backslashes escape. Nothing here knows the database.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import attrs

__all__ = ["CopyError", "CopyStatement", "RowDecoder", "encode_rows", "parse_copy"]


class CopyError(Exception):
    """A COPY the server refuses; ``str()`` is PostgreSQL's (or the SQL API's) message."""


@attrs.frozen
class CopyStatement:
    """A parsed COPY: a table (with columns) or a query, the direction and the format."""

    direction: Literal["from", "to"]
    table: str | None
    query: str | None
    columns: tuple[str, ...] | None
    format: Literal["csv", "text"] = "text"
    header: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'
    escape: str = '"'


_TOKEN_RE = re.compile(
    r"""\s+|--[^\n]*|/\*.*?\*/
    |(?P<qident>"(?:[^"]|"")*")
    |(?P<string>[Ee]?'(?:[^']|'')*')
    |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<punct>[(),;.=])
    |(?P<number>\d+(?:\.\d*)?)
    |(?P<other>[^\s])""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str, int, int]]:
    """(kind, value, start, end) of every token; identifiers folded as PostgreSQL does."""
    out = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:  # an unclosed quote or comment
            raise CopyError(f'unterminated quoted string at or near "{text[pos : pos + 10]}"')
        kind = match.lastgroup
        if kind is not None:
            raw = match.group(kind)
            if kind == "qident":
                value = raw[1:-1].replace('""', '"')
            elif kind == "string":
                value = raw[raw.index("'") + 1 : -1].replace("''", "'")
                if raw[0] in "Ee":
                    value = value.encode("latin-1", "backslashreplace").decode("unicode_escape")
            elif kind == "word":
                value = raw.lower()
            else:
                value = raw
            out.append((kind, value, match.start(), match.end()))
        pos = match.end()
    return out


def _matching_paren(text: str, tokens: list[tuple[str, str, int, int]], index: int) -> int:
    depth = 0
    for i in range(index, len(tokens)):
        kind, value = tokens[i][0], tokens[i][1]
        if kind == "punct" and value == "(":
            depth += 1
        elif kind == "punct" and value == ")":
            depth -= 1
            if depth == 0:
                return i
    raise CopyError('syntax error at end of input (a parenthesis is not closed in "COPY")')


_BOOL = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}


def parse_copy(q: str) -> CopyStatement:
    """The COPY statement ``q``; :class:`CopyError` with PostgreSQL's words when it is not one
    LocalCarto can run (``binary`` and file targets are refused)."""
    tokens = [t for t in _tokens(q) if not (t[0] == "punct" and t[1] == ";")]
    if not tokens or tokens[0][1] != "copy" or tokens[0][0] != "word":
        raise CopyError("SQL must start with COPY")
    i = 1
    table = query = None
    columns: tuple[str, ...] | None = None
    if i < len(tokens) and tokens[i][1] == "(":
        end = _matching_paren(q, tokens, i)
        query = q[tokens[i][3] : tokens[end][2]].strip()
        i = end + 1
    else:
        parts = []
        while i < len(tokens) and tokens[i][0] in ("word", "qident"):
            parts.append(tokens[i][1])
            i += 1
            if i < len(tokens) and tokens[i][1] == ".":
                i += 1
                continue
            break
        if not parts:
            raise CopyError('syntax error at or near "COPY"')
        table = parts[-1]
        if i < len(tokens) and tokens[i][1] == "(":
            end = _matching_paren(q, tokens, i)
            names = [t[1] for t in tokens[i + 1 : end] if t[0] in ("word", "qident")]
            columns = tuple(names)
            i = end + 1
    if i + 1 >= len(tokens) or tokens[i][1] not in ("from", "to"):
        raise CopyError('syntax error: expected FROM STDIN or TO STDOUT after "COPY ..."')
    direction: Literal["from", "to"] = "from" if tokens[i][1] == "from" else "to"
    target = tokens[i + 1][1]
    if target != ("stdin" if direction == "from" else "stdout"):
        raise CopyError(
            "COPY to or from a file is not allowed: use COPY ... FROM STDIN or TO STDOUT"
        )
    if direction == "from" and query is not None:
        raise CopyError('syntax error at or near "("')
    options = _options(tokens[i + 2 :])
    fmt = str(options.pop("format", "text"))
    if fmt == "binary":
        raise CopyError("COPY format binary is not supported by LocalCarto")
    if fmt not in ("csv", "text"):
        raise CopyError(f'COPY format "{fmt}" not recognized')
    csv = fmt == "csv"
    delimiter = str(options.pop("delimiter", "," if csv else "\t"))
    header = options.pop("header", False)
    quote = str(options.pop("quote", '"'))
    escape = str(options.pop("escape", quote))
    null = str(options.pop("null", "" if csv else "\\N"))
    options.pop("encoding", None)
    for name in ("force_quote", "force_not_null", "force_null", "freeze"):
        options.pop(name, None)
    if options:
        raise CopyError(f'option "{next(iter(options))}" not recognized')
    if len(delimiter) != 1:
        raise CopyError("COPY delimiter must be a single one-byte character")
    if not csv and (header or "quote" in options or "escape" in options):
        raise CopyError("COPY HEADER available only in CSV mode")
    if csv and (len(quote) != 1 or len(escape) != 1):
        raise CopyError("COPY quote must be a single one-byte character")
    if csv and delimiter == quote:
        raise CopyError("COPY delimiter and quote must be different")
    return CopyStatement(
        direction,
        table,
        query,
        columns,
        "csv" if csv else "text",
        bool(header),
        delimiter,
        null,
        quote,
        escape,
    )


def _options(tokens: list[tuple[str, str, int, int]]) -> dict[str, Any]:
    """``[WITH] (name value, ...)`` or the legacy ``[WITH] CSV HEADER DELIMITER 'x' ...``."""
    if tokens and tokens[0][1] == "with":
        tokens = tokens[1:]
    out: dict[str, Any] = {}
    if tokens and tokens[0][1] == "(":
        inner = tokens[1:-1] if tokens[-1][1] == ")" else None
        if inner is None:
            raise CopyError("syntax error at end of input")
        groups: list[list[tuple[str, str, int, int]]] = [[]]
        for token in inner:
            if token[1] == ",":
                groups.append([])
            else:
                groups[-1].append(token)
        for group in groups:
            if not group:
                raise CopyError('syntax error at or near ","')
            name = group[0][1]
            value: Any = group[1][1] if len(group) > 1 else True
            if name == "header":
                value = _BOOL.get(str(value).lower(), True) if value is not True else True
            out[name] = value
        return out
    i = 0
    while i < len(tokens):
        word = tokens[i][1]
        if word in ("csv", "binary"):
            out["format"] = word
            i += 1
        elif word == "header":
            out["header"] = True
            i += 1
        elif word in ("delimiter", "null", "quote", "escape", "encoding"):
            j = i + 1
            if j < len(tokens) and tokens[j][1] == "as":
                j += 1
            if j >= len(tokens) or tokens[j][0] != "string":
                raise CopyError(f'syntax error at or near "{word}"')
            out[word] = tokens[j][1]
            i = j + 1
        else:
            raise CopyError(f'syntax error at or near "{tokens[i][1]}"')
    return out


# --------------------------------------------------------------------------- reading


class RowDecoder:
    """Rows (lists of ``str | None``) of a COPY FROM body, as its bytes arrive."""

    def __init__(self, statement: CopyStatement) -> None:
        self.statement = statement
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending = ""
        self._skip_header = statement.header and statement.format == "csv"
        self._ended = False
        self.line = 0
        s = statement
        if s.format == "csv":
            q, e, d = re.escape(s.quote), re.escape(s.escape), re.escape(s.delimiter)
            inner = f"(?:[^{q}]|{q}{q})*" if s.quote == s.escape else f"(?:[^{q}{e}]|{e}.)*"
            self._field_re = re.compile(
                f"(?:{q}({inner}){q}|([^{d}{q}\\r\\n]*))({d}|\\r?\\n|\\Z)", re.DOTALL
            )

    def feed(self, data: bytes) -> list[list[str | None]]:
        """The rows ``data`` completed."""
        try:
            text = self._pending + self._decoder.decode(data)
        except UnicodeDecodeError:
            raise CopyError('invalid byte sequence for encoding "UTF8"') from None
        end = self._complete_end(text)
        self._pending = text[end:]
        return self._rows(text[:end])

    def close(self) -> list[list[str | None]]:
        """The last row (the body may not end with a newline)."""
        try:
            text = self._pending + self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise CopyError('invalid byte sequence for encoding "UTF8"') from None
        self._pending = ""
        if not text:
            return []
        if self.statement.format == "csv" and self._open_quote(text):
            raise CopyError("unterminated CSV quoted field")
        return self._rows(text if text.endswith("\n") else text + "\n")

    def _open_quote(self, text: str) -> bool:
        s = self.statement
        if s.quote != s.escape:
            text = re.sub(re.escape(s.escape) + ".", "", text, flags=re.DOTALL)
        return text.count(s.quote) % 2 == 1

    def _complete_end(self, text: str) -> int:
        """Just past the last newline that ends a record."""
        if self.statement.format == "text" or self.statement.quote not in text:
            return text.rfind("\n") + 1
        end = text.rfind("\n")
        while end >= 0:
            if not self._open_quote(text[: end + 1]):
                return end + 1
            end = text.rfind("\n", 0, end)
        return 0

    def _rows(self, text: str) -> list[list[str | None]]:
        if not text or self._ended:
            return []
        rows = self._csv(text) if self.statement.format == "csv" else self._text(text)
        if self._skip_header and rows:
            rows.pop(0)
            self._skip_header = False
        return rows

    def _csv(self, text: str) -> list[list[str | None]]:
        s = self.statement
        rows: list[list[str | None]] = []
        row: list[str | None] = []
        unescape = (
            (lambda v: v.replace(s.quote * 2, s.quote))
            if s.quote == s.escape
            else (lambda v: re.sub(re.escape(s.escape) + "(.)", r"\1", v, flags=re.DOTALL))
        )
        pos = 0
        length = len(text)
        while pos < length:
            match = self._field_re.match(text, pos)
            if match is None or match.end() == pos:
                self.line += len(rows) + 1
                raise CopyError(f"unterminated CSV quoted field (line {self.line})")
            quoted, plain, end = match.groups()
            if quoted is not None:
                row.append(unescape(quoted))
            else:
                row.append(None if plain == s.null else plain)
            pos = match.end()
            if end != s.delimiter:
                if row == [r"\."] and not rows and pos >= length:
                    self._ended = True
                    break
                rows.append(row)
                row = []
        self.line += len(rows)
        return rows

    def _text(self, text: str) -> list[list[str | None]]:
        s = self.statement
        rows: list[list[str | None]] = []
        for raw in text.split("\n")[:-1]:
            line = raw[:-1] if raw.endswith("\r") else raw
            if line == "\\.":
                self._ended = True
                break
            fields = line.split(s.delimiter)
            rows.append(
                [None if f == s.null else (_unescape(f) if "\\" in f else f) for f in fields]
            )
        self.line += len(rows)
        return rows


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)")


def _unescape(field: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _ESCAPES.get(code, code)

    return _ESCAPE_RE.sub(one, field)


# --------------------------------------------------------------------------- writing


def _csv_field(text: str, s: CopyStatement) -> str:
    if (
        text in (s.null, "\\.")
        or s.delimiter in text
        or s.quote in text
        or "\r" in text
        or "\n" in text
        or (s.escape != s.quote and s.escape in text)
    ):
        if s.escape != s.quote:
            text = text.replace(s.escape, s.escape * 2)
        return s.quote + text.replace(s.quote, s.escape + s.quote) + s.quote
    return text


_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def encode_rows(
    rows: Iterable[Sequence[str | None]], s: CopyStatement, header: Sequence[str] | None = None
) -> str:
    """Rows of text values (``None`` for NULL) as COPY TO writes them, with the header line
    when the statement asks for one."""
    out = []
    if s.format == "csv":
        if s.header and header is not None:
            out.append(s.delimiter.join(_csv_field(h, s) for h in header) + "\n")
        for row in rows:
            out.append(
                s.delimiter.join(s.null if v is None else _csv_field(v, s) for v in row) + "\n"
            )
    else:
        escapes = dict(_TEXT_ESCAPES)
        escapes.setdefault(ord(s.delimiter), "\\" + s.delimiter)
        table = str.maketrans({chr(k): v for k, v in escapes.items()})
        for row in rows:
            out.append(
                s.delimiter.join(s.null if v is None else v.translate(table) for v in row) + "\n"
            )
    return "".join(out)
