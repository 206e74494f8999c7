"""The Maps API against LocalCarto over real loopback sockets: a table imported, a map made
from its SQL and CartoCSS, tiles, grids, vector tiles, attributes and static images that are
real pictures of the data, and named maps with placeholders and token auth."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from carto_async import AsyncCarto, BadRequestError, NotFoundError, PermissionDeniedError
from carto_async.models.maps import (
    LayerAttributes,
    Layergroup,
    MapConfig,
    MapnikLayer,
    Placeholder,
    Template,
    TemplateAuth,
    TemplateView,
    TorqueCell,
    TorqueLayer,
)

mapnik = pytest.importorskip("mapnik")
# The layers' SQL (ST_AsBinary, &&, ST_MakeEnvelope) needs LocalCarto's DuckDB engine.
pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's spatial engine")

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

#: The latitude of the centre of a zoom-1 tile (half way up the Web Mercator world).
LAT = math.degrees(math.atan(math.sinh(math.pi / 2)))
#: One place at the centre of three of the four zoom-1 tiles; the south-west one is empty.
PLACES = [
    ("north-west", LAT, -90.0, 6),
    ("south-east", -LAT, 90.0, 7),
    ("north-east", LAT, 90.0, 8),
]
RED = (255, 0, 0, 255)
BLUE = (0, 0, 255, 255)
MARKERS = "#layer { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }"


def pixel(image: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


def size_of(image: bytes) -> tuple[int, int]:
    decoded = mapnik.Image.from_string(image)
    return decoded.width(), decoded.height()


async def import_places(carto: AsyncCarto, folder: Path) -> None:
    path = folder / "places.csv"
    path.write_text(
        "name,latitude,longitude,n\n" + "".join(f"{n},{la},{lo},{v}\n" for n, la, lo, v in PLACES)
    )
    status = await (await carto.imports.upload(path)).wait(timeout=30)
    assert status.state == "complete"
    assert status.table_name == "places"


def places_map(cartocss: str = MARKERS) -> MapConfig:
    return MapConfig(
        layers=[
            MapnikLayer(
                sql="select * from places",
                cartocss=cartocss,
                interactivity=("cartodb_id",),
                attributes=LayerAttributes(id="cartodb_id", columns=("name", "n")),
            )
        ]
    )


async def cartodb_id(carto: AsyncCarto, name: str) -> int:
    result = await carto.sql.query(f"select cartodb_id from places where name = '{name}'")
    return int(result.rows[0]["cartodb_id"])


@pytest.fixture
async def group(local: AsyncCarto, tmp_path: Path) -> Layergroup:
    await import_places(local, tmp_path)
    return await local.maps.create(places_map())


async def test_png_tiles_are_pictures_of_the_imported_table(
    local: AsyncCarto, group: Layergroup
) -> None:
    tiles = local.maps.layergroup(group)
    north_west = await tiles.tile(1, 0, 0)
    assert north_west.startswith(b"\x89PNG")
    assert size_of(north_west) == (256, 256)
    assert pixel(north_west, 128, 128) == RED
    assert pixel(north_west, 10, 10)[3] == 0  # transparent away from the point
    south_west = await tiles.tile(1, 0, 1)
    assert pixel(south_west, 128, 128)[3] == 0  # nothing there
    retina = await tiles.tile(1, 1, 1, scale=2)
    assert size_of(retina) == (512, 512)
    assert pixel(retina, 256, 256) == RED


async def test_many_tiles_at_once_in_order(local: AsyncCarto, group: Layergroup) -> None:
    coords = [(1, x, y) for x in range(2) for y in range(2)]
    tiles = await local.maps.tiles(group, coords, concurrency=4)
    centres = [pixel(t, 128, 128) for t in tiles]
    # (1,0,0) north-west, (1,0,1) south-west (empty), (1,1,0) north-east, (1,1,1) south-east
    assert centres[0] == RED
    assert centres[1][3] == 0
    assert centres[2] == RED
    assert centres[3] == RED


async def test_grid_mvt_and_attributes(local: AsyncCarto, group: Layergroup) -> None:
    north_west = await cartodb_id(local, "north-west")
    grid = await local.maps.grid(group, 1, 0, 0)
    assert grid.data_at(128, 128) == {"cartodb_id": north_west}
    assert grid.data_at(5, 5) is None
    vector = await local.maps.tile(group, 1, 0, 0, fmt="mvt")
    assert vector
    assert await local.maps.tile(group, 1, 0, 1, fmt="mvt") == b""  # 204: an empty tile
    assert await local.maps.attributes(group, 0, north_west) == {"name": "north-west", "n": 6}
    with pytest.raises(NotFoundError):
        await local.maps.attributes(group, 0, 999)


async def test_tiles_and_images_saved_to_files(
    local: AsyncCarto, group: Layergroup, tmp_path: Path
) -> None:
    target = tmp_path / "tile.png"
    done = await local.maps.save_tile(group, 1, 1, 0, target)
    assert done.size == target.stat().st_size
    assert pixel(target.read_bytes(), 128, 128) == RED
    image = local.maps.image(group).size(400, 300).bbox(-180, -80, 180, 80)
    saved = await image.save(tmp_path / "world.png")
    assert saved.size == (tmp_path / "world.png").stat().st_size
    assert size_of((tmp_path / "world.png").read_bytes()) == (400, 300)


async def test_static_images_by_center_and_bbox_show_the_data(
    local: AsyncCarto, tmp_path: Path
) -> None:
    await import_places(local, tmp_path)
    image = local.maps.image(places_map()).size(200, 100)
    centred = await image.center(LAT, -90).zoom(3).fetch()
    assert size_of(centred) == (200, 100)
    assert pixel(centred, 100, 50) == RED
    assert pixel(centred, 5, 5)[3] == 0
    # The whole world in 512 x 512 px at zoom 1: each place at the centre of its quadrant.
    world = await image.size(512, 512).bbox(-180, -LAT * 1.2, 180, LAT * 1.2).fetch()
    box = await image.size(256, 256).center(0, 0).zoom(0).fetch()
    assert pixel(box, 64, 64) == RED  # north-west
    assert pixel(box, 192, 192) == RED  # south-east
    assert pixel(box, 64, 192)[3] == 0  # south-west: nothing
    assert world.startswith(b"\x89PNG")
    jpeg = await image.center(LAT, 90).zoom(2).format("jpg").fetch()
    assert jpeg.startswith(b"\xff\xd8")


async def test_torque_tiles_aggregate_the_table(local: AsyncCarto, tmp_path: Path) -> None:
    await import_places(local, tmp_path)
    cartocss = (
        "Map { -torque-frame-count: 2; -torque-resolution: 2; "
        '-torque-aggregation-function: "count(cartodb_id)"; -torque-time-attribute: "n"; }'
    )
    group = await local.maps.create(
        MapConfig(layers=[TorqueLayer(sql="select * from places", cartocss=cartocss)])
    )
    assert group.metadata["torque"]["0"]["column_type"] == "number"
    # n = 6 is the first time step (north-west), n = 8 the last (north-east).
    assert await local.maps.torque(group, 1, 0, 0) == (TorqueCell(64, 64, (1,), (0,)),)
    assert await local.maps.layergroup(group).torque(1, 1, 0) == (TorqueCell(64, 64, (1,), (1,)),)
    assert await local.maps.torque(group, 1, 0, 1) == ()


async def test_a_layer_error_names_its_layer(local: AsyncCarto) -> None:
    config = MapConfig(layers=[MapnikLayer(sql="select * from no_such_table", cartocss=MARKERS)])
    # "does not exist" makes it a 404, as the server derives statuses from messages.
    with pytest.raises(NotFoundError, match='relation "no_such_table" does not exist') as caught:
        await local.maps.create(config)
    assert "Postgis Plugin" in str(caught.value)


def protected_template() -> Template:
    return Template(
        name="places_by_color",
        layergroup=MapConfig(
            layers=[
                MapnikLayer(
                    sql="select * from places where n >= <%= min_n %>",
                    cartocss=(
                        "#layer { marker-fill: <%= color %>; marker-width: 20; "
                        "marker-line-width: 0; }"
                    ),
                    interactivity=("cartodb_id",),
                )
            ]
        ),
        placeholders={
            "color": Placeholder("css_color", "red"),
            "min_n": Placeholder("number", 0),
        },
        auth=TemplateAuth.token("s3cret"),
        view=TemplateView(zoom=0, center=(0.0, 0.0)),
    )


async def test_named_maps_with_placeholders_and_token_auth(
    local: AsyncCarto, tmp_path: Path
) -> None:
    await import_places(local, tmp_path)
    named = local.maps.named
    assert await named.create(protected_template()) == "places_by_color"
    assert await named.list() == ["places_by_color"]
    stored = await named.get("places_by_color")
    assert stored.placeholders["color"] == Placeholder("css_color", "red")
    with pytest.raises(PermissionDeniedError):
        await named.instantiate("places_by_color", {"color": "blue"})
    blue = await named.instantiate(
        "places_by_color", {"color": "blue", "min_n": 7}, auth_token="s3cret"
    )
    assert blue.template_hash is not None
    tiles = local.maps.layergroup(blue, auth_token="s3cret")
    assert pixel(await tiles.tile(1, 1, 1), 128, 128) == BLUE  # south-east, n = 7
    assert pixel(await tiles.tile(1, 0, 0), 128, 128)[3] == 0  # north-west, n = 6: filtered
    image = local.maps.named_image("places_by_color", {"color": "blue"}, auth_token="s3cret")
    picture = await image.size(256, 256).fetch()  # the template's view: zoom 0 at 0,0
    assert pixel(picture, 64, 64) == BLUE
    with pytest.raises(PermissionDeniedError):
        await local.maps.named_image("places_by_color").size(64, 64).fetch()
    await named.delete("places_by_color")
    assert await named.list() == []
    with pytest.raises(NotFoundError):
        await named.get("places_by_color")


async def test_an_unknown_layergroup_says_to_create_the_map_again(local: AsyncCarto) -> None:
    with pytest.raises(BadRequestError, match="create the map again") as caught:
        await local.maps.tile("0123456789abcdef0123456789abcdef:0", 0, 0, 0)
    assert "layergroup-expired" in caught.value.error_codes
