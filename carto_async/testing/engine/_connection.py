"""LocalCarto's database: one DuckDB connection (with spatial) shared by threads, in PostgreSQL.

:class:`Database` loads the signed spatial extension from the ``duckdb-extension-spatial``
wheel, creates the compatibility macros, then locks the engine (no file access, no setting
changes): SQL API queries cannot reach the host. Statements are rewritten by ``_compat``;
result columns get PostgreSQL's names and declared types, errors PostgreSQL's words.

CARTO tables have ``cartodb_id`` (a sequence: deleted ids are never reused), ``the_geom``
(``GEOMETRY('EPSG:4326')``) and ``the_geom_webmercator``, a *generated* column computed from
``the_geom`` (DuckDB has no triggers): it follows every insert and update and cannot be
written to. PostGIS type modifiers DuckDB does not keep (``geometry(Point,4326)``'s type,
``varchar(10)``, ``money``) are kept in a small catalogue (``_carto.columns``) so the SQL API
reports the same ``fields`` as CARTO.

DuckDB has no savepoints: :meth:`Database.transaction` blocks nest, and a failure anywhere
rolls back the outermost one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import attrs
import duckdb

# DuckDB's Python client imports pandas (when installed) the first time it scans Python data
# (an Arrow batch, a list parameter). Importing it here moves that one-time cost (about a
# second on a busy machine) out of the first import job, whose timing tests and users see.
with contextlib.suppress(ImportError):
    importlib.import_module("pandas")

from carto_async.testing.engine._compat import MACROS, PG_TO_DUCK_TYPES, rewrite
from carto_async.testing.engine._errors import QueryError, pg_message
from carto_async.testing.engine._guard import check_statement, write_access, write_target
from carto_async.testing.engine._spool import RowSpool
from carto_async.testing.engine._sqltext import (
    Statement,
    Token,
    make_statement,
    pg_column_name,
    select_items,
    significant,
    split_statements,
)
from carto_async.testing.engine._values import GEOMETRY_KINDS, decl_for, python_value, srid_of

__all__ = [
    "CARTO_COLUMNS",
    "CARTO_NAMES",
    "Database",
    "QueryError",
    "QueryResult",
    "quote_ident",
    "spatial_extension_path",
]

CARTO_NAMES = frozenset(("cartodb_id", "the_geom", "the_geom_webmercator"))
#: (column, declared type) of CARTO's system columns.
CARTO_COLUMNS = (
    ("cartodb_id", "INTEGER"),
    ("the_geom", "GEOMETRY_TEXT(0,4326)"),
    ("the_geom_webmercator", "GEOMETRY_TEXT(0,3857)"),
)
_WEBMERCATOR_EXPR = (
    "ST_SetCRS(ST_Transform(the_geom, 'EPSG:4326', 'EPSG:3857', always_xy := true), 'EPSG:3857')"
)
_ROW_WORDS = frozenset(("select", "with", "values", "table", "explain"))
_IGNORED = frozenset(("begin", "start", "commit", "end", "grant", "revoke", "comment", "vacuum"))
_NAMES = itertools.count(1)


@attrs.frozen
class QueryResult:
    """Outcome of one statement: PostgreSQL column names, declared types, rows, row count."""

    columns: list[str]
    decl_types: list[str | None]
    rows: list[tuple[Any, ...]]
    rowcount: int


def quote_ident(name: str) -> str:
    """``"name"`` with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def spatial_extension_path() -> str:
    """The signed spatial extension shipped in the ``duckdb-extension-spatial`` wheel."""
    spec = importlib.util.find_spec("duckdb_extension_spatial")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "duckdb-extension-spatial is not installed (pip install carto-async[local])"
        )
    base = next(iter(spec.submodule_search_locations))
    return os.path.join(base, "extensions", f"v{duckdb.__version__}", "spatial.duckdb_extension")


