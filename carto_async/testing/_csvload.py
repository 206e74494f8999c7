"""CSV, TSV and TXT files for LocalCarto's importer: read, guess types and geometry, stage.

The encoding is sniffed (UTF-16 by its BOM, else UTF-8, else cp1252; NUL bytes or undecodable
text fail with 2003) and the delimiter picked from the first lines. Records are streamed into
a staging table in chunks while each column's type is narrowed (ogr2ogr's ``AUTODETECT_TYPE``)
and ``the_geom`` is read from a geometry column or from latitude/longitude columns, as the
importer overview in ``_loader`` describes. :func:`stage_csv` returns the staged
:class:`~carto_async.testing._staging.Source`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import re
import threading
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from carto_async.testing._db import CARTO_NAMES, Database
from carto_async.testing._staging import (
    CHUNK_ROWS,
    ImportFailure,
    LoadOptions,
    Source,
    cartodb_id_expr,
    column_names,
    create_stage,
    drop_stage,
    insert_stage,
    latlon_expr,
)
from carto_async.testing.engine import geometry_from_any

__all__ = ["stage_csv"]

#: The longest line (and so the longest field) read: CARTO exports put whole polygons
#: (hundreds of KB of hex) in one field, but a hostile file with one endless line must not
#: be read into memory whole. A longer line fails the import with 2003.
MAX_LINE_CHARS = 16 * 1024 * 1024

_SAMPLE_CHARS = 64 * 1024
_MALFORMED_RATIO = 0.1


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LATITUDE_NAMES = _words("latitude lat latitudedecimal latitud lati decimallatitude decimallat")
LONGITUDE_NAMES = _words(
    "longitude lon lng longitudedecimal longitud long decimallongitude decimallong"
)
GEOMETRY_NAMES = ("geometry", "the_geom", "wkb_geometry", "geom", "geojson", "wkt")
# The georeferencer's own validation of latitude/longitude text.
_LON_RE = re.compile(r"[-+]?(?:\d|[1-9]\d|1[0-7]\d)(?:\.\d+)?|[-+]?180")
_LAT_RE = re.compile(r"[-+]?(?:\d|[1-8]\d)(?:\.\d+)?|[-+]?90")


def parse_timestamp(value: str) -> dt.datetime | None:
    """An ISO-8601 date or timestamp (naive values are UTC); None if it is not one."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- CSV


def _sniff_encoding(path: str) -> tuple[str, bool]:
    """(codec, whether the file has an odd number of ``"``); NUL bytes or bad bytes -> 2003."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", False
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        quotes = 0
        utf8 = True
        for block in iter(lambda: handle.read(1 << 20), b""):
            if b"\x00" in block:
                raise ImportFailure(2003)
            quotes += block.count(b'"')
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        if utf8:
            return "utf-8-sig", quotes % 2 == 1
        handle.seek(0)
        fallback = codecs.getincrementaldecoder("cp1252")()
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                fallback.decode(block)
        except UnicodeDecodeError:
            raise ImportFailure(2003) from None
        return "cp1252", quotes % 2 == 1


def _detect_delimiter(sample: str, ext: str) -> str:
    """The delimiter that splits the first lines most consistently (ties: more columns)."""
    lines = sample.splitlines(keepends=True)
    if len(sample) >= _SAMPLE_CHARS and len(lines) > 1:
        lines = lines[:-1]
    text = "".join(lines[:100])
    order = ("\t", ",", ";", "|") if ext == ".tsv" else (",", ";", "\t", "|")
    best = order[0] if ext == ".tsv" else ","
    best_score: tuple[float, int] | None = None
    for delimiter in order:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        ratio = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (ratio, width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


class _Tap:
    """Line iterator that remembers the raw text the csv reader consumed for a record."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.raw: list[str] = []

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.raw.append(line)
        return line

    def take(self) -> str:
        """The raw text read since the last call."""
        text = "".join(self.raw)
        self.raw.clear()
        return text


@functools.cache
def _field_pattern(delimiter: str) -> re.Pattern[str]:
    return re.compile(r'[ \t]*("(?:[^"]|"")*"?)?[^' + re.escape(delimiter) + r"\r\n]*")


def _quoted_fields(raw: str, delimiter: str) -> list[bool]:
    """Which fields of one raw CSV record were quoted (the csv module does not say)."""
    flags: list[bool] = []
    pos = 0
    field = _field_pattern(delimiter)
    while True:
        match = field.match(raw, pos)
        assert match is not None
        flags.append(match.group(1) is not None)
        pos = match.end()
        if pos >= len(raw) or raw[pos] != delimiter:
            return flags
        pos += 1


