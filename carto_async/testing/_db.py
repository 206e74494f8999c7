"""LocalCarto's database: one SQLite connection shared by threads, spoken to in PostgreSQL.

:class:`Database` runs statements written in PostgreSQL/PostGIS: ``_pgsql`` translates each
into SQLite (``::`` casts, ``ILIKE``, ``public.`` prefixes, ``geometry(Point,4326)`` column
types...), result columns get PostgreSQL's names and types from ``_pgcolumns`` (``count``
rather than ``count(*)``) and errors PostgreSQL's wording (``relation "x" does not exist``).
What needs the database itself is done here: ``CREATE TABLE ... AS``, ``TRUNCATE``,
``CDB_CartodbfyTable``, ``CDB_UserTables()``, read-only and timeout limits, CARTO tables and
the triggers that check geometry columns. The SQL functions come from ``_geofunctions`` and
``_pgvalues``.

Column types are SQLite declared types picked so that each maps to one PostgreSQL type
*and* has the right SQLite affinity: geometry columns are ``GEOMETRY_TEXT(type,srid)``
(text affinity, so hex EWKB is never read as a number), booleans ``BOOLEAN`` (0/1),
timestamps ``TIMESTAMPTZ`` (ISO-8601 text in UTC), dates ``DATE``.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from carto_async.testing import _geofunctions, _pgvalues
from carto_async.testing._pgcolumns import infer_decl, pg_column_name, select_items
from carto_async.testing._pgsql import (
    Statement,
    Token,
    split_statements,
    tokenize,
    translate,
    translate_error,
)

__all__ = [
    "CARTO_COLUMNS",
    "CARTO_NAMES",
    "Database",
    "QueryError",
    "QueryResult",
    "quote_ident",
]

# cartodb_id is AUTOINCREMENT so that, like CARTO's sequence, deleted ids are never reused.
CARTO_COLUMNS = (
    ("cartodb_id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("the_geom", "GEOMETRY_TEXT(0,4326)"),
    ("the_geom_webmercator", "GEOMETRY_TEXT(0,3857)"),
)
CARTO_NAMES = frozenset(name for name, _ in CARTO_COLUMNS)


@attrs.frozen
class QueryResult:
    """Outcome of one statement."""

    columns: list[str]
    decl_types: list[str | None]
    rows: list[tuple[Any, ...]]
    rowcount: int


class QueryError(sqlite3.DatabaseError):
    """A statement failed; ``str(exc)`` is (close to) what PostgreSQL would have said."""

    def __init__(self, message: str, sqlite_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlite_message = sqlite_message


def quote_ident(name: str) -> str:
    """``"name"`` with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --------------------------------------------------------------------------- database

_WRITE_ACTIONS = frozenset(
    getattr(sqlite3, f"SQLITE_{name}")
    for name in _words(
        """INSERT UPDATE DELETE CREATE_TABLE CREATE_INDEX CREATE_TRIGGER CREATE_VIEW
        DROP_TABLE DROP_INDEX DROP_TRIGGER DROP_VIEW ALTER_TABLE"""
    )
)
_CREATE_ACTIONS = frozenset(
    (sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_VIEW)
)
_TEMP_ACTIONS = frozenset(
    getattr(sqlite3, f"SQLITE_{name}")
    for name in ("CREATE_TEMP_VIEW", "DROP_TEMP_VIEW", "CREATE_TEMP_TABLE")
)
_ROW_STATEMENTS = frozenset(("select", "with", "values"))
# Session and privilege statements have no SQLite meaning; accepted and ignored.
_IGNORED = _words("begin start commit end rollback abort vacuum set grant revoke comment")
_NAMES = itertools.count(1)


