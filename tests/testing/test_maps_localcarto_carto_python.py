"""The official carto-python SDK, unmodified, against LocalCarto's Maps API: the anonymous map
flow (``AnonymousMap.instantiate``, tile URLs) and the named map flow (``NamedMapManager``,
``NamedMap.instantiate`` with a token), over a table imported into LocalCarto."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from carto_async.testing import LocalCarto

carto_auth = pytest.importorskip("carto.auth")
carto_api_keys = pytest.importorskip("carto.api_keys")
carto_exceptions = pytest.importorskip("carto.exceptions")
carto_maps = pytest.importorskip("carto.maps")
pyrestcli_exceptions = pytest.importorskip("pyrestcli.exceptions")
mapnik = pytest.importorskip("mapnik")
# The layers' SQL (ST_AsBinary, &&, ST_MakeEnvelope) needs LocalCarto's DuckDB engine.
pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's spatial engine")

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")

LAT = math.degrees(math.atan(math.sinh(math.pi / 2)))
RED = (255, 0, 0, 255)
BLUE = (0, 0, 255, 255)


def pixel(image: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


def layergroup(cartocss: str) -> dict[str, Any]:
    return {
        "version": "1.8.0",
        "layers": [
            {"type": "mapnik", "options": {"sql": "select * from cp_places", "cartocss": cartocss}}
        ],
    }


@pytest.fixture
def auth(server: LocalCarto, tmp_path: Path) -> Iterator[Any]:
    csv = tmp_path / "cp_places.csv"
    csv.write_text(f"name,latitude,longitude\nnorth-west,{LAT},-90\nsouth-east,{-LAT},90\n")
    with server.client() as carto:
        assert carto.imports.upload(csv).wait(timeout=30).state == "complete"
    client = carto_auth.APIKeyAuthClient(server.base_url + "/", server.api_key)
    try:
        yield client
    finally:
        client.session.close()


def test_carto_python_anonymous_map_and_its_tiles(auth: Any, server: LocalCarto) -> None:
    anonymous = carto_maps.AnonymousMap(auth)
    anonymous.instantiate(
        layergroup("#layer { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }")
    )
    assert anonymous.layergroupid
    # A tile is drawn as whoever asks for it: carto-python's tile URLs carry no key, so the
    # public user's, and the imported table is private until it is made public.
    refused = httpx.get(anonymous.get_tile_url(0, 0, 1))
    assert refused.status_code == 403
    assert refused.json()["errors"] == ["Postgis Plugin: permission denied for table cp_places"]
    server.visualizations.set_privacy("cp_places", "public")
    png = httpx.get(anonymous.get_tile_url(0, 0, 1))
    assert png.status_code == 200, png.text
    assert pixel(png.content, 128, 128) == RED
    assert pixel(httpx.get(anonymous.get_tile_url(0, 1, 1)).content, 128, 128)[3] == 0
    empty = httpx.get(anonymous.get_tile_url(0, 1, 1, extension="mvt"))
    assert empty.status_code == 204


def test_carto_python_named_map_flow(auth: Any, server: LocalCarto) -> None:
    manager = carto_maps.NamedMapManager(auth)
    named = manager.create(
        template={
            "version": "0.0.1",
            "name": "cp_places",
            "auth": {"method": "token", "valid_tokens": ["s3cret"]},
            "placeholders": {"color": {"type": "css_color", "default": "blue"}},
            "layergroup": layergroup(
                "#layer { marker-fill: <%= color %>; marker-width: 20; marker-line-width: 0; }"
            ),
            "view": {"zoom": 1, "center": {"lng": 0, "lat": 0}},
        }
    )
    assert named.template_id == "cp_places"
    fetched = manager.get("cp_places")
    assert fetched.placeholders == {"color": {"type": "css_color", "default": "blue"}}
    # carto-python sends its key inside the JSON body; LocalCarto never stores it.
    stored = httpx.get(
        server.base_url + "/api/v1/map/named/cp_places", params={"api_key": server.api_key}
    )
    assert stored.status_code == 200
    assert server.api_key not in stored.text
    named.instantiate({}, "s3cret")
    assert named.layergroupid.startswith("demo@")
    png = httpx.get(named.get_tile_url(0, 0, 1, layer_id=0))
    assert png.status_code == 200, png.text
    assert pixel(png.content, 128, 128) == BLUE
    fetched.delete()
    missing = httpx.get(named.get_tile_url(0, 0, 1, layer_id=0))
    assert missing.status_code == 404
    assert json.loads(missing.text)["errors"] == ["Template 'cp_places' of user 'demo' not found"]


def test_carto_python_maps_with_a_regular_key_read_only_its_grants(
    auth: Any, server: LocalCarto
) -> None:
    with server.client() as carto:
        carto.sql.query("CREATE TABLE cp_secret AS SELECT * FROM cp_places")
    grant = {"schema": "public", "name": "cp_places", "permissions": ["select"]}
    key = carto_api_keys.APIKeyManager(auth).create(name="cp-maps", apis=["maps"], tables=[grant])
    regular = carto_auth.APIKeyAuthClient(server.base_url + "/", key.token)
    try:
        anonymous = carto_maps.AnonymousMap(regular)
        anonymous.instantiate(
            layergroup("#layer { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }")
        )
        # its tiles are drawn as the key that asks: carto-python's URLs need it added
        url = anonymous.get_tile_url(0, 0, 1)
        assert httpx.get(url).status_code == 403
        png = httpx.get(url, params={"api_key": key.token})
        assert png.status_code == 200, png.text
        assert pixel(png.content, 128, 128) == RED
        secret = layergroup("#layer { marker-fill: #f00; }")
        secret["layers"][0]["options"]["sql"] = "select * from cp_secret"
        # a 403 is carto-python's "Access denied" (the body is tested on the wire elsewhere)
        with pytest.raises(carto_exceptions.CartoException, match="Access denied"):
            carto_maps.AnonymousMap(regular).instantiate(secret)
        manager = carto_maps.NamedMapManager(regular)
        with pytest.raises(pyrestcli_exceptions.ForbiddenErrorException, match="Access denied"):
            manager.create(
                template={
                    "version": "0.0.1",
                    "name": "cp",
                    "auth": {"method": "open"},
                    "placeholders": {},
                    "layergroup": secret,
                    "view": {},
                }
            )
    finally:
        regular.session.close()
