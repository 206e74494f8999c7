"""The Maps API's route table, and the SDK (sync API) talking to the Windshaft room through
it: a mock transport stands where the HTTP layer will, so what is checked is the wire
contract the SDK and the room agree on."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from carto_async import BadRequestError, Carto, ConflictError, NotFoundError, PermissionDeniedError
from carto_async.models.maps import MapConfig, MapnikLayer, Placeholder, Template, TemplateAuth
from carto_async.testing._windshaft import Windshaft
from carto_async.testing._windshaft._routes import ROUTES, MapsCaller, dispatch, split_path
from tests.testing.test_windshaft import (
    USER,
    DuckQuery,
    FakeClock,
    errors,
    mapconfig,
    spatial_connection,
    template,
)

mapnik = pytest.importorskip("mapnik")

KEY = "k3y-0123456789abcdef0123456789abcdef"
BASE = "https://demo.carto.com"
RED = (255, 0, 0, 255)


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    connection = spatial_connection()
    yield connection
    connection.close()


@pytest.fixture
def maps(con: Any) -> Windshaft:
    return Windshaft(DuckQuery(con), clock=FakeClock(), max_user_templates=2)


def pixel(image: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


def call(maps: Windshaft, method: str, path: str, key: Any = "public", **kw: Any) -> Any:
    response = dispatch(maps, method, path, caller=MapsCaller(USER, key), **kw)
    assert response is not None, path
    return response


# -- the table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/user/demo/api/v1/map", ("demo", "/map")),
        ("/api/v1/map/named/x", (None, "/map/named/x")),
        ("/user/demo/api/v1/map/abc:0/0/0/0.png", ("demo", "/map/abc:0/0/0/0.png")),
        ("/api/v2/sql", None),
        ("/user/demo/api/v1/imports", None),
    ],
)
def test_paths_split_into_user_and_maps_path(path: str, expected: Any) -> None:
    assert split_path(path) == expected


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        (
            "GET",
            "/map/tok:0/1/2/3.png",
            {"token": "tok:0", "z": "1", "x": "2", "y": "3", "format": "png"},
        ),
        (
            "GET",
            "/map/u@h@tok:0/1/2/3@2x.png",
            {"token": "u@h@tok:0", "scale": "2", "format": "png"},
        ),
        ("GET", "/map/tok/0,1/1/2/3.grid.json", {"layer": "0,1", "format": "grid.json"}),
        ("GET", "/map/tok/all/1/-2/3.mvt", {"layer": "all", "x": "-2", "format": "mvt"}),
        ("GET", "/map/tok/0/1/2/3.json.torque", {"layer": "0", "format": "json.torque"}),
        ("GET", "/map/tok/1/attributes/42", {"token": "tok", "layer": "1", "fid": "42"}),
        ("GET", "/map/named/tpl/0/1/2/3.png", {"template_id": "tpl", "layer": "0", "y": "3"}),
        ("DELETE", "/map/named/demo@tpl", {"template_id": "demo@tpl"}),
        (
            "GET",
            "/map/static/center/tok/3/40.5/-3.7/300/200.png",
            {
                "z": "3",
                "lat": "40.5",
                "lng": "-3.7",
                "width": "300",
                "height": "200",
                "format": "png",
            },
        ),
        (
            "GET",
            "/map/static/bbox/tok/-10,-5.5,10,5/64/32.jpg",
            {"bbox": "-10,-5.5,10,5", "format": "jpg"},
        ),
        ("GET", "/map/static/named/tpl/64/32.png", {"template_id": "tpl", "width": "64"}),
    ],
)
def test_the_route_table_reads_the_path_parameters(
    method: str, path: str, params: dict[str, str]
) -> None:
    for route in ROUTES:
        match = route.regex.match(path) if route.method == method else None
        if match is not None:
            found = {k: v for k, v in match.groupdict().items() if v is not None}
            assert params.items() <= found.items()
            return
    pytest.fail(f"no route for {method} {path}")


def test_unknown_paths_and_methods_are_not_answered(maps: Windshaft) -> None:
    caller = MapsCaller(USER, "master")
    assert dispatch(maps, "GET", "/map/a/b", caller=caller) is None
    assert dispatch(maps, "PATCH", "/map/named/x", caller=caller) is None


def test_get_map_takes_the_config_parameter_and_is_cacheable(maps: Windshaft) -> None:
    response = call(maps, "GET", "/map", query={"config": json.dumps(mapconfig())})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "public,max-age=86400,must-revalidate"
    missing = call(maps, "GET", "/map")
    assert errors(missing) == ['layergroup GET needs a "config" parameter']


def test_a_tile_and_a_static_image_through_the_routes(maps: Windshaft) -> None:
    body = json.dumps(mapconfig()).encode()
    created = call(maps, "POST", "/map", body=body, content_type="application/json")
    token = created.json()["layergroupid"]
    png = call(maps, "GET", f"/map/{token}/1/0/0@2x.png")
    assert pixel(png.body, 256, 256) == RED
    image = call(maps, "GET", f"/map/static/center/{token}/1/0/0/512/512.png")
    assert pixel(image.body, 128, 128) == RED


# -- the SDK against the room --------------------------------------------------------------


def transport(maps: Windshaft) -> httpx.MockTransport:
    """What the HTTP layer will do: user from the path, key kind from Basic auth or
    ``api_key``, JSON body, then :func:`dispatch`."""

    def handle(request: httpx.Request) -> httpx.Response:
        split = split_path(request.url.path)
        if split is None:
            return httpx.Response(404)
        user, path = split
        query = dict(parse_qsl(request.url.query.decode()))
        key = query.pop("api_key", None)
        header = request.headers.get("authorization")
        if header:
            key = base64.b64decode(header.split()[1]).decode().partition(":")[2]
        kind = "public" if key is None else ("master" if key == KEY else "invalid")
        response = dispatch(
            maps,
            request.method,
            path,
            caller=MapsCaller(user or request.url.host.split(".")[0], kind),  # type: ignore[arg-type]
            query=query,
            body=request.content,
            content_type=request.headers.get("content-type"),
            base_url=f"{BASE}/api/v1/map",
        )
        if response is None:
            return httpx.Response(404)
        return httpx.Response(
            response.status, headers=dict(response.headers), content=response.body
        )

    return httpx.MockTransport(handle)


@pytest.fixture
def carto(maps: Windshaft) -> Iterator[Carto]:
    with (
        httpx.Client(transport=transport(maps)) as http,
        Carto(USER, KEY, BASE, http_client=http, max_retries=0) as client,
    ):
        yield client


@pytest.fixture
def http(maps: Windshaft) -> Iterator[httpx.Client]:
    with httpx.Client(transport=transport(maps)) as client:
        yield client


def sdk_config() -> MapConfig:
    return MapConfig(
        layers=[
            MapnikLayer(
                sql="select * from pts",
                cartocss="#layer { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }",
                interactivity=("cartodb_id",),
                attributes={"id": "cartodb_id", "columns": ["n", "name"]},
            )
        ]
    )


def test_the_sdk_creates_a_map_and_its_tiles_are_real_pictures(
    carto: Carto, http: httpx.Client
) -> None:
    group = carto.maps.create(sdk_config())
    assert group.layers[0].id == "layer0"
    assert carto.maps.attributes(group, 0, 1) == {"n": 6, "name": "north-west"}
    png = http.get(carto.maps.tile_url(group, 1, 0, 0))
    assert png.headers["content-type"] == "image/png"
    assert pixel(png.content, 128, 128) == RED
    static = http.get(carto.maps.static_url(group, width=512, height=512, zoom=1, center=(0, 0)))
    assert pixel(static.content, 128, 128) == RED
    grid = http.get(carto.maps.tile_url(group, 1, 0, 0, fmt="grid.json", layer=0)).json()
    assert grid["data"] == {"1": {"cartodb_id": 1}}
    with pytest.raises(NotFoundError):
        carto.maps.attributes(group, 0, 999)


def test_the_sdk_named_map_flow(carto: Carto, http: httpx.Client) -> None:
    tpl = Template(
        name="stores",
        layergroup=sdk_config(),
        placeholders={"color": Placeholder("css_color", "red")},
        auth=TemplateAuth.token("s3cret"),
    )
    assert carto.maps.named.create(tpl) == "stores"
    assert carto.maps.named.list() == ["stores"]
    assert carto.maps.named.get("stores").auth.valid_tokens == ("s3cret",)
    with pytest.raises(BadRequestError):
        carto.maps.named.create(tpl)
    with pytest.raises(PermissionDeniedError):
        carto.maps.named.instantiate("stores", {})
    group = carto.maps.named.instantiate("stores", {"color": "blue"}, auth_token="s3cret")
    signer, _, rest = group.layergroupid.split("@")
    assert signer == USER
    assert rest.endswith(":0")
    image = http.get(
        carto.maps.named_static_url(
            "stores", width=256, height=256, zoom=1, center=(0, 0), auth_token="s3cret"
        )
    )
    assert image.status_code == 200
    assert image.content.startswith(b"\x89PNG")
    carto.maps.named.create(Template.from_json(template("other")))
    with pytest.raises(ConflictError):
        carto.maps.named.create(Template.from_json(template("third")))
    carto.maps.named.delete("stores")
    with pytest.raises(NotFoundError):
        carto.maps.named.get("stores")