_NUMBER = r"[ \t]*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[ \t]*"
# Each pattern finds a line that is neither empty nor of the type.
_NOT_TYPE = {
    "int": re.compile(r"^(?!(?:[ \t]*[-+]?\d+[ \t]*)?$)", re.M),
    "real": re.compile(r"^(?!(?:" + _NUMBER + r")?$)", re.M),
    "bool": re.compile(r"^(?!(?:[ \t]*(?i:true|false)[ \t]*)?$)", re.M),
    "date": re.compile(r"^(?!(?:[ \t]*\d{4}-\d{2}-\d{2}[ \t]*)?$)", re.M),
    "datetime": re.compile(
        r"^(?!(?:[ \t]*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
        r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?[ \t]*)?$)",
        re.M,
    ),
}
_ALL_TYPES = frozenset(_NOT_TYPE)


class _Guesser:
    """Narrows each column's possible types chunk by chunk (ogr2ogr ``AUTODETECT_TYPE``)."""

    def __init__(self, width: int, enabled: bool) -> None:
        self.candidates = [set(_ALL_TYPES) if enabled else set() for _ in range(width)]
        self.seen = [False] * width
        self.big = [False] * width

    def force_text(self, index: int) -> None:
        """Column ``index`` is text whatever its values (a quoted field was seen)."""
        self.candidates[index].clear()

    def update(self, chunk: Sequence[Sequence[str]]) -> None:
        """Rule out, per column, the types some value of ``chunk`` does not fit."""
        for index, candidates in enumerate(self.candidates):
            if not candidates:
                continue
            values = [row[index] for row in chunk]
            blob = "\n".join(values)
            if not blob.strip():
                continue
            self.seen[index] = True
            if blob.count("\n") != len(values) - 1 or "\r" in blob:
                candidates.clear()  # multi-line values are text
                continue
            for kind in list(candidates):
                if _NOT_TYPE[kind].search(blob):
                    candidates.discard(kind)
            if "int" in candidates:
                for value in values:
                    if len(value) > 9 and value.strip():
                        number = int(value)
                        if not -(2**63) <= number < 2**63:
                            candidates.discard("int")
                            break
                        if not -(2**31) <= number < 2**31:
                            self.big[index] = True
            if candidates & {"date", "datetime"} and any(
                parse_timestamp(v) is None for v in values if v.strip()
            ):
                candidates.discard("date")
                candidates.discard("datetime")

    def decl(self, index: int) -> str:
        """Declared type for column ``index`` once every row has been seen."""
        candidates = self.candidates[index]
        if not self.seen[index] or not candidates:
            return "TEXT"
        if "int" in candidates:
            return "BIGINT" if self.big[index] else "INTEGER"
        for kind, decl in (
            ("real", "DOUBLE PRECISION"),
            ("bool", "BOOLEAN"),
            ("date", "DATE"),
            ("datetime", "TIMESTAMPTZ"),
        ):
            if kind in candidates:
                return decl
        return "TEXT"


def _convert_expr(column: str, decl: str) -> str:
    value = f"NULLIF(trim({column}), '')"
    if decl == "INTEGER":
        return f"CAST({value} AS INTEGER)"
    if decl == "BIGINT":
        return f"CAST({value} AS BIGINT)"
    if decl == "DOUBLE PRECISION":
        return f"CAST({value} AS DOUBLE)"
    if decl == "BOOLEAN":
        return f"CASE lower(trim({column})) WHEN 'true' THEN true WHEN 'false' THEN false END"
    if decl == "DATE":
        return f"CAST({value} AS DATE)"
    if decl == "TIMESTAMPTZ":
        return f"CAST({value} AS TIMESTAMPTZ)"
    return column


def _first_named(names: Sequence[str], wanted: Collection[str]) -> int | None:
    for index, name in enumerate(names):
        if name.lower() in wanted:
            return index
    return None


def _bounded_lines(handle: Any) -> Iterator[str]:
    """The file's lines, failing (2003) on one longer than :data:`MAX_LINE_CHARS`."""
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise ImportFailure(2003, f"a line is longer than {MAX_LINE_CHARS} characters")
        yield line


_FIELD_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _field_limit() -> Iterator[None]:
    """Let the csv module read fields as long as a line, for the import only (then restore)."""
    with _FIELD_LIMIT_LOCK:
        previous = csv.field_size_limit()
        csv.field_size_limit(max(previous, MAX_LINE_CHARS))
    try:
        yield
    finally:
        with _FIELD_LIMIT_LOCK:
            csv.field_size_limit(previous)


