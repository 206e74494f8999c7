"""Keys with grants against LocalCarto over loopback (issue 13): what a key reads and writes is
what it was granted, the public user reads public tables only, and revoked or regenerated
tokens stop working at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carto_async import (
    AsyncCarto,
    AuthenticationError,
    PermissionDeniedError,
    PollPolicy,
    TableGrant,
)
from carto_async.testing import LocalCarto
from tests.datasets import CSV_ROWS, stores_csv

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAST = PollPolicy(initial=0.02, factor=1.5, cap=0.2)


@pytest.fixture
async def master(local_server: LocalCarto, tmp_path: Path) -> AsyncIterator[AsyncCarto]:
    """The master key's client, with a private table ``orders`` (made by SQL), a private
    import ``stores`` and a public import ``shops``."""
    async with local_server.async_client(poll=FAST) as carto:
        await carto.sql.query("CREATE TABLE orders (id int, amount int)")
        await carto.sql.query("INSERT INTO orders VALUES (1, 10), (2, 20)")
        job = await carto.imports.upload(stores_csv(tmp_path), privacy="private")
        await job.wait()
        job = await carto.imports.upload(stores_csv(tmp_path, "shops.csv"), privacy="public")
        await job.wait()
        yield carto


def client(server: LocalCarto, token: str) -> AsyncCarto:
    return AsyncCarto(server.username, token, server.base_url, max_retries=0)


async def test_a_select_grant_reads_its_table_and_nothing_else(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "reader", apis=["sql"], tables=[TableGrant("public", "stores", ["select"])]
    )
    async with client(local_server, key.token) as carto:
        rows = (await carto.sql.query("SELECT count(*) AS n FROM stores")).rows
        assert rows == [{"n": CSV_ROWS}]
        # a public table is readable by every key, as by the public user
        assert (await carto.sql.query("SELECT count(*) AS n FROM shops")).rows == [{"n": CSV_ROWS}]
        with pytest.raises(PermissionDeniedError) as denied:
            await carto.sql.query("SELECT * FROM orders")
        assert denied.value.status_code == 403
        assert denied.value.body == {"error": ["permission denied for table orders"]}
        # a read hidden in a join or a subquery is a read all the same
        with pytest.raises(PermissionDeniedError, match="permission denied for table orders"):
            await carto.sql.query(
                "SELECT s.name FROM stores s JOIN orders o ON o.id = s.cartodb_id"
            )
        with pytest.raises(PermissionDeniedError, match="permission denied for table orders"):
            await carto.sql.query("SELECT (SELECT max(amount) FROM orders) AS m")
        # writes to the granted table are refused too
        for sql in (
            "INSERT INTO stores (name) VALUES ('x')",
            "UPDATE stores SET name = 'x'",
            "DELETE FROM stores",
        ):
            with pytest.raises(PermissionDeniedError) as refused:
                await carto.sql.query(sql)
            assert refused.value.body == {"error": ["permission denied for table stores"]}
        # CDB_UserTables() lists only what the key may read
        listed = (await carto.sql.query("SELECT * FROM CDB_UserTables()")).rows
        assert sorted(r["cdb_usertables"] for r in listed) == ["shops", "stores"]
    assert (await master.sql.query("SELECT count(*) AS n FROM stores")).rows == [{"n": CSV_ROWS}]


async def test_an_insert_grant_lets_a_key_insert_and_nothing_more(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "writer", apis=["sql"], tables=[TableGrant("public", "orders", ["insert"])]
    )
    async with client(local_server, key.token) as carto:
        await carto.sql.query("INSERT INTO orders VALUES (3, 30)")
        # reading is another permission
        with pytest.raises(PermissionDeniedError, match="permission denied for table orders"):
            await carto.sql.query("SELECT * FROM orders")
        # an INSERT ... SELECT reads its source
        with pytest.raises(PermissionDeniedError, match="permission denied for table stores"):
            await carto.sql.query("INSERT INTO orders SELECT cartodb_id, 0 FROM stores")
        with pytest.raises(PermissionDeniedError, match="permission denied for table orders"):
            await carto.sql.query("DELETE FROM orders")
        # no DDL for regular keys
        with pytest.raises(PermissionDeniedError, match="permission denied for schema public"):
            await carto.sql.query("CREATE TABLE mine (a int)")
    rows = (await master.sql.query("SELECT id, amount FROM orders ORDER BY id")).rows
    assert rows == [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}, {"id": 3, "amount": 30}]


async def test_update_and_delete_grants_need_select_to_filter(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    grants = [TableGrant("public", "orders", ["select", "update", "delete"])]
    key = await master.api_keys.create("editor", apis=["sql"], tables=grants)
    blind = await master.api_keys.create(
        "blind", apis=["sql"], tables=[TableGrant("public", "orders", ["update"])]
    )
    async with client(local_server, key.token) as carto:
        await carto.sql.query("UPDATE orders SET amount = amount + 1 WHERE id = 1")
        await carto.sql.query("DELETE FROM orders WHERE id = 2")
    async with client(local_server, blind.token) as carto:
        # PostgreSQL: a WHERE reads the table, which an update-only grant does not allow
        with pytest.raises(PermissionDeniedError, match="permission denied for table orders"):
            await carto.sql.query("UPDATE orders SET amount = 0 WHERE id = 1")
        await carto.sql.query("UPDATE orders SET amount = 5")
    rows = (await master.sql.query("SELECT id, amount FROM orders ORDER BY id")).rows
    assert rows == [{"id": 1, "amount": 5}]


async def test_a_key_without_the_sql_api_is_forbidden(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "maps-only", apis=["maps"], tables=[TableGrant("public", "stores", ["select"])]
    )
    async with client(local_server, key.token) as carto:
        with pytest.raises(PermissionDeniedError) as denied:
            await carto.sql.query("SELECT 1")
    assert denied.value.body == {"error": ["forbidden"]}


async def test_the_public_user_and_the_preset_regular_key_read_only_public_tables(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    async with client(local_server, local_server.regular_api_key) as carto:
        assert (await carto.sql.query("SELECT count(*) AS n FROM shops")).rows == [{"n": CSV_ROWS}]
        with pytest.raises(PermissionDeniedError, match="permission denied for table stores"):
            await carto.sql.query("SELECT * FROM stores")
        listed = (await carto.sql.query("SELECT * FROM CDB_UserTables()")).rows
        assert [r["cdb_usertables"] for r in listed] == ["shops"]
    async with client(local_server, local_server.default_public_key) as carto:
        with pytest.raises(PermissionDeniedError, match="permission denied for table orders"):
            await carto.sql.query("SELECT * FROM orders")
    # making a table public through its dataset page opens it to the public user
    local_server.visualizations.set_privacy("orders", "link")
    async with client(local_server, local_server.default_public_key) as carto:
        assert len((await carto.sql.query("SELECT * FROM orders")).rows) == 2


async def test_regenerated_and_deleted_keys_stop_working_at_once(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "rotating", apis=["sql"], tables=[TableGrant("public", "stores", ["select"])]
    )
    fresh = await master.api_keys.regenerate("rotating")
    assert fresh.token != key.token
    async with client(local_server, key.token) as carto:
        with pytest.raises(AuthenticationError) as unknown:
            await carto.sql.query("SELECT count(*) FROM stores")
        assert unknown.value.status_code == 401
    async with client(local_server, fresh.token) as carto:
        assert (await carto.sql.query("SELECT count(*) AS n FROM stores")).rows == [{"n": CSV_ROWS}]
        await master.api_keys.delete("rotating")
        with pytest.raises(AuthenticationError):
            await carto.sql.query("SELECT count(*) FROM stores")


async def test_a_regenerated_master_key_replaces_the_old_one_everywhere(
    local_server: LocalCarto, master: AsyncCarto, tmp_path: Path
) -> None:
    old = local_server.api_key
    fresh = await master.api_keys.regenerate("Master")
    assert local_server.api_key == fresh.token != old
    with pytest.raises(AuthenticationError):
        await master.sql.query("SELECT 1")
    async with client(local_server, fresh.token) as carto:
        # the master key still does everything: any table, writes, DDL, imports
        await carto.sql.query("INSERT INTO orders VALUES (9, 90)")
        await carto.sql.query("CREATE TABLE extra AS SELECT * FROM orders")
        assert len((await carto.sql.query("SELECT * FROM extra")).rows) == 3
        job = await carto.imports.upload(stores_csv(tmp_path, "more.csv"))
        await job.wait()
        assert "more" in local_server.tables()
