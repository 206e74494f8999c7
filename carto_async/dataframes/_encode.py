"""DataFrame rows as PostgreSQL COPY CSV bytes, in bulk (sans-I/O).

Columns are converted whole (Arrow's CSV writer does the text): no Python loop over cells,
except for ``jsonb`` and ``bytea`` object columns, whose values need ``json.dumps`` / hex.
NULL is an empty unquoted field and every string is quoted, so an empty string stays an
empty string; ``NaN`` in a float column is NULL (pandas' missing value). Geometries are hex
EWKB in EPSG:4326: a GeoDataFrame in another CRS is reprojected first.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely

from carto_async.dataframes._ewkb import points_to_hex_ewkb
from carto_async.dataframes._schema import Column
from carto_async.errors import ValidationError

__all__ = ["encode_csv", "geometry_to_ewkb", "iter_csv"]

_WRITE_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed", delimiter=",")


def geometry_to_ewkb(series: pd.Series) -> np.ndarray[Any, Any] | pa.Array:
    """Hex EWKB (``SRID=4326``) strings of a geometry column, ``None`` where missing
    (an Arrow array for a column of points, built in numpy).

    A GeoSeries with a CRS other than EPSG:4326 is reprojected; one without a CRS, or plain
    shapely objects, are taken to be in EPSG:4326 already.
    """
    crs = getattr(series, "crs", None)
    if crs is not None and crs.to_epsg() != 4326:
        series = series.to_crs(4326)
    # A copy: missing values are set to None below, never in the caller's frame.
    values = np.array(series.array if hasattr(series, "crs") else series.to_numpy(), dtype=object)
    values[pd.isna(values)] = None
    try:
        fast = points_to_hex_ewkb(values, 4326)
    except (TypeError, shapely.errors.GEOSException) as exc:
        raise ValidationError(
            f"column {series.name!r} holds values that are not geometries"
        ) from exc
    if fast is not None:
        return fast
    try:
        geoms = shapely.set_srid(values, 4326)
    except (TypeError, shapely.errors.GEOSException) as exc:
        raise ValidationError(
            f"column {series.name!r} holds values that are not geometries"
        ) from exc
    return shapely.to_wkb(geoms, hex=True, include_srid=True)


def _as_text(series: pd.Series, column: Column) -> pd.Series | np.ndarray[Any, Any] | pa.Array:
    """The column ready for Arrow: geometries, JSON, bytes and intervals as text."""
    if column.geometry:
        return geometry_to_ewkb(series)
    if column.pg_type == "jsonb":
        return series.map(
            lambda v: None if v is None else json.dumps(v, ensure_ascii=False), na_action="ignore"
        )
    if column.pg_type == "bytea":
        return series.map(lambda v: "\\x" + bytes(v).hex(), na_action="ignore")
    if column.pg_type == "interval":
        # Whole microseconds: exact, and what PostgreSQL's interval input reads.
        micros = (series // pd.Timedelta(microseconds=1)).astype("Int64")
        return (
            (micros.astype("string") + " microseconds").astype(object).where(micros.notna(), None)
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(series.dtype.categories.dtype)
    return series


def encode_csv(df: pd.DataFrame, columns: Sequence[Column]) -> bytes:
    """``df``'s rows as COPY CSV bytes (no header), columns in ``columns`` order.

    ``columns`` comes from :func:`~carto_async.dataframes.table_columns` of the same frame.
    """
    if len(df) == 0:
        return b""
    arrays = {}
    for index, column in enumerate(columns):
        values = _as_text(df[column.source], column)
        try:
            arrays[f"c{index}"] = (
                values if isinstance(values, pa.Array) else pa.array(values, from_pandas=True)
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(f"column {column.source!r} cannot be written: {exc}") from None
    for key, array in arrays.items():
        if pa.types.is_dictionary(array.type):
            arrays[key] = array.dictionary_decode()
        elif pa.types.is_nested(array.type):
            raise ValidationError(f"column {columns[int(key[1:])].source!r} holds nested values")
    sink = io.BytesIO()
    try:
        pa_csv.write_csv(pa.table(arrays), sink, _WRITE_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(f"the DataFrame cannot be written as CSV: {exc}") from None
    data = sink.getvalue()
    if b"\x00" in data:
        raise ValidationError("PostgreSQL text cannot hold a NUL character (\\x00)")
    return data


def iter_csv(df: pd.DataFrame, columns: Sequence[Column], *, chunk_rows: int) -> Iterator[bytes]:
    """``df`` as COPY CSV bytes, ``chunk_rows`` rows at a time (slices, not copies, of ``df``)."""
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise ValidationError(f"chunk_rows must be a positive integer, not {chunk_rows!r}")
    for start in range(0, len(df), chunk_rows):
        yield encode_csv(df.iloc[start : start + chunk_rows], columns)
