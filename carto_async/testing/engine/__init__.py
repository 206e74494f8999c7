"""LocalCarto's engine: DuckDB with its spatial extension, spoken to in PostgreSQL/PostGIS.

* ``_connection``: :class:`Database`, the one shared connection (locked after start-up), CARTO
  tables and ``CDB_CartodbfyTable``;
* ``_compat``: the CARTO compatibility layer (SQL macros and the small rewrite);
* ``_guard``: what SQL API users may not do (host files, attach, extensions, settings; writes
  without rights);
* ``_sqltext``: tokens, statements, PostgreSQL's column names; ``_values``: hex EWKB and
  PostgreSQL type declarations; ``_errors``: PostgreSQL's wording for DuckDB's errors;
* ``_spool``: a query's rows on disk between the engine's lock and a (slow) HTTP client.
"""

from __future__ import annotations

from carto_async.testing.engine._connection import (
    CARTO_COLUMNS,
    CARTO_NAMES,
    Database,
    QueryResult,
    ddl_type,
    geometry_from_any,
    open_engine,
    quote_ident,
    spatial_extension_path,
)
from carto_async.testing.engine._errors import QueryError
from carto_async.testing.engine._spool import (
    DEFAULT_SPOOL_BYTES,
    MEMORY_BYTES,
    RowSpool,
    SpoolFull,
)

__all__ = [
    "CARTO_COLUMNS",
    "CARTO_NAMES",
    "DEFAULT_SPOOL_BYTES",
    "MEMORY_BYTES",
    "Database",
    "QueryError",
    "QueryResult",
    "RowSpool",
    "SpoolFull",
    "ddl_type",
    "geometry_from_any",
    "open_engine",
    "quote_ident",
    "spatial_extension_path",
]
