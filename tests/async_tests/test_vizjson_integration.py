"""viz.json against LocalCarto over real loopback sockets: a map made by an import with
create_vis=true, read as data, and drawn to PNGs that are real pictures of its data, framed by
the map's bounds or moved with override_bbox."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from carto_async import AsyncCarto, PermissionDeniedError
from carto_async._async.vizjson import fetch_vizjson
from carto_async.models.vizjson import OtherLayer
from carto_async.testing import LocalCarto

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

#: Two places in Spain: the map's bounds are the box around them.
PLACES = [("madrid", 40.4168, -3.7038), ("barcelona", 41.3874, 2.1686)]


async def import_map(carto: AsyncCarto, folder: Path) -> str:
    path = folder / "cities.csv"
    path.write_text(
        "name,latitude,longitude\n" + "".join(f"{n},{la},{lo}\n" for n, la, lo in PLACES)
    )
    status = await (await carto.imports.upload(path, create_vis=True)).wait(timeout=30)
    assert status.state == "complete"
    assert status.visualization_id is not None
    return status.visualization_id


async def test_the_viz_json_of_an_imported_map_reads_as_data(
    local: AsyncCarto, local_server: LocalCarto, tmp_path: Path
) -> None:
    vis_id = await import_map(local, tmp_path)
    vis = await fetch_vizjson(local, vis_id)
    assert vis.id == vis_id
    assert vis.version == "3.0.0"
    (layer,) = vis.data_layers
    assert layer.sql == "select * from cities"
    assert layer.visible
    west, south, east, north = vis.bbox or (0, 0, 0, 0)
    assert (west, south, east, north) == pytest.approx((-3.7038, 40.4168, 2.1686, 41.3874))
    assert vis.user_name == local_server.username
    legacy = await fetch_vizjson(local, vis_id, version=2)
    assert legacy.version == "0.1.0"
    assert isinstance(legacy.layers[1], OtherLayer)
    assert [d.sql for d in legacy.data_layers] == ["select * from cities"]
    # A URL on the account is the same document.
    by_url = await fetch_vizjson(local, f"{local_server.base_url}/api/v3/viz/{vis_id}/viz.json")
    assert by_url.to_json()["layers"] == vis.to_json()["layers"]


async def test_a_private_map_is_not_served_without_the_key(
    local: AsyncCarto, local_server: LocalCarto, tmp_path: Path
) -> None:
    vis_id = await import_map(local, tmp_path)
    async with AsyncCarto(local_server.username, None, local_server.base_url) as anonymous:
        with pytest.raises(PermissionDeniedError, match="not viewable"):
            await fetch_vizjson(anonymous, vis_id)


async def test_a_viz_json_of_another_account_never_gets_the_key(
    local_server: LocalCarto, tmp_path: Path
) -> None:
    with LocalCarto(username="other", import_processing_time=0.05) as other:
        async with other.async_client() as owner:
            vis_id = await import_map(owner, tmp_path)
        shared = httpx.put(
            f"{other.base_url}/api/v1/viz/{vis_id}",
            params={"api_key": other.api_key},
            json={"privacy": "public"},
            timeout=10,
        )
        assert shared.status_code == 200
        # The image's anonymous map is made without a key, as the public user, who reads
        # public tables only: the map's table is shared too.
        other.visualizations.set_privacy("cities", "public")
        other_base = other.base_url
        url = f"{other_base}/api/v3/viz/{vis_id}/viz.json"
        seen: list[httpx.Request] = []

        async def record(request: httpx.Request) -> None:
            seen.append(request)

        async with (
            httpx.AsyncClient(event_hooks={"request": [record]}, timeout=10) as http,
            AsyncCarto(
                local_server.username,
                local_server.api_key,
                local_server.base_url,
                http_client=http,
            ) as carto,
        ):
            vis = await fetch_vizjson(carto, url)
            image_url = await carto.maps.vizjson_image(url).size(100, 100).url()
    assert vis.user_name == "other"
    assert image_url.startswith(other_base + "/api/v1/map/static/bbox/")
    # The viz.json (read twice: once alone, once by the image) and the map made on its server.
    assert [r.method for r in seen] == ["GET", "GET", "POST"]
    for request in seen:
        assert str(request.url).startswith(other_base)
        assert local_server.api_key not in str(request.url)
        assert "authorization" not in request.headers
        assert local_server.api_key.encode() not in request.content


async def test_the_cartodb_js_static_map_examples_work_against_localcarto(
    local: AsyncCarto, local_server: LocalCarto, tmp_path: Path
) -> None:
    vis_id = await import_map(local, tmp_path)
    vizjson_url = f"{local_server.base_url}/api/v2/viz/{vis_id}/viz.json"
    static = re.escape(f"{local_server.base_url}/api/v1/map/static")
    # cartodb.Image(vizjson_url).size(600, 400).center([-3.4, 44.2]).zoom(4)
    quick = local.maps.vizjson_image(vizjson_url).size(600, 400).center(-3.4, 44.2).zoom(4)
    assert re.fullmatch(rf"{static}/center/[^/]+/4/-3\.4/44\.2/600/400\.png", await quick.url())
    # cartodb.Image(vizjson_url, {basemap: {type: "http", options: {urlTemplate, subdomains}}})
    basemap = {
        "type": "http",
        "options": {
            "urlTemplate": "https://{s}.maps.example/{z}/{x}/{y}/256/png8",
            "subdomains": "1234",
        },
    }
    png = await local.maps.vizjson_image(vizjson_url, basemap=basemap).size(600, 400).fetch()
    assert png.startswith(b"\x89PNG")
    # cartodb.Image(vizjson_url, {override_bbox: true}).size(600, 400).center(...).zoom(10)
    wiki = local.maps.vizjson_image(vizjson_url, override_bbox=True)
    wiki_url = await wiki.size(600, 400).center(-3.4, 44.2).zoom(10).url()
    assert re.fullmatch(rf"{static}/center/[^/]+/10/-3\.4/44\.2/600/400\.png", wiki_url)
    # cartodb.Image(vizjson_url).size(400, 300).getUrl(...): the map's bounds
    bounds = await local.maps.vizjson_image(vizjson_url).size(400, 300).url()
    assert re.fullmatch(rf"{static}/bbox/[^/]+/[-0-9.,]+/400/300\.png", bounds)


def red_pixels(png: bytes) -> list[tuple[int, int]]:
    """Where CARTO's default marker colour (#EE4D5A) is drawn."""
    mapnik = pytest.importorskip("mapnik")  # the picture is decoded with the renderer's wheel
    image = mapnik.Image.from_string(png)
    found = []
    for y in range(image.height()):
        for x in range(image.width()):
            color = image.get_pixel_color(x, y)
            if color.a > 200 and color.r > 200 and color.g < 120 and color.b < 130:
                found.append((x, y))
    return found


