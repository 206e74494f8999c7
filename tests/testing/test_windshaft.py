"""LocalCarto's Maps API room: layergroups with their TTL, named templates with the server's
checks and limit, placeholders by type, token auth and the error bodies of reference §8.6."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carto_async.testing._windshaft import (
    LAYERGROUP_TTL,
    MapsError,
    MapsResponse,
    Windshaft,
    status_from_message,
)
from carto_async.testing.render import tile_bbox

duckdb = pytest.importorskip("duckdb")
spatial = pytest.importorskip("duckdb_extension_spatial")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "maps"
E = tile_bbox(0, 0, 0)[2]
USER = "demo"
# One point at the centre of each quadrant of the world (= of each zoom-1 tile).
POINTS = [
    (1, -E / 2, E / 2, "north-west", 6, 10),
    (2, E / 2, -E / 2, "south-east", 7, 20),
    (3, E / 2, E / 2, "north-east", 8, 30),
]
MARKER = "#layer { marker-fill: #f00; marker-width: 20; marker-line-width: 0; }"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def spatial_connection() -> Any:
    """A DuckDB connection with the spatial extension and a ``pts`` table of three points."""
    path = Path(spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    con = duckdb.connect()
    con.execute(f"LOAD '{path / 'spatial.duckdb_extension'}'")
    con.execute(
        "CREATE TABLE pts (cartodb_id INTEGER, the_geom_webmercator GEOMETRY, name VARCHAR, "
        "n INTEGER, t INTEGER)"
    )
    for cid, x, y, name, n, t in POINTS:
        con.execute("INSERT INTO pts VALUES (?, ST_Point(?, ?), ?, ?, ?)", [cid, x, y, name, n, t])
    return con


class DuckQuery:
    """The injected ``query``: the first column is the geometry, the others attributes; every
    statement is kept so tests can read what was sent."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.statements: list[str] = []

    def __call__(self, sql: str) -> list[tuple[Any, dict[str, Any]]]:
        self.statements.append(sql)
        cursor = self.con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [(row[0], dict(zip(names[1:], row[1:], strict=True))) for row in cursor.fetchall()]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


def mapconfig(sql: str = "select * from pts", **options: Any) -> dict[str, Any]:
    layer = {"type": "mapnik", "options": {"sql": sql, "cartocss": MARKER, **options}}
    return {"version": "1.8.0", "layers": [layer]}


def template(name: str = "tpl", **extra: Any) -> dict[str, Any]:
    return {
        "version": "0.0.1",
        "name": name,
        "layergroup": mapconfig(
            "select * from pts where n >= <%= min_n %> and name <> '<%= skip %>'",
            cartocss="#layer { marker-fill: <%= color %>; marker-width: 20; }",
            interactivity="cartodb_id",
        ),
        "placeholders": {
            "min_n": {"type": "number", "default": 0},
            "skip": {"type": "sql_literal", "default": "nothing"},
            "color": {"type": "css_color", "default": "red"},
        },
        **extra,
    }


def errors(response: MapsResponse) -> list[str]:
    body = response.json()
    assert set(body) == {"errors", "errors_with_context"}
    assert [c["message"] for c in body["errors_with_context"]] == body["errors"]
    return list(body["errors"])


def point(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


# -- error bodies and statuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("permission denied for table pts", 403),
        ("password authentication failed for user x", 403),
        ('Postgis Plugin: ERROR:  column "the_geom_webmercator" does not exist', 400),
        ('role "x" does not exist', 403),
        ("function foo(integer) does not exist", 400),
        ("Template 'a' of user 'b' does not exist", 404),
        ("anything else", 400),
    ],
)
def test_status_is_derived_from_the_message_as_the_server_does(message: str, status: int) -> None:
    assert status_from_message(message) == status


def test_an_error_without_context_has_the_fixtures_body() -> None:
    error = MapsError("Layer 0 has no exposed attributes")
    assert error.body() == fixture("error_layer_has_no_attributes.json")
    assert error.status == 400


# -- anonymous layergroups -----------------------------------------------------------------


