"""The official carto-python SDK, unmodified, against the Windshaft room served over a real
loopback socket by a minimal HTTP layer (the shape of the wiring LocalCarto will get):
anonymous and named map flows, and their tile URLs fetched as real pictures."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from carto_async.testing._windshaft import MapsCaller, Windshaft, dispatch, split_path
from tests.testing.test_windshaft import DuckQuery, FakeClock, mapconfig, spatial_connection

carto_auth = pytest.importorskip("carto.auth")
carto_maps = pytest.importorskip("carto.maps")
mapnik = pytest.importorskip("mapnik")

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")

KEY = "0123456789abcdef0123456789abcdef01234567"
RED = (255, 0, 0, 255)
BLUE = (0, 0, 255, 255)


def serve(maps: Windshaft) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self) -> None:
            url = urlsplit(self.path)
            split = split_path(url.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = dict(parse_qsl(url.query))
            key = query.pop("api_key", None)
            if key is None and body.startswith(b"{"):
                key = json.loads(body).get("api_key")  # carto-python sends it in JSON bodies
            header = self.headers.get("Authorization")
            if header:
                key = base64.b64decode(header.split()[1]).decode().partition(":")[2]
            kind = "public" if key is None else ("master" if key == KEY else "invalid")
            response = None
            if split is not None:
                user, path = split
                response = dispatch(
                    maps,
                    self.command,
                    path,
                    caller=MapsCaller(user or "demo", kind),  # type: ignore[arg-type]
                    query=query,
                    body=body,
                    content_type=self.headers.get("Content-Type"),
                )
            if response is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = answer  # noqa: N815 - http.server's names

    return HTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def base_url() -> Iterator[str]:
    con = spatial_connection()
    server = serve(Windshaft(DuckQuery(con), clock=FakeClock()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/user/demo/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        con.close()


@pytest.fixture
def auth(base_url: str) -> Iterator[Any]:
    client = carto_auth.APIKeyAuthClient(base_url, KEY)
    try:
        yield client
    finally:
        client.session.close()


def pixel(image: bytes, x: int, y: int) -> tuple[int, int, int, int]:
    color = mapnik.Image.from_string(image).get_pixel_color(x, y)
    return (color.r, color.g, color.b, color.a)


def test_carto_python_anonymous_map_and_its_tiles(auth: Any) -> None:
    anonymous = carto_maps.AnonymousMap(auth)
    anonymous.instantiate(mapconfig())
    assert anonymous.layergroupid.endswith(":0")
    png = httpx.get(anonymous.get_tile_url(0, 0, 1))
    assert png.status_code == 200
    assert pixel(png.content, 128, 128) == RED
    empty = httpx.get(anonymous.get_tile_url(0, 0, 3, extension="mvt"))
    assert empty.status_code == 204


def test_carto_python_named_map_create_instantiate_tiles_delete(auth: Any, base_url: str) -> None:
    manager = carto_maps.NamedMapManager(auth)
    layergroup = mapconfig(
        "select * from pts",
        cartocss="#layer { marker-fill: <%= color %>; marker-width: 20; marker-line-width: 0; }",
    )
    named = manager.create(
        template={
            "version": "0.0.1",
            "name": "cp_stores",
            "auth": {"method": "token", "valid_tokens": ["s3cret"]},
            "placeholders": {"color": {"type": "css_color", "default": "blue"}},
            "layergroup": layergroup,
            # carto-python sends every field it knows, so a template needs a view.
            "view": {"zoom": 1, "center": {"lng": 0, "lat": 0}},
        }
    )
    assert named.template_id == "cp_stores"
    fetched = manager.get("cp_stores")
    assert fetched.placeholders == {"color": {"type": "css_color", "default": "blue"}}
    # carto-python sends its key inside the JSON body; LocalCarto never stores it.
    stored = httpx.get(base_url + "api/v1/map/named/cp_stores", params={"api_key": KEY})
    assert stored.status_code == 200
    assert KEY not in stored.text
    named.instantiate({}, "s3cret")
    assert named.layergroupid.startswith("demo@")
    # carto-python's named tile URL: /map/named/<name>/<layer>/<z>/<x>/<y>.png?auth_token=...
    png = httpx.get(named.get_tile_url(0, 0, 1, layer_id=0))
    assert png.status_code == 200, png.text
    assert pixel(png.content, 128, 128) == BLUE
    fetched.delete()
    missing = httpx.get(named.get_tile_url(0, 0, 1, layer_id=0))
    assert missing.status_code == 404
    assert json.loads(missing.text)["errors"] == ["Template 'cp_stores' of user 'demo' not found"]