def open_engine(path: str | None, *, lock: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with spatial loaded, in UTC; ``lock`` closes the host to its SQL."""
    conn = duckdb.connect(path or ":memory:")
    conn.execute(f"LOAD '{spatial_extension_path()}'")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET enable_progress_bar = false")
    if lock:
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    return conn


# --------------------------------------------------------------------------- DDL types


@attrs.frozen
class _ColumnType:
    duck: str
    decl: str  # PostgreSQL-style declaration (what table_columns and fields report)


_GEOM_RE = re.compile(
    r"(geometry|geography)\s*(?:\(\s*([a-z]+?)(z|m|zm)?\s*(?:,\s*(\d+)\s*)?\))?", re.I
)


def ddl_type(text: str) -> _ColumnType:
    """A PostgreSQL column type (``geometry(Point,4326)``, ``varchar(10)``...) in DuckDB."""
    words = " ".join(text.split())
    low = words.lower()
    array = ""
    while low.endswith("[]"):
        array += "[]"
        low = low[:-2].strip()
        words = words[:-2].strip()
    match = _GEOM_RE.fullmatch(low)
    if match:
        family, kind, dims, srid_text = match.groups()
        srid = int(srid_text) if srid_text else (4326 if family == "geography" else 0)
        duck = f"GEOMETRY('EPSG:{srid}')" if srid else "GEOMETRY"
        if kind is None:
            decl = f"{family.upper()}_TEXT" + (f"(0,{srid})" if srid_text else "")
        else:
            names = [k.lower() for k in GEOMETRY_KINDS]
            code = names.index(kind) + 1 if kind in names else 0
            suffix = {"z": "_Z", "m": "_M", "zm": "_ZM"}.get(dims or "", "")
            decl = f"{family.upper()}_TEXT{suffix}({code},{srid})"
        return _ColumnType(duck + array, decl + array)
    base = low.split("(")[0].strip()
    args = words[len(base) :].strip()
    if base in ("timestamp with time zone", "timestamptz"):
        return _ColumnType("TIMESTAMPTZ" + array, "TIMESTAMPTZ" + array)
    if base in ("timestamp without time zone", "timestamp"):
        return _ColumnType("TIMESTAMP" + array, "TIMESTAMP" + array)
    if base in ("double precision", "double"):
        return _ColumnType("DOUBLE" + array, "DOUBLE PRECISION" + array)
    if base in ("character varying",):
        base = "varchar"
    if base in ("numeric", "decimal") and args:
        return _ColumnType("DECIMAL" + args + array, "NUMERIC" + args.replace(" ", "") + array)
    decls = {
        "text": "TEXT",
        "varchar": "VARCHAR" + args.replace(" ", ""),
        "char": "CHAR" + args,
        "character": "CHAR" + args,
        "bpchar": "CHAR" + args,
        "bool": "BOOLEAN",
        "boolean": "BOOLEAN",
        "int": "INTEGER",
        "integer": "INTEGER",
        "int4": "INTEGER",
        "serial": "INTEGER",
        "float": "DOUBLE PRECISION",
        "float8": "DOUBLE PRECISION",
        "real": "REAL",
        "float4": "REAL",
        "numeric": "NUMERIC",
        "decimal": "NUMERIC",
        "jsonb": "JSONB",
        "json": "JSON",
        "money": "MONEY",
        "raster": "RASTER",
    }
    duck = PG_TO_DUCK_TYPES.get(base, words.upper())
    decl = decls.get(base, duck if base not in PG_TO_DUCK_TYPES else base.upper())
    return _ColumnType(duck + array, decl + array)


_CONSTRAINT_WORDS = frozenset(
    [
        "not",
        "null",
        "default",
        "primary",
        "unique",
        "check",
        "references",
        "generated",
        "collate",
        "constraint",
    ]
)


# --------------------------------------------------------------------------- database


class Database:
    """One DuckDB database (a file path, or in memory when ``path`` is None) shared by threads.

    A single connection is guarded by a re-entrant lock: every public method takes it, so calls
    from the server's worker threads are serialised. :meth:`transaction` groups calls.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            conn = open_engine(path, lock=False)
        except duckdb.Error as exc:
            raise QueryError(f"could not open database: {pg_message(str(exc))}") from None
        for macro in MACROS:
            conn.execute(macro)
        conn.execute(
            "CREATE OR REPLACE TEMP MACRO cdb_usertables() AS TABLE SELECT table_name AS"
            " cdb_usertables FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
            " AND database_name = current_database() AND (getvariable('carto_visible') IS NULL"
            " OR list_contains(getvariable('carto_visible'), table_name)) ORDER BY 1"
        )
        conn.execute("CREATE SCHEMA IF NOT EXISTS _carto")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _carto.columns (table_name VARCHAR, column_name VARCHAR,"
            " decl VARCHAR)"
        )
        conn.execute("CREATE SEQUENCE IF NOT EXISTS _carto.names")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        self._conn: duckdb.DuckDBPyConnection | None = conn
        self._depth = 0
        self._doomed = False
        self._watchdog = _Watchdog(conn)
        self._catalogue: dict[tuple[str, str], str] = {
            (t.lower(), c): d for t, c, d in conn.execute("SELECT * FROM _carto.columns").fetchall()
        }

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (a file database is checkpointed); later calls raise."""
        with self._lock:
            self._watchdog.close()
            if self._conn is not None:
                with contextlib.suppress(duckdb.Error):
                    if self.path:
                        self._conn.execute("CHECKPOINT")
                self._conn.close()
                self._conn = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise QueryError("database is closed")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically; nested blocks join the outermost one."""
        with self._lock:
            conn = self._connection()
            if self._depth:
                self._depth += 1
                try:
                    yield
                except BaseException:
                    self._doomed = True  # no savepoints: the outer block cannot commit
                    raise
                finally:
                    self._depth -= 1
                return
            conn.execute("BEGIN TRANSACTION")
            self._depth = 1
            self._doomed = False
            try:
                yield
                if self._doomed:
                    raise QueryError(
                        "current transaction is aborted, commands ignored until end of"
                        " transaction block"
                    )
            except BaseException:
                self._depth = 0
                with contextlib.suppress(duckdb.Error):
                    conn.execute("ROLLBACK")
                self._reload_catalogue()
                raise
            self._depth = 0
            try:
                conn.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    conn.execute("ROLLBACK")
                raise QueryError(pg_message(str(exc)), str(exc)) from None

    def _reload_catalogue(self) -> None:
        with contextlib.suppress(duckdb.Error):
            rows = self._connection().execute("SELECT * FROM _carto.columns").fetchall()
            self._catalogue = {(t.lower(), c): d for t, c, d in rows}

    # -- catalogue ------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        """Whether a table or view of that name exists (names ignore case)."""
        found = self.execute_native(
            "SELECT 1 FROM information_schema.tables WHERE table_schema IN ('main', 'temp')"
            " AND lower(table_name) = lower(?)",
            (name,),
        )
        return bool(found.rows)

    def list_tables(self) -> list[str]:
        """User tables, sorted by name."""
        found = self.execute_native(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
            " AND database_name = current_database() ORDER BY 1"
        )
        return [row[0] for row in found.rows]

    def drop_table(self, name: str) -> None:
        """Drop a table if it exists."""
        with self._lock:
            self.execute_native(f"DROP TABLE IF EXISTS {quote_ident(name)}")
            self._forget(name)

    def row_count(self, name: str) -> int:
        """Number of rows of a table."""
        return int(self.execute(f"SELECT count(*) FROM {quote_ident(name)}").rows[0][0])  # noqa: S608

    def table_columns(self, name: str) -> list[tuple[str, str]]:
        """``(column, declared type)`` pairs of a table, in order (PostgreSQL declarations)."""
        found = self.execute_native(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema IN ('main', 'temp') AND lower(table_name) = lower(?)"
            " ORDER BY ordinal_position",
            (name,),
        )
        return [(c, self._column_decl(name, c, t)) for c, t in found.rows]

    def _column_decl(self, table: str, column: str, duck_type: str) -> str:
        known = self._catalogue.get((table.lower(), column))
        if known:
            return known
        srid = srid_of(duck_type)
        if srid is not None:
            return f"GEOMETRY_TEXT(0,{srid})" if srid else "GEOMETRY_TEXT"
        return decl_for(duck_type)

    def _remember(self, table: str, columns: Sequence[tuple[str, str]]) -> None:
        if not columns:
            return
        conn = self._connection()
        names = [column for column, _ in columns]
        conn.execute(
            "DELETE FROM _carto.columns WHERE lower(table_name) = lower(?)"
            " AND list_contains(?, column_name)",
            (table, names),
        )
        marks = ", ".join(["(?, ?, ?)"] * len(columns))
        values = [v for column, decl in columns for v in (table, column, decl)]
        conn.execute(f"INSERT INTO _carto.columns VALUES {marks}", values)  # noqa: S608
        for column, decl in columns:
            self._catalogue[(table.lower(), column)] = decl

    def _forget(self, table: str) -> None:
        conn = self._connection()
        conn.execute("DELETE FROM _carto.columns WHERE lower(table_name) = lower(?)", (table,))
        for key in [k for k in self._catalogue if k[0] == table.lower()]:
            del self._catalogue[key]

    # -- statements -----------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run one statement written in PostgreSQL and fetch its rows (``?`` placeholders)."""
        statements = split_statements(sql)
        if len(statements) > 1:
            raise QueryError("cannot insert multiple commands into a prepared statement")
        with self._lock:
            if not statements:
                return QueryResult([], [], [], 0)
            return self._run(statements[0], tuple(params))

    def run_statements(
        self,
        sql: str,
        *,
        read_only: bool = False,
        timeout: float | None = None,
        authorize: Callable[[list[tuple[str, str]]], str | None] | None = None,
        visible: Collection[str] | None = None,
        spool: RowSpool | None = None,
    ) -> QueryResult:
        """Run every statement of ``sql`` (a SQL API ``q``) in one transaction.

        Statements that would reach the host are refused (:mod:`._guard`); ``read_only``
        refuses writes with ``permission denied``; ``timeout`` (seconds) interrupts a long
        query with ``canceling statement due to statement timeout``. ``BEGIN``/``COMMIT``
        are accepted and ignored, ``ROLLBACK`` discards what ran before it.

        ``authorize`` (a key's grants) is asked, before anything runs, about the
        ``(table, permission)`` pairs of each statement (:meth:`accesses`) and returns
        ``None`` or the refusal's message; with it, ``read_only`` still refuses DDL but lets
        row writes (insert, update, delete) through to ``authorize``. ``visible`` limits
        what ``CDB_UserTables()`` lists (``None``: every table).

        With a ``spool``, the result's rows are written to it chunk by chunk as they are
        fetched (never all in memory) and the returned result has its columns, declared types
        and row count but no ``rows``: the caller reads them from the spool once the lock is
        released, and closes it.
        """
        statements = split_statements(sql)
        for statement in statements:
            check_statement(statement)
            if read_only and (authorize is None or write_access(statement) is None):
                _refuse_writes(statement)
        with self._lock:
            conn = self._connection()
            if authorize is not None:
                for statement in statements:
                    denied = authorize(self.accesses(statement))
                    if denied is not None:
                        raise QueryError(denied)
            if visible is not None:
                conn.execute("SET VARIABLE carto_visible = ?::VARCHAR[]", (sorted(visible),))
            if timeout is not None:
                self._watchdog.arm(timeout)
            try:
                if len(statements) == 1 and statements[0].keyword not in _IGNORED:
                    if statements[0].keyword in ("rollback", "abort"):
                        return _spooled(QueryResult([], [], [], 0), spool)
                    # one statement is atomic by itself
                    return _spooled(self._run(statements[0], (), spool), spool)
                return _spooled(self._run_all(statements, spool), spool)
            finally:
                if timeout is not None:
                    self._watchdog.disarm()
                if visible is not None:
                    conn.execute("RESET VARIABLE carto_visible")

    def accesses(self, statement: Statement) -> list[tuple[str, str]]:
        """The ``(table, permission)`` pairs ``statement`` needs on the account's tables.

        The table a statement writes needs its verb (``insert``, ``update``, ``delete``;
        ``truncate`` for TRUNCATE, which no grant gives) and, for an UPDATE or DELETE with a
        ``WHERE`` or ``RETURNING``, ``select`` as PostgreSQL asks; every table it reads
        needs ``select``. Reads are what DuckDB's parser reports (CTE names are not
        tables); where it cannot tell (UPDATE, DELETE), the account's table names the
        statement mentions. Tables that do not exist are the engine's to report.
        """
        with self._lock:
            conn = self._connection()
            tables = {t.lower(): t for t in self.list_tables()}
            needed: list[tuple[str, str]] = []
            write = write_access(statement)
            target = None
            if write is not None:
                permission, name = write
                target = tables.get(name.lower(), name)
                needed.append((target, permission))
                words = {t.lower() for k, t in significant(statement.tokens) if k == "ident"}
                if permission in ("update", "delete") and words & {"where", "returning"}:
                    needed.append((target, "select"))
            sql = "".join(t for _, t in _fold_case(rewrite(statement.tokens)))
            try:
                reads = {t.lower() for t in conn.get_table_names(sql)}
            except duckdb.Error:
                mentioned = {
                    t.strip('"').lower() for k, t in statement.tokens if k in ("ident", "qident")
                }
                reads = mentioned - {(target or "").lower()}
            for name in sorted(reads & tables.keys()):
                if (tables[name], "select") not in needed:
                    needed.append((tables[name], "select"))
            return needed

    def _run_all(self, statements: list[Statement], spool: RowSpool | None) -> QueryResult:
        result = QueryResult([], [], [], 0)
        pending = list(statements)
        while True:
            try:
                with self.transaction():
                    while pending:
                        statement = pending.pop(0)
                        if statement.keyword in ("rollback", "abort"):
                            raise _Rollback
                        if statement.keyword not in _IGNORED:
                            result = self._run(statement, (), spool)
                return result
            except _Rollback:
                result = QueryResult([], [], [], 0)

    def _run(
        self, statement: Statement, params: tuple[Any, ...], spool: RowSpool | None = None
    ) -> QueryResult:
        if statement.keyword in _IGNORED:
            return QueryResult([], [], [], 0)
        special = self._special(statement)
        if special is not None:
            return special
        tokens = _fold_case(rewrite(statement.tokens))
        return self._query(statement, "".join(t for _, t in tokens), params, spool)

    def _query(
        self,
        statement: Statement,
        sql: str,
        params: tuple[Any, ...],
        spool: RowSpool | None = None,
    ) -> QueryResult:
        conn = self._connection()
        sig = significant(statement.tokens)
        returning = any(k == "ident" and t.lower() == "returning" for k, t in sig)
        try:
            cursor = conn.execute(sql, params) if params else conn.execute(sql)
            description = cursor.description
            if spool is not None and description and (statement.keyword in _ROW_WORDS or returning):
                return self._spool_rows(statement, description, cursor, spool)
            rows = cursor.fetchall() if description else []
        except duckdb.Error as exc:
            raise self._error(exc, statement) from None
        if statement.keyword not in _ROW_WORDS and not returning:
            if statement.keyword in ("insert", "update", "delete", "with") and rows:
                return QueryResult([], [], [], int(rows[0][0]))
            return QueryResult([], [], [], 0)
        return self._shape(statement, description or [], rows)

    def _spool_rows(
        self,
        statement: Statement,
        description: Sequence[Any],
        cursor: duckdb.DuckDBPyConnection,
        spool: RowSpool,
    ) -> QueryResult:
        """Fetch the rows chunk by chunk into ``spool``: what ``_shape`` returns, rows apart."""
        columns, decls, converters = self._describe(statement, description)
        spool.begin()
        while rows := cursor.fetchmany(spool.batch_rows):
            spool.write(_convert(rows, converters))
        result = QueryResult(columns, decls, [], spool.rows)
        spool.source = result
        return result

    def _shape(
        self, statement: Statement, description: Sequence[Any], rows: list[tuple[Any, ...]]
    ) -> QueryResult:
        columns, decls, converters = self._describe(statement, description)
        return QueryResult(columns, decls, _convert(rows, converters), len(rows))

    def _describe(
        self, statement: Statement, description: Sequence[Any]
    ) -> tuple[list[str], list[str | None], list[tuple[str, int | None]]]:
        """PostgreSQL names and declared types of the result's columns, and the
        ``(DuckDB type, SRID)`` each value is converted with."""
        items = select_items(statement.tokens)
        if items is not None and len(items) != len(description):
            items = None
        tables = self._mentioned_tables(statement)
        columns: list[str] = []
        decls: list[str | None] = []
        converters: list[tuple[str, int | None]] = []
        for index, entry in enumerate(description):
            raw_name, duck_type = str(entry[0]), str(entry[1])
            plain = True
            if items is not None:
                expression, alias = items[index]
                name = alias or pg_column_name(expression)
                sig = significant(expression)
                if len(sig) == 1 and sig[0][0] == "number" and duck_type.startswith("DECIMAL"):
                    duck_type = "NUMERIC"
                plain = all(k in ("ident", "qident") or t == "." for k, t in sig) and len(sig) > 0
            else:
                name = raw_name
            columns.append(name)
            srid = srid_of(duck_type)
            decl = None
            if plain:
                source = sig[-1][1].strip('"') if items is not None else raw_name
                for table in tables:
                    decl = self._catalogue.get((table, source))
                    if decl:
                        break
                if decl is None and srid is not None:
                    decl = f"GEOMETRY_TEXT(0,{srid})" if srid else "GEOMETRY_TEXT"
            decls.append(decl or decl_for(duck_type))
            if srid == 0 and decl:
                # DuckDB 1.5 does not persist a column's CRS: the catalogue has the SRID
                known = re.fullmatch(r"GEO\w*_TEXT\w*\(\d+,(\d+)\)", decl)
                srid = int(known.group(1)) if known else srid
            converters.append((duck_type, srid))
        return columns, decls, converters

    def _mentioned_tables(self, statement: Statement) -> list[str]:
        names = {t.strip('"').lower() for k, t in statement.tokens if k in ("ident", "qident")}
        return sorted({table for table, _ in self._catalogue} & names)

    def _error(self, exc: duckdb.Error, statement: Statement) -> QueryError:
        raw = str(exc)
        if isinstance(exc, duckdb.InterruptException):
            return QueryError("canceling statement due to statement timeout", raw)
        if "Duplicate key" in raw and "primary key" in raw:
            target = write_target(statement)
            table = target[1] if target else ""
            return QueryError(f'duplicate key value violates unique constraint "{table}_pkey"', raw)
        kind = re.search(r"CHECK constraint failed.*_carto_kind_(\w+)", raw)
        if kind is None and "CHECK constraint failed" in raw:
            kind = re.search(r"'(POINT|LINESTRING|POLYGON|MULTI\w+)'", raw)
        if kind:
            label = next((k for k in GEOMETRY_KINDS if k.upper() == kind[1].upper()), kind[1])
            return QueryError(f"Geometry type does not match column type ({label})", raw)
        message = pg_message(raw)
        near = re.fullmatch(r'syntax error at or near "(.*)"', message, re.S)
        if near:
            written = next(
                (t for _, t in statement.tokens if t.lower() == near[1].lower()), near[1]
            )
            message = f'syntax error at or near "{written}"'
        if statement.words[:2] == ("drop", "table") and message.startswith("relation "):
            message = message.replace("relation", "table", 1)
        if statement.keyword == "insert" and message.startswith("column "):
            match = re.fullmatch(r'column "([^"]+)" does not exist', message)
            target = write_target(statement)
            if match and target:
                message = f'column "{match[1]}" of relation "{target[1]}" does not exist'
        mismatch = re.search(r"expected (\d+) columns but (\d+) values", raw)
        if mismatch and statement.keyword == "insert":
            more = int(mismatch[2]) > int(mismatch[1])
            message = f"INSERT has {'more' if more else 'fewer'} expressions than target columns"
        return QueryError(message, raw)

    # -- statements DuckDB does not say as PostgreSQL does ---------------------------------

    def _special(self, statement: Statement) -> QueryResult | None:
        sig = significant(statement.tokens)
        texts = [t.lower() for _, t in sig]
        words = statement.words
        if len(texts) >= 4 and texts[0] == "select" and "cdb_cartodbfytable" in texts[1:4]:
            strings = [t[1:-1].replace("''", "'") for k, t in sig if k == "string"]
            if strings:
                name = strings[-1].split(".")[-1].strip('"')
                self.cartodbfy(name)
                return QueryResult(["cdb_cartodbfytable"], ["TEXT"], [(name,)], 1)
        if words[:2] == ("create", "index") or words[:3] == ("create", "unique", "index"):
            return QueryResult([], [], [], 0)  # indexes only speed PostgreSQL up
        if words[:1] == ("create",) and "table" in texts[:4]:
            return self._create_table(statement, sig)
        if words[:2] == ("drop", "table"):
            result = self._query(
                statement, "".join(t for _, t in _fold_case(rewrite(statement.tokens))), ()
            )
            for name in _names_after(sig, "table"):
                self._forget(name)
            return result
        if words[:2] == ("alter", "table"):
            return self._alter_table(statement, sig)
        return None

    def _create_table(self, statement: Statement, sig: list[Token]) -> QueryResult:
        texts = [t.lower() for _, t in sig]
        pos = texts.index("table") + 1
        if_not_exists = texts[pos : pos + 3] == ["if", "not", "exists"]
        if if_not_exists:
            pos += 3
        if texts[pos].strip('"') in ("public", "cartodb") and texts[pos + 1 : pos + 2] == ["."]:
            pos += 2
        name_token = sig[pos]
        name = name_token[1][1:-1] if name_token[0] == "qident" else name_token[1].lower()
        temp = "TEMP " if texts[1] in ("temp", "temporary") else ""
        exists = self.table_exists(name)
        if exists and if_not_exists:
            return QueryResult([], [], [], 0)
        if exists:
            raise QueryError(f'relation "{name}" already exists')
        if texts[pos + 1 : pos + 2] == ["as"]:
            query = make_statement(_after(statement.tokens, sig, pos + 1))
            return self._create_table_as(statement, name, temp, query)
        if texts[pos + 1 : pos + 2] != ["("]:
            raise QueryError(
                f'syntax error at or near "{sig[pos + 1][1] if pos + 1 < len(sig) else ""}"'
            )
        body = _split_top(sig[pos + 2 : _close_index(sig, pos + 1)])
        specs: list[str] = []
        remembered: list[tuple[str, str]] = []
        sequences: list[str] = []
        for item in body:
            if not item:
                continue
            head = item[0][1].lower()
            if head in ("primary", "unique", "check", "foreign", "constraint"):
                specs.append(" ".join(t for _, t in _fold_case(rewrite(item))))
                continue
            column = item[0][1][1:-1] if item[0][0] == "qident" else item[0][1].lower()
            type_end = 1
            while type_end < len(item) and item[type_end][1].lower() not in _CONSTRAINT_WORDS:
                type_end += 1
            type_text = _type_text(item[1:type_end])
            kind = ddl_type(type_text)
            rest = " ".join(t for _, t in _fold_case(rewrite(item[type_end:])))
            if type_text.lower() in ("serial", "bigserial", "serial4", "serial8"):
                sequence = f"_carto_seq_{self._sequence_number()}"
                sequences.append(sequence)
                rest = f"DEFAULT nextval('{sequence}') {rest}"
            specs.append(f"{quote_ident(column)} {kind.duck} {rest}".rstrip())
            specs.extend(_kind_check(column, kind.decl))
            remembered.append((column, kind.decl))
        conn = self._connection()
        try:
            for sequence in sequences:
                conn.execute(f"CREATE {temp}SEQUENCE {sequence}")
            conn.execute(f"CREATE {temp}TABLE {quote_ident(name)} ({', '.join(specs)})")
        except duckdb.Error as exc:
            raise self._error(exc, statement) from None
        self._remember(name, remembered)
        return QueryResult([], [], [], 0)

    def _sequence_number(self) -> int:
        return int(self._connection().execute("SELECT nextval('_carto.names')").fetchone()[0])  # type: ignore[index]

    def _create_table_as(
        self, statement: Statement, name: str, temp: str, query: Statement
    ) -> QueryResult:
        probe = self._run(query, ())
        if len(set(probe.columns)) != len(probe.columns):
            dup = next(c for c in probe.columns if probe.columns.count(c) > 1)
            raise QueryError(f'column "{dup}" specified more than once')
        inner = "".join(t for _, t in _fold_case(rewrite(query.tokens)))
        aliases = ", ".join(quote_ident(c) for c in probe.columns)
        sql = f"CREATE {temp}TABLE {quote_ident(name)} AS SELECT * FROM ({inner}) AS _q({aliases})"  # noqa: S608
        self._query(statement, sql, ())
        keep = [
            (c, d)
            for c, d in zip(probe.columns, probe.decl_types, strict=True)
            if d
            and (d.startswith("GEO") or d in ("VARCHAR", "MONEY", "RASTER", "JSONB"))
            and "(" in d
        ]
        self._remember(name, keep)
        return QueryResult([], [], [], probe.rowcount)

    def _alter_table(self, statement: Statement, sig: list[Token]) -> QueryResult | None:
        texts = [t.lower() for _, t in sig]
        table = _names_after(sig, "table")[0]
        if "add" in texts:
            at = texts.index("add") + 1
            if texts[at : at + 1] == ["column"]:
                at += 1
            if texts[at : at + 3] == ["if", "not", "exists"]:
                at += 3
            column = sig[at][1].strip('"').lower() if sig[at][0] == "ident" else sig[at][1][1:-1]
            end = at + 1
            while end < len(sig) and texts[end] not in _CONSTRAINT_WORDS:
                end += 1
            type_text = _type_text(sig[at + 1 : end])
            kind = ddl_type(type_text)
            rest = " ".join(t for _, t in sig[end:])
            target = f"{quote_ident(table)} ADD COLUMN {quote_ident(column)}"
            sql = f"ALTER TABLE {target} {kind.duck} {rest}"
            result = self._query(statement, sql, ())
            self._remember(table, [(column, kind.decl)])
            return result
        if "rename" in texts and "to" in texts and "column" not in texts:
            new = sig[texts.index("to") + 1][1].strip('"')
            result = self._query(
                statement, f"ALTER TABLE {quote_ident(table)} RENAME TO {quote_ident(new)}", ()
            )
            self._rename_catalogue(table, new)
            return result
        return None

    def _rename_catalogue(self, old: str, new: str) -> None:
        self._connection().execute(
            "UPDATE _carto.columns SET table_name = ? WHERE lower(table_name) = lower(?)",
            (new, old),
        )
        self._reload_catalogue()

    # -- CARTO tables ---------------------------------------------------------------------

    def create_carto_table(
        self, name: str, columns: Sequence[tuple[str, str]], *, first_id: int = 1
    ) -> None:
        """Create a table with CARTO's system columns first, then ``columns`` (PostgreSQL types)."""
        with self._lock:
            sequence = f"_carto_seq_{self._sequence_number()}"
            specs = [
                f"cartodb_id INTEGER PRIMARY KEY DEFAULT nextval('{sequence}')",
                "the_geom GEOMETRY('EPSG:4326')",
                f"the_geom_webmercator GEOMETRY('EPSG:3857') GENERATED ALWAYS AS"
                f" ({_WEBMERCATOR_EXPR}) VIRTUAL",
            ]
            remembered = list(CARTO_COLUMNS[1:])
            for column, decl in columns:
                kind = ddl_type(decl.replace("_TEXT", "") if "_TEXT" in decl else decl)
                specs.append(f"{quote_ident(column)} {kind.duck}")
                if kind.decl != decl or "(" in decl:
                    remembered.append((column, decl))
            conn = self._connection()
            try:
                conn.execute(f"CREATE SEQUENCE {sequence} START {max(first_id, 1)}")
                conn.execute(f"CREATE TABLE {quote_ident(name)} ({', '.join(specs)})")
            except duckdb.Error as exc:
                raise QueryError(pg_message(str(exc)), str(exc)) from None
            self._remember(name, remembered)

    def install_carto_triggers(self, name: str) -> None:
        """Kept for callers: ``the_geom_webmercator`` is a generated column, nothing to install."""
        del name

    def cartodbfy(self, name: str) -> None:
        """Turn a table into a CARTO table, as ``CDB_CartodbfyTable`` does.

        Adds ``cartodb_id`` (keeping an existing one whose values are unique non-negative
        integers), ``the_geom`` (converting a text or geometry column of that name; an
        unreadable one is kept as ``the_geom_1``) and ``the_geom_webmercator``.
        """
        with self.transaction():
            found = self.execute_native(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'main' AND lower(table_name) = lower(?)"
                " ORDER BY ordinal_position",
                (name,),
            ).rows
            if not found:
                raise QueryError(f'relation "{name}" does not exist')
            table = quote_ident(name)
            types = dict(found)
            id_expr = None
            first_id = 1
            if "cartodb_id" in types:
                total, distinct, present, bad, lowest, highest = self.execute_native(
                    "SELECT count(*),"  # noqa: S608
                    " count(DISTINCT TRY_CAST(cartodb_id AS BIGINT)),"
                    " count(cartodb_id), count(*) FILTER (WHERE TRY_CAST(cartodb_id AS BIGINT)"
                    " IS NULL OR TRY_CAST(cartodb_id AS BIGINT)::VARCHAR <>"
                    " trim(cartodb_id::VARCHAR)), min(TRY_CAST(cartodb_id AS BIGINT)),"
                    f" max(TRY_CAST(cartodb_id AS BIGINT)) FROM {table}"
                ).rows[0]
                if total != distinct or total != present or bad or (lowest or 0) < 0:
                    raise QueryError("CDB(_CDB_Has_Usable_Primary_ID): Error: invalid cartodb_id")
                id_expr = "CAST(cartodb_id AS INTEGER)"
                first_id = int(highest or 0) + 1
            columns = [(c, self._column_decl(name, c, t)) for c, t in found]
            keep = [(c, d) for c, d in columns if c not in CARTO_NAMES]
            geom_expr = "NULL"
            if "the_geom" in types:
                expr = geometry_from_any("the_geom", types["the_geom"])
                bad = self.execute_native(
                    f"SELECT count(*) FROM {table} WHERE the_geom IS NOT NULL AND ({expr}) IS NULL"  # noqa: S608
                ).rows[0][0]
                if bad:
                    keep.append(("the_geom_1", dict(columns)["the_geom"]))
                else:
                    geom_expr = expr
            staging = f"{name}__cartodbfy"
            self.create_carto_table(staging, keep, first_id=first_id)
            targets = ["the_geom"] + [c for c, _ in keep]
            sources = [geom_expr] + [
                "the_geom" if c == "the_geom_1" else quote_ident(c) for c, _ in keep
            ]
            if id_expr is not None:
                targets.insert(0, "cartodb_id")
                sources.insert(0, id_expr)
            order = "ORDER BY cartodb_id" if id_expr else ""
            self.execute_native(
                f"INSERT INTO {quote_ident(staging)} ({', '.join(map(quote_ident, targets))})"  # noqa: S608
                f" SELECT {', '.join(sources)} FROM {table} {order}"
            )
            self.execute_native(f"DROP TABLE {table}")
            self._forget(name)
            self.rename_table(staging, name)

    def rename_table(self, old: str, new: str) -> None:
        """Rename a table (its catalogue entries follow)."""
        with self._lock:
            self.execute_native(f"ALTER TABLE {quote_ident(old)} RENAME TO {quote_ident(new)}")
            self._rename_catalogue(old, new)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """DuckDB ``executemany`` (no rewrite), for small bulk loads."""
        with self._lock:
            try:
                self._connection().executemany(sql, rows)
            except duckdb.Error as exc:
                raise QueryError(pg_message(str(exc)), str(exc)) from None

    def insert_arrow(self, table: str, data: Any, select: str = "*") -> int:
        """Append an Arrow table (or anything DuckDB scans) to ``table``; the row count."""
        with self._lock:
            conn = self._connection()
            view = f"_carto_in_{next(_NAMES)}"
            conn.register(view, data)
            try:
                cursor = conn.execute(f"INSERT INTO {table} SELECT {select} FROM {view}")  # noqa: S608
                return int(cursor.fetchall()[0][0])
            except duckdb.Error as exc:
                raise QueryError(pg_message(str(exc)), str(exc)) from None
            finally:
                conn.unregister(view)

    def geojson(self, values: Sequence[Any], dp: int) -> list[str | None]:
        """``ST_AsGeoJSON(g, dp)`` of hex EWKB (or WKT) values, in order (None stays None)."""
        if not values:
            return []
        texts = [None if v is None else str(v) for v in values]
        found = self.execute_native(
            "SELECT list_transform(?::VARCHAR[], h -> CASE WHEN h IS NULL THEN NULL"
            " WHEN regexp_full_match(h, '[0-9A-Fa-f]+') THEN"
            " _cdb_asgeojson(ST_GeomFromHEXEWKB(h), ?)"
            " ELSE _cdb_asgeojson(h::GEOMETRY, ?) END)",
            (texts, dp, dp),
        )
        out: list[str | None] = found.rows[0][0]
        return out

    def stage_arrow(self, name: str, data: Any) -> None:
        """Create TEMP table ``name`` from an Arrow table, ``rn`` numbering its rows from 0."""
        with self._lock:
            conn = self._connection()
            view = f"_carto_in_{next(_NAMES)}"
            conn.register(view, data)
            try:
                conn.execute(
                    f"CREATE TEMP TABLE {name} AS SELECT *, row_number() OVER () - 1 AS rn"  # noqa: S608
                    f" FROM {view}"
                )
            except duckdb.Error as exc:
                raise QueryError(pg_message(str(exc)), str(exc)) from None
            finally:
                conn.unregister(view)

    def execute_native(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run DuckDB SQL as is (no rewrite, DuckDB's names); errors are still translated."""
        with self._lock:
            conn = self._connection()
            try:
                cursor = conn.execute(sql, tuple(params)) if params else conn.execute(sql)
                description = cursor.description
                rows = cursor.fetchall() if description else []
            except duckdb.Error as exc:
                raise QueryError(pg_message(str(exc)), str(exc)) from None
            columns = [str(d[0]) for d in description or ()]
            return QueryResult(columns, [None] * len(columns), rows, len(rows))


def geometry_from_any(column: str, duck_type: str) -> str:
    """SQL reading a geometry column, or text holding hex (E)WKB, (E)WKT or GeoJSON, in 4326.

    Unreadable values give NULL. SRID 0 means 4326; another SRID is reprojected.
    """
    if duck_type.startswith("GEOMETRY"):
        srid = srid_of(duck_type) or 4326
        if srid == 4326:
            return f"ST_SetCRS({column}::GEOMETRY, 'EPSG:4326')"
        return (
            f"ST_SetCRS(ST_Transform({column}::GEOMETRY, 'EPSG:{srid}', 'EPSG:4326',"
            " always_xy := true), 'EPSG:4326')"
        )
    text = f"trim({column}::VARCHAR)"
    parsed = (
        f"CASE WHEN {text} = '' THEN NULL"
        f" WHEN regexp_full_match({text}, '(?i)[0-9a-f]+') THEN TRY(ST_GeomFromHEXEWKB({text}))"
        f" WHEN starts_with({text}, '{{') THEN TRY(ST_GeomFromGeoJSON({text}))"
        f" ELSE TRY(({text})::GEOMETRY) END"
    )
    return f"ST_SetCRS({_srid_text(text, parsed)}, 'EPSG:4326')"


def _srid_text(text: str, parsed: str) -> str:
    epsg = (
        f"coalesce(TRY_CAST(regexp_extract({text}, '(?i)^SRID=(\\d+);', 1) AS INTEGER),"
        f" _cdb_ewkb_srid({text}), 4326)"
    )
    return (
        f"(CASE WHEN {epsg} IN (0, 4326) THEN {parsed}"
        f" WHEN {epsg} = 3857 THEN ST_Transform({parsed}, 'EPSG:3857', 'EPSG:4326',"
        " always_xy := true) ELSE NULL END)"
    )


def _kind_check(column: str, decl: str) -> list[str]:
    """A CHECK keeping a ``geometry(Point,...)`` column to its geometry type."""
    match = re.fullmatch(r"GEO\w+_TEXT\w*\((\d+),-?\d+\)", decl)
    if not match or match.group(1) == "0":
        return []
    kind = GEOMETRY_KINDS[int(match.group(1)) - 1]
    name = f"_carto_kind_{kind}"
    quoted = quote_ident(column)
    return [
        f"CONSTRAINT {name} CHECK ({quoted} IS NULL OR ST_GeometryType({quoted})::VARCHAR"
        f" = '{kind.upper()}')"
    ]


def _type_text(tokens: Sequence[Token]) -> str:
    text = " ".join(t for _, t in tokens)
    return re.sub(r"\s*([()\[\],])\s*", r"\1", text)


def _refuse_writes(statement: Statement) -> None:
    target = write_target(statement)
    if target is None:
        return
    verb, table = target
    if verb == "drop" and table:
        raise QueryError(f"must be owner of table {table}")
    if verb == "write" and table:
        raise QueryError(f"permission denied for table {table}")
    raise QueryError("permission denied for schema public")


def _fold_case(tokens: Sequence[Token]) -> list[Token]:
    """Unquoted identifiers in lower case, as PostgreSQL folds them."""
    return [(k, t.lower()) if k == "ident" else (k, t) for k, t in tokens]


def _close_index(sig: Sequence[Token], open_index: int) -> int:
    depth = 0
    for index in range(open_index, len(sig)):
        if sig[index] == ("op", "("):
            depth += 1
        elif sig[index] == ("op", ")"):
            depth -= 1
            if depth == 0:
                return index
    return len(sig)


def _split_top(sig: Sequence[Token]) -> list[list[Token]]:
    items: list[list[Token]] = [[]]
    depth = 0
    for token in sig:
        if token == ("op", "("):
            depth += 1
        elif token == ("op", ")"):
            depth -= 1
        if depth == 0 and token == ("op", ","):
            items.append([])
        else:
            items[-1].append(token)
    return items


def _after(tokens: Sequence[Token], sig: Sequence[Token], sig_index: int) -> list[Token]:
    """The raw tokens after the ``sig_index``-th significant token."""
    seen = -1
    for index, (kind, _) in enumerate(tokens):
        if kind not in ("ws", "comment"):
            seen += 1
            if seen == sig_index:
                return list(tokens[index + 1 :])
    return []


def _names_after(sig: Sequence[Token], word: str) -> list[str]:
    texts = [t.lower() for _, t in sig]
    pos = texts.index(word) + 1
    names = []
    for kind, text in sig[pos:]:
        low = text.lower()
        if low in ("if", "exists", "only", "cascade", "restrict", "public", "cartodb", ".", ","):
            continue
        if kind == "qident":
            names.append(text[1:-1])
        elif kind == "ident":
            names.append(low)
        else:
            break
        if low in ("add", "rename", "drop", "alter", "set"):
            break
    return names


class _Watchdog:
    """Interrupts the running statement at its deadline (one thread per database, started
    when first needed): the SQL API's statement timeout."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> None:
        """Interrupt the connection ``seconds`` from now unless disarmed before."""
        with self._cond:
            self._deadline = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="localcarto-sql-timeout", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def disarm(self) -> None:
        """The statement ended."""
        with self._cond:
            self._deadline = None

    def close(self) -> None:
        """Stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._deadline = None
                self._conn.interrupt()


def _convert(
    rows: list[tuple[Any, ...]], converters: Sequence[tuple[str, int | None]]
) -> list[tuple[Any, ...]]:
    """Rows with geometries as hex EWKB and boxes as text (:func:`python_value`)."""
    if not any(srid is not None or t == "BOX_2D" for t, srid in converters):
        return rows
    return [
        tuple(
            python_value(value, t, srid) for value, (t, srid) in zip(row, converters, strict=True)
        )
        for row in rows
    ]


def _spooled(result: QueryResult, spool: RowSpool | None) -> QueryResult:
    """The final result with its rows in ``spool`` (when there is one): rows a statement
    returned without the spool (a special statement, an empty result) are written there."""
    if spool is None or spool.source is result:
        return result
    spool.begin()
    spool.write(result.rows)
    spooled = attrs.evolve(result, rows=[])
    spool.source = spooled
    return spooled


class _Rollback(Exception):
    """Unwinds a ``run_statements`` transaction when the SQL itself says ROLLBACK."""


__all__ += ["ddl_type", "geometry_from_any", "open_engine"]
