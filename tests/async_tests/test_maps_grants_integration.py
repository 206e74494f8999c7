"""Keys with grants on the Maps API, against LocalCarto over loopback (issue 13): a map's
layers read only what the key asking for it may select, the public user maps public tables
only, a key without the ``maps`` grant is forbidden, and named maps are managed with the
master key and drawn as their owner."""

from __future__ import annotations

import functools
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
from carto_async.models.maps import (
    LayerAttributes,
    MapConfig,
    MapnikLayer,
    Template,
    TemplateAuth,
)
from carto_async.testing import LocalCarto
from tests.datasets import stores_csv

# The layers' SQL (ST_AsBinary, &&, ST_MakeEnvelope) needs LocalCarto's DuckDB engine.
pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's spatial engine")

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAST = PollPolicy(initial=0.02, factor=1.5, cap=0.2)
MARKERS = "#layer { marker-fill: #f00; marker-width: 10; }"
FORBIDDEN = {
    "errors": ["Forbidden"],
    "errors_with_context": [
        {"type": "auth", "message": "Forbidden", "subtype": "api-key-does-not-grant-access"}
    ],
}


def layers(*sqls: str) -> MapConfig:
    return MapConfig(layers=[MapnikLayer(sql=sql, cartocss=MARKERS) for sql in sqls])


def refused(table: str, index: int = 0) -> dict[str, object]:
    """The body of a layer whose SQL reads a table the caller may not select."""
    message = f"Postgis Plugin: permission denied for table {table}"
    layer = {"id": f"layer{index}", "index": index, "type": "mapnik"}
    context = {"type": "layer", "message": message, "subtype": "query", "layer": layer}
    return {"errors": [message], "errors_with_context": [context]}


def client(server: LocalCarto, token: str | None) -> AsyncCarto:
    return AsyncCarto(server.username, token, server.base_url, max_retries=0)


@pytest.fixture
async def master(local_server: LocalCarto, tmp_path: Path) -> AsyncIterator[AsyncCarto]:
    """The master key's client, with a private import ``stores``, a public import ``shops``
    and a private table ``hidden`` (made by SQL), all three with points in Madrid."""
    async with local_server.async_client(poll=FAST) as carto:
        job = await carto.imports.upload(stores_csv(tmp_path), privacy="private")
        await job.wait()
        job = await carto.imports.upload(stores_csv(tmp_path, "shops.csv"), privacy="public")
        await job.wait()
        await carto.sql.query("CREATE TABLE hidden AS SELECT * FROM stores")
        yield carto


async def test_a_maps_key_maps_the_tables_it_may_select_and_no_other(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "mapper", apis=["maps"], tables=[TableGrant("public", "stores", ["select"])]
    )
    async with client(local_server, key.token) as carto:
        group = await carto.maps.create(layers("select * from stores"))
        assert await carto.maps.tile(group, 0, 0, 0, fmt="mvt")  # Madrid is on it
        # the public tables are every key's to read
        await carto.maps.create(layers("select * from shops"))
        with pytest.raises(PermissionDeniedError) as denied:
            await carto.maps.create(layers("select * from hidden"))
        assert denied.value.status_code == 403
        assert denied.value.body == refused("hidden")
        # a read hidden in a join or in a later layer is a read all the same
        joined = "select s.* from stores s join hidden h on h.cartodb_id = s.cartodb_id"
        with pytest.raises(PermissionDeniedError) as in_join:
            await carto.maps.create(layers(joined))
        assert in_join.value.body == refused("hidden")
        with pytest.raises(PermissionDeniedError) as second:
            await carto.maps.create(layers("select * from shops", "select * from hidden"))
        assert second.value.body == refused("hidden", 1)
    # the master key maps everything
    await master.maps.create(layers("select * from hidden"))


