"""LocalCarto's Maps routes: who the caller is (user, key kind, where the key was read), CORS,
the route table's counters, and the room's answers passed through untouched."""

from __future__ import annotations

import httpx
import pytest

from carto_async.testing import LocalCarto
from carto_async.testing._http.app import ROUTES

TEMPLATE = {
    "version": "0.0.1",
    "name": "tpl",
    "layergroup": {
        "version": "1.8.0",
        "layers": [
            {"type": "mapnik", "options": {"sql": "select 1", "cartocss": "#l{}"}},
        ],
    },
}


@pytest.fixture
def http(server: LocalCarto) -> httpx.Client:
    with httpx.Client(base_url=server.base_url) as client:
        yield client  # type: ignore[misc]


def test_templates_need_the_master_key_from_any_of_its_places(
    server: LocalCarto, http: httpx.Client
) -> None:
    key = server.api_key
    created = http.post("/api/v1/map/named", json=TEMPLATE, auth=("demo", key))
    assert created.status_code == 200, created.text
    assert created.json() == {"template_id": "tpl"}
    assert created.headers["access-control-allow-origin"] == "*"
    assert http.get("/api/v1/map/named", params={"api_key": key}).json() == {
        "template_ids": ["tpl"]
    }
    assert http.get("/api/v1/map/named", params={"map_key": key}).status_code == 200
    # carto-python's way: the key inside the JSON body.
    again = http.put("/api/v1/map/named/tpl", json={**TEMPLATE, "api_key": key})
    assert again.status_code == 200, again.text
    stored = http.get("/api/v1/map/named/tpl", params={"api_key": key})
    assert key not in stored.text
    # No key is the public user; a wrong key is refused; neither sees the templates.
    public = http.get("/api/v1/map/named")
    assert public.status_code == 403
    assert public.json()["errors"] == ["Only authenticated users can list templated maps"]
    assert http.get("/api/v1/map/named", params={"api_key": "default_public"}).status_code == 403
    wrong = http.get("/api/v1/map/named", params={"api_key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["errors_with_context"][0]["subtype"] == "api-key-not-found"
    regular = http.get("/api/v1/map/named", params={"api_key": server.regular_api_key})
    assert regular.status_code == 403
    assert http.delete("/api/v1/map/named/tpl", auth=("demo", key)).status_code == 204


def test_a_basic_user_other_than_the_urls_is_forbidden_once_the_key_is_known(
    server: LocalCarto, http: httpx.Client
) -> None:
    # Windshaft-cartodb's AuthBackend.authorizedByAPIKey: the key is looked up first (an
    # unknown one is 401), then the Basic user is compared with the URL's, then the grants.
    forbidden = {
        "errors": ["Forbidden"],
        "errors_with_context": [
            {"type": "auth", "message": "Forbidden", "subtype": "api-key-username-mismatch"}
        ],
    }
    for method, path in (("GET", "/api/v1/map/named"), ("POST", "/api/v1/map")):
        response = http.request(method, path, auth=("mallory", server.api_key), json={})
        assert response.status_code == 403
        assert response.json() == forbidden
    unknown = http.get("/api/v1/map/named", auth=("mallory", "nope"))
    assert unknown.status_code == 401
    assert unknown.json()["errors_with_context"][0]["subtype"] == "api-key-not-found"
    assert http.get("/api/v1/map/named", auth=("demo", server.api_key)).status_code == 200


def test_unknown_users_and_paths_are_404s(server: LocalCarto) -> None:
    root = server.base_url.split("/user/")[0]
    with httpx.Client() as http:
        other = http.get(f"{root}/user/nobody/api/v1/map/named")
        assert other.status_code == 404
        assert "can't find CARTO user 'nobody'" in other.json()["errors"][0]
        nothing = http.get(f"{server.base_url}/api/v1/map/named/tpl/jsonp/extra/path/x")
        assert nothing.status_code == 404


def test_preflight_and_json_content_type(http: httpx.Client) -> None:
    preflight = http.options("/api/v1/map")
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    form = http.post("/api/v1/map", content=b"config=1", headers={"content-type": "text/plain"})
    assert form.status_code == 400
    assert form.json()["errors"] == ["POST data must be of type application/json"]


def test_maps_requests_are_counted_by_route(server: LocalCarto, http: httpx.Client) -> None:
    http.get("/api/v1/map/abc:0/0/0/0.png")
    http.get("/api/v1/map/static/center/abc:0/1/0/0/10/10.png")
    counted = server.counters.snapshot().requests
    assert any("{token}/{z}/{x}/{tile}" in str(k) for k in counted)
    assert any("static/center" in str(k) for k in counted)
    groups = {route.group for route in ROUTES if route.path.startswith("/api/v1/map")}
    assert groups == {"maps.create", "maps.named", "maps.tile", "maps.static", "maps.attributes"}
