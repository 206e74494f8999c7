"""pandas and GeoPandas through COPY: the encoding half, without I/O (extra ``dataframes``).

Writing a DataFrame to CARTO takes three steps this package prepares: the PostgreSQL column
types (:func:`table_columns`), the ``CREATE TABLE`` (:func:`create_table_statement`) and the
``COPY ... FROM STDIN`` (:func:`copy_from_dataframe_statement`), and the data as COPY CSV
bytes in chunks (:func:`iter_csv`), geometries as hex EWKB in EPSG:4326. Reading takes the
query's columns from a ``LIMIT 0`` JSON query (:func:`columns_from_fields`) and decodes the
``COPY (query) TO STDOUT`` stream (:func:`copy_to_dataframe_statement`) with
:class:`CopyCsvReader`, a chunk at a time, into DataFrames (GeoDataFrames when there is a
geometry) with the right dtypes.

Example::

    columns = table_columns(gdf)
    create_table_statement("stores", columns)
    copy_from_dataframe_statement("stores", columns)
    for body in iter_csv(gdf, columns, chunk_rows=100_000):
        ...  # POST each to /api/v2/sql/copyfrom
"""

from carto_async.dataframes._decode import CopyCsvReader as CopyCsvReader
from carto_async.dataframes._decode import read_copy_csv as read_copy_csv
from carto_async.dataframes._encode import encode_csv as encode_csv
from carto_async.dataframes._encode import geometry_to_ewkb as geometry_to_ewkb
from carto_async.dataframes._encode import iter_csv as iter_csv
from carto_async.dataframes._schema import GEOMETRY_TYPE as GEOMETRY_TYPE
from carto_async.dataframes._schema import Column as Column
from carto_async.dataframes._schema import arrow_type as arrow_type
from carto_async.dataframes._schema import columns_from_fields as columns_from_fields
from carto_async.dataframes._schema import (
    copy_from_dataframe_statement as copy_from_dataframe_statement,
)
from carto_async.dataframes._schema import (
    copy_to_dataframe_statement as copy_to_dataframe_statement,
)
from carto_async.dataframes._schema import create_table_statement as create_table_statement
from carto_async.dataframes._schema import pg_type as pg_type
from carto_async.dataframes._schema import table_columns as table_columns

__all__ = [
    "GEOMETRY_TYPE",
    "Column",
    "CopyCsvReader",
    "arrow_type",
    "columns_from_fields",
    "copy_from_dataframe_statement",
    "copy_to_dataframe_statement",
    "create_table_statement",
    "encode_csv",
    "geometry_to_ewkb",
    "iter_csv",
    "pg_type",
    "read_copy_csv",
    "table_columns",
]