class Database:
    """One SQLite database (a file path, or in memory when ``path`` is None) shared by threads.

    A single ``sqlite3`` connection (``check_same_thread=False``) is guarded by a re-entrant
    lock: every public method takes it, so calls from the server's worker threads are
    serialised. Use :meth:`transaction` to group several calls atomically; it holds the
    lock for its whole duration. The SQL functions of ``_geofunctions`` and ``_pgvalues``
    are registered.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self._savepoints = itertools.count(1)
        self._denied: str | None = None
        conn = self._conn
        if path:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        _geofunctions.register_functions(conn)
        _pgvalues.register_functions(conn)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; later calls raise :class:`QueryError`."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise QueryError("database is closed")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically (nestable: inner blocks are savepoints)."""
        with self._lock:
            conn = self._connection()
            name = f"carto_sp_{next(self._savepoints)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                # An interrupt may already have rolled the whole transaction back.
                with contextlib.suppress(sqlite3.OperationalError):
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")

    # -- catalogue ------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        """Whether a table or view of that name exists (SQLite names ignore case)."""
        found = self.execute_native(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name = ? COLLATE NOCASE",
            (name,),
        )
        return bool(found.rows)

    def list_tables(self) -> list[str]:
        """User tables, sorted by name."""
        found = self.execute_native(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite^_%' ESCAPE '^' ORDER BY name"
        )
        return [row[0] for row in found.rows]

    def drop_table(self, name: str) -> None:
        """Drop a table if it exists."""
        with self._lock:
            self._connection().execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")

    def row_count(self, name: str) -> int:
        """Number of rows of a table."""
        return int(self.execute(f"SELECT count(*) FROM {quote_ident(name)}").rows[0][0])  # noqa: S608

    def table_columns(self, name: str) -> list[tuple[str, str]]:
        """``(column, declared type)`` pairs of a table, in order."""
        with self._lock:
            rows = self._connection().execute(f"PRAGMA table_info({quote_ident(name)})").fetchall()
            return [(row[1], row[2] or "") for row in rows]

    # -- statements -----------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run one statement written in PostgreSQL (or plain SQLite) and fetch its rows.

        ``params`` bind ``?`` placeholders. Raises :class:`QueryError` with a
        PostgreSQL-style message on failure.
        """
        statements = split_statements(sql)
        if len(statements) > 1:
            raise QueryError("cannot insert multiple commands into a prepared statement")
        with self._lock:
            if not statements:
                return QueryResult([], [], [], 0)
            return self._run(statements[0], tuple(params))

    def run_statements(
        self, sql: str, *, read_only: bool = False, timeout: float | None = None
    ) -> QueryResult:
        """Run every statement of ``sql`` in one transaction; return the last one's result.

        This is what a SQL API ``q`` needs: ``BEGIN``/``COMMIT`` inside it are accepted and
        ignored, ``ROLLBACK`` discards what ran before it. ``read_only`` rejects writes to
        the user's tables with PostgreSQL's ``permission denied for table ...``; ``timeout``
        (seconds) cancels a long statement with ``canceling statement due to statement
        timeout``.
        """
        statements = split_statements(sql)
        with self._lock:
            conn = self._connection()
            if read_only:
                self._denied = None
                conn.set_authorizer(self._authorize)
            if timeout is not None:
                deadline = time.monotonic() + timeout
                conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            try:
                return self._run_all(statements)
            finally:
                if read_only:
                    conn.set_authorizer(None)
                if timeout is not None:
                    conn.set_progress_handler(None, 0)

    def _run_all(self, statements: list[Statement]) -> QueryResult:
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
                            result = self._run(statement, ())
                return result
            except _Rollback:
                result = QueryResult([], [], [], 0)

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, _src: str | None
    ) -> int:
        if action not in _WRITE_ACTIONS or db == "temp":
            return sqlite3.SQLITE_OK
        if (arg1 or "").startswith("sqlite_temp") or action in _TEMP_ACTIONS:
            return sqlite3.SQLITE_OK
        target = arg2 if action == sqlite3.SQLITE_ALTER_TABLE else arg1
        if action in _CREATE_ACTIONS or (target or "").startswith("sqlite_"):
            target = None  # creating objects is refused at the schema level
        if self._denied is None:
            self._denied = target or ""
        return sqlite3.SQLITE_DENY

    def _run(self, statement: Statement, params: tuple[Any, ...]) -> QueryResult:
        if statement.keyword in _IGNORED:
            return QueryResult([], [], [], 0)
        special = self._special(statement)
        if special is not None:
            return special
        sql = translate(statement)
        decls = None
        if statement.keyword in _ROW_STATEMENTS:
            # A view cannot hold parameters; output types do not depend on their values.
            unbound = [("ident", "NULL") if k == "param" else (k, t) for k, t in statement.tokens]
            decls = self._describe(translate(_statement(unbound)) if params else sql)
        try:
            cursor = self._connection().execute(sql, params)
            try:
                rows = cursor.fetchall()
                description = cursor.description
                rowcount = cursor.rowcount
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            raise self._error(exc, statement) from exc
        if description is None:
            if statement.words[:2] in (("create", "table"), ("alter", "table")) and "_TEXT" in sql:
                self._install_geometry_triggers(statement)
            return QueryResult([], [], [], max(rowcount, 0))
        columns, types = self._name_columns(
            statement, sql, [d[0] for d in description], decls, rows
        )
        return QueryResult(columns, types, rows, len(rows))

    def _name_columns(
        self,
        statement: Statement,
        sql: str,
        raw_names: list[str],
        decls: list[str | None] | None,
        rows: list[tuple[Any, ...]],
    ) -> tuple[list[str], list[str | None]]:
        """PostgreSQL names and declared (or inferred) types of a result's columns."""
        items = select_items(sql) if decls is not None else None
        if items is not None and len(items) != len(raw_names):
            items = None
        table_decls: dict[str, str] = {}
        if decls is None and statement.keyword in ("insert", "update", "delete"):
            table_decls = self._returning_decls(statement)
        columns: list[str] = []
        types: list[str | None] = []
        for index, raw in enumerate(raw_names):
            decl = decls[index] if decls is not None and index < len(decls) else None
            decl = decl or table_decls.get(raw)
            if decl:  # a column of a table
                columns.append(raw)
                types.append(decl)
                continue
            if items is not None and items[index][1]:
                name, hint = raw, pg_column_name(items[index][0])[1]  # an aliased expression
            else:
                name, hint = pg_column_name(raw, expression=decls is not None)
            columns.append(name)
            types.append(hint or infer_decl([row[index] for row in rows]))
        return columns, types

    def _install_geometry_triggers(self, statement: Statement) -> None:
        """Make geometry columns of a user-created table parse what is written to them.

        PostgreSQL turns ``'SRID=4326;POINT(1 2)'`` into a geometry on INSERT and checks
        the column's type and SRID; these triggers do the same (storing hex EWKB).
        """
        names = [t.strip('"') for k, t in statement.tokens if k in ("ident", "qident")]
        lowered = [n.lower() for n in names]
        position = lowered.index("table") + 1
        while lowered[position] in ("if", "not", "exists", "public", "cartodb"):
            position += 1
        table = names[position]
        conn = self._connection()
        carto = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (table + "__carto_insert",),
        ).fetchone()
        for column, decl in self.table_columns(table):
            match = re.fullmatch(
                r"(?:GEOMETRY|GEOGRAPHY)_TEXT(?:_Z|_M|_ZM)?(?:\((\d+),(-?\d+)\))?", decl
            )
            if match is None or (carto and column in CARTO_NAMES):
                continue
            code, srid = int(match.group(1) or 0), int(match.group(2) or 0)
            quoted, target = quote_ident(column), quote_ident(table)
            body = (
                f"UPDATE {target} SET {quoted} = "  # noqa: S608
                f"_geometry_column(NEW.{quoted}, {code}, {srid}) WHERE rowid = NEW.rowid;"
            )
            for event in ("INSERT", f"UPDATE OF {quoted}"):
                name = quote_ident(f"{table}__{column}__{event.split()[0].lower()}")
                conn.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {target}"
                    f" WHEN NEW.{quoted} IS NOT NULL BEGIN {body} END"
                )

    def _error(self, exc: sqlite3.Error, statement: Statement) -> QueryError:
        message = str(exc)
        if message == "not authorized":
            target, self._denied = self._denied, None
            if statement.words[:2] == ("drop", "table"):
                dropped = [t.strip('"') for k, t in statement.tokens if k in ("ident", "qident")]
                return QueryError(f"must be owner of table {dropped[-1]}", message)
            if target:
                return QueryError(f"permission denied for table {target}", message)
            return QueryError("permission denied for schema public", message)
        return QueryError(translate_error(message, statement), message)

    def _describe(self, sql: str) -> list[str | None] | None:
        # SQLite only reports declared types through a view's table_info.
        conn = self._connection()
        view = f"_carto_describe_{next(_NAMES)}"
        try:
            conn.execute(f"CREATE TEMP VIEW {view} AS {sql}")
        except sqlite3.Error:
            _geofunctions.pop_function_error()
            return None
        try:
            info = conn.execute(f"PRAGMA temp.table_info({view})").fetchall()
        except sqlite3.Error:
            _geofunctions.pop_function_error()
            return None
        finally:
            conn.execute(f"DROP VIEW temp.{view}")
        return [row[2] or None for row in info]

    def _returning_decls(self, statement: Statement) -> dict[str, str]:
        sig = [t for k, t in statement.tokens if k in ("ident", "qident")]
        words = [t.lower() for t in sig]
        for keyword in ("into", "update", "from"):
            if keyword in words:
                name = sig[words.index(keyword) + 1].strip('"')
                if name.lower() in ("or", "only") and len(sig) > words.index(keyword) + 2:
                    name = sig[words.index(keyword) + 2].strip('"')
                return dict(self.table_columns(name))
        return {}

    def _special(self, statement: Statement) -> QueryResult | None:
        words = statement.words
        sig = [tok for tok in statement.tokens if tok[0] not in ("ws", "comment")]
        texts = [t.lower() for _, t in sig]
        if words and words[0] == "truncate":
            names = [
                t.strip('"')
                for k, t in sig[1:]
                if k in ("ident", "qident") and t.lower() not in _TRUNCATE_WORDS
            ]
            for name in names:
                self._run(_statement(tokenize(f"DELETE FROM {quote_ident(name)}")), ())  # noqa: S608
            return QueryResult([], [], [], 0)
        if (
            len(texts) >= 4
            and texts[0] == "select"
            and "cdb_cartodbfytable" in texts[1:4]
            and texts[-1] == ")"
        ):
            strings = [t[1:-1].replace("''", "'") for k, t in sig if k == "string"]
            if not strings:
                return None
            name = strings[-1].split(".")[-1].strip('"')
            self.cartodbfy(name)
            return QueryResult(["cdb_cartodbfytable"], ["TEXT"], [(name,)], 1)
        if words[:2] == ("create", "table") or words[:3] in (
            ("create", "temp", "table"),
            ("create", "temporary", "table"),
        ):
            return self._create_table_as(statement, sig)
        return None

    def _create_table_as(self, statement: Statement, sig: list[Token]) -> QueryResult | None:
        texts = [t.lower() for _, t in sig]
        pos = texts.index("table") + 1
        if texts[pos : pos + 3] == ["if", "not", "exists"]:
            pos += 3
        if texts[pos].strip('"') in ("public", "cartodb") and texts[pos + 1 : pos + 2] == ["."]:
            pos += 2
        if texts[pos + 1 : pos + 2] != ["as"]:
            return None
        name = sig[pos][1].strip('"')
        # Everything after the AS token is the query.
        seen = 0
        start = 0
        for index, (kind, _) in enumerate(statement.tokens):
            if kind not in ("ws", "comment"):
                seen += 1
                if seen == pos + 2:
                    start = index + 1
                    break
        query = _statement(statement.tokens[start:])
        if self.table_exists(name):
            if "exists" in texts[:pos]:
                return QueryResult([], [], [], 0)
            raise QueryError(f'relation "{name}" already exists')
        result = self._run(query, ())
        if len(set(result.columns)) != len(result.columns):
            dup = next(c for c in result.columns if result.columns.count(c) > 1)
            raise QueryError(f'column "{dup}" specified more than once')
        temp = "TEMP " if texts[1] in ("temp", "temporary") else ""
        spec = ", ".join(
            f"{quote_ident(c)} {d or ''}".rstrip()
            for c, d in zip(result.columns, result.decl_types, strict=True)
        )
        conn = self._connection()
        try:
            conn.execute(f"CREATE {temp}TABLE {quote_ident(name)} ({spec})")
            if result.rows:
                marks = ", ".join("?" * len(result.columns))
                conn.executemany(f"INSERT INTO {quote_ident(name)} VALUES ({marks})", result.rows)  # noqa: S608
        except sqlite3.Error as exc:
            raise self._error(exc, statement) from exc
        if "_TEXT" in spec:
            self._install_geometry_triggers(statement)
        return QueryResult([], [], [], len(result.rows))

    # -- CARTO tables ---------------------------------------------------------------------

    def create_carto_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        """Create a table with CARTO's system columns first, then ``columns``."""
        spec = [f"{quote_ident(c)} {d}" for c, d in (*CARTO_COLUMNS, *columns)]
        with self._lock:
            self._connection().execute(f"CREATE TABLE {quote_ident(name)} ({', '.join(spec)})")

    def install_carto_triggers(self, name: str) -> None:
        """Keep ``the_geom`` valid (SRID 4326) and ``the_geom_webmercator`` in sync on writes."""
        table = quote_ident(name)
        body = (
            f"UPDATE {table} SET the_geom = _carto_geom(NEW.the_geom),"  # noqa: S608
            " the_geom_webmercator = _carto_webmercator(_carto_geom(NEW.the_geom))"
            " WHERE cartodb_id = NEW.cartodb_id;"
        )
        with self._lock:
            conn = self._connection()
            conn.execute(
                f"CREATE TRIGGER {quote_ident(name + '__carto_insert')} AFTER INSERT ON {table}"
                f" WHEN NEW.the_geom IS NOT NULL BEGIN {body} END"
            )
            conn.execute(
                f"CREATE TRIGGER {quote_ident(name + '__carto_update')}"
                f" AFTER UPDATE OF the_geom ON {table} BEGIN {body} END"
            )

    def cartodbfy(self, name: str) -> None:
        """Turn a table into a CARTO table, as ``CDB_CartodbfyTable`` does.

        Adds ``cartodb_id`` (keeping an existing one whose values are unique integers),
        ``the_geom`` (converting a text or geometry column of that name; an unreadable one is
        kept as ``the_geom_1``) and ``the_geom_webmercator``, and installs the triggers.
        """
        with self.transaction():
            columns = self.table_columns(name)
            if not columns:
                raise QueryError(f'relation "{name}" does not exist')
            table = quote_ident(name)
            present = {c for c, _ in columns}
            id_expr = "NULL"
            if "cartodb_id" in present:
                check = (
                    "SELECT count(*), count(DISTINCT cartodb_id), count(cartodb_id),"
                    " coalesce(sum(CAST(CAST(cartodb_id AS INTEGER) AS TEXT)"
                    " IS NOT CAST(cartodb_id AS TEXT)), 0), min(cartodb_id) FROM "
                )
                stats = self.execute_native(check + table).rows[0]
                total, distinct, present_ids, bad, lowest = stats
                if total != distinct or total != present_ids or bad or (lowest or 0) < 0:
                    raise QueryError("CDB(_CDB_Has_Usable_Primary_ID): Error: invalid cartodb_id")
                id_expr = "CAST(cartodb_id AS INTEGER)"
            geom_expr = "NULL"
            keep = [(c, d) for c, d in columns if c not in CARTO_NAMES]
            if "the_geom" in present:
                try:
                    self.execute(f"SELECT count(_carto_geom_lenient(the_geom)) FROM {table}")  # noqa: S608
                    geom_expr = "_carto_geom_lenient(the_geom)"
                except QueryError:
                    keep.append(("the_geom_1", dict(columns)["the_geom"]))
            staging = f"{name}__cartodbfy"
            self.create_carto_table(staging, keep)
            sources = [id_expr, geom_expr, f"_carto_webmercator({geom_expr})"] + [
                "the_geom" if c == "the_geom_1" else quote_ident(c) for c, _ in keep
            ]
            targets = [c for c, _ in (*CARTO_COLUMNS, *keep)]
            order = "cartodb_id" if id_expr != "NULL" else "rowid"
            conn = self._connection()
            conn.execute(
                f"INSERT INTO {quote_ident(staging)} ({', '.join(map(quote_ident, targets))})"  # noqa: S608
                f" SELECT {', '.join(sources)} FROM {table} ORDER BY {order}"
            )
            conn.execute(f"DROP TABLE {table}")
            self.rename_table(staging, name)
            self.install_carto_triggers(name)

    def rename_table(self, old: str, new: str) -> None:
        """Rename a table without re-checking every view (SQLite's legacy rename)."""
        with self._lock:
            conn = self._connection()
            conn.execute("PRAGMA legacy_alter_table=ON")
            try:
                conn.execute(f"ALTER TABLE {quote_ident(old)} RENAME TO {quote_ident(new)}")
            finally:
                conn.execute("PRAGMA legacy_alter_table=OFF")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Plain SQLite ``executemany`` (no translation), for bulk loading."""
        with self._lock:
            self._connection().executemany(sql, rows)

    def execute_native(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run SQLite SQL as is (no translation, no renaming); errors are still translated."""
        with self._lock:
            try:
                cursor = self._connection().execute(sql, params)
                try:
                    rows = cursor.fetchall()
                    description = cursor.description
                    rowcount = len(rows) if description else max(cursor.rowcount, 0)
                finally:
                    cursor.close()
            except sqlite3.Error as exc:
                raise QueryError(translate_error(str(exc)), str(exc)) from exc
            columns = [d[0] for d in description or ()]
            return QueryResult(columns, [None] * len(columns), rows, rowcount)


def _statement(tokens: Sequence[Token]) -> Statement:
    return Statement(tuple(tokens), tuple(t.lower() for k, t in tokens if k == "ident")[:4])


_TRUNCATE_WORDS = frozenset(
    ("table", "only", "restart", "continue", "identity", "cascade", "restrict", "public", "cartodb")
)


class _Rollback(Exception):
    """Unwinds a ``run_statements`` transaction when the SQL itself says ROLLBACK."""