def test_a_layergroup_gets_a_token_metadata_and_the_epoch_as_last_update(maps: Windshaft) -> None:
    response = maps.create_map(USER, "public", mapconfig(), base_url="http://h/api/v1/map")
    assert response.status == 200
    assert response.content_type == "application/json; charset=utf-8"
    body = response.json()
    token, cache_buster = body["layergroupid"].split(":")
    assert len(token) == 32
    assert int(token, 16) >= 0
    assert cache_buster == "0"
    assert response.headers["X-Layergroup-Id"] == body["layergroupid"]
    assert body["last_updated"] == "1970-01-01T00:00:00.000Z"
    layer = body["metadata"]["layers"][0]
    assert layer["type"] == "mapnik"
    assert layer["id"] == "layer0"
    assert layer["meta"]["cartocss"] == MARKER
    assert (
        body["metadata"]["url"]["raster"]
        == f"http://h/api/v1/map/{body['layergroupid']}/{{z}}/{{x}}/{{y}}.png"
    )


def test_the_same_config_gets_the_same_token_and_another_config_another(maps: Windshaft) -> None:
    first = maps.create_map(USER, "public", mapconfig()).json()["layergroupid"]
    again = maps.create_map(USER, "public", json.dumps(mapconfig()).encode()).json()["layergroupid"]
    other = maps.create_map(USER, "public", mapconfig("select * from pts where n > 6"))
    assert first == again
    assert other.json()["layergroupid"] != first


def test_a_layergroup_expires_two_hours_after_its_last_use(
    maps: Windshaft, clock: FakeClock
) -> None:
    token = maps.create_map(USER, "public", mapconfig()).json()["layergroupid"]
    clock.now += LAYERGROUP_TTL - 1
    assert maps.tile(USER, "public", layergroup_id=token, z=0, x=0, y=0, fmt="mvt").status == 200
    clock.now += LAYERGROUP_TTL - 1  # the tile above was a use: the TTL started again
    assert maps.tile(USER, "public", layergroup_id=token, z=0, x=0, y=0, fmt="mvt").status == 200
    clock.now += LAYERGROUP_TTL + 1
    expired = maps.tile(USER, "public", layergroup_id=token, z=0, x=0, y=0, fmt="mvt")
    assert expired.status == 400
    assert errors(expired) == [
        f"Invalid or nonexistent map configuration token '{token.split(':')[0]}'"
    ]
    assert len(maps.layergroups) == 0


def test_a_map_post_must_be_json(maps: Windshaft) -> None:
    response = maps.create_map(USER, "public", mapconfig(), content_type="text/plain")
    assert response.status == 400
    assert errors(response) == ["POST data must be of type application/json"]


def test_a_map_without_layers_and_bad_json_are_400(maps: Windshaft) -> None:
    assert errors(maps.create_map(USER, "public", {"version": "1.8.0"})) == [
        "Missing layers array from layergroup config"
    ]
    broken = maps.create_map(USER, "public", b'{"layers": [')
    assert broken.status == 400
    assert errors(broken)[0].startswith("SyntaxError: ")


def test_a_layer_query_error_names_the_layer(maps: Windshaft) -> None:
    good = mapconfig()["layers"][0]
    bad = mapconfig("select cartodb_id from pts")["layers"][0]
    response = maps.create_map(USER, "public", {"version": "1.0.0", "layers": [good, bad]})
    assert response.status == 400
    context = response.json()["errors_with_context"][0]
    assert context["type"] == "layer"
    assert context["subtype"] == "query"
    assert context["layer"] == {"id": "layer1", "index": 1, "type": "mapnik"}
    assert context["message"].startswith("Postgis Plugin: ")
    assert "the_geom_webmercator" in context["message"]


def test_bad_cartocss_fails_the_creation_with_the_layer_named(maps: Windshaft) -> None:
    pytest.importorskip("mapnik")
    config = mapconfig()
    config["layers"][0]["options"]["cartocss"] = "#layer { marker-fill: notacolour; }"
    response = maps.create_map(USER, "public", config)
    assert response.status == 400
    context = response.json()["errors_with_context"][0]
    assert context["type"] == "layer"
    assert context["layer"]["index"] == 0
    assert "notacolour" in context["message"]


