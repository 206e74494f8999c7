"""LocalCarto's Auth API store: CARTO's rules, words and shapes, without HTTP."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carto_async.testing._apikeys import (
    DEFAULT_PUBLIC_TOKEN,
    ApiKeyStore,
    AuthApiError,
)

MASTER = "master-token-0123456789"
TABLES = {("public", "stores"), ("public", "orders")}


class Clock:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 29, 20, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


def make_store(**options: Any) -> ApiKeyStore:
    counter = itertools.count(1)
    return ApiKeyStore(
        "demo",
        MASTER,
        table_exists=lambda schema, name: (schema, name) in TABLES,
        now=Clock(),
        token=lambda: f"tok{next(counter)}",
        **options,
    )


def grants(*tables: dict[str, Any], apis: list[str] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "apis", "apis": apis if apis is not None else ["sql"]}]
    if tables:
        out.append({"type": "database", "tables": list(tables)})
    return out


def table(name: str, *permissions: str, schema: str = "public") -> dict[str, Any]:
    return {"schema": schema, "name": name, "permissions": list(permissions)}


def refused(call: Any, *args: Any, **kwargs: Any) -> AuthApiError:
    with pytest.raises(AuthApiError) as info:
        call(*args, **kwargs)
    return info.value


def test_an_account_starts_with_the_master_and_default_public_keys() -> None:
    store = make_store()
    master, public = store.all_keys()
    assert (master.name, master.type, master.token) == ("Master", "master", MASTER)
    assert (public.name, public.type, public.token) == (
        "Default public",
        "default",
        "default_public",
    )
    assert store.lookup(MASTER) is master
    assert store.lookup(DEFAULT_PUBLIC_TOKEN) is public
    assert store.lookup("nope") is None
    assert store.lookup(None) is None


def test_the_presenter_shapes_of_the_built_in_keys() -> None:
    store = make_store()
    assert store.key_json(store.master) == {
        "name": "Master",
        "user": {"username": "demo"},
        "type": "master",
        "token": MASTER,
        "grants": [
            {"type": "apis", "apis": ["sql", "maps"]},
            {"type": "database", "tables": [], "schemas": []},
            {
                "type": "dataservices",
                "services": ["geocoding", "routing", "isolines", "observatory"],
            },
        ],
        "created_at": "2026-11-29 20:00:01 +0000",
        "updated_at": "2026-11-29 20:00:01 +0000",
    }
    assert store.key_json(store.default_public)["grants"] == [
        {"type": "apis", "apis": ["sql", "maps"]},
        {"type": "database", "tables": [], "schemas": []},
    ]


def test_a_regular_key_is_created_with_its_grants() -> None:
    store = make_store()
    key = store.create(
        "app",
        grants(table("stores", "select", "insert"), table("orders"), apis=["sql", "maps"]),
    )
    assert key.token == "tok1"
    assert store.lookup("tok1") is key
    body = store.key_json(key)
    assert list(body) == ["name", "user", "type", "token", "grants", "created_at", "updated_at"]
    # Tables granted nothing do not show: the server reads grants back from the database.
    assert body["grants"] == [
        {"type": "apis", "apis": ["sql", "maps"]},
        {
            "type": "database",
            "tables": [
                {
                    "schema": "public",
                    "name": "stores",
                    "owner": False,
                    "permissions": ["insert", "select"],
                }
            ],
            "schemas": [],
        },
    ]


def test_a_taken_name_is_a_422_in_the_models_words() -> None:
    store = make_store()
    store.create("app", grants())
    error = refused(store.create, "app", grants())
    assert (error.status, error.message) == (422, "Validation failed: Name has already been taken")
    assert error.body() == {
        "errors": "Validation failed: Name has already been taken",
        "errors_cause": None,
    }


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("app", None, "Validation failed: Grants grants has to be an array"),
        (
            "app",
            "something",
            "Validation failed: Grants grants has to be an array, Grants The property '#/' of "
            "type string did not match the following type: array",
        ),
        ("app", [], "Validation failed: Grants only one apis section is allowed"),
        (
            "app",
            [{"type": "apis", "apis": []}, {"type": "apis", "apis": []}],
            "Validation failed: Grants only one apis section is allowed",
        ),
        (
            "app",
            grants(table("stores", "read")),
            "Validation failed: Grants The property '#/1/tables/0/permissions/0' value \"read\" "
            "did not match one of the following values: insert, select, update, delete",
        ),
        (
            "app",
            grants(apis=["sql", "tiles"]),
            "Validation failed: Grants The property '#/0/apis/1' value \"tiles\" did not match "
            "one of the following values: sql, maps, do",
        ),
        (
            "app",
            [{"type": "apis", "apis": []}, {"type": "database", "tables": [{"name": "x"}]}],
            "Validation failed: Grants The property '#/1/tables/0' did not contain a required "
            "property of 'schema', Grants The property '#/1/tables/0' did not contain a required "
            "property of 'permissions'",
        ),
        (
            "app",
            grants(table("nope", "select")),
            "Validation failed: Grants can only grant table permissions you have",
        ),
        (
            "app",
            grants(table("stores", "select", schema="wadus")),
            "Validation failed: Grants can only grant table permissions you have",
        ),
        ("", grants(), "Validation failed: Name can't be blank"),
        (None, grants(), "Validation failed: Name can't be blank"),
        (
            "Master",
            grants(),
            "Validation failed: Name has already been taken, Name api_key name cannot be Master "
            "nor Default public",
        ),
    ],
)
def test_invalid_keys_are_refused_as_the_server_refuses_them(
    name: Any, payload: Any, message: str
) -> None:
    store = make_store()
    error = refused(store.create, name, payload)
    assert (error.status, error.message) == (422, message)
    assert [k.name for k in store.all_keys()] == ["Master", "Default public"]


def test_the_regular_key_quota_is_a_403() -> None:
    store = make_store(max_regular_keys=1)
    store.create("one", grants())
    error = refused(store.create, "two", grants())
    assert (error.status, error.message) == (
        403,
        "You have reached the limit of API keys for your plan",
    )


def test_only_the_master_key_sees_other_keys() -> None:
    store = make_store()
    app = store.create("app", grants())
    assert store.get("app", store.master) is app
    assert store.get("app", app) is app
    error = refused(store.get, "Default public", app)
    assert (error.status, error.message) == (404, "API key not found: Default public")
    error = refused(store.get, "app", store.default_public)
    assert (error.status, error.message) == (404, "API key not found: app")
    assert refused(store.get, "nope", store.master).status == 404


def test_authentication_needs_a_known_key_and_sometimes_the_master_key() -> None:
    store = make_store()
    app = store.create("app", grants())
    assert store.authenticate(MASTER, master=True) is store.master
    assert store.authenticate(app.token, master=False) is app
    for token, master in (
        (app.token, True),
        (DEFAULT_PUBLIC_TOKEN, True),
        ("x", False),
        (None, False),
    ):
        error = refused(store.authenticate, token, master=master)
        assert (error.status, error.body()) == (401, None)


def test_built_in_keys_cannot_be_deleted_and_regular_keys_can() -> None:
    store = make_store()
    app = store.create("app", grants())
    for name in ("Master", "Default public"):
        error = refused(store.delete, name, store.master)
        assert (error.status, error.message) == (
            403,
            "You don't have permission to access that resource",
        )
    assert refused(store.delete, "app", app).status == 401
    store.delete("app", store.master)
    assert store.lookup(app.token) is None
    assert refused(store.delete, "app", store.master).status == 404


def test_regenerate_replaces_the_token_and_the_old_one_stops_working() -> None:
    store = make_store()
    app = store.create("app", grants())
    old, updated = app.token, app.updated_at
    assert store.regenerate("app", store.master).token == "tok2"
    assert store.lookup(old) is None
    assert store.lookup("tok2") is app
    assert app.updated_at > updated
    store.regenerate("Master", store.master)
    assert store.lookup(MASTER) is None
    assert store.master.token == "tok3"
    assert refused(store.regenerate, "Default public", store.master).status == 422
    assert refused(store.regenerate, "app", app).status == 401


def test_grants_decide_what_each_key_may_do_to_a_table() -> None:
    store = make_store()
    reader = store.create("reader", grants(table("stores", "select")))
    writer = store.create("writer", grants(table("orders", "insert", "update")))
    master, public = store.master, store.default_public
    cases = [
        # key, table, permission, public table?, allowed
        (master, "secret", "delete", False, True),
        (public, "stores", "select", False, False),
        (public, "shared", "select", True, True),
        (public, "shared", "insert", True, False),
        (reader, "stores", "select", False, True),
        (reader, "stores", "insert", False, False),
        (reader, "orders", "select", False, False),
        (reader, "shared", "select", True, True),  # regular keys inherit the public user
        (writer, "orders", "insert", False, True),
        (writer, "orders", "select", False, False),
        (writer, "orders", "delete", False, False),
        (None, "shared", "select", True, False),
    ]
    for key, name, permission, is_public, allowed in cases:
        got = store.can(key, name, permission, public=is_public)
        assert got is allowed, (key and key.name, name, permission, is_public)
    assert not store.can(reader, "stores", "select", schema="other")
    assert store.readable_tables(reader) == {("public", "stores")}
    assert store.readable_tables(master) == set()


def test_apis_are_granted_per_key() -> None:
    store = make_store()
    maps_only = store.create("maps-only", grants(apis=["maps"]))
    assert store.allows_api(maps_only, "maps")
    assert not store.allows_api(maps_only, "sql")
    assert store.allows_api(store.default_public, "sql")
    assert not store.allows_api(None, "sql")


def test_the_list_comes_master_first_then_default_then_regular_and_pages() -> None:
    store = make_store()
    for name in ("b", "a", "c"):
        store.create(name, grants())
    url = "http://localhost/user/demo/api/v3/api_keys"
    body = store.index_json(store.master, {"per_page": "2", "api_key": MASTER}, url)
    assert (body["total"], body["count"]) == (5, 2)
    assert [k["name"] for k in body["result"]] == ["Master", "Default public"]
    assert body["result"][0]["_links"] == {"self": f"{url}/Master"}
    assert body["result"][1]["_links"] == {"self": f"{url}/Default%20public"}
    assert body["_links"] == {
        "first": {"href": f"{url}?page=1&per_page=2"},
        "last": {"href": f"{url}?page=3&per_page=2"},
        "next": {"href": f"{url}?page=2&per_page=2"},
    }
    assert MASTER not in str(body["_links"])
    second = store.index_json(store.master, {"per_page": "2", "page": "2"}, url)
    assert [k["name"] for k in second["result"]] == ["b", "a"]
    assert set(second["_links"]) == {"first", "last", "prev", "next"}
    by_name = store.index_json(store.master, {"order": "name", "type": "regular"}, url)
    assert [k["name"] for k in by_name["result"]] == ["a", "b", "c"]
    assert by_name["_links"]["first"]["href"] == f"{url}?order=name&page=1&per_page=20&type=regular"
    several = store.index_json(store.master, {"type": "master, regular"}, url)
    assert [k["type"] for k in several["result"]] == ["master", "regular", "regular", "regular"]


def test_a_non_master_key_lists_only_itself() -> None:
    store = make_store()
    app = store.create("app", grants())
    store.create("other", grants())
    for viewer in (app, store.default_public):
        body = store.index_json(viewer, {}, "http://x/api/v3/api_keys")
        assert (body["total"], body["count"]) == (1, 1)
        assert body["result"][0]["token"] == viewer.token


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "0"}, "Wrong 'page' parameter value."),
        ({"page": "abc"}, "Wrong 'page' parameter value."),
        ({"per_page": "-1"}, "Wrong 'per_page' parameter value."),
        (
            {"order": "token"},
            "Wrong 'order' parameter value. Valid values are one of [:type, :name, :updated_at]",
        ),
        (
            {"order_direction": "up"},
            "Wrong 'order_direction' parameter value. Valid values are one of [:asc, :desc]",
        ),
        (
            {"type": "INVALID"},
            "Wrong 'type' parameter value. Valid values are one of "
            '["master", "default", "regular"]',
        ),
    ],
)
def test_bad_list_parameters_are_400(params: dict[str, str], message: str) -> None:
    store = make_store()
    error = refused(store.index_json, store.master, params, "http://x/api/v3/api_keys")
    assert (error.status, error.message) == (400, message)


def test_me_shows_the_account_only_to_the_master_key() -> None:
    store = make_store()
    app = store.create("app", grants())
    full = store.me_json(store.master, base_url="http://localhost/user/demo", table_count=3)
    assert full["user_data"]["username"] == "demo"
    assert full["user_data"]["api_key"] == MASTER
    assert full["user_data"]["table_count"] == 3
    assert full["config"]["user_name"] == "demo"
    for viewer in (None, app, store.default_public):
        anonymous = store.me_json(viewer, base_url="http://localhost/user/demo")
        assert set(anonymous) == {"user_frontend_version", "config"}
        assert MASTER not in str(anonymous)


def test_no_key_runs_as_the_default_public_key_and_an_unknown_one_as_nobody() -> None:
    store = make_store()
    assert store.for_request(None) is store.default_public
    assert store.for_request("") is store.default_public
    assert store.for_request(MASTER) is store.master
    assert store.for_request("wrong") is None


def test_the_sql_api_refuses_in_its_own_words() -> None:
    store = make_store()
    reader = store.create("reader", grants(table("stores", "select")))
    maps_only = store.create("maps", grants(table("stores", "select"), apis=["maps"]))
    public = {"shared"}.__contains__
    cases = [
        (None, [("stores", "select")], (401, "Unauthorized")),
        (maps_only, [("stores", "select")], (403, "forbidden")),
        (reader, [("stores", "select"), ("shared", "select")], None),
        (
            reader,
            [("stores", "select"), ("orders", "select")],
            (403, "permission denied for table orders"),
        ),
        (reader, [("stores", "insert")], (403, "permission denied for table stores")),
        (store.default_public, [("shared", "select")], None),
        (store.default_public, [("stores", "select")], (403, "permission denied for table stores")),
        (store.master, [("orders", "delete")], None),
    ]
    for key, accesses, expected in cases:
        assert store.sql_denial(key, accesses, is_public=public) == expected


def test_the_maps_api_refuses_in_windshafts_words() -> None:
    store = make_store()
    sql_only = store.create("sql-only", grants(apis=["sql"]))
    assert store.maps_denial(None) == (401, "Unauthorized", "api-key-not-found")
    assert store.maps_denial(sql_only) == (403, "Forbidden", "api-key-does-not-grant-access")
    assert store.maps_denial(store.default_public) is None
    assert store.maps_denial(store.master) is None


def test_a_maps_layer_reads_what_the_key_may_select_and_never_writes() -> None:
    store = make_store()
    editor = store.create("editor", grants(table("stores", "select", "delete"), apis=["maps"]))
    public = {"shared"}.__contains__
    cases = [
        (editor, [("stores", "select"), ("shared", "select")], None),
        (editor, [("orders", "select")], "permission denied for table orders"),
        # a layer only reads: a write is refused whatever the key was granted
        (editor, [("stores", "delete")], "permission denied for table stores"),
        (store.master, [("stores", "delete")], "permission denied for table stores"),
        (store.default_public, [("shared", "select")], None),
        (store.default_public, [("stores", "select")], "permission denied for table stores"),
        (store.master, [("orders", "select")], None),
        (None, [("shared", "select")], "permission denied for table shared"),
    ]
    for key, accesses, expected in cases:
        assert store.read_denial(key, accesses, is_public=public) == expected


def test_a_preset_key_keeps_its_token_and_tokens_stay_unique() -> None:
    store = make_store()
    preset = store.create("preset", grants(), token="preset-token")
    assert store.lookup("preset-token") is preset
    with pytest.raises(ValueError, match="already has this token"):
        store.create("again", grants(), token=MASTER)
