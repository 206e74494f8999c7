"""Auth API requests, grant validation and parsing, without any I/O."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from carto_async import ApiKey, ApiKeyType, TableGrant, TablePermission, ValidationError
from carto_async._core import api_keys as core
from carto_async._core.http import Service
from carto_async.errors import APIError

TOKEN = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"

#: A key as ``Carto::Api::ApiKeyPresenter#to_poro`` renders it (key order included).
CREATED: dict[str, Any] = {
    "name": "store-locator",
    "user": {"username": "demo"},
    "type": "regular",
    "token": TOKEN,
    "grants": [
        {"type": "apis", "apis": ["sql", "maps"]},
        {
            "type": "database",
            "tables": [
                {
                    "schema": "public",
                    "name": "stores",
                    "owner": False,
                    "permissions": ["select", "insert"],
                }
            ],
            "schemas": [],
        },
    ],
    "created_at": "2026-11-29 20:10:33 +0000",
    "updated_at": "2026-11-29 20:10:33 +0000",
}


def test_create_sends_the_name_and_the_grants_in_the_servers_format() -> None:
    spec = core.create_request(
        "store-locator",
        apis=["sql", "maps"],
        tables=[
            TableGrant("public", "stores", ["select", "insert"]),
            {"schema": "public", "name": "orders", "permissions": ["select"]},
        ],
    )
    assert (spec.method, spec.path, spec.service) == ("POST", "/api/v3/api_keys", Service.RAILS)
    assert spec.json == {
        "name": "store-locator",
        "grants": [
            {"type": "apis", "apis": ["sql", "maps"]},
            {
                "type": "database",
                "tables": [
                    {"schema": "public", "name": "stores", "permissions": ["select", "insert"]},
                    {"schema": "public", "name": "orders", "permissions": ["select"]},
                ],
            },
        ],
    }
    assert not spec.is_idempotent


def test_create_without_tables_grants_only_apis_and_defaults_to_sql_and_maps() -> None:
    spec = core.create_request("k", apis=core.DEFAULT_APIS, tables=None)
    assert spec.json == {"name": "k", "grants": [{"type": "apis", "apis": ["sql", "maps"]}]}


def test_enums_bare_strings_case_and_duplicates_are_normalised() -> None:
    spec = core.create_request(
        "k",
        apis=["SQL", "sql", "maps"],
        tables=[TableGrant("public", "t", TablePermission.SELECT)],
    )
    assert spec.json["grants"] == [
        {"type": "apis", "apis": ["sql", "maps"]},
        {
            "type": "database",
            "tables": [{"schema": "public", "name": "t", "permissions": ["select"]}],
        },
    ]
    assert core.build_grants("maps", []) == [{"type": "apis", "apis": ["maps"]}]


@pytest.mark.parametrize(
    ("name", "apis", "tables", "expected"),
    [
        ("", [], None, ["the key name is empty"]),
        ("   ", [], None, ["the key name is empty"]),
        (None, [], None, ["the key name must be a string, got NoneType"]),
        ("a\x00b", [], None, ["the key name 'a\\x00b' contains control characters"]),
        ("Master", [], None, ["the key name 'Master' is reserved for CARTO's built-in keys"]),
        ("Default public", [], None, ["the key name 'Default public' is reserved"]),
        ("a/b", [], None, ["contains '/'"]),
        ("k", ["sql", "do", 3], None, ["unknown api 'do'", "unknown api 3"]),
        ("k", {"sql": 1}, None, ["apis must be a list"]),
        ("k", [], "stores", ["tables must be a list of TableGrant, got str"]),
        ("k", [], TableGrant("public", "t", ["select"]), ["tables must be a list"]),
        ("k", [], ["stores"], ["tables[0]: give a TableGrant(schema, name, permissions)"]),
        (
            "k",
            [],
            [TableGrant("public", "t", ["read", "select"])],
            ["tables[0]: unknown permission 'read'"],
        ),
        (
            "k",
            [],
            [TableGrant("", "t", ["select"])],
            ["tables[0]: schema must be a non-empty string"],
        ),
        ("k", [], [{"schema": "public", "name": "t"}], ["tables[0]: permissions are missing"]),
        (
            "k",
            [],
            [{"schema": "s", "name": "t", "permissions": [], "owner": True}],
            ["unknown member(s) owner"],
        ),
        (
            "k",
            [],
            [{"schema": "s", "name": "t", "permissions": {"select": 1}}],
            ["permissions must be a list"],
        ),
        ("k", [], [TableGrant("s", "t", None)], ["tables[0]: unknown permission None"]),  # type: ignore[arg-type]
    ],
)
def test_bad_keys_are_refused_before_sending(
    name: Any, apis: Any, tables: Any, expected: list[str]
) -> None:
    with pytest.raises(ValidationError) as info:
        core.create_request(name, apis=apis, tables=tables)
    assert len(info.value.problems) == len(expected)
    for problem, text in zip(info.value.problems, expected, strict=True):
        assert text in problem


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        core.create_request(
            "",
            apis=["sql", "tiles"],
            tables=[
                TableGrant("public", "a", ["read"]),
                {"schema": "public", "name": "", "permissions": ["drop"]},
                42,
            ],
        )
    problems = info.value.problems
    assert problems == [
        "the key name is empty",
        "unknown api 'tiles': use 'sql' and/or 'maps'",
        "tables[0]: unknown permission 'read' (use select, insert, update, delete)",
        "tables[1]: name must be a non-empty string, got ''",
        "tables[1]: unknown permission 'drop' (use select, insert, update, delete)",
        "tables[2]: give a TableGrant(schema, name, permissions) or a dict, got int",
    ]
    assert all(p in str(info.value) for p in problems)


@pytest.mark.parametrize(
    ("build", "method", "path"),
    [
        (core.get_request, "GET", "/api/v3/api_keys/store-locator"),
        (core.delete_request, "DELETE", "/api/v3/api_keys/store-locator"),
        (core.regenerate_request, "POST", "/api/v3/api_keys/store-locator/token/regenerate"),
    ],
)
def test_keys_are_addressed_by_name(build: Any, method: str, path: str) -> None:
    spec = build("store-locator")
    assert (spec.method, spec.path) == (method, path)


def test_names_are_escaped_in_paths_and_regenerate_is_never_repeated() -> None:
    assert core.get_request("Default public").path == "/api/v3/api_keys/Default%20public"
    assert core.get_request("a?b#c").path == "/api/v3/api_keys/a%3Fb%23c"
    assert not core.regenerate_request("k").is_idempotent
    assert core.delete_request("k").is_idempotent


@pytest.mark.parametrize("name", ["", None, "x\n"])
def test_addressing_a_bad_name_is_a_validation_error(name: Any) -> None:
    for build in (core.get_request, core.delete_request, core.regenerate_request):
        with pytest.raises(ValidationError):
            build(name)


def test_list_request_pages_filters_and_orders() -> None:
    spec = core.list_request(page=2, per_page=50, types=["master", "regular"], order="name")
    assert spec.params == {"page": "2", "per_page": "50", "type": "master,regular", "order": "name"}
    assert core.list_request(types="default").params["type"] == "default"
    with pytest.raises(ValidationError) as info:
        core.list_request(page=0, per_page=True, types=["oauth"], order="token")
    assert len(info.value.problems) == 4


def test_a_created_key_is_parsed_with_typed_grants() -> None:
    key = core.parse_key(copy.deepcopy(CREATED))
    assert key.name == "store-locator"
    assert key.type == ApiKeyType.REGULAR
    assert key.is_regular
    assert not key.is_master
    assert not key.is_default_public
    assert key.token == TOKEN
    assert key.apis == ("sql", "maps")
    assert key.tables == (TableGrant("public", "stores", ("select", "insert"), owner=False),)
    assert key.permissions_on("stores") == ("select", "insert")
    assert key.permissions_on("stores", schema="other") == ()
    assert key.username == "demo"
    assert key.created_at is not None
    assert key.created_at.year == 2026
    assert key.raw["grants"] == CREATED["grants"]


def test_the_token_is_in_no_repr_and_masked_in_raw() -> None:
    key = core.parse_key(copy.deepcopy(CREATED))
    for text in (repr(key), str(key), repr(key.raw), str([key]), f"{key}"):
        assert TOKEN not in text
    assert "token='***'" in repr(key)
    assert key.raw["token"] == "***"


def test_the_master_key_in_list_links_is_masked() -> None:
    body = {
        "total": 1,
        "count": 1,
        "result": [
            {
                **copy.deepcopy(CREATED),
                "_links": {
                    "self": {"href": f"https://demo.carto.com/api/v3/api_keys/k?api_key={TOKEN}"}
                },
            }
        ],
        "_links": {
            "first": {"href": f"https://demo.carto.com/api/v3/api_keys?api_key={TOKEN}&page=1"}
        },
    }
    page = core.parse_page(body, page=1, per_page=20)
    assert TOKEN not in repr(page.keys[0].raw)
    assert page.keys[0].raw["_links"]["self"]["href"].endswith("api_key=***")


def test_a_page_knows_whether_more_follow() -> None:
    body = {"total": 5, "count": 2, "result": [copy.deepcopy(CREATED), {**CREATED, "name": "b"}]}
    page = core.parse_page(body, page=2, per_page=2)
    assert page.names() == ["store-locator", "b"]
    assert (page.count, page.last_page, page.has_next) == (2, 3, True)
    last = core.parse_page({"total": 5, "result": [CREATED]}, page=3, per_page=2)
    assert not last.has_next


def test_master_and_default_keys_parse_with_empty_tables() -> None:
    master = core.parse_key(
        {
            "name": "Master",
            "user": {"username": "demo"},
            "type": "master",
            "token": TOKEN,
            "grants": [
                {"type": "apis", "apis": ["sql", "maps"]},
                {"type": "database", "tables": [], "schemas": []},
                {"type": "dataservices", "services": ["geocoding", "routing"]},
                {"type": "user", "data": ["profile"]},
            ],
            "created_at": "2026-11-29 20:10:33 +0000",
            "updated_at": "2026-11-29 20:10:33 +0000",
        }
    )
    assert master.is_master
    assert master.tables == ()
    assert master.services == ("geocoding", "routing")


@pytest.mark.parametrize(
    "body",
    [None, "oops", [], {"name": "k"}, {"type": "regular"}, {"name": 1, "type": "regular"}],
)
def test_unexpected_key_payloads_raise_an_api_error(body: Any) -> None:
    with pytest.raises(APIError, match="unexpected API key response from the Auth API"):
        core.parse_key(body)


def test_an_unexpected_payload_does_not_echo_a_token() -> None:
    with pytest.raises(APIError) as info:
        core.parse_key({"token": TOKEN, "name": None})
    assert TOKEN not in str(info.value)
    with pytest.raises(APIError, match="unexpected API key list"):
        core.parse_page({"result": "x"}, page=1, per_page=1)


def test_unknown_grant_sections_and_types_are_tolerated() -> None:
    key = core.parse_key(
        {
            "name": "k",
            "type": "oauth",
            "grants": [{"type": "data-observatory", "datasets": ["x"]}, "junk"],
            "created_at": "not a date",
        }
    )
    assert key.type == "oauth"
    assert key.apis == ()
    assert key.created_at is None
    assert key.token == ""
    assert "token=''" in repr(key)


def test_api_key_equality_ignores_the_raw_payload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    a = core.parse_key(copy.deepcopy(CREATED))
    b = ApiKey(
        name=a.name,
        type=a.type,
        apis=a.apis,
        tables=a.tables,
        username=a.username,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )
    assert a == b


def test_string_links_and_rails_utc_timestamps_are_understood() -> None:
    body = {
        **copy.deepcopy(CREATED),
        "created_at": "2026-11-29 20:10:33 UTC",
        "_links": {"self": f"https://demo.carto.com/api/v3/api_keys/k?api_key={TOKEN}"},
    }
    key = core.parse_key(body)
    assert key.created_at is not None
    assert key.created_at.utcoffset() is not None
    assert (key.created_at.hour, key.created_at.utcoffset().total_seconds()) == (20, 0)  # type: ignore[union-attr]
    assert TOKEN not in repr(key.raw)


def test_a_huge_bad_input_is_not_echoed_whole() -> None:
    with pytest.raises(ValidationError) as info:
        core.create_request("x" * 100_000 + "/", apis=["y" * 100_000], tables=None)
    assert len(str(info.value)) < 400
    assert "100003 characters" in info.value.problems[0]
