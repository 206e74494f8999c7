"""COPY TO CSV bytes back into DataFrames, a chunk at a time (sans-I/O).

:class:`CopyCsvReader` is fed the bytes of ``COPY (query) TO STDOUT WITH (FORMAT csv,
HEADER true)`` as they arrive and hands back DataFrames of ``rows`` rows: it holds at most
the rows of one DataFrame and the incomplete record at the end of the last chunk. Each
column is parsed by Arrow with the type its PostgreSQL type calls for (``t``/``f`` booleans,
nullable integers, timestamps with offsets, ``""`` an empty string and an empty field NULL);
geometry columns (hex EWKB) become shapely geometries and the frame a GeoDataFrame.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely

from carto_async.dataframes._ewkb import points_from_hex_ewkb
from carto_async.dataframes._schema import Column, arrow_type
from carto_async.errors import APIError, ValidationError

__all__ = ["CopyCsvReader", "read_copy_csv"]

_PANDAS_TYPES = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _record_ends(data: bytes) -> np.ndarray[Any, Any]:
    """Indexes just past each newline of ``data`` that ends a record (not inside quotes);
    ``data`` starts at a record's start. Vectorised: one pass in numpy."""
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    if newlines.size == 0:
        return newlines
    quotes_before = np.cumsum(raw == 34)[newlines]
    ends: np.ndarray[Any, Any] = newlines[quotes_before % 2 == 0] + 1
    return ends


def _last_record_end(data: bytes) -> int:
    ends = _record_ends(data)
    return int(ends[-1]) if ends.size else 0


class CopyCsvReader:
    """Decodes a COPY TO CSV stream into DataFrames of ``rows`` rows.

    Example::

        reader = CopyCsvReader(columns, rows=50_000)
        for chunk in chunks:
            for frame in reader.feed(chunk):
                handle(frame)
        for frame in reader.close():
            handle(frame)
    """

    def __init__(
        self, columns: Sequence[Column], *, rows: int = 100_000, header: bool = True
    ) -> None:
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise ValidationError(f"rows must be a positive integer, not {rows!r}")
        if not columns:
            raise ValidationError("the query has no columns to read")
        self.columns = list(columns)
        self.rows = rows
        self._header_pending = header
        self._pending = b""
        self._tables: list[pa.Table] = []
        self._buffered = 0
        self.rows_read = 0
        names = [f"c{i}" for i in range(len(self.columns))]
        self._read_options = pa_csv.ReadOptions(column_names=names, use_threads=False)
        self._convert_options = pa_csv.ConvertOptions(
            column_types={n: arrow_type(c) for n, c in zip(names, self.columns, strict=True)},
            true_values=["t", "true"],
            false_values=["f", "false"],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        self._parse_options = pa_csv.ParseOptions(newlines_in_values=True)

    def feed(self, chunk: bytes) -> list[pd.DataFrame]:
        """Take the next bytes; return the DataFrames of ``rows`` rows now complete."""
        data = self._pending + chunk
        end = _last_record_end(data)
        complete, self._pending = data[:end], data[end:]
        if complete:
            self._parse(complete)
        return self._ready(final=False)

    def close(self) -> list[pd.DataFrame]:
        """The last DataFrames (the final one may be shorter); raises on a truncated stream."""
        if self._pending:
            tail, self._pending = self._pending, b""
            if tail.count(b'"') % 2:
                raise APIError("the COPY TO stream ended inside a quoted field")
            self._parse(tail + b"\n")
        frames = self._ready(final=True)
        if not frames and self.rows_read == 0:
            frames = [self._frame(self._empty_table())]
        return frames

    def _empty_table(self) -> pa.Table:
        schema = pa.schema([(f"c{i}", arrow_type(c)) for i, c in enumerate(self.columns)])
        return schema.empty_table()

    def _parse(self, data: bytes) -> None:
        if self._header_pending:
            ends = _record_ends(data)
            end = int(ends[0]) if ends.size else len(data)
            header, data = data[:end], data[end:]
            self._check_header(header)
            self._header_pending = False
            if not data:
                return
        try:
            table = pa_csv.read_csv(
                io.BytesIO(data),
                read_options=self._read_options,
                parse_options=self._parse_options,
                convert_options=self._convert_options,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise APIError(f"cannot decode the COPY TO output: {exc}") from None
        self._tables.append(table)
        self._buffered += table.num_rows

    def _check_header(self, header: bytes) -> None:
        text = header.decode("utf-8", "replace").rstrip("\r\n")
        names = next(csv.reader([text])) if text else []
        expected = [c.name for c in self.columns]
        if names and len(names) != len(expected):
            raise APIError(f"the COPY TO header {names!r} does not match the columns {expected!r}")

    def _ready(self, *, final: bool) -> list[pd.DataFrame]:
        frames = []
        while self._buffered >= self.rows or (final and self._buffered):
            table = pa.concat_tables(self._tables) if len(self._tables) > 1 else self._tables[0]
            take = min(self.rows, table.num_rows)
            head, rest = table.slice(0, take), table.slice(take)
            self._tables = [rest] if rest.num_rows else []
            self._buffered = rest.num_rows
            self.rows_read += head.num_rows
            frames.append(self._frame(head))
        return frames

    @staticmethod
    def _geometries(values: pa.ChunkedArray, column: Column) -> tuple[Any, int | None]:
        """Shapely geometries from hex EWKB, and the SRID they carry (``None`` if none)."""
        fast = points_from_hex_ewkb(values)
        if fast is not None:
            return fast
        array = np.array(values.to_pylist(), dtype=object)
        try:
            geoms = shapely.from_wkb(array)
        except shapely.errors.GEOSException as exc:
            raise APIError(f"column {column.name!r} is not hex EWKB: {exc}") from None
        found = shapely.get_srid(geoms[pd.notna(geoms)][:1])
        return geoms, (int(found[0]) if len(found) and found[0] > 0 else None)

    def _frame(self, table: pa.Table) -> pd.DataFrame:
        df = table.to_pandas(types_mapper=_PANDAS_TYPES.get, date_as_object=False)
        df.columns = [c.name for c in self.columns]
        geometry = [c for c in self.columns if c.geometry]
        if not geometry:
            return df
        import geopandas  # noqa: PLC0415 - only frames with geometries need it

        srids: dict[str, int] = {}
        for column in geometry:
            geoms, found = self._geometries(table.column(self.columns.index(column)), column)
            srid = column.srid or found or 4326
            srids[column.name] = srid
            df[column.name] = geopandas.GeoSeries(geoms, index=df.index, crs=f"EPSG:{srid}")
        active = "the_geom" if "the_geom" in srids else geometry[0].name
        return geopandas.GeoDataFrame(df, geometry=active, crs=f"EPSG:{srids[active]}")


def read_copy_csv(
    chunks: Iterable[bytes], columns: Sequence[Column], *, rows: int = 100_000, header: bool = True
) -> Iterator[pd.DataFrame]:
    """DataFrames of ``rows`` rows from COPY TO CSV ``chunks`` (a blocking helper)."""
    reader = CopyCsvReader(columns, rows=rows, header=header)
    for chunk in chunks:
        yield from reader.feed(chunk)
    yield from reader.close()
