"""LocalCarto's renderer draws real pictures: pixels are checked where the features are."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from carto_async.models.maps import UTFGrid
from carto_async.testing.render import (
    CartoCSSError,
    RendererUnavailable,
    RenderLayer,
    cartocss_problems,
    render_grid,
    render_image,
    tile_bbox,
)

mapnik = pytest.importorskip("mapnik")

WORLD = tile_bbox(0, 0, 0)
E = WORLD[2]
RED = (255, 0, 0, 255)
GREEN = (0, 255, 0, 255)
BLUE = (0, 0, 255, 255)
CLEAR = (0, 0, 0, 0)


def point(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


def polygon(minx: float, miny: float, maxx: float, maxy: float) -> bytes:
    ring = [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy), (minx, miny)]
    return struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)


def line(*points: tuple[float, float]) -> bytes:
    return struct.pack("<BII", 1, 2, len(points)) + b"".join(struct.pack("<dd", *p) for p in points)


def pixel(image_bytes: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image_bytes).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def grid_key(grid: dict[str, Any], row: int, col: int) -> str:
    """The key under one grid cell (UTFGrid skips the codes of '"' and '\\')."""
    code = ord(grid["grid"][row][col])
    if code >= 93:
        code -= 1
    if code >= 35:
        code -= 1
    return str(grid["keys"][code - 32])


def draw(cartocss: str, rows: list[tuple[bytes, dict[str, Any]]], **kwargs: Any) -> bytes:
    kwargs.setdefault("zoom", 0)
    return render_image(RenderLayer(cartocss, rows), WORLD, 256, 256, **kwargs)


MARKER = "#l { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }"


def test_a_red_point_at_the_centre_is_red_there_and_clear_elsewhere() -> None:
    png = draw(MARKER, [(point(0, 0), {"cartodb_id": 1})])
    assert png.startswith(b"\x89PNG")
    assert pixel(png, 128, 128) == RED
    assert pixel(png, 128 + 5, 128 + 5) == RED  # a 20 px marker covers its neighbourhood
    for x, y in ((10, 10), (128 + 20, 128), (250, 250)):
        assert pixel(png, x, y) == CLEAR


def test_a_point_is_drawn_where_its_coordinates_are() -> None:
    # The north-east quadrant's centre is pixel (192, 64) of the world tile.
    png = draw(MARKER, [(point(E / 2, E / 2), {})])
    assert pixel(png, 192, 64) == RED
    assert pixel(png, 128, 128) == CLEAR
    assert pixel(png, 64, 192) == CLEAR


def test_polygons_are_filled_and_lines_drawn() -> None:
    css = "#l { polygon-fill: #00ff00; polygon-opacity: 1; line-color: #00f; line-width: 4; }"
    rows = [
        (polygon(0, 0, E, E), {"kind": "area"}),  # north-east quadrant
        (line((-E, -E / 2), (0, -E / 2)), {"kind": "road"}),  # across the south-west
    ]
    png = draw(css, rows)
    assert pixel(png, 192, 64) == GREEN  # inside the polygon
    assert pixel(png, 64, 64) == CLEAR  # outside it
    assert pixel(png, 64, 192) == BLUE  # on the line, y = -E/2 -> pixel row 192
    assert pixel(png, 64, 180) == CLEAR  # beside it


def test_value_filters_pick_the_style() -> None:
    css = """
    #l { marker-fill: #f00; marker-width: 16; marker-line-width: 0;
      [kind = 'park'] { marker-fill: #0f0; }
      [n > 3] { marker-fill: #00f; }
      [kind = 'hidden'] { marker-width: 0; marker-opacity: 0; }
    }
    """
    rows = [
        (point(-E / 2, E / 2), {"kind": "shop", "n": 1}),  # pixel (64, 64): red
        (point(E / 2, E / 2), {"kind": "park", "n": 1}),  # (192, 64): green
        (point(-E / 2, -E / 2), {"kind": "shop", "n": 10}),  # (64, 192): blue
        (point(E / 2, -E / 2), {"kind": "hidden", "n": 1}),  # (192, 192): nothing
    ]
    png = draw(css, rows)
    assert pixel(png, 64, 64) == RED
    assert pixel(png, 192, 64) == GREEN
    assert pixel(png, 64, 192) == BLUE
    assert pixel(png, 192, 192) == CLEAR


def test_features_no_rule_matches_are_not_drawn() -> None:
    css = "#l[kind = 'shop'] { marker-fill: #f00; marker-width: 16; }"
    png = draw(css, [(point(0, 0), {"kind": "park"})])
    assert pixel(png, 128, 128) == CLEAR


@pytest.mark.parametrize(("zoom", "expected"), [(2, RED), (4, BLUE), (6, CLEAR)])
def test_zoom_filters(zoom: int, expected: tuple[int, int, int, int]) -> None:
    css = """
    #l { marker-fill: #f00; marker-width: 16; marker-line-width: 0;
      [zoom >= 4] { marker-fill: #00f; }
      [zoom > 5] { marker-width: 0; marker-opacity: 0; }
    }
    """
    png = draw(css, [(point(0, 0), {})], zoom=zoom)
    assert pixel(png, 128, 128) == expected


def test_the_tile_zoom_drives_zoom_filters_by_default() -> None:
    css = "#l { marker-fill: #f00; marker-width: 16; [zoom >= 3] { marker-fill: #00f; } }"
    # Tile 3/4/4 has its north-west corner at (0, 0) metres: the point is drawn at (0, 0) px.
    near_corner = point(1000, -1000)
    layer = RenderLayer(css, [(near_corner, {})])
    png = render_image(layer, tile_bbox(3, 4, 4), 256, 256)
    assert near(pixel(png, 2, 2), BLUE)
    png = render_image(layer, tile_bbox(3, 4, 4), 256, 256, zoom=2)
    assert near(pixel(png, 2, 2), RED)


def test_opacity_blends() -> None:
    css = "#l { polygon-fill: #f00; polygon-opacity: 0.5; }"
    png = draw(css, [(polygon(-E, -E, E, E), {})], fmt="png32")
    r, g, b, a = pixel(png, 128, 128)
    assert (g, b) == (0, 0)
    assert 110 <= a <= 140
    assert r > 0


def test_later_layers_draw_on_top_and_attachments_in_order() -> None:
    under = RenderLayer("#a { polygon-fill: #0f0; }", [(polygon(-E, -E, E, E), {})])
    over = RenderLayer(
        "#b { marker-fill: #f00; marker-width: 20; ::ring { line-color: #00f; line-width: 2; } }",
        [(point(0, 0), {})],
    )
    png = render_image([under, over], WORLD, 256, 256, zoom=0)
    assert pixel(png, 128, 128) == RED
    assert pixel(png, 10, 10) == GREEN


def test_map_background_and_jpeg() -> None:
    css = "Map { background-color: #00f; } #l { marker-fill: #f00; marker-width: 30; }"
    png = draw(css, [(point(0, 0), {})])
    assert pixel(png, 5, 5) == BLUE
    jpg = draw(MARKER, [(point(0, 0), {})], fmt="jpg")
    assert jpg.startswith(b"\xff\xd8")
    assert near(pixel(jpg, 128, 128), RED, 40)
    assert near(pixel(jpg, 5, 5), (255, 255, 255, 255), 10)  # JPEG is drawn on white


def test_retina_scale_doubles_the_image() -> None:
    png = draw(MARKER, [(point(0, 0), {})], scale=2)
    image = mapnik.Image.from_string(png)
    assert (image.width(), image.height()) == (512, 512)
    assert pixel(png, 256, 256) == RED
    assert pixel(png, 256 + 15, 256) == RED  # the marker grew with the scale
    assert pixel(png, 256 + 25, 256) == CLEAR


def test_ewkb_and_3d_geometries_are_drawn() -> None:
    ewkb = struct.pack("<BIIddd", 1, 0xA0000001, 3857, 0.0, 0.0, 7.0)  # SRID + Z flags
    png = draw(MARKER, [(ewkb, {}), (None, {})])  # a row without geometry is skipped
    assert pixel(png, 128, 128) == RED


def test_the_utfgrid_keys_features_by_cartodb_id_with_interactivity_columns() -> None:
    layer = RenderLayer(
        "#l { marker-fill: #f00; marker-width: 20; marker-allow-overlap: true; }",
        [
            (point(0, 0), {"cartodb_id": 2, "name": "centre", "secret": "x"}),
            (point(E / 2, E / 2), {"cartodb_id": 5, "name": "ne", "secret": "y"}),
        ],
        interactivity=["cartodb_id", "name"],
    )
    grid = render_grid(layer, WORLD, zoom=0)
    assert len(grid["grid"]) == 64
    assert all(len(row) == 64 for row in grid["grid"])
    assert grid["keys"][0] == ""
    assert sorted(grid["keys"][1:]) == ["2", "5"]
    assert grid["data"] == {
        "2": {"cartodb_id": 2, "name": "centre"},
        "5": {"cartodb_id": 5, "name": "ne"},
    }
    assert grid_key(grid, 32, 32) == "2"
    assert grid_key(grid, 16, 48) == "5"  # the north-east point, at pixel (192, 64)
    assert grid_key(grid, 0, 0) == ""
    # The SDK's reader agrees with the renderer's writer.
    parsed = UTFGrid.from_json(grid)
    assert parsed.data_at(128, 128) == {"cartodb_id": 2, "name": "centre"}
    assert parsed.key_at(192, 64) == "5"
    assert parsed.key_at(5, 5) is None


def test_the_grid_fixture_shape_is_reproduced() -> None:
    # The reference's grid: one feature keyed "2" with {"cartodb_id": 2}, 64 rows of 64.
    layer = RenderLayer(
        "#l { marker-fill: blue; marker-allow-overlap: true; }",
        [(point(-E / 8, -E / 16), {"cartodb_id": 2})],
        interactivity=["cartodb_id"],
    )
    grid = render_grid(layer, WORLD, zoom=0)
    assert grid["keys"] == ["", "2"]
    assert grid["data"] == {"2": {"cartodb_id": 2}}
    assert sum(row.count("!") for row in grid["grid"]) > 0


@pytest.mark.parametrize(
    ("css", "problem"),
    [
        ("#l { marker-fill: nocolour; }", "marker-fill: invalid colour"),
        ("#l { marker-width: big; }", "marker-width: expected a number"),
        ("#l { marker-allow-overlap: maybe; }", "expected true or false"),
        ("#l { line-dasharray: a,b; }", "expected numbers like 4,2"),
        ("#l { marker-fill: @nope; }", "undefined variable @nope"),
        ("#l { marker-fill: red; ", "missing '}'"),
        ("#l [x ~ 1] { marker-fill: red; }", "cannot read filter"),
    ],
)
def test_bad_cartocss_is_reported(css: str, problem: str) -> None:
    problems = cartocss_problems(css)
    assert any(problem in p for p in problems), problems
    with pytest.raises(CartoCSSError, match="invalid CartoCSS"):
        draw(css, [(point(0, 0), {})])


def test_unsupported_properties_are_ignored_not_errors() -> None:
    css = "#l { marker-fill: #f00; marker-width: 20; text-name: [name]; marker-file: url(x.svg); }"
    assert cartocss_problems(css) == []
    assert pixel(draw(css, [(point(0, 0), {"name": "a"})]), 128, 128) == RED


def test_style_values_cannot_inject_mapnik_xml() -> None:
    css = """#l { marker-fill: "red\\" file=\\"/etc/passwd"; }"""
    with pytest.raises(CartoCSSError):
        draw(css, [(point(0, 0), {})])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unsupported image format"):
        draw(MARKER, [], fmt="gif")
    with pytest.raises(ValueError, match="empty bounding box"):
        render_image(RenderLayer(MARKER, []), (0, 0, 0, 0), zoom=0)
    with pytest.raises(CartoCSSError, match="truncated WKB"):
        draw(MARKER, [(b"\x01\x01\x00", {})])


def test_an_empty_layer_renders_a_clear_tile() -> None:
    png = draw(MARKER, [])
    assert pixel(png, 128, 128) == CLEAR


def test_without_mapnik_the_error_names_the_render_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mapnik", None)
    with pytest.raises(RendererUnavailable, match=r"carto-async\[render\]"):
        draw(MARKER, [(point(0, 0), {})])


def test_geometries_as_the_engines_give_them() -> None:
    """Hex EWKB text (as the SQL API prints it) and DuckDB's ST_AsWKB blobs both draw."""
    ewkb_hex = struct.pack("<BIIdd", 1, 0x20000001, 3857, 0.0, 0.0).hex().upper()
    assert pixel(draw(MARKER, [(ewkb_hex, {})]), 128, 128) == RED
    duckdb = pytest.importorskip("duckdb")
    spatial = pytest.importorskip("duckdb_extension_spatial")
    found = sorted(Path(spatial.__file__).parent.glob("extensions/**/spatial.duckdb_extension"))
    if not found:
        pytest.skip("no spatial extension file")
    connection = duckdb.connect(config={"allow_unsigned_extensions": True})
    try:
        connection.execute(f"LOAD '{found[0]}'")
        row = connection.execute(
            "select ST_AsWKB(ST_GeomFromText('POINT Z (0 0 5)')), "
            "ST_AsWKB(ST_GeomFromText('POLYGON ((0 0, 1e7 0, 1e7 1e7, 0 1e7, 0 0))'))"
        ).fetchone()
    finally:
        connection.close()
    assert row is not None
    css = MARKER + " #l { polygon-fill: #00ff00; }"
    png = draw(css, [(row[1], {}), (row[0], {})])
    assert pixel(png, 128, 128) == RED
    assert pixel(png, 150, 100) == GREEN
