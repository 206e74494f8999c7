"""``carto-async map static`` and ``carto-async map named ...`` against LocalCarto."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, invoke

mapnik = pytest.importorskip("mapnik")


def needs_engine() -> None:
    # The layers' SQL (ST_AsBinary, &&, ST_MakeEnvelope) needs LocalCarto's DuckDB engine.
    pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's spatial engine")


LAT = math.degrees(math.atan(math.sinh(math.pi / 2)))
RED = (255, 0, 0, 255)
MARKERS = "#layer { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }"


def pixel(image: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


@pytest.fixture
def places(server: LocalCarto, tmp_path: Path) -> str:
    needs_engine()
    csv = tmp_path / "places.csv"
    csv.write_text(f"name,latitude,longitude\nnorth-west,{LAT},-90\nsouth-east,{-LAT},90\n")
    with server.client() as carto:
        assert carto.imports.upload(csv).wait(timeout=30).state == "complete"
    return "places"


def template_file(folder: Path) -> Path:
    path = folder / "template.json"
    path.write_text(
        json.dumps(
            {
                "version": "0.0.1",
                "name": "places_map",
                "placeholders": {"color": {"type": "css_color", "default": "red"}},
                "layergroup": {
                    "version": "1.8.0",
                    "layers": [
                        {
                            "type": "mapnik",
                            "options": {
                                "sql": "select * from places",
                                "cartocss": MARKERS.replace("#f00", "<%= color %>"),
                            },
                        }
                    ],
                },
                "view": {"zoom": 0, "center": {"lng": 0, "lat": 0}},
            }
        )
    )
    return path


def test_static_map_of_a_query(env: dict[str, str | None], places: str, tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    result = invoke(
        ["map", "static", "--sql", f"select * from {places}", "--cartocss", MARKERS,
         "--bbox", "-180,-85,180,85", "--size", "256x256", "-o", str(out), "--json"],
        env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    written = json.loads(result.stdout)
    assert written == {"path": str(out), "bytes": out.stat().st_size, "format": "png"}
    image = out.read_bytes()
    assert pixel(image, 64, 64) == RED  # north-west quadrant
    assert pixel(image, 192, 192) == RED  # south-east quadrant
    assert pixel(image, 64, 192)[3] == 0
    assert KEY not in result.stdout + result.stderr


def test_static_map_by_centre_as_jpeg(
    env: dict[str, str | None], places: str, tmp_path: Path
) -> None:
    out = tmp_path / "map.jpg"
    result = invoke(
        ["map", "static", "--sql", "select * from places", "--center", f"{LAT},-90",
         "--zoom", "3", "--size", "100x80", "-o", str(out)],
        env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"\xff\xd8")
    assert "Wrote" in result.stdout


def test_bad_input_is_refused_before_any_request(
    env: dict[str, str | None], server: LocalCarto, tmp_path: Path
) -> None:
    before = server.counters.snapshot().requests
    cases = [
        (["map", "static", "--sql", "select 1", "-o", "x.png"], "needs --bbox"),
        (["map", "static", "-o", "x.png", "--bbox", "0,0,1,1"], "either --sql"),
        (["map", "static", "--named", "n", "--size", "9000x10", "-o", "x.png"], "8192"),
        (["map", "static", "--named", "n", "--bbox", "1,2", "-o", "x.png"], "--bbox takes"),
        (["map", "static", "--named", "n", "--size", "big", "-o", "x.png"], "--size takes"),
        (["map", "named", "get", "no way"], "Invalid characters"),
    ]
    for args, message in cases:
        result = invoke(args, env)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr
    (tmp_path / "bad.json").write_text('{"version": "0.0.1", "name": "x"}')
    result = invoke(["map", "named", "create", str(tmp_path / "bad.json")], env)
    assert result.exit_code == 2
    assert "layergroup" in result.stderr.lower()
    assert server.counters.snapshot().requests == before


def test_named_maps_create_list_get_static_delete(
    env: dict[str, str | None], places: str, tmp_path: Path
) -> None:
    created = invoke(["map", "named", "create", str(template_file(tmp_path)), "--json"], env)
    assert created.exit_code == 0, created.stderr
    assert json.loads(created.stdout) == {"template_id": "places_map"}
    listed = invoke(["map", "named", "list", "--json"], env)
    assert json.loads(listed.stdout) == ["places_map"]
    got = invoke(["map", "named", "get", "places_map", "--json"], env)
    assert json.loads(got.stdout)["placeholders"]["color"]["default"] == "red"
    out = tmp_path / "named.png"
    drawn = invoke(["map", "static", "--named", "places_map", "--size", "256x256",
                    "-o", str(out)], env)  # fmt: skip
    assert drawn.exit_code == 0, drawn.stderr
    assert pixel(out.read_bytes(), 64, 64) == RED  # the template's view: zoom 0 at 0,0
    again = invoke(["map", "named", "create", str(template_file(tmp_path))], env)
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    deleted = invoke(["map", "named", "delete", "places_map"], env)
    assert deleted.exit_code == 0
    assert invoke(["map", "named", "list"], env).stdout == ""
    missing = invoke(["map", "named", "delete", "places_map"], env)
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr


@pytest.mark.slow
def test_the_demo_ends_with_a_static_map_of_what_it_imported(tmp_path: Path) -> None:
    needs_engine()
    result = invoke(["demo", "--dir", str(tmp_path / "samples")])
    assert result.exit_code == 0, result.output
    path = tmp_path / "samples" / "demo-map.png"
    assert f"on a static map with the Maps API: {path}" in result.stdout.replace("\n", "")
    image = mapnik.Image.from_string(path.read_bytes())
    assert (image.width(), image.height()) == (1024, 768)
    colors = [image.get_pixel_color(x, y) for x in range(0, 1024, 16) for y in range(0, 768, 16)]
    drawn = {(c.r, c.g, c.b, c.a) for c in colors}
    assert any(p[3] == 255 for p in drawn)  # features were drawn
    assert len(drawn) > 3  # in several colours
