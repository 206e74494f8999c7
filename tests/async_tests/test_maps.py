"""The Maps API's JSON endpoints over a mocked wire: anonymous maps, named maps, URLs, errors."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import pytest
import respx

from carto_async import (
    APIError,
    AsyncCarto,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from carto_async.models.maps import (
    CdnUrl,
    Layergroup,
    MapConfig,
    MapnikLayer,
    Placeholder,
    Template,
    TemplateAuth,
    TorqueCell,
)
from tests.helpers import BASE_URL, KEY, fixture

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

MAP_URL = f"{BASE_URL}/api/v1/map"
NAMED_URL = f"{BASE_URL}/api/v1/map/named"
BASIC = "Basic " + base64.b64encode(f"demo:{KEY}".encode()).decode()
TOKEN = "c01a54877c62831bb51720263f91fb33:1700000000000"
LAYERGROUP = {
    "layergroupid": TOKEN,
    "last_updated": "1970-01-01T00:00:00.000Z",
    "metadata": {"layers": [{"type": "mapnik", "id": "layer0", "meta": {}}]},
}


def config() -> MapConfig:
    return MapConfig(
        layers=[MapnikLayer(sql="select * from stores", cartocss="#l { marker-fill: red; }")]
    )


def template(**changes: object) -> Template:
    base: dict[str, object] = {
        "name": "stores",
        "layergroup": config(),
        "placeholders": {"color": Placeholder("css_color", "red")},
    }
    return Template(**{**base, **changes})  # type: ignore[arg-type]


def sent_json(request: httpx.Request) -> object:
    return json.loads(request.content)


async def test_create_posts_the_mapconfig_with_the_key_in_a_header(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAP_URL).mock(return_value=httpx.Response(200, json=LAYERGROUP))
    group = await carto.maps.create(config())
    assert group.layergroupid == TOKEN
    assert group.layers[0].id == "layer0"
    request = route.calls.last.request
    assert sent_json(request) == config().to_json()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == BASIC
    assert KEY not in str(request.url)
    assert KEY.encode() not in request.content


async def test_an_invalid_mapconfig_is_never_sent(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAP_URL)
    with pytest.raises(ValidationError) as info:
        await carto.maps.create(MapConfig(layers=[], version="0.1.0"))
    assert len(info.value.problems) == 2
    assert not route.called


async def test_create_is_repeated_after_a_server_error_since_it_is_idempotent(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAP_URL).mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json=LAYERGROUP)]
    )
    group = await carto.maps.create(config().to_json())
    assert group.token == TOKEN.split(":", maxsplit=1)[0]
    assert route.call_count == 2


async def test_a_layer_error_carries_its_context(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    message = 'relation "stores" does not exist'
    respx_mock.post(MAP_URL).mock(
        return_value=httpx.Response(
            400,
            json={
                "errors": [message],
                "errors_with_context": [
                    {
                        "type": "layer",
                        "subtype": "query",
                        "message": message,
                        "layer": {"id": "layer0", "index": 0, "type": "mapnik"},
                    }
                ],
            },
        )
    )
    with pytest.raises(BadRequestError) as info:
        await carto.maps.create(config())
    context = info.value.errors_with_context[0]
    assert context.layer is not None
    assert (context.type, context.subtype, context.layer.index) == ("layer", "query", 0)
    assert KEY not in str(info.value)


async def test_attributes_and_an_expired_layergroup(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    url = f"{MAP_URL}/{TOKEN}/0/attributes/6"
    respx_mock.get(url).mock(
        side_effect=[
            httpx.Response(200, json=fixture("maps", "attributes_success.json")),
            httpx.Response(
                400,
                json={"errors": [f"Invalid or nonexistent map configuration token '{TOKEN}'"]},
            ),
        ]
    )
    group = Layergroup.from_json(LAYERGROUP)
    assert await carto.maps.attributes(group, 0, 6) == {"n": 6}
    with pytest.raises(BadRequestError, match="create the map again"):
        await carto.maps.attributes(TOKEN, 0, 6)


async def test_named_map_lifecycle(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(NAMED_URL).mock(
        return_value=httpx.Response(200, json={"template_id": "stores"})
    )
    update = respx_mock.put(f"{NAMED_URL}/stores").mock(
        return_value=httpx.Response(200, json={"template_id": "stores"})
    )
    get = respx_mock.get(f"{NAMED_URL}/stores").mock(
        return_value=httpx.Response(200, json={"template": template().to_json()})
    )
    listing = respx_mock.get(NAMED_URL).mock(
        return_value=httpx.Response(200, json={"template_ids": ["stores", "other"]})
    )
    delete = respx_mock.delete(f"{NAMED_URL}/stores").mock(return_value=httpx.Response(204))

    assert await carto.maps.named.create(template()) == "stores"
    assert sent_json(create.calls.last.request) == template().to_json()
    assert await carto.maps.named.update(template()) == "stores"
    assert sent_json(update.calls.last.request) == template().to_json()
    assert await carto.maps.named.get("stores") == template()
    assert await carto.maps.named.list() == ["stores", "other"]
    assert await carto.maps.named.delete("stores") is None
    for route in (create, update, get, listing, delete):
        request = route.calls.last.request
        assert request.headers["authorization"] == BASIC
        assert KEY not in str(request.url)
        assert KEY.encode() not in request.content


async def test_the_master_key_is_never_written_into_a_template(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(NAMED_URL)
    with pytest.raises(ValidationError, match="contains your API key") as info:
        await carto.maps.named.create(template(auth=TemplateAuth.token(KEY)))
    assert KEY not in str(info.value)
    assert not route.called


async def test_a_named_map_create_is_not_repeated_after_an_ambiguous_failure(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(NAMED_URL).mock(return_value=httpx.Response(500))
    with pytest.raises(Exception, match="500"):
        await carto.maps.named.create(template())
    assert route.call_count == 1


async def test_named_map_errors_have_the_servers_statuses(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    limit = "User 'demo' reached limit on number of templates (1024/1024)"
    respx_mock.post(NAMED_URL).mock(
        return_value=httpx.Response(
            409,
            json={
                "errors": [limit],
                "errors_with_context": [{"type": "unknown", "message": limit}],
            },
        )
    )
    missing = "Cannot find template 'gone' of user 'demo'"
    respx_mock.get(f"{NAMED_URL}/gone").mock(
        return_value=httpx.Response(404, json={"errors": [missing]})
    )
    with pytest.raises(ConflictError, match="reached limit"):
        await carto.maps.named.create(template())
    with pytest.raises(NotFoundError, match="Cannot find template"):
        await carto.maps.named.get("gone")


async def test_instantiate_sends_params_and_the_auth_token(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(f"{NAMED_URL}/stores").mock(
        side_effect=[
            httpx.Response(200, json=fixture("maps", "named_instantiate_docs.json")),
            httpx.Response(200, json=fixture("maps", "named_instantiate_docs.json")),
            httpx.Response(
                403,
                json={
                    "errors": ["Unauthorized template instantiation"],
                    "errors_with_context": [
                        {"type": "auth", "message": "Unauthorized template instantiation"}
                    ],
                },
            ),
        ]
    )
    group = await carto.maps.named.instantiate("stores", {"color": "#00f"}, auth_token="t0k")
    assert group.template_hash == "fd2861af"
    request = route.calls.last.request
    assert request.url.params["auth_token"] == "t0k"
    assert sent_json(request) == {"color": "#00f"}
    assert request.headers["content-type"] == "application/json"
    await carto.maps.named.instantiate("stores")
    assert sent_json(route.calls.last.request) == {}
    with pytest.raises(PermissionDeniedError) as info:
        await carto.maps.named.instantiate("stores")
    assert info.value.errors_with_context[0].type == "auth"


async def test_instantiate_checks_parameter_types_against_a_known_template(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(f"{NAMED_URL}/stores")
    with pytest.raises(ValidationError, match="Invalid css_color value"):
        await carto.maps.named.instantiate("stores", {"color": "#12"}, template=template())
    assert not route.called


async def test_tile_and_static_urls_carry_no_key(carto: AsyncCarto) -> None:
    group = Layergroup.from_json(LAYERGROUP)
    assert carto.maps.tile_url(group, 2, 1, 3) == f"{MAP_URL}/{TOKEN}/2/1/3.png"
    assert (
        carto.maps.tile_url(group, 2, 1, 3, fmt="grid.json", layer=0)
        == f"{MAP_URL}/{TOKEN}/0/2/1/3.grid.json"
    )
    assert carto.maps.tile_url(TOKEN, 2, 1, 3, scale=2) == f"{MAP_URL}/{TOKEN}/2/1/3@2x.png"
    cdn_group = Layergroup(TOKEN, cdn_url=CdnUrl(https="cdn.example.net"))
    assert (
        carto.maps.tile_url(cdn_group, 0, 0, 0)
        == f"https://cdn.example.net/demo/api/v1/map/{TOKEN}/0/0/0.png"
    )
    assert carto.maps.tile_url(cdn_group, 0, 0, 0, use_cdn=False).startswith(BASE_URL)
    assert (
        carto.maps.static_url(group, center=(40, -3), zoom=5, width=300, height=200)
        == f"{MAP_URL}/static/center/{TOKEN}/5/40/-3/300/200.png"
    )
    assert (
        carto.maps.static_url(group, bbox=(-10, 35, 5, 44), width=300, height=200, fmt="jpg")
        == f"{MAP_URL}/static/bbox/{TOKEN}/-10,35,5,44/300/200.jpg"
    )
    assert (
        carto.maps.named_static_url("stores", width=100, height=100)
        == f"{MAP_URL}/static/named/stores/100/100.png"
    )
    with pytest.raises(ValidationError, match="8192"):
        carto.maps.static_url(group, bbox=(-10, 35, 5, 44), width=9000, height=10)
    with pytest.raises(ValidationError, match="either center"):
        carto.maps.static_url(group, width=10, height=10)
    with pytest.raises(ValidationError, match="needs zoom"):
        carto.maps.static_url(group, center=(0, 0), width=10, height=10)


async def test_an_image_of_a_mapconfig_creates_the_map_once(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAP_URL).mock(return_value=httpx.Response(200, json=LAYERGROUP))
    image = carto.maps.image(config()).size(600, 400).center(40.5, -3.5).zoom(6)
    assert await image.url() == f"{MAP_URL}/static/center/{TOKEN}/6/40.5/-3.5/600/400.png"
    assert await image.url() == f"{MAP_URL}/static/center/{TOKEN}/6/40.5/-3.5/600/400.png"
    assert route.call_count == 1
    boxed = image.bbox(-10, 35, 5, 44).format("jpg").layers([0])
    assert await boxed.url() == f"{MAP_URL}/static/bbox/{TOKEN}/-10,35,5,44/600/400.jpg?layer=0"
    assert KEY not in await boxed.url()


async def test_images_of_layergroups_and_named_maps(carto: AsyncCarto) -> None:
    group = Layergroup.from_json(LAYERGROUP)
    assert (
        await carto.maps.image(group).bbox(-1, -1, 1, 1).url()
        == f"{MAP_URL}/static/bbox/{TOKEN}/-1,-1,1,1/320/240.png"
    )
    named = carto.maps.named_image("stores", {"color": "red"}, auth_token="t")
    assert await named.url() == (
        f"{MAP_URL}/static/named/stores/320/240.png?config=%7B%22color%22%3A%22red%22%7D&auth_token=t"
    )
    assert await named.center(1, 2).zoom(3).url() == (
        f"{MAP_URL}/static/named/stores/320/240.png?zoom=3&lat=1&lon=2"
        "&config=%7B%22color%22%3A%22red%22%7D&auth_token=t"
    )


async def test_image_settings_are_checked_as_they_are_set(carto: AsyncCarto) -> None:
    group = Layergroup.from_json(LAYERGROUP)
    image = carto.maps.image(group)
    with pytest.raises(ValidationError, match="8192"):
        image.size(10000, 10)
    with pytest.raises(ValidationError, match="Unsupported image format"):
        image.format("gif")
    with pytest.raises(ValidationError, match="zoom"):
        image.zoom(40)
    with pytest.raises(ValidationError, match="lat"):
        image.center(100, 0)
    with pytest.raises(ValidationError, match="needs a centre and a zoom, or a bbox"):
        await image.center(1, 2).url()
    with pytest.raises(ValidationError, match="together"):
        await carto.maps.named_image("stores").zoom(3).url()
    with pytest.raises(ValidationError, match="Invalid characters"):
        carto.maps.named_image("no way")


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


async def test_a_tile_is_streamed_with_the_key_in_a_header(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{MAP_URL}/{TOKEN}/2/1/3.png").mock(
        return_value=httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    )
    group = Layergroup.from_json(LAYERGROUP)
    assert await carto.maps.tile(group, 2, 1, 3) == PNG
    request = route.calls.last.request
    assert request.headers["authorization"] == BASIC
    assert KEY not in str(request.url)
    retina = respx_mock.get(f"{MAP_URL}/{TOKEN}/2/1/3@2x.png").mock(
        return_value=httpx.Response(200, content=b"retina")
    )
    assert await carto.maps.tile(TOKEN, 2, 1, 3, scale=2) == b"retina"
    assert retina.called


async def test_an_empty_vector_tile_is_an_empty_tile_not_an_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{MAP_URL}/{TOKEN}/0,1/5/3/4.mvt").mock(return_value=httpx.Response(204))
    respx_mock.get(f"{MAP_URL}/{TOKEN}/all/5/3/5.mvt").mock(
        return_value=httpx.Response(200, content=b"\x1a\x02mvt")
    )
    assert await carto.maps.tile(TOKEN, 5, 3, 4, fmt="mvt", layer=[0, 1]) == b""
    assert await carto.maps.tile(TOKEN, 5, 3, 5, fmt="mvt", layer="all") == b"\x1a\x02mvt"


async def test_tile_arguments_are_checked_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(url__startswith=MAP_URL).mock(return_value=httpx.Response(200))
    with pytest.raises(ValidationError, match="unsupported tile format"):
        await carto.maps.tile(TOKEN, 0, 0, 0, fmt="gif")
    with pytest.raises(ValidationError, match="zoom"):
        await carto.maps.tile(TOKEN, -1, 0, 0)
    with pytest.raises(ValidationError, match="retina"):
        await carto.maps.tile(TOKEN, 1, 0, 0, fmt="mvt", scale=2)
    with pytest.raises(ValidationError, match="invalid layergroup id"):
        await carto.maps.tile("../../sql?q=1", 0, 0, 0)
    with pytest.raises(ValidationError, match="tile y"):
        await carto.maps.tiles(TOKEN, [(1, 0, 0), (1, 0, -1)])
    assert not route.called


async def test_save_tile_streams_into_a_file_and_a_file_object(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    respx_mock.get(f"{MAP_URL}/{TOKEN}/4/5/6.png").mock(
        return_value=httpx.Response(200, content=PNG)
    )
    target = tmp_path / "tile.png"
    done = await carto.maps.save_tile(TOKEN, 4, 5, 6, target)
    assert done.size == len(PNG)
    assert target.read_bytes() == PNG
    sink = io.BytesIO()
    await carto.maps.layergroup(TOKEN).save_tile(4, 5, 6, sink)
    assert sink.getvalue() == PNG
    respx_mock.get(f"{MAP_URL}/{TOKEN}/4/5/7.png").mock(
        return_value=httpx.Response(404, json={"errors": ["Tile not found"]})
    )
    with pytest.raises(NotFoundError, match="Tile not found"):
        await carto.maps.save_tile(TOKEN, 4, 5, 7, tmp_path / "missing.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tile.png"]


async def test_grid_and_torque_tiles_are_parsed(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    grid_body = fixture("maps", "grid_utfgrid_layer0.json")
    respx_mock.get(f"{MAP_URL}/{TOKEN}/0/3/4/2.grid.json").mock(
        return_value=httpx.Response(200, json=grid_body)
    )
    respx_mock.get(f"{MAP_URL}/{TOKEN}/1/0/0/0.torque.json").mock(
        return_value=httpx.Response(200, json=fixture("maps", "torque_tile.json"))
    )
    grid = await carto.maps.grid(TOKEN, 3, 4, 2)
    assert grid.keys == tuple(grid_body["keys"])
    features = {
        key for y in range(0, 256, 4) for x in range(0, 256, 4) if (key := grid.key_at(x, y))
    }
    assert features
    assert features <= set(grid.data)
    cells = await carto.maps.layergroup(TOKEN).torque(0, 0, 0, layer=1)
    assert cells == (TorqueCell(x=43, y=43, values=(1, 1), steps=(0, 1)),)
    respx_mock.get(f"{MAP_URL}/{TOKEN}/1/0/0/1.torque.json").mock(
        return_value=httpx.Response(200, json={"not": "torque"})
    )
    with pytest.raises(APIError, match="Torque tile"):
        await carto.maps.torque(TOKEN, 0, 0, 1, layer=1)


async def test_many_tiles_run_concurrently_and_come_back_in_order(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=request.url.path.encode())

    respx_mock.get(url__startswith=f"{MAP_URL}/{TOKEN}/").mock(side_effect=answer)
    coords = [(3, x, y) for x in range(4) for y in range(4)]
    tiles = await carto.maps.layergroup(TOKEN).tiles(coords, concurrency=5)
    assert tiles == [f"/api/v1/map/{TOKEN}/{z}/{x}/{y}.png".encode() for z, x, y in coords]
    with pytest.raises(ValidationError, match="concurrency"):
        await carto.maps.tiles(TOKEN, coords, concurrency=0)


async def test_a_failing_tile_among_many_raises(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(url__startswith=f"{MAP_URL}/{TOKEN}/1/0/").mock(
        return_value=httpx.Response(200, content=b"ok")
    )
    respx_mock.get(f"{MAP_URL}/{TOKEN}/1/1/1.png").mock(
        return_value=httpx.Response(
            403, json={"errors": ["permission denied"], "errors_with_context": []}
        )
    )
    with pytest.raises(PermissionDeniedError):
        await carto.maps.tiles(TOKEN, [(1, 0, 0), (1, 1, 1), (1, 0, 1)])


async def test_token_protected_instances_send_the_auth_token(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{MAP_URL}/{TOKEN}/0/0/0.png").mock(
        return_value=httpx.Response(200, content=b"png")
    )
    assert await carto.maps.layergroup(TOKEN, auth_token="t0k").tile(0, 0, 0) == b"png"
    assert route.calls.last.request.url.params["auth_token"] == "t0k"
    image_route = respx_mock.get(f"{MAP_URL}/static/bbox/{TOKEN}/0,0,1,1/320/240.png").mock(
        return_value=httpx.Response(200, content=b"img")
    )
    image = carto.maps.layergroup(TOKEN, auth_token="t0k").image().bbox(0, 0, 1, 1)
    assert await image.fetch() == b"img"
    assert image_route.calls.last.request.url.params["auth_token"] == "t0k"
    assert await image.url() == f"{MAP_URL}/static/bbox/{TOKEN}/0,0,1,1/320/240.png?auth_token=t0k"
    assert await carto.maps.image(Layergroup(TOKEN), auth_token="t0k").bbox(0, 0, 1, 1).url() == (
        f"{MAP_URL}/static/bbox/{TOKEN}/0,0,1,1/320/240.png?auth_token=t0k"
    )


async def test_images_are_fetched_and_saved(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    create = respx_mock.post(MAP_URL).mock(return_value=httpx.Response(200, json=LAYERGROUP))
    bbox = respx_mock.get(f"{MAP_URL}/static/bbox/{TOKEN}/-10,35,5,44/600/400.png").mock(
        return_value=httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    )
    image = carto.maps.image(config()).size(600, 400).bbox(-10, 35, 5, 44)
    assert await image.fetch() == PNG
    done = await image.save(tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes() == PNG
    assert done.size == len(PNG)
    assert create.call_count == 1
    assert bbox.call_count == 2
    assert bbox.calls.last.request.headers["authorization"] == BASIC
    center = respx_mock.get(f"{MAP_URL}/static/center/{TOKEN}/6/40.5/-3.5/300/200.jpg").mock(
        return_value=httpx.Response(200, content=b"jpeg")
    )
    group = Layergroup.from_json(LAYERGROUP)
    shot = carto.maps.layergroup(group).image().size(300, 200).center(40.5, -3.5).zoom(6)
    assert await shot.format("jpg").fetch() == b"jpeg"
    assert center.called
    named = respx_mock.get(f"{MAP_URL}/static/named/stores/320/240.png").mock(
        return_value=httpx.Response(200, content=b"named")
    )
    assert await carto.maps.named_image("stores", {"color": "red"}, auth_token="t").fetch() == (
        b"named"
    )
    params = named.calls.last.request.url.params
    assert json.loads(params["config"]) == {"color": "red"}
    assert params["auth_token"] == "t"
    assert KEY not in str(named.calls.last.request.url)


async def test_an_image_too_large_is_never_requested(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.route().mock(return_value=httpx.Response(200, json=LAYERGROUP))
    with pytest.raises(ValidationError, match="8192"):
        await carto.maps.image(config()).size(8193, 100).bbox(0, 0, 1, 1).fetch()
    assert not route.called