def test_an_unknown_key_is_401_on_every_map_route(maps: Windshaft) -> None:
    token = maps.create_map(USER, "master", mapconfig()).json()["layergroupid"]
    for response in (
        maps.create_map(USER, "invalid", mapconfig()),
        maps.tile(USER, "invalid", layergroup_id=token, z=0, x=0, y=0, fmt="png"),
        maps.list_templates(USER, "invalid"),
        maps.instantiate(USER, "invalid", template_id="tpl", body={}),
    ):
        assert response.status == 401
        assert response.json()["errors_with_context"] == [
            {"type": "auth", "message": "Unauthorized", "subtype": "api-key-not-found"}
        ]


def test_another_users_layergroup_does_not_exist_for_a_user(maps: Windshaft) -> None:
    token = maps.create_map(USER, "public", mapconfig()).json()["layergroupid"]
    response = maps.tile("other", "public", layergroup_id=token, z=0, x=0, y=0, fmt="mvt")
    assert response.status == 400
    assert "nonexistent map configuration token" in errors(response)[0]


# -- named templates: admin ----------------------------------------------------------------


def test_template_admin_needs_the_master_key(maps: Windshaft) -> None:
    public = maps.create_template(USER, "public", template())
    assert public.status == 403
    assert errors(public) == ["Only authenticated users can create templated maps"]
    assert errors(maps.list_templates(USER, "public")) == [
        "Only authenticated users can list templated maps"
    ]
    regular = maps.get_template(USER, "regular", template_id="tpl")
    assert regular.status == 403
    assert regular.json()["errors_with_context"] == [
        {"type": "auth", "message": "Forbidden", "subtype": "api-key-does-not-grant-access"}
    ]


def test_create_get_list_update_delete_a_template(maps: Windshaft) -> None:
    created = maps.create_template(USER, "master", fixture("named_get.json")["template"])
    assert created.status == 200
    assert created.json() == fixture("named_create.json")
    got = maps.get_template(USER, "master", template_id="acceptance1")
    assert got.json() == fixture("named_get.json")
    assert maps.list_templates(USER, "master").json() == {"template_ids": ["acceptance1"]}
    updated = dict(fixture("named_get.json")["template"], placeholders={})
    updated["layergroup"]["layers"][0]["options"]["cartocss"] = MARKER
    put = maps.update_template(USER, "master", template_id=f"{USER}@acceptance1", body=updated)
    assert put.status == 200
    assert put.json() == {"template_id": "acceptance1"}
    assert (
        maps.get_template(USER, "master", template_id="acceptance1").json()["template"][
            "layergroup"
        ]["layers"][0]["options"]["cartocss"]
        == MARKER
    )
    deleted = maps.delete_template(USER, "master", template_id="acceptance1")
    assert (deleted.status, deleted.body) == (204, b"")
    assert maps.list_templates(USER, "master").json() == {"template_ids": []}


