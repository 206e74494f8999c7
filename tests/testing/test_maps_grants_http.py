"""LocalCarto's Maps API enforces API-key grants as Windshaft-cartodb does (issue 13): the exact
statuses and bodies on the wire, for anonymous maps, layergroup tiles, attributes and static
images, named maps and their admin, over loopback with plain httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carto_async.testing import LocalCarto

# The layers' SQL (ST_AsBinary, &&, ST_MakeEnvelope) needs LocalCarto's DuckDB engine.
pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's spatial engine")

POINT = "ST_Transform(ST_SetSRID(ST_MakePoint(-3.7, 40.4), 4326), 3857)"
FORBIDDEN = {
    "errors": ["Forbidden"],
    "errors_with_context": [
        {"type": "auth", "message": "Forbidden", "subtype": "api-key-does-not-grant-access"}
    ],
}
UNAUTHORIZED = {
    "errors": ["Unauthorized"],
    "errors_with_context": [
        {"type": "auth", "message": "Unauthorized", "subtype": "api-key-not-found"}
    ],
}


def config(*sqls: str) -> dict[str, Any]:
    return {
        "version": "1.8.0",
        "layers": [
            {
                "type": "mapnik",
                "options": {
                    "sql": sql,
                    "cartocss": "#l { marker-fill: #f00; }",
                    "attributes": {"id": "cartodb_id", "columns": ["name"]},
                },
            }
            for sql in sqls
        ],
    }


def refused(table: str, index: int = 0) -> dict[str, Any]:
    message = f"Postgis Plugin: permission denied for table {table}"
    layer = {"id": f"layer{index}", "index": index, "type": "mapnik"}
    context = {"type": "layer", "message": message, "subtype": "query", "layer": layer}
    return {"errors": [message], "errors_with_context": [context]}


def as_key(token: str | None) -> dict[str, str]:
    return {"api_key": token} if token is not None else {}


@pytest.fixture
def http(server: LocalCarto) -> Iterator[httpx.Client]:
    """A client of ``server``, which has a private table ``hidden``, a public one ``open``,
    a key ``reader`` that may select ``hidden`` and a key ``sql-only`` without Maps."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        master = {"api_key": server.api_key}
        for table in ("hidden", "open"):
            made = client.post(
                "/api/v2/sql",
                params=master,
                json={
                    "q": f"CREATE TABLE {table} AS SELECT 1 AS cartodb_id, 'one' AS name, "
                    f"{POINT} AS the_geom_webmercator"
                },
            )
            assert made.status_code == 200, made.text
        server.visualizations.set_privacy("open", "public")
        for name, apis, tables in (
            (
                "reader",
                ["maps"],
                [{"schema": "public", "name": "hidden", "permissions": ["select"]}],
            ),
            ("sql-only", ["sql"], []),
        ):
            grants = [{"type": "apis", "apis": apis}, {"type": "database", "tables": tables}]
            created = client.post(
                "/api/v3/api_keys", params=master, json={"name": name, "grants": grants}
            )
            assert created.status_code == 201, created.text
        yield client


def token(http: httpx.Client, server: LocalCarto, name: str) -> str:
    shown = http.get(f"/api/v3/api_keys/{name}", params={"api_key": server.api_key})
    return str(shown.json()["token"])


def test_anonymous_maps_read_what_the_key_may_select(
    server: LocalCarto, http: httpx.Client
) -> None:
    reader = token(http, server, "reader")
    for who, sql, status in (
        (None, "select * from open", 200),
        (None, "select * from hidden", 403),
        (server.default_public_key, "select * from hidden", 403),
        (server.regular_api_key, "select * from hidden", 403),
        (server.regular_api_key, "select * from open", 200),
        (reader, "select * from hidden", 200),
        (server.api_key, "select * from hidden", 200),
    ):
        made = http.post("/api/v1/map", params=as_key(who), json=config(sql))
        assert made.status_code == status, (who, sql, made.text)
        if status == 403:
            assert made.json() == refused("hidden")
        # the same over GET /api/v1/map?config=
        got = http.get("/api/v1/map", params={**as_key(who), "config": json.dumps(config(sql))})
        assert got.status_code == status
    # the key in a JSON body, as carto-python sends it, is read the same way
    in_body = http.post("/api/v1/map", json={**config("select * from hidden"), "api_key": reader})
    assert in_body.status_code == 200, in_body.text
    # the second layer is named when it is the one refused
    second = http.post("/api/v1/map", json=config("select * from open", "select * from hidden"))
    assert second.status_code == 403
    assert second.json() == refused("hidden", 1)