async def test_an_imported_map_renders_framed_by_its_bounds_and_moves_with_override_bbox(
    local: AsyncCarto, tmp_path: Path
) -> None:
    pytest.importorskip("mapnik")
    vis_id = await import_map(local, tmp_path)
    # The map's own layers and style, over a white plain basemap.
    image = local.maps.vizjson_image(vis_id, basemap="#ffffff").size(300, 200)
    framed = await image.fetch()
    assert framed.startswith(b"\x89PNG")
    reds = red_pixels(framed)
    # The two places sit at the corners of the map's bounds, so markers touch both sides.
    assert reds, "the data is drawn"
    xs = [x for x, _ in reds]
    assert min(xs) < 60
    assert max(xs) > 240
    saved = tmp_path / "framed.png"
    await image.save(saved)
    assert saved.read_bytes().startswith(b"\x89PNG")

    # Moved far away (the middle of the Atlantic, zoom 5): nothing of the data is in view.
    away = await image.center(30.0, -40.0).zoom(5).fetch()
    assert red_pixels(away) == []
    # Centred on Madrid at zoom 6 with override_bbox: a marker in the middle of the image.
    moved = local.maps.vizjson_image(vis_id, override_bbox=True).size(300, 200)
    madrid = await moved.center(40.4168, -3.7038).zoom(6).fetch()
    middle = [(x, y) for x, y in red_pixels(madrid) if abs(x - 150) < 20 and abs(y - 100) < 20]
    assert middle, "Madrid is drawn at the centre"
    assert madrid != framed