def test_templates_are_per_user(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    assert maps.list_templates("other", "master").json() == {"template_ids": []}
    assert maps.get_template("other", "master", template_id="tpl").status == 404


def test_missing_templates_are_404_and_duplicates_400(maps: Windshaft) -> None:
    missing = maps.get_template(USER, "master", template_id="nope")
    assert (missing.status, errors(missing)) == (
        404,
        [f"Cannot find template 'nope' of user '{USER}'"],
    )
    for response in (
        maps.delete_template(USER, "master", template_id="nope"),
        maps.update_template(USER, "master", template_id="nope", body=template("nope")),
    ):
        assert response.status == 404
        assert errors(response) == [f"Template 'nope' of user '{USER}' does not exist"]
    maps.create_template(USER, "master", template())
    duplicate = maps.create_template(USER, "master", template())
    assert (duplicate.status, errors(duplicate)) == (
        400,
        [f"Template 'tpl' of user '{USER}' already exists"],
    )


def test_a_template_name_cannot_change_on_update(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    response = maps.update_template(USER, "master", template_id="tpl", body=template("other"))
    assert errors(response) == ["Cannot update name of a map template ('tpl' != 'other')"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "0.0.2"}, "Unsupported template version 0.0.2"),
        ({"name": ""}, "Missing template name"),
        ({"name": "bad name"}, "Invalid characters in template name 'bad name'"),
        ({"layergroup": None}, "Missing layergroup"),
        ({"layergroup": {"layers": []}}, "Missing or empty layers array from layergroup config"),
        (
            {"layergroup": {"layers": [{"options": {"sql": "x"}}, {}, {"type": "mapnik"}]}},
            "Missing `options` in layergroup config for layers: 1, 2",
        ),
        (
            {"placeholders": {"1x": {"type": "number", "default": 1}}},
            "Invalid characters in placeholder name '1x'",
        ),
        ({"placeholders": {"x": {"type": "number"}}}, "Missing default for placeholder 'x'"),
        ({"placeholders": {"x": {"default": 1}}}, "Missing type for placeholder 'x'"),
        ({"auth": {"method": "magic"}}, "Unsupported authentication method: magic"),
        ({"auth": {"method": "token"}}, "Invalid 'token' authentication: missing valid_tokens"),
        (
            {"auth": {"method": "token", "valid_tokens": []}},
            "Invalid 'token' authentication: no valid_tokens",
        ),
    ],
)
def test_templates_are_checked_as_the_server_checks_them(
    maps: Windshaft, change: dict[str, Any], message: str
) -> None:
    response = maps.create_template(USER, "master", {**template(), **change})
    assert (response.status, errors(response)) == (400, [message])


def test_the_template_limit_is_409_and_the_near_limit_notice_comes_once(
    query: DuckQuery, clock: FakeClock
) -> None:
    maps = Windshaft(query, clock=clock, max_user_templates=102)
    first = maps.create_template(USER, "master", template("t0"))
    assert first.json() == {"template_id": "t0"}
    second = maps.create_template(USER, "master", template("t1"))
    assert second.json() == {
        "template_id": "t1",
        "limit_message": f"User {USER} reaching the named maps limit",
    }
    for i in range(2, 102):
        assert "limit_message" not in maps.create_template(USER, "master", template(f"t{i}")).json()
    over = maps.create_template(USER, "master", template("t102"))
    assert over.status == 409
    assert errors(over) == [f"User '{USER}' reached limit on number of templates (102/102)"]
    assert maps.create_template("other", "master", template("t102")).status == 200


def test_a_template_post_must_be_json(maps: Windshaft) -> None:
    response = maps.create_template(USER, "master", template(), content_type="text/plain")
    assert errors(response) == ["POST template data must be of type application/json"]


# -- named templates: instances ------------------------------------------------------------


