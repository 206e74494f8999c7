"""LocalCarto's database (kept as the import path the server and the jobs use).

The engine is DuckDB + spatial; see :mod:`carto_async.testing.engine`.
"""

from __future__ import annotations

from carto_async.testing.engine import (
    CARTO_COLUMNS,
    CARTO_NAMES,
    Database,
    QueryError,
    QueryResult,
    quote_ident,
)

__all__ = ["CARTO_COLUMNS", "CARTO_NAMES", "Database", "QueryError", "QueryResult", "quote_ident"]
