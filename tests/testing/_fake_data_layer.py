"""A stand-in for LocalCarto's data layer, used only while the real modules are not there yet.

``install()`` registers ``carto_async.testing._db``, ``_loader`` and ``_sqlapi`` in
``sys.modules`` when they cannot be imported; once the real data layer exists it does nothing.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import sqlite3
import sys
import threading
import time
import types
from collections.abc import Mapping, Sequence
from typing import Any

import attrs


@attrs.frozen
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    rowcount: int


class Database:
    def __init__(self, path: str | None = None) -> None:
        self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._conn.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        with self._lock:
            cur = self._conn.execute(sql, params)
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchall()
            self._conn.commit()
            return QueryResult(columns, rows, cur.rowcount)

    def list_tables(self) -> list[str]:
        rows = self.execute("select name from sqlite_master where type='table' order by name").rows
        return [r[0] for r in rows]

    def table_exists(self, name: str) -> bool:
        return name in self.list_tables()

    def drop_table(self, name: str) -> None:
        self.execute(f'drop table if exists "{name}"')

    def row_count(self, name: str) -> int:
        return int(self.execute(f'select count(*) from "{name}"').rows[0][0])


class ImportFailure(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@attrs.frozen
class LoadOptions:
    type_guessing: bool = True
    quoted_fields_guessing: bool = True
    content_guessing: bool = False
    collision_strategy: str | None = None
    max_file_size: int = 157286400
    max_rows: int = 500000
    max_columns: int = 250


@attrs.frozen
class LoadResult:
    table_names: list[str]
    rows: int
    skipped: bool


def supported_extensions() -> tuple[str, ...]:
    return (".csv", ".tsv", ".txt")


def normalize_table_name(name: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_") or "untitled_table"
    return "_" + name if name[0].isdigit() else name


def _target(db: Database, name: str, options: LoadOptions) -> str | None:
    if not db.table_exists(name):
        return name
    if options.collision_strategy == "skip":
        return None
    if options.collision_strategy == "overwrite":
        db.drop_table(name)
        return name
    n = 1
    while db.table_exists(f"{name}_{n}"):
        n += 1
    return f"{name}_{n}"


def _value(text: str, guess: bool) -> Any:
    if guess:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text


def load_file(db: Database, filename: str, path: str, options: LoadOptions) -> LoadResult:
    stem, ext = os.path.splitext(filename.lower())
    if ext not in supported_extensions():
        raise ImportFailure(1002)
    if os.path.getsize(path) > options.max_file_size:
        raise ImportFailure(6666)
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.strip():
        raise ImportFailure(1005)
    rows = list(csv.reader(text.splitlines(), delimiter="\t" if ext == ".tsv" else ","))
    header, data = rows[0], rows[1:]
    if len(header) > options.max_columns:
        raise ImportFailure(2004)
    if any(len(r) != len(header) for r in data):
        raise ImportFailure(2003)
    if len(data) > options.max_rows:
        raise ImportFailure(6668)
    name = _target(db, normalize_table_name(stem), options)
    if name is None:
        return LoadResult([normalize_table_name(stem)], 0, True)
    cols = ", ".join(f'"{c}"' for c in header)
    db.execute(f'create table "{name}" (cartodb_id integer primary key, {cols})')
    marks = ", ".join("?" for _ in header)
    for row in data:
        values = [_value(v, options.type_guessing) for v in row]
        db.execute(f'insert into "{name}" ({cols}) values ({marks})', values)
    return LoadResult([name], len(data), False)


def table_from_query(db: Database, sql: str, target: str | None, options: LoadOptions) -> Any:
    name = _target(db, normalize_table_name(target or "untitled_table"), options)
    if name is None:
        return LoadResult([], 0, True)
    try:
        db.execute(f'create table "{name}" as {sql}')
    except sqlite3.Error:
        raise ImportFailure(8003) from None
    return LoadResult([name], db.row_count(name), False)


def copy_table(db: Database, source: str, target: str | None, options: LoadOptions) -> Any:
    if not db.table_exists(source):
        raise ImportFailure(8003)
    return table_from_query(db, f'select * from "{source}"', target or source, options)


@attrs.frozen
class SQLResponse:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


def run_sql(db: Database, params: Mapping[str, str | list[str]]) -> SQLResponse:
    q = params.get("q")
    kind = "application/json; charset=utf-8"
    if not isinstance(q, str) or not q:
        body = json.dumps({"error": ["You must indicate a sql query"]}).encode()
        return SQLResponse(400, kind, body, {})
    started = time.perf_counter()
    try:
        result = db.execute(q)
    except sqlite3.Error as exc:
        return SQLResponse(400, kind, json.dumps({"error": [str(exc)]}).encode(), {})
    rows = [dict(zip(result.columns, r, strict=True)) for r in result.rows]
    fields = {c: {"type": "string", "pgtype": "text"} for c in result.columns}
    payload = {
        "rows": rows,
        "time": time.perf_counter() - started,
        "fields": fields,
        "total_rows": len(rows) if result.columns else max(result.rowcount, 0),
    }
    return SQLResponse(200, kind, json.dumps(payload).encode(), {})


def install() -> None:
    """Register the fake modules unless the real data layer can be imported."""
    for name, members in (
        ("_db", {"Database": Database, "QueryResult": QueryResult}),
        (
            "_loader",
            {
                "ImportFailure": ImportFailure,
                "LoadOptions": LoadOptions,
                "LoadResult": LoadResult,
                "supported_extensions": supported_extensions,
                "normalize_table_name": normalize_table_name,
                "load_file": load_file,
                "copy_table": copy_table,
                "table_from_query": table_from_query,
            },
        ),
        ("_sqlapi", {"SQLResponse": SQLResponse, "run_sql": run_sql}),
    ):
        full = f"carto_async.testing.{name}"
        spec = importlib.util.find_spec("carto_async")
        assert spec is not None
        assert spec.origin is not None
        # Look for the file rather than importing it: importing would import the package.
        real = os.path.join(os.path.dirname(spec.origin), "testing", f"{name}.py")
        forced = os.environ.get("LOCALCARTO_FAKE_DATA") == "1"
        if full in sys.modules or (os.path.exists(real) and not forced):
            continue
        module = types.ModuleType(full)
        module.__dict__.update(members)
        sys.modules[full] = module