def test_an_instance_id_is_user_hash_token_cachebuster(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    stored = maps.get_template(USER, "master", template_id="tpl").json()["template"]
    response = maps.instantiate(USER, "public", template_id="tpl", body={})
    assert response.status == 200
    signer, template_hash, rest = response.json()["layergroupid"].split("@")
    token, cache_buster = rest.split(":")
    digest = hashlib.md5(
        json.dumps(stored, separators=(",", ":")).encode(), usedforsecurity=False
    ).hexdigest()
    assert (signer, template_hash, len(token), cache_buster) == (USER, digest[:8], 32, "0")


def test_placeholders_are_substituted_by_type(maps: Windshaft, query: DuckQuery) -> None:
    maps.create_template(USER, "master", template())
    params = {"min_n": "7", "skip": "it's", "color": "#00ff00"}
    token = maps.instantiate(USER, "public", template_id="tpl", body=params).json()["layergroupid"]
    stored = maps.layergroups.load(token)
    options = stored.config.layers[0].to_json()["options"]
    assert options["sql"] == "select * from pts where n >= 7 and name <> 'it''s'"
    assert options["cartocss"] == "#layer { marker-fill: #00ff00; marker-width: 20; }"
    assert any("name <> 'it''s'" in s for s in query.statements)  # the SQL really ran


def test_missing_params_take_their_defaults(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    token = maps.instantiate(USER, "public", template_id="tpl", body=b"").json()["layergroupid"]
    sql = maps.layergroups.load(token).config.layers[0].to_json()["options"]["sql"]
    assert sql == "select * from pts where n >= 0 and name <> 'nothing'"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_n": "seven"}, "Invalid number value for template parameter 'min_n': seven"),
        ({"min_n": "1.5"}, "Invalid number value for template parameter 'min_n': 1.5"),
        ({"color": "red;"}, "Invalid css_color value for template parameter 'color': red;"),
        (
            {"color": "#12345678"},
            "Invalid css_color value for template parameter 'color': #12345678",
        ),
        ({"skip": 3}, "Invalid sql_literal value for template parameter 'skip': 3"),
    ],
)
def test_placeholder_values_are_checked_at_instantiation(
    maps: Windshaft, params: dict[str, Any], message: str
) -> None:
    maps.create_template(USER, "master", template())
    response = maps.instantiate(USER, "public", template_id="tpl", body=params)
    assert (response.status, errors(response)) == (400, [message])


