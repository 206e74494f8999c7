"""What the engine tells the SQL API about a statement's tables, for the grant checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carto_async.testing._db import Database, QueryError
from carto_async.testing.engine._sqltext import split_statements


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = Database()
    database.execute("CREATE TABLE stores (id int, name text)")
    database.execute("CREATE TABLE orders (id int, amount int)")
    try:
        yield database
    finally:
        database.close()


@pytest.mark.parametrize(
    ("sql", "needed"),
    [
        ("SELECT * FROM stores", [("stores", "select")]),
        ("SELECT 1", []),
        ("WITH orders AS (SELECT 1 AS a) SELECT * FROM orders", []),  # a CTE is no table
        (
            "SELECT * FROM stores s JOIN orders o ON o.id = s.id",
            [("orders", "select"), ("stores", "select")],
        ),
        ("SELECT (SELECT max(amount) FROM orders) AS m", [("orders", "select")]),
        ("INSERT INTO orders VALUES (1, 2)", [("orders", "insert")]),
        (
            "INSERT INTO orders SELECT id, 0 FROM stores",
            [("orders", "insert"), ("stores", "select")],
        ),
        ("UPDATE orders SET amount = 1", [("orders", "update")]),
        ("UPDATE orders SET amount = 1 WHERE id = 2", [("orders", "update"), ("orders", "select")]),
        (
            "DELETE FROM orders WHERE id IN (SELECT id FROM stores)",
            [("orders", "delete"), ("orders", "select"), ("stores", "select")],
        ),
        ("TRUNCATE orders", [("orders", "truncate")]),
        (
            "WITH x AS (SELECT id FROM stores) INSERT INTO orders SELECT id, 1 FROM x",
            [("orders", "insert"), ("stores", "select")],
        ),
        ("SELECT * FROM missing", []),
    ],
)
def test_accesses_name_each_table_and_permission(
    db: Database, sql: str, needed: list[tuple[str, str]]
) -> None:
    (statement,) = split_statements(sql)
    assert db.accesses(statement) == needed


def test_authorize_refuses_before_anything_runs(db: Database) -> None:
    asked: list[list[tuple[str, str]]] = []

    def authorize(accesses: list[tuple[str, str]]) -> str | None:
        asked.append(accesses)
        return "permission denied for table orders" if ("orders", "insert") in accesses else None

    with pytest.raises(QueryError, match="permission denied for table orders"):
        db.run_statements(
            "SELECT 1; INSERT INTO orders VALUES (9, 9)", read_only=True, authorize=authorize
        )
    assert asked == [[], [("orders", "insert")]]
    assert db.execute("SELECT count(*) FROM orders WHERE id = 9").rows == [(0,)]
    # with authorize, row writes go to it; DDL is still refused
    db.run_statements("INSERT INTO stores VALUES (1, 'a')", read_only=True, authorize=authorize)
    with pytest.raises(QueryError, match="permission denied for schema public"):
        db.run_statements("CREATE TABLE t (a int)", read_only=True, authorize=authorize)


def test_cdb_usertables_lists_only_the_visible_tables(db: Database) -> None:
    shown = db.run_statements("SELECT * FROM CDB_UserTables()", visible={"stores"})
    assert shown.rows == [("stores",)]
    assert db.run_statements("SELECT * FROM CDB_UserTables()", visible=set()).rows == []
    everything = db.run_statements("SELECT * FROM CDB_UserTables()")
    assert everything.rows == [("orders",), ("stores",)]