def test_a_key_without_maps_is_forbidden_before_anything_else(
    server: LocalCarto, http: httpx.Client
) -> None:
    sql_only = token(http, server, "sql-only")
    made = http.post("/api/v1/map", json=config("select * from open"))
    group = made.json()["layergroupid"]
    for method, path, body in (
        ("POST", "/api/v1/map", config("select * from open")),
        ("GET", f"/api/v1/map/{group}/0/0/0.mvt", None),
        ("GET", f"/api/v1/map/{group}/0/attributes/1", None),
        ("GET", "/api/v1/map/named", None),
        ("POST", "/api/v1/map/named", {"name": "x"}),
        ("POST", "/api/v1/map/named/whatever", {}),
    ):
        answer = http.request(method, path, params=as_key(sql_only), json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json() == FORBIDDEN
    # the authorize middleware runs before the body's content type is looked at
    form = {"content-type": "text/plain"}
    denied = http.post("/api/v1/map", params=as_key(sql_only), content=b"x", headers=form)
    assert denied.status_code == 403
    assert denied.json() == FORBIDDEN
    unknown = http.post("/api/v1/map", params=as_key("nope"), content=b"x", headers=form)
    assert unknown.status_code == 401
    assert unknown.json() == UNAUTHORIZED
    # the same key still has its SQL
    assert http.get("/api/v2/sql", params={"q": "select 1", "api_key": sql_only}).status_code == 200


def test_tiles_and_attributes_are_read_as_the_caller(
    server: LocalCarto, http: httpx.Client
) -> None:
    reader = token(http, server, "reader")
    made = http.post(
        "/api/v1/map", params=as_key(server.api_key), json=config("select * from hidden")
    )
    group = made.json()["layergroupid"]
    for who, status in (
        (None, 403),
        (server.regular_api_key, 403),
        (reader, 200),
        (server.api_key, 200),
    ):
        tile = http.get(f"/api/v1/map/{group}/0/0/0.mvt", params=as_key(who))
        assert tile.status_code == status, (who, tile.text)
        attributes = http.get(f"/api/v1/map/{group}/0/attributes/1", params=as_key(who))
        assert attributes.status_code == status
        if status == 403:
            assert tile.json() == refused("hidden")
            assert attributes.json() == refused("hidden")
        else:
            assert attributes.json() == {"name": "one"}


def test_static_images_are_drawn_as_the_caller(server: LocalCarto, http: httpx.Client) -> None:
    pytest.importorskip("mapnik")
    made = http.post(
        "/api/v1/map", params=as_key(server.api_key), json=config("select * from hidden")
    )
    group = made.json()["layergroupid"]
    for path in (
        f"/api/v1/map/static/center/{group}/2/40.4/-3.7/64/64.png",
        f"/api/v1/map/static/bbox/{group}/-10,35,5,45/64/64.png",
    ):
        public = http.get(path)
        assert public.status_code == 403
        assert public.json() == refused("hidden")
        own = http.get(path, params=as_key(server.api_key))
        assert own.status_code == 200
        assert own.content.startswith(b"\x89PNG")


def test_named_maps_draw_as_their_owner_behind_the_templates_auth(
    server: LocalCarto, http: httpx.Client
) -> None:
    master = as_key(server.api_key)
    for name, auth in (("open_map", {"method": "open"}), ("token_map", None)):
        template = {
            "version": "0.0.1",
            "name": name,
            "auth": auth or {"method": "token", "valid_tokens": ["s3cret"]},
            "layergroup": config("select * from hidden"),
        }
        assert http.post("/api/v1/map/named", params=master, json=template).status_code == 200
    # instantiated by the public user, over a private table: the owner draws it
    instance = http.post("/api/v1/map/named/open_map", json={})
    assert instance.status_code == 200, instance.text
    signed = instance.json()["layergroupid"]
    assert http.get(f"/api/v1/map/{signed}/0/0/0.mvt").status_code == 200
    assert http.get("/api/v1/map/named/open_map/0/0/0/0.mvt").status_code == 200
    # a tile asked for with a key is drawn as that key, whatever signed the layergroup
    preset = http.get(f"/api/v1/map/{signed}/0/0/0.mvt", params=as_key(server.regular_api_key))
    assert preset.status_code == 403
    assert preset.json() == refused("hidden")
    # the template's token is still needed where it was
    closed = http.post("/api/v1/map/named/token_map", json={})
    assert closed.status_code == 403
    assert closed.json()["errors"] == ["Unauthorized template instantiation"]
    opened = http.post("/api/v1/map/named/token_map", params={"auth_token": "s3cret"}, json={})
    assert opened.status_code == 200
    protected = opened.json()["layergroupid"]
    no_token = http.get(f"/api/v1/map/{protected}/0/0/0.mvt")
    assert no_token.status_code == 403
    assert no_token.json()["errors"] == ["Sorry, you are unauthorized (permission denied)"]
    with_token = http.get(f"/api/v1/map/{protected}/0/0/0.mvt", params={"auth_token": "s3cret"})
    assert with_token.status_code == 200
    # the default public key sent as a key is a key: no token asked, drawn as the public user
    default = as_key(server.default_public_key)
    as_public = http.get(f"/api/v1/map/{protected}/0/0/0.mvt", params=default)
    assert as_public.status_code == 403
    assert as_public.json() == refused("hidden")


def test_named_map_admin_needs_the_master_key(server: LocalCarto, http: httpx.Client) -> None:
    reader = token(http, server, "reader")
    template = {"version": "0.0.1", "name": "mine", "layergroup": config("select 1")}
    assert (
        http.post("/api/v1/map/named", params=as_key(server.api_key), json=template).status_code
        == 200
    )
    for method, path, body in (
        ("POST", "/api/v1/map/named", {**template, "name": "theirs"}),
        ("GET", "/api/v1/map/named", None),
        ("GET", "/api/v1/map/named/mine", None),
        ("PUT", "/api/v1/map/named/mine", template),
        ("DELETE", "/api/v1/map/named/mine", None),
    ):
        answer = http.request(method, path, params=as_key(reader), json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json() == FORBIDDEN
        public = http.request(method, path, json=body)
        assert public.status_code == 403
        assert public.json()["errors"][0].startswith("Only authenticated users can ")
        # the default public key sent as a key is a key, and not the master one
        default = http.request(method, path, params=as_key(server.default_public_key), json=body)
        assert default.status_code == 403
        assert default.json() == FORBIDDEN
    listed = http.get("/api/v1/map/named", params=as_key(server.api_key))
    assert listed.json() == {"template_ids": ["mine"]}


def test_a_layer_cannot_write_whatever_the_key_was_granted(
    server: LocalCarto, http: httpx.Client
) -> None:
    master = as_key(server.api_key)
    grants = [
        {"type": "apis", "apis": ["maps", "sql"]},
        {
            "type": "database",
            "tables": [{"schema": "public", "name": "hidden", "permissions": ["select", "delete"]}],
        },
    ]
    created = http.post(
        "/api/v3/api_keys", params=master, json={"name": "editor", "grants": grants}
    )
    editor = created.json()["token"]
    # it maps the table it may select, and no other private one
    ok = http.post("/api/v1/map", params=as_key(editor), json=config("select * from hidden"))
    assert ok.status_code == 200
    copy = {**master, "q": "CREATE TABLE secret AS SELECT * FROM hidden"}
    assert http.get("/api/v2/sql", params=copy).status_code == 200
    other = http.post("/api/v1/map", params=as_key(editor), json=config("select * from secret"))
    assert other.status_code == 403
    assert other.json() == refused("secret")
    # a statement smuggled after the layer's query: refused before anything runs
    smuggled = "select * from hidden) AS a; DELETE FROM hidden; select * from (select 1"
    made = http.post("/api/v1/map", params=as_key(editor), json=config(smuggled))
    assert made.status_code == 403, made.text
    assert made.json()["errors"] == ["Postgis Plugin: permission denied for table hidden"]
    count = http.get("/api/v2/sql", params={**master, "q": "select count(*) AS n from hidden"})
    assert count.json()["rows"] == [{"n": 1}]