def test_numbers_may_be_json_numbers_or_the_servers_number_strings(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    for value in (7, 7.0, "-3", ".5e3", "+12"):
        response = maps.instantiate(USER, "public", template_id="tpl", body={"min_n": value})
        assert response.status == 200, value


def test_an_unknown_placeholder_type_fails_at_instantiation_only(maps: Windshaft) -> None:
    odd = template(placeholders={"x": {"type": "date", "default": "2020"}})
    assert maps.create_template(USER, "master", odd).status == 200
    response = maps.instantiate(USER, "public", template_id="tpl", body={})
    assert errors(response) == ["Invalid placeholder type 'date'"]


def test_instantiating_a_missing_template_is_404(maps: Windshaft) -> None:
    response = maps.instantiate(USER, "public", template_id="nope", body={})
    assert (response.status, errors(response)) == (
        404,
        [f"Template 'nope' of user '{USER}' not found"],
    )


def test_instantiation_must_be_json_even_when_empty(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    response = maps.instantiate(USER, "public", template_id="tpl", body=b"", content_type=None)
    assert errors(response) == ["POST data must be of type application/json"]


def test_token_templates_need_a_valid_auth_token(maps: Windshaft) -> None:
    maps.create_template(
        USER, "master", template(auth={"method": "token", "valid_tokens": ["s3cret"]})
    )
    for token in (None, "wrong"):
        refused = maps.instantiate(
            USER, "master", template_id="tpl", body={}, query_params={"auth_token": token}
        )
        assert (refused.status, errors(refused)) == (403, ["Unauthorized template instantiation"])
    ok = maps.instantiate(
        USER, "public", template_id="tpl", body={}, query_params={"auth_token": "s3cret"}
    )
    assert ok.status == 200


def test_tiles_of_a_token_instance_need_the_auth_token_or_a_key(maps: Windshaft) -> None:
    maps.create_template(
        USER, "master", template(auth={"method": "token", "valid_tokens": ["s3cret"]})
    )
    instance = maps.instantiate(
        USER, "public", template_id="tpl", body={}, query_params={"auth_token": "s3cret"}
    ).json()["layergroupid"]

    def fetch(key: Any, **params: Any) -> MapsResponse:
        return maps.tile(
            USER, key, layergroup_id=instance, z=0, x=0, y=0, fmt="mvt", query_params=params
        )

    refused = fetch("public")
    assert (refused.status, errors(refused)) == (
        403,
        ["Sorry, you are unauthorized (permission denied)"],
    )
    assert fetch("public", auth_token="wrong").status == 403
    assert fetch("public", auth_token="s3cret").status == 200
    assert fetch("regular").status == 200
    assert fetch("master").status == 200


def test_a_signature_of_another_user_is_403(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    instance = maps.instantiate(USER, "public", template_id="tpl", body={}).json()["layergroupid"]
    response = maps.tile("other", "master", layergroup_id=instance, z=0, x=0, y=0, fmt="mvt")
    assert (response.status, errors(response)) == (
        403,
        [f'Cannot use map signature of user "{USER}" on db of user "other"'],
    )


def test_open_instances_serve_tiles_to_anyone(maps: Windshaft) -> None:
    maps.create_template(USER, "master", template())
    instance = maps.instantiate(USER, "public", template_id="tpl", body={}).json()["layergroupid"]
    assert maps.tile(USER, "public", layergroup_id=instance, z=0, x=0, y=0, fmt="mvt").status == 200


def test_the_duckdb_helper_loads_spatial_from_the_wheel() -> None:
    # The extension's file is where the tests and the coordinator's engine look for it.
    path = Path(spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    assert os.path.exists(path / "spatial.duckdb_extension")


def test_an_instance_is_checked_as_any_mapconfig(maps: Windshaft) -> None:
    body = template()
    body["layergroup"]["layers"][0]["options"].update(minzoom=5, maxzoom=2)
    assert maps.create_template(USER, "master", body).status == 200  # the server does not look
    response = maps.instantiate(USER, "public", template_id="tpl", body={})
    assert (response.status, errors(response)) == (400, ["layer 0: minzoom 5 is above maxzoom 2"])


def test_the_template_limit_holds_under_concurrent_creations(query: DuckQuery) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only this test

    maps = Windshaft(query, max_user_templates=20)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda i: maps.create_template(USER, "master", template(f"t{i}")).status,
                range(50),
            )
        )
    assert statuses.count(200) == 20
    assert statuses.count(409) == 30
    assert len(maps.list_templates(USER, "master").json()["template_ids"]) == 20


def test_creating_a_layergroup_forgets_the_expired_ones(maps: Windshaft, clock: FakeClock) -> None:
    maps.create_map(USER, "public", mapconfig())
    clock.now += LAYERGROUP_TTL + 1
    maps.create_map(USER, "public", mapconfig("select * from pts where n > 6"))
    assert len(maps.layergroups) == 1


LAYER = mapconfig()["layers"][0]


@pytest.mark.parametrize(
    "config",
    [
        {"layers": [LAYER], "extent": 5},
        {"layers": [LAYER], "buffersize": 3},
        {"layers": [LAYER], "version": 3},
        {"layers": [LAYER], "srid": "x"},
        {"layers": [5]},
        {"layers": [{"options": 5}]},
        {"layers": [{"type": "torque", "options": {"sql": "select * from pts"}}]},
        {"layers": [{"options": {"sql": 5, "cartocss": "x"}}]},
        {"layers": [{"options": {"sql": "select 1", "cartocss": 5}}]},
        {"layers": [{"options": {**LAYER["options"], "interactivity": 5}}]},
        {"layers": [{"options": {**LAYER["options"], "attributes": 5}}]},
        {"layers": [{"type": "http", "options": {"urlTemplate": 5}}]},
        {"layers": [{"type": "plain", "options": {"color": 5}}]},
        [1, 2],
        "not json",
        5,
    ],
)
def test_malformed_mapconfigs_are_400_with_a_message_never_a_crash(
    maps: Windshaft, config: Any
) -> None:
    response = maps.create_map(USER, "public", config)
    assert response.status == 400
    assert errors(response)[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"view": {"bounds": {"west": 1}}},
            "Invalid template 'tpl': missing member 'south'",
        ),
        (
            {"layergroup": {**mapconfig(), "extent": 5}},
            "Invalid template 'tpl': 'int' object is not iterable",
        ),
    ],
)
def test_templates_the_server_accepts_but_cannot_instantiate_are_400(
    maps: Windshaft, change: dict[str, Any], message: str
) -> None:
    assert maps.create_template(USER, "master", {**template(), **change}).status == 200
    response = maps.instantiate(USER, "public", template_id="tpl", body={})
    assert (response.status, errors(response)) == (400, [message])
