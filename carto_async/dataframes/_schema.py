"""PostgreSQL column types for DataFrame columns, and back (sans-I/O).

Writing: each column's dtype (or, for ``object`` columns, its first non-null value) gives a
PostgreSQL type; geometry columns (a GeoDataFrame's, or shapely objects) become
``geometry(Geometry,4326)``, the type of CARTO's ``the_geom``. Reading: the SQL API's
``fields`` (``pgtype``, or ``type: geometry``) give the Arrow type each CSV column is parsed as.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from carto_async._core.copy import copy_from_statement, copy_to_statement
from carto_async._core.sql_template import Identifier
from carto_async.errors import ValidationError
from carto_async.models.sql import SQLField

__all__ = [
    "GEOMETRY_TYPE",
    "Column",
    "arrow_type",
    "columns_from_fields",
    "copy_from_dataframe_statement",
    "copy_to_dataframe_statement",
    "create_table_statement",
    "pg_type",
    "table_columns",
]

#: The type of CARTO's ``the_geom``: any geometry, in EPSG:4326.
GEOMETRY_TYPE = "geometry(Geometry,4326)"


@attrs.frozen
class Column:
    """One table column: its name, PostgreSQL type, and whether it holds geometries.

    ``source`` is the DataFrame column it comes from (the active geometry column of a
    GeoDataFrame is written as ``the_geom`` by default); ``srid`` is the SRID geometries
    are read with.
    """

    name: str
    pg_type: str
    geometry: bool = False
    source: Any = None
    srid: int | None = None


_NUMPY_TYPES: Mapping[str, str] = {
    "bool": "boolean",
    "boolean": "boolean",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "uint8": "smallint",
    "uint16": "integer",
    "uint32": "bigint",
    "uint64": "numeric",
    "float16": "real",
    "float32": "real",
    "float64": "double precision",
}


def _is_geometry_dtype(dtype: Any) -> bool:
    return getattr(dtype, "name", None) == "geometry"


def _first_value(series: pd.Series) -> Any:
    index = series.first_valid_index()
    return None if index is None else series.loc[index]


def _object_type(value: Any) -> str:
    if value is None:
        return "text"
    if isinstance(value, shapely.Geometry):
        return GEOMETRY_TYPE
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | np.integer):
        return "bigint"
    if isinstance(value, float | np.floating):
        return "double precision"
    if isinstance(value, decimal.Decimal):
        return "numeric"
    if isinstance(value, dict | list):
        return "jsonb"
    if isinstance(value, bytes | bytearray):
        return "bytea"
    if isinstance(value, dt.datetime):
        return "timestamp" if value.utcoffset() is None else "timestamptz"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    return "text"


def pg_type(series: pd.Series) -> str:
    """The PostgreSQL type a column is written as."""
    dtype = series.dtype
    if _is_geometry_dtype(dtype):
        return GEOMETRY_TYPE
    if isinstance(dtype, pd.CategoricalDtype):
        return pg_type(pd.Series(dtype.categories))
    name = str(dtype).lower()
    if name in _NUMPY_TYPES:
        return _NUMPY_TYPES[name]
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamptz" if getattr(dtype, "tz", None) is not None else "timestamp"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "interval"
    if pd.api.types.is_string_dtype(dtype) and name != "object":
        return "text"
    if name == "object":
        return _object_type(_first_value(series))
    return "text"


def table_columns(df: pd.DataFrame, *, geometry_name: str | None = "the_geom") -> list[Column]:
    """The columns ``df`` is written as, in order; raises listing every problem.

    The active geometry of a GeoDataFrame is named ``geometry_name`` (CARTO's ``the_geom``;
    ``None`` keeps its name). The index is not written: ``reset_index()`` first to keep it.
    """
    problems: list[str] = []
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, not {type(df).__name__}")
    if isinstance(df.columns, pd.MultiIndex):
        raise ValidationError("a DataFrame with MultiIndex columns cannot be a table: flatten them")
    active = getattr(df, "_geometry_column_name", None) if hasattr(df, "geometry") else None
    columns: list[Column] = []
    for source in df.columns:
        if not isinstance(source, str):
            problems.append(f"column names must be strings, not {source!r}")
            continue
        kind = pg_type(df[source])
        name = geometry_name if source == active and geometry_name else source
        columns.append(
            Column(
                name, kind, kind == GEOMETRY_TYPE, source, 4326 if kind == GEOMETRY_TYPE else None
            )
        )
    names = [c.name for c in columns]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"column {name!r} appears twice (is the geometry renamed onto a column?)")
    for name in names:
        try:
            Identifier(name)
        except ValidationError as exc:
            problems.extend(f"column {name!r}: {p}" for p in exc.problems)
    if not columns and not problems:
        problems.append("the DataFrame has no columns")
    if problems:
        raise ValidationError(
            f"cannot write the DataFrame: {'; '.join(problems)}", problems=problems
        )
    return columns


def _target(table: str | Identifier) -> Identifier:
    if isinstance(table, Identifier):
        return table
    if not isinstance(table, str) or "." in table:
        raise ValidationError(
            f"table must be a name (use Identifier(schema, name) to qualify it), not {table!r}"
        )
    return Identifier(table)


def create_table_statement(
    table: str | Identifier, columns: Sequence[Column], *, if_not_exists: bool = False
) -> str:
    """``CREATE TABLE "table" ("a" bigint, ...)`` with every name quoted."""
    cols = ", ".join(f"{Identifier(c.name).sql()} {c.pg_type}" for c in columns)
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {exists}{_target(table).sql()} ({cols})"


def copy_from_dataframe_statement(table: str | Identifier, columns: Sequence[Column]) -> str:
    """The ``COPY ... FROM STDIN`` that loads :func:`~carto_async.dataframes.encode_csv` output."""
    return copy_from_statement(_target(table), [c.name for c in columns], format="csv")


def copy_to_dataframe_statement(query: str) -> str:
    """The ``COPY (query) TO STDOUT`` whose output :class:`CopyCsvReader` decodes."""
    return copy_to_statement(query, format="csv", header=True)


# --------------------------------------------------------------------------- reading

_ARROW_TYPES: Mapping[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "numeric": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
}


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type a CSV column of ``column.pg_type`` is parsed as (text when unsure)."""
    if column.geometry:
        return pa.string()
    return _ARROW_TYPES.get(column.pg_type, pa.string())


def columns_from_fields(fields: Mapping[str, SQLField]) -> list[Column]:
    """The columns of a query from its SQL API ``fields`` (a ``LIMIT 0`` JSON query)."""
    out = []
    for name, field in fields.items():
        if field.type in ("geometry", "geography"):
            out.append(
                Column(
                    name,
                    field.type,
                    True,
                    name,
                    field.srid if field.srid and field.srid > 0 else None,
                )
            )
        else:
            out.append(Column(name, field.pgtype or field.type, False, name))
    return out
