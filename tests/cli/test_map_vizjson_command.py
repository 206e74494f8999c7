"""``carto-async map static --vizjson`` against LocalCarto: a map made by an import with
create_vis=true, drawn from its viz.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, invoke


def _map(server: LocalCarto, folder: Path) -> str:
    csv = folder / "cities.csv"
    csv.write_text("name,latitude,longitude\nmadrid,40.4168,-3.7038\nbarcelona,41.3874,2.1686\n")
    with server.client() as carto:
        status = carto.imports.upload(csv, create_vis=True).wait(timeout=30)
    assert status.visualization_id is not None
    return status.visualization_id


def _marked(png: bytes) -> list[tuple[int, int]]:
    mapnik = pytest.importorskip("mapnik")
    image = mapnik.Image.from_string(png)
    out = []
    for y in range(image.height()):
        for x in range(image.width()):
            c = image.get_pixel_color(x, y)
            if c.a > 200 and c.r > 200 and c.g < 120 and c.b < 130:
                out.append((x, y))
    return out


def test_static_map_of_a_viz_json(
    env: dict[str, str | None], server: LocalCarto, tmp_path: Path
) -> None:
    pytest.importorskip("mapnik")
    vis_id = _map(server, tmp_path)
    out = tmp_path / "map.png"
    result = invoke(
        ["map", "static", "--vizjson", vis_id, "--basemap", "#ffffff", "--size", "300x200",
         "-o", str(out), "--json"],
        env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["bytes"] == out.stat().st_size
    marked = _marked(out.read_bytes())
    assert marked
    assert min(x for x, _ in marked) < 60  # framed by the map's bounds: both cities at the sides
    assert max(x for x, _ in marked) > 240
    assert KEY not in result.stdout + result.stderr

    moved = tmp_path / "moved.png"
    url = f"{server.base_url}/api/v2/viz/{vis_id}/viz.json"
    result = invoke(
        ["map", "static", "--vizjson", url, "--center", "30,-40", "--zoom", "5",
         "--size", "300x200", "-o", str(moved)],
        env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert _marked(moved.read_bytes()) == []  # the middle of the Atlantic


def test_vizjson_input_is_checked_before_any_request(
    env: dict[str, str | None], server: LocalCarto
) -> None:
    before = server.counters.snapshot().requests
    cases = [
        (["map", "static", "--vizjson", "v", "--named", "n", "-o", "x.png"], "either --sql"),
        (["map", "static", "--named", "n", "--basemap", "#000", "-o", "x.png"], "--basemap"),
        (["map", "static", "--vizjson", "../x", "-o", "x.png"], "invalid visualization id"),
        (
            ["map", "static", "--vizjson", "abc", "--basemap", "http://t/a.png", "-o", "x.png"],
            "{z}",
        ),
    ]
    for args, message in cases:
        result = invoke(args, env)
        assert result.exit_code != 0
        assert message in result.stderr, result.stderr
    assert server.counters.snapshot().requests == before
