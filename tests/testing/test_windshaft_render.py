"""Tiles, grids, vector and Torque tiles, attributes and static images of LocalCarto's Maps
API room, drawn from real rows on DuckDB + spatial: pixels are checked where features are."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from carto_async.testing._windshaft import IMAGE_SIZE_LIMIT, MapsResponse, Windshaft
from tests.testing.test_windshaft import (
    MARKER,
    USER,
    DuckQuery,
    E,
    FakeClock,
    errors,
    fixture,
    mapconfig,
    spatial_connection,
    template,
)

mapnik = pytest.importorskip("mapnik")
mvt = pytest.importorskip("mapbox_vector_tile")


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    connection = spatial_connection()
    yield connection
    connection.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def query(con: Any) -> DuckQuery:
    return DuckQuery(con)


@pytest.fixture
def maps(query: DuckQuery, clock: FakeClock) -> Windshaft:
    return Windshaft(query, clock=clock)


RED = (255, 0, 0, 255)
BLUE = (0, 0, 255, 255)
CLEAR = (0, 0, 0, 0)
TORQUE_CSS = (
    "Map { -torque-frame-count: 2; -torque-resolution: 2; "
    '-torque-aggregation-function: "count(cartodb_id)"; -torque-time-attribute: "t"; }'
)


def pixel(image: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


def size(image: bytes) -> tuple[int, int]:
    decoded = mapnik.Image.from_string(image)
    return decoded.width(), decoded.height()


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def lnglat(x: float, y: float) -> tuple[float, float]:
    lng = x / E * 180
    lat = math.degrees(math.atan(math.sinh(y / 6378137.0)))
    return lng, lat


def create(maps: Windshaft, config: dict[str, Any]) -> str:
    response = maps.create_map(USER, "public", config)
    assert response.status == 200, response.body
    return str(response.json()["layergroupid"])


def tile(maps: Windshaft, token: str, z: int, x: int, y: int, fmt: str, **kw: Any) -> MapsResponse:
    return maps.tile(USER, "public", layergroup_id=token, z=z, x=x, y=y, fmt=fmt, **kw)


def two_layers() -> dict[str, Any]:
    blue = "#layer { marker-fill: #00f; marker-width: 20; marker-line-width: 0; }"
    red = MARKER.replace("marker-line-width: 0;", "marker-line-width: 0;")
    return {
        "version": "1.8.0",
        "layers": [
            {
                "type": "mapnik",
                "options": {"sql": "select * from pts where cartodb_id = 1", "cartocss": red},
            },
            {
                "type": "mapnik",
                "options": {"sql": "select * from pts where cartodb_id = 3", "cartocss": blue},
            },
        ],
    }


# -- PNG tiles -----------------------------------------------------------------------------


def test_a_png_tile_is_red_where_the_point_is_and_clear_elsewhere(
    maps: Windshaft, query: DuckQuery
) -> None:
    token = create(maps, mapconfig())
    response = tile(maps, token, 1, 0, 0, "png")
    assert response.status == 200
    assert response.content_type == "image/png"
    assert response.body.startswith(b"\x89PNG")
    assert pixel(response.body, 128, 128) == RED  # point 1 is at the centre of tile 1/0/0
    for x, y in ((5, 5), (250, 5), (5, 250), (250, 250), (128, 160)):
        assert pixel(response.body, x, y) == CLEAR
    sent = query.statements[-1]
    assert "ST_AsBinary" in sent
    assert "&& ST_MakeEnvelope(" in sent


def test_a_tile_without_features_is_clear(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    png = tile(maps, token, 1, 0, 1, "png").body
    assert {pixel(png, x, y) for x in range(0, 256, 16) for y in range(0, 256, 16)} == {CLEAR}


def test_value_filters_choose_which_features_are_drawn(maps: Windshaft) -> None:
    css = (
        "#layer { marker-width: 20; marker-line-width: 0; "
        "[n > 6] { marker-fill: #00f; } [n <= 6] { marker-fill: #f00; } }"
    )
    token = create(maps, mapconfig(cartocss=css))
    assert pixel(tile(maps, token, 1, 0, 0, "png").body, 128, 128) == RED  # n = 6
    assert pixel(tile(maps, token, 1, 1, 0, "png").body, 128, 128) == BLUE  # n = 8


def test_retina_tiles_are_twice_the_size(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    png = tile(maps, token, 1, 0, 0, "png", scale="2").body
    assert size(png) == (512, 512)
    assert pixel(png, 256, 256) == RED


def test_png32_tiles_and_wrapped_x(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    png = tile(maps, token, 1, -2, 0, "png32").body  # x = -2 wraps to 0 at zoom 1
    assert pixel(png, 128, 128) == RED


def test_layer_filters_draw_the_layers_named(maps: Windshaft) -> None:
    token = create(maps, two_layers())
    both = tile(maps, token, 1, 1, 0, "png", layer="all").body
    assert pixel(both, 128, 128) == BLUE
    only_first = tile(maps, token, 1, 1, 0, "png", layer="0").body
    assert pixel(only_first, 128, 128) == CLEAR
    by_id = tile(maps, token, 1, 0, 0, "png", layer="layer0,layer1").body
    assert pixel(by_id, 128, 128) == RED
    missing = tile(maps, token, 1, 0, 0, "png", layer="7")
    assert errors(missing) == ["Layer '7' not found in layergroup"]


def test_substitution_tokens_are_replaced_in_the_layer_sql(maps: Windshaft) -> None:
    token = create(
        maps, mapconfig("select * from pts where ST_Intersects(the_geom_webmercator, !bbox!)")
    )
    assert pixel(tile(maps, token, 1, 0, 0, "png").body, 128, 128) == RED


def test_zoom_limits_of_a_layer_hide_it(maps: Windshaft) -> None:
    token = create(maps, mapconfig(minzoom=2))
    assert pixel(tile(maps, token, 1, 0, 0, "png").body, 128, 128) == CLEAR


@pytest.mark.parametrize(
    ("z", "x", "y", "message"),
    [
        (
            "a",
            0,
            0,
            "Invalid zoom value (a). It should be an integer number greather than or equal to 0",
        ),
        (1, "b", 0, "Invalid coodinate 'x' value (b). It should be an integer number"),
        (
            1,
            0,
            -1,
            "Invalid coodinate 'y' value (-1). "
            "It should be an integer number greather than or equal to 0",
        ),
    ],
)
def test_bad_coordinates_are_400_in_the_servers_words(
    maps: Windshaft, z: Any, x: Any, y: Any, message: str
) -> None:
    token = create(maps, mapconfig())
    response = tile(maps, token, z, x, y, "png")
    assert (response.status, errors(response)) == (400, [message])


def test_an_unknown_tile_format_is_400(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    assert errors(tile(maps, token, 0, 0, 0, "webp")) == ["Unsupported format webp"]


def test_without_mapnik_images_answer_an_error_naming_the_render_extra(
    maps: Windshaft, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create(maps, mapconfig())
    monkeypatch.setitem(sys.modules, "mapnik", None)  # import mapnik now fails
    response = tile(maps, token, 1, 0, 0, "png")
    assert response.status == 501
    assert "carto-async[render]" in errors(response)[0]
    assert tile(maps, token, 1, 0, 0, "mvt").status == 200  # vector tiles need no Mapnik


# -- UTFGrid, MVT, Torque ------------------------------------------------------------------


def test_a_grid_has_the_feature_under_its_pixels_with_the_interactivity_columns(
    maps: Windshaft,
) -> None:
    token = create(maps, mapconfig(interactivity=["cartodb_id", "name"]))
    response = tile(maps, token, 1, 0, 0, "grid.json", layer="0")
    assert response.content_type == "application/json; charset=utf-8"
    grid = response.json()
    assert len(grid["grid"]) == 64
    assert grid["keys"] == ["", "1"]
    assert grid["data"] == {"1": {"cartodb_id": 1, "name": "north-west"}}
    assert grid["grid"][32][32] != " "
    assert grid["grid"][2][2] == " "
    assert set(fixture("grid_utfgrid_layer0.json")) == set(grid)


def test_a_grid_takes_one_layer(maps: Windshaft) -> None:
    token = create(maps, two_layers())
    assert tile(maps, token, 1, 0, 0, "grid.json").status == 400


def test_a_vector_tile_carries_the_features_and_their_columns(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    response = tile(maps, token, 1, 0, 0, "mvt")
    assert response.status == 200
    assert response.content_type == "application/x-protobuf"
    decoded = mvt.decode(response.body)
    features = decoded["layer0"]["features"]
    assert len(features) == 1
    feature = features[0]
    assert feature["id"] == 1
    assert feature["properties"] == {"cartodb_id": 1, "name": "north-west", "n": 6, "t": 10}
    assert feature["geometry"] == {"type": "Point", "coordinates": [2048, 2048]}


def test_an_empty_vector_tile_is_204(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    response = tile(maps, token, 3, 0, 0, "mvt")
    assert (response.status, response.body) == (204, b"")


def test_a_torque_layer_has_time_metadata_and_aggregated_tiles(maps: Windshaft) -> None:
    config = {
        "version": "1.8.0",
        "layers": [
            {"type": "torque", "options": {"sql": "select * from pts", "cartocss": TORQUE_CSS}}
        ],
    }
    created = maps.create_map(USER, "public", config).json()
    assert created["metadata"]["torque"]["0"] == {
        "start": 10000,
        "end": 30000,
        "steps": 2,
        "data_steps": 3,
        "column_type": "number",
    }
    token = created["layergroupid"]
    response = tile(maps, token, 1, 0, 0, "torque.json", layer="0")
    assert response.content_type == "application/json; charset=utf-8"
    assert response.json() == [
        {"x__uint8": 64, "y__uint8": 64, "vals__uint8": [1], "dates__uint16": [0]}
    ]
    east = tile(maps, token, 1, 1, 0, "json.torque", layer="0").json()
    assert east == [{"x__uint8": 64, "y__uint8": 64, "vals__uint8": [1], "dates__uint16": [1]}]
    assert errors(tile(maps, token, 1, 0, 0, "png")) == ["No 'mapnik' layers in MapConfig"]


def test_torque_json_of_a_mapnik_layer_is_400(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    assert errors(tile(maps, token, 1, 0, 0, "torque.json", layer="0")) == [
        "Unsupported format torque.json"
    ]


# -- attributes ----------------------------------------------------------------------------


def test_attributes_of_a_feature_are_the_configured_columns(maps: Windshaft) -> None:
    config = two_layers()
    config["layers"][1]["options"]["sql"] = "select * from pts"
    config["layers"][1]["options"]["attributes"] = {"id": "cartodb_id", "columns": ["n"]}
    token = create(maps, config)
    response = maps.attributes(USER, "public", layergroup_id=token, layer="1", fid="1")
    assert response.status == 200
    assert response.json() == fixture("attributes_success.json")
    missing = maps.attributes(USER, "public", layergroup_id=token, layer=1, fid="-666")
    assert (missing.status, errors(missing)) == (
        404,
        ["Multiple features (0) identified by 'cartodb_id' = -666 in layer 1"],
    )
    no_attributes = maps.attributes(USER, "public", layergroup_id=token, layer="0", fid="1")
    assert no_attributes.status == 400
    assert no_attributes.json() == fixture("error_layer_has_no_attributes.json")
    bad_layer = maps.attributes(USER, "public", layergroup_id=token, layer="5", fid="1")
    assert errors(bad_layer) == [f"Map {token.split(':')[0]} has no layer number 5"]


def test_a_feature_id_that_is_not_a_number_is_quoted(maps: Windshaft, query: DuckQuery) -> None:
    config = mapconfig(attributes={"id": "name", "columns": ["n"]})
    token = create(maps, config)
    response = maps.attributes(USER, "public", layergroup_id=token, layer="0", fid="it's")
    assert response.status == 404
    assert "\"name\" = 'it''s'" in query.statements[-1]
    found = maps.attributes(USER, "public", layergroup_id=token, layer="0", fid="north-east")
    assert found.json() == {"n": 8}


# -- static images -------------------------------------------------------------------------


def test_a_static_image_by_center_shows_the_points_where_they_are(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    response = maps.static_center(
        USER, "public", layergroup_id=token, z=1, lat=0, lng=0, width=512, height=512, fmt="png"
    )
    assert response.content_type == "image/png"
    png = response.body
    assert size(png) == (512, 512)
    assert pixel(png, 128, 128) == RED  # north-west
    assert pixel(png, 384, 384) == RED  # south-east
    assert pixel(png, 384, 128) == RED  # north-east
    assert pixel(png, 128, 384) == CLEAR
    assert pixel(png, 256, 256) == CLEAR


def test_a_static_jpeg_by_bbox(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    west, north = lnglat(-E, E)
    response = maps.static_bbox(
        USER,
        "public",
        layergroup_id=token,
        bbox=f"{west},0,0,{north}",
        width=256,
        height=256,
        fmt="jpg",
    )
    assert response.content_type == "image/jpeg"
    assert response.body.startswith(b"\xff\xd8")
    assert near(pixel(response.body, 128, 128), RED)
    assert near(pixel(response.body, 20, 20), (255, 255, 255, 255))


def test_static_images_check_format_and_size_first(maps: Windshaft, query: DuckQuery) -> None:
    token = create(maps, mapconfig())
    sent = len(query.statements)
    gif = maps.static_center(
        USER, "public", layergroup_id=token, z=1, lat=0, lng=0, width=10, height=10, fmt="gif"
    )
    assert errors(gif) == ['Unsupported image format "gif"']
    big = maps.static_center(
        USER,
        "public",
        layergroup_id=token,
        z=1,
        lat=0,
        lng=0,
        width=IMAGE_SIZE_LIMIT + 1,
        height=10,
        fmt="png",
    )
    assert (big.status, errors(big)) == (400, ["Desired image is too large."])
    assert len(query.statements) == sent  # nothing was queried, let alone drawn
    assert IMAGE_SIZE_LIMIT == 8192


def named(maps: Windshaft, **extra: Any) -> None:
    body = template(**extra)
    body["placeholders"]["color"]["default"] = "#ff0000"
    body["layergroup"]["layers"][0]["options"]["cartocss"] = (
        "#layer { marker-fill: <%= color %>; marker-width: 20; marker-line-width: 0; }"
    )
    assert maps.create_template(USER, "master", body).status == 200


def static_named(maps: Windshaft, width: int = 256, height: int = 256, **params: Any) -> bytes:
    response = maps.static_named(
        USER,
        "public",
        template_id="tpl",
        width=width,
        height=height,
        fmt="png",
        query_params=params,
    )
    assert response.status == 200, response.body
    return response.body


def test_named_static_explicit_center_wins_over_everything(maps: Windshaft) -> None:
    lng, lat = lnglat(E / 2, -E / 2)
    named(maps, view={"zoom": 3, "center": {"lng": 0, "lat": 0}})
    png = static_named(maps, zoom=3, lat=lat, lon=lng, bbox="-10,-10,10,10")
    assert pixel(png, 128, 128) == RED  # centred on point 2


def test_named_static_bbox_comes_before_the_view(maps: Windshaft) -> None:
    west, north = lnglat(-E, E)
    named(maps, view={"zoom": 3, "center": {"lng": 0, "lat": 0}})
    png = static_named(maps, bbox=f"{west},0,0,{north}")
    assert pixel(png, 128, 128) == RED


def test_named_static_uses_the_views_center_then_its_bounds(maps: Windshaft) -> None:
    lng, lat = lnglat(E / 2, E / 2)
    named(maps, view={"zoom": 4, "center": {"lng": lng, "lat": lat}})
    assert pixel(static_named(maps), 128, 128) == RED  # point 3 in the middle
    maps.delete_template(USER, "master", template_id="tpl")
    west, north = lnglat(-E, E)
    named(maps, view={"bounds": {"west": west, "south": 0, "east": 0, "north": north}})
    assert pixel(static_named(maps), 128, 128) == RED  # point 1 in the middle


def test_named_static_falls_back_to_the_extent_of_the_data(maps: Windshaft) -> None:
    named(maps)
    png = static_named(maps, width=200, height=200, config=json.dumps({"min_n": 7}))
    # Points 2 (south-east) and 3 (north-east) span a vertical segment: the image is
    # centred on it.
    assert pixel(png, 100, 100) == CLEAR
    assert pixel(png, 100, 2) == RED
    assert pixel(png, 100, 197) == RED


def test_named_static_without_data_or_view_shows_zoom_1_at_0_0(maps: Windshaft) -> None:
    named(maps)
    png = static_named(maps, width=512, height=512, config=json.dumps({"min_n": 100}))
    assert size(png) == (512, 512)
    assert pixel(png, 128, 128) == CLEAR  # the query returned no rows


def test_named_static_preview_layers_hide_layers(maps: Windshaft) -> None:
    body = template(
        view={"zoom": 1, "center": {"lng": 0, "lat": 0}, "preview_layers": {"0": False}}
    )
    body["layergroup"] = two_layers()
    body["placeholders"] = {}
    maps.create_template(USER, "master", body)
    png = static_named(maps, width=512, height=512)
    assert pixel(png, 128, 128) == CLEAR  # layer 0 (point 1) is hidden
    assert pixel(png, 384, 128) == BLUE  # layer 1 (point 3) is shown


def test_named_static_of_a_token_template_needs_the_token(maps: Windshaft) -> None:
    named(maps, auth={"method": "token", "valid_tokens": ["s3cret"]})
    refused = maps.static_named(USER, "public", template_id="tpl", width=64, height=64, fmt="png")
    assert (refused.status, errors(refused)) == (403, ["Unauthorized template instantiation"])
    assert static_named(maps, 64, 64, auth_token="s3cret").startswith(b"\x89PNG")


def test_named_static_bad_config_param_is_400(maps: Windshaft) -> None:
    named(maps)
    response = maps.static_named(
        USER,
        "public",
        template_id="tpl",
        width=64,
        height=64,
        fmt="png",
        query_params={"config": "{"},
    )
    assert errors(response) == ["Invalid config parameter, should be a valid JSON"]


def test_clock_injection_keeps_static_layergroups_alive(query: DuckQuery, clock: FakeClock) -> None:
    maps = Windshaft(query, clock=clock, ttl=10)
    token = create(maps, mapconfig())
    clock.now += 11
    response = maps.static_center(
        USER, "public", layergroup_id=token, z=1, lat=0, lng=0, width=8, height=8, fmt="png"
    )
    assert response.status == 400


def test_a_named_map_serves_tiles_straight_from_its_template(maps: Windshaft) -> None:
    named(maps, auth={"method": "token", "valid_tokens": ["s3cret"]})

    def fetch(**params: Any) -> MapsResponse:
        return maps.named_tile(
            USER,
            "public",
            template_id="tpl",
            layer="0",
            z=1,
            x=0,
            y=0,
            fmt="png",
            query_params=params,
        )

    refused = fetch()
    assert (refused.status, errors(refused)) == (403, ["Unauthorized template instantiation"])
    png = fetch(auth_token="s3cret").body
    assert pixel(png, 128, 128) == RED
    blue = fetch(auth_token="s3cret", config=json.dumps({"color": "#0000ff"})).body
    assert pixel(blue, 128, 128) == BLUE
    grid = maps.named_tile(
        USER,
        "public",
        template_id=f"{USER}@tpl",
        layer="0",
        z=1,
        x=0,
        y=0,
        fmt="grid.json",
        query_params={"auth_token": "s3cret"},
    )
    assert grid.json()["data"] == {"1": {"cartodb_id": 1}}
    missing = maps.named_tile(
        USER, "public", template_id="nope", layer="0", z=0, x=0, y=0, fmt="png"
    )
    assert missing.status == 404


def test_vector_only_layers_have_no_png(maps: Windshaft) -> None:
    config = mapconfig()
    del config["layers"][0]["options"]["cartocss"]
    token = create(maps, config)
    assert errors(tile(maps, token, 0, 0, 0, "png")) == [
        "Unsupported format: 'cartocss' option is missing for png"
    ]
    assert tile(maps, token, 1, 0, 0, "mvt").status == 200


def test_a_retina_factor_beyond_4_is_refused(maps: Windshaft) -> None:
    token = create(maps, mapconfig())
    assert tile(maps, token, 0, 0, 0, "png", scale=50).status == 400


def test_a_key_sent_in_the_body_is_never_stored(maps: Windshaft) -> None:
    config = {**mapconfig(), "api_key": "secret-master-key"}
    created = maps.create_map(USER, "master", config)
    assert b"secret-master-key" not in created.body
    stored = maps.layergroups.load(created.json()["layergroupid"])
    assert "secret-master-key" not in json.dumps(stored.config.to_json())
    assert created.json()["layergroupid"] == create(maps, mapconfig())
    body = {**template(), "api_key": "secret-master-key"}
    maps.create_template(USER, "master", body)
    assert b"secret-master-key" not in maps.get_template(USER, "master", template_id="tpl").body


def test_a_plain_layer_colours_the_background(maps: Windshaft) -> None:
    config = mapconfig()
    config["layers"].insert(0, {"type": "plain", "options": {"color": "#00ff00"}})
    token = create(maps, config)
    png = tile(maps, token, 1, 0, 0, "png").body
    assert pixel(png, 128, 128) == RED
    assert pixel(png, 5, 5) == (0, 255, 0, 255)


def test_a_view_centre_without_a_longitude_falls_through_to_the_data(maps: Windshaft) -> None:
    named(maps, view={"zoom": 3, "center": {"lat": 10}})
    png = static_named(maps, width=200, height=200)
    assert size(png) == (200, 200)
    assert pixel(png, 2, 2) == RED  # the extent of the three points: point 1 at the corner