async def test_a_map_is_drawn_as_whoever_asks_for_its_tiles(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    named = LayerAttributes(id="cartodb_id", columns=("name",))
    layer = MapnikLayer(sql="select * from stores", cartocss=MARKERS, attributes=named)
    group = await master.maps.create(MapConfig(layers=[layer]))
    assert await master.maps.tile(group, 0, 0, 0, fmt="mvt")
    first = (await master.sql.query("SELECT min(cartodb_id) AS id FROM stores")).rows[0]["id"]
    assert await master.maps.attributes(group, 0, first) == {"name": "Store 0"}
    key = await master.api_keys.create("reader", apis=["maps"])
    for token in (key.token, None):
        async with client(local_server, token) as carto:
            with pytest.raises(PermissionDeniedError) as denied:
                await carto.maps.tile(group, 0, 0, 0, fmt="mvt")
            assert denied.value.body == refused("stores")
            with pytest.raises(PermissionDeniedError) as attributes:
                await carto.maps.attributes(group, 0, first)
            assert attributes.value.body == refused("stores")
    # making the table public opens its tiles to the public user
    local_server.visualizations.set_privacy("stores", "public")
    async with client(local_server, None) as carto:
        assert await carto.maps.tile(group, 0, 0, 0, fmt="mvt")


async def test_the_public_user_maps_public_tables_only(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    async with client(local_server, None) as public:
        group = await public.maps.create(layers("select * from shops"))
        assert await public.maps.tile(group, 0, 0, 0, fmt="mvt")
        for table in ("stores", "hidden"):
            with pytest.raises(PermissionDeniedError) as denied:
                await public.maps.create(layers(f"select * from {table}"))
            assert denied.value.body == refused(table)
    async with client(local_server, local_server.default_public_key) as public:
        with pytest.raises(PermissionDeniedError):
            await public.maps.create(layers("select * from stores"))


async def test_a_key_without_the_maps_grant_is_forbidden(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "sql-only", apis=["sql"], tables=[TableGrant("public", "stores", ["select"])]
    )
    group = await master.maps.create(layers("select * from shops"))
    await master.maps.named.create(
        Template(name="open_shops", layergroup=layers("select * from shops"))
    )
    async with client(local_server, key.token) as carto:
        with pytest.raises(PermissionDeniedError) as creating:
            await carto.maps.create(layers("select * from stores"))
        assert creating.value.body == FORBIDDEN
        assert "api-key-does-not-grant-access" in creating.value.error_codes
        with pytest.raises(PermissionDeniedError) as tile:
            await carto.maps.tile(group, 0, 0, 0, fmt="mvt")
        assert tile.value.body == FORBIDDEN
        with pytest.raises(PermissionDeniedError) as instance:
            await carto.maps.named.instantiate("open_shops")
        assert instance.value.body == FORBIDDEN
        with pytest.raises(PermissionDeniedError) as listing:
            await carto.maps.named.list()
        assert listing.value.body == FORBIDDEN
        # its SQL grant still works
        assert (await carto.sql.query("SELECT count(*) AS n FROM stores")).rows[0]["n"] > 0


async def test_named_maps_are_managed_with_the_master_key_and_drawn_as_their_owner(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create("mapper", apis=["maps"])
    template = Template(name="stores_map", layergroup=layers("select * from stores"))
    async with client(local_server, key.token) as carto:
        with pytest.raises(PermissionDeniedError) as creating:
            await carto.maps.named.create(template)
        assert creating.value.body == FORBIDDEN
    assert await master.maps.named.create(template) == "stores_map"
    protected = Template(
        name="stores_protected",
        layergroup=layers("select * from stores"),
        auth=TemplateAuth.token("s3cret"),
    )
    await master.maps.named.create(protected)
    async with client(local_server, key.token) as carto:
        named = carto.maps.named
        for action in (
            named.list,
            functools.partial(named.get, "stores_map"),
            functools.partial(named.update, template),
            functools.partial(named.delete, "stores_map"),
        ):
            with pytest.raises(PermissionDeniedError) as denied:
                await action()
            assert denied.value.body == FORBIDDEN
    async with client(local_server, None) as public:
        # an open template is anyone's to draw, over the owner's private table
        instance = await public.maps.named.instantiate("stores_map")
        assert await public.maps.tile(instance, 0, 0, 0, fmt="mvt")
        # a token-protected one needs its token, then draws as its owner too
        with pytest.raises(PermissionDeniedError):
            await public.maps.named.instantiate("stores_protected")
        signed = await public.maps.named.instantiate("stores_protected", auth_token="s3cret")
        tiles = public.maps.layergroup(signed, auth_token="s3cret")
        assert await tiles.tile(0, 0, 0, fmt="mvt")
        with pytest.raises(PermissionDeniedError):
            await public.maps.tile(signed, 0, 0, 0, fmt="mvt")
    async with client(local_server, key.token) as carto:
        # a key instantiates (the owner draws), but a tile asked for with a key is drawn as
        # that key, which may not read the table, as CARTO's authorize middleware does
        instance = await carto.maps.named.instantiate("stores_map")
        with pytest.raises(PermissionDeniedError) as denied:
            await carto.maps.tile(instance, 0, 0, 0, fmt="mvt")
        assert denied.value.body == refused("stores")
    assert await master.maps.named.list() == ["stores_map", "stores_protected"]


async def test_a_regenerated_key_keeps_its_grants_and_the_old_token_draws_nothing(
    local_server: LocalCarto, master: AsyncCarto
) -> None:
    key = await master.api_keys.create(
        "rotating", apis=["maps"], tables=[TableGrant("public", "stores", ["select"])]
    )
    async with client(local_server, key.token) as carto:
        group = await carto.maps.create(layers("select * from stores"))
    fresh = await master.api_keys.regenerate("rotating")
    async with client(local_server, key.token) as carto:
        with pytest.raises(AuthenticationError) as unknown:
            await carto.maps.tile(group, 0, 0, 0, fmt="mvt")
        assert unknown.value.status_code == 401
        with pytest.raises(AuthenticationError):
            await carto.maps.create(layers("select * from stores"))
    async with client(local_server, fresh.token) as carto:
        assert await carto.maps.tile(group, 0, 0, 0, fmt="mvt")
        with pytest.raises(PermissionDeniedError) as denied:
            await carto.maps.create(layers("select * from hidden"))
        assert denied.value.body == refused("hidden")
        await master.api_keys.delete("rotating")
        with pytest.raises(AuthenticationError):
            await carto.maps.tile(group, 0, 0, 0, fmt="mvt")