def stage_csv(db: Database, path: str, ext: str, base: str, options: LoadOptions) -> Source:
    """Stage a CSV/TSV/TXT file (``ext`` picks the preferred delimiter) as table ``base``."""
    encoding, odd_quotes = _sniff_encoding(path)
    with _field_limit(), open(path, encoding=encoding, newline="") as handle:
        delimiter = _detect_delimiter(handle.read(_SAMPLE_CHARS), ext)
        handle.seek(0)
        detect_quotes = options.type_guessing and not options.quoted_fields_guessing
        lines = _bounded_lines(handle)
        tap = _Tap(lines) if detect_quotes else None
        reader = csv.reader(tap if tap is not None else lines, delimiter=delimiter)
        try:
            header = next((row for row in reader if row and any(c.strip() for c in row)), None)
            if header is None:
                raise ImportFailure(1005)
            if tap is not None:
                tap.take()
            stager = _CsvStager(db, column_names(header, options), base, options)
            try:
                for row in reader:
                    quoted = _quoted_fields(tap.take(), delimiter) if tap is not None else None
                    stager.add(row, quoted)
                return stager.finish(odd_quotes)
            except BaseException:
                drop_stage(db, stager.source.stage)
                raise
        except csv.Error as exc:
            raise ImportFailure(2003, str(exc)) from None


class _CsvStager:
    """Streams CSV records into a staging table, guessing types and geometry on the way."""

    def __init__(self, db: Database, names: list[str], base: str, options: LoadOptions) -> None:
        self.db = db
        self.names = names
        self.width = len(names)
        self.options = options
        self.guesser = _Guesser(self.width, options.type_guessing)
        self.geom_index = _first_named(names, GEOMETRY_NAMES)
        lat, lon = _first_named(names, LATITUDE_NAMES), _first_named(names, LONGITUDE_NAMES)
        self.latlon = (lat, lon) if lat is not None and lon is not None else None
        self.written = 0
        self.malformed = 0
        self.chunk: list[list[Any]] = []
        self.last: list[str] = []
        self.source = Source(base, create_stage(db, self.width), [], 0)

    def add(self, row: list[str], quoted: list[bool] | None) -> None:
        """Take one record (``quoted`` says which fields were quoted, when that matters)."""
        width = self.width
        if not row or (len(row) == 1 and width > 1 and not row[0].strip()):
            return  # blank line
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        elif len(row) > width:
            if any(cell.strip() for cell in row[width:]):
                self.malformed += 1
            del row[width:]
        if quoted is not None:
            for index, was_quoted in enumerate(quoted[:width]):
                if was_quoted:
                    self.guesser.force_text(index)
        self.last = row[:]
        self.chunk.append(row)
        self.source.rows += 1
        if self.source.rows > self.options.max_rows:
            raise ImportFailure(6668)
        if len(self.chunk) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Guess types for the pending rows and write them (and geometry text) to the stage."""
        if not self.chunk:
            return
        self.guesser.update(self.chunk)
        index = self.geom_index
        for row in self.chunk:
            geom = row[index].strip() if index is not None else ""
            lat = lon = None
            if self.latlon is not None:
                lat, lon = row[self.latlon[0]], row[self.latlon[1]]
            row.extend((geom or None, lat, lon))
        insert_stage(self.db, self.source.stage, self.chunk, self.width, self.written)
        self.written += len(self.chunk)
        self.chunk = []

    def finish(self, odd_quotes: bool) -> Source:
        """Check the file as a whole and decide the table's columns."""
        self.flush()
        source = self.source
        if source.rows == 0:
            raise ImportFailure(1005)
        # A quote opened and never closed swallows the rest of the file into one field.
        runaway = odd_quotes and any("\n" in cell or "\r" in cell for cell in self.last)
        if self.malformed > source.rows * _MALFORMED_RATIO or runaway:
            raise ImportFailure(2003)
        parsed = geometry_from_any("gc", "VARCHAR")
        geom_values, geom_bad = self.db.execute_native(
            f"SELECT count(gc), count(gc) FILTER (WHERE ({parsed}) IS NULL)"  # noqa: S608
            f" FROM {source.stage}"
        ).rows[0]
        geom_failed = bool(geom_bad)
        if geom_values and not geom_failed:
            collections = self.db.execute_native(
                f"SELECT count(*) FROM {source.stage} WHERE gc IS NOT NULL"  # noqa: S608
                f" AND ST_GeometryType({parsed})::VARCHAR = 'GEOMETRYCOLLECTION'"
            ).rows[0][0]
            if collections:
                raise ImportFailure(3201)
        skip: set[int] = set()
        renamed: dict[int, str] = {}
        use_latlon = self.latlon is not None
        if self.geom_index is not None:
            if geom_values and not geom_failed:
                source.geom_expr = parsed
                skip.add(self.geom_index)
                use_latlon = False
            elif geom_failed:
                renamed[self.geom_index] = "invalid_the_geom"
            else:
                skip.add(self.geom_index)  # an empty geometry column is dropped
        if use_latlon:
            source.geom_expr = latlon_expr()
        for index, name in enumerate(self.names):
            if index in skip or name == "the_geom_webmercator":
                continue
            column = f"c{index}"
            decl = self.guesser.decl(index)
            if name == "cartodb_id":
                source.id_expr = cartodb_id_expr(self.db, source.stage, column)
                continue
            final = renamed.get(index, name)
            if final in CARTO_NAMES:
                final += "_1"
            source.columns.append((final, decl, _convert_expr(column, decl)))
        return source
