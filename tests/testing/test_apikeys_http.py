"""LocalCarto's Auth API handlers over real loopback sockets: the SDK (async and sync), the
unmodified carto-python ``APIKeyManager``, and the wire shapes themselves.

LocalCarto's route table serves them (``/user/<name>/api/v3/...``); :data:`AUTH_API_ROUTES`
still routes them for any other app (checked at the end).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from carto.api_keys import APIKeyManager
from carto.auth import APIKeyAuthClient, AuthAPIClient
from pyrestcli.exceptions import UnprocessableEntityError as RestUnprocessableEntityError

from carto_async import (
    AsyncCarto,
    AuthenticationError,
    Carto,
    NotFoundError,
    PermissionDeniedError,
    TableGrant,
    UnprocessableEntityError,
)
from carto_async.testing import LocalCarto
from carto_async.testing._http.apikeys import AUTH_API_ROUTES, match_auth_api, me
from carto_async.testing._http.auth import PRESET_REGULAR_NAME

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")

# base64("demo:" + MASTER) has only letters and digits, so Rails' Basic-header regex reads it
# whole (a "+" or "/" would cut it short, on CARTO as here).
MASTER = "localmaster0123456789"
TABLES = {("public", "stores"), ("public", "orders")}


class AuthServer:
    """LocalCarto with tables ``stores`` and ``orders``, and only the built-in keys."""

    def __init__(self) -> None:
        self.server = LocalCarto(api_key=MASTER)

    def __enter__(self) -> AuthServer:
        self.server.start()
        self.store = self.server.key_store
        # Only CARTO's built-in keys: LocalCarto's preset regular key goes away.
        self.store.delete(PRESET_REGULAR_NAME, self.store.master)
        for _, name in sorted(TABLES):
            self.server.db.execute(f"CREATE TABLE {name} (a int)")
        self.base_url = self.server.base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


@pytest.fixture
def auth_server() -> Iterator[AuthServer]:
    with AuthServer() as running:
        yield running


@pytest.fixture
def http(auth_server: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_server.base_url, timeout=10.0) as client:
        yield client


def master_params(**extra: str) -> dict[str, str]:
    return {"api_key": MASTER, **extra}


# -- the SDK ---------------------------------------------------------------------------------


def test_the_sync_sdk_manages_keys_end_to_end(auth_server: AuthServer) -> None:
    with Carto("demo", MASTER, auth_server.base_url) as carto:
        key = carto.api_keys.create(
            "store-locator", apis=["sql"], tables=[TableGrant("public", "stores", ["select"])]
        )
        assert key.is_regular
        assert key.tables == (TableGrant("public", "stores", ("select",), owner=False),)
        assert key.token
        assert key.token not in repr(key)
        assert auth_server.store.lookup(key.token) is not None
        assert carto.api_keys.get("store-locator") == key
        assert [k.name for k in carto.api_keys.list()] == [
            "Master",
            "Default public",
            "store-locator",
        ]
        with pytest.raises(UnprocessableEntityError, match="Name has already been taken"):
            carto.api_keys.create("store-locator")
        with pytest.raises(
            UnprocessableEntityError, match="can only grant table permissions you have"
        ):
            carto.api_keys.create("x", tables=[TableGrant("public", "missing", ["select"])])
        with pytest.raises(PermissionDeniedError, match="don't have permission"):
            carto.api_keys.delete("Master")

        with Carto("demo", key.token, auth_server.base_url) as app:
            assert [k.name for k in app.api_keys.list()] == ["store-locator"]
            with pytest.raises(NotFoundError, match="API key not found: Master"):
                app.api_keys.get("Master")
            with pytest.raises(AuthenticationError):
                app.api_keys.create("escalate")

        renewed = carto.api_keys.regenerate("store-locator")
        assert renewed.token != key.token
        with (
            Carto("demo", key.token, auth_server.base_url) as stale,
            pytest.raises(AuthenticationError),
        ):
            stale.api_keys.get("store-locator")

        carto.api_keys.delete("store-locator")
        with pytest.raises(NotFoundError):
            carto.api_keys.get("store-locator")
        carto.api_keys.delete("store-locator", missing_ok=True)


@pytest.mark.anyio
async def test_the_async_sdk_pages_through_many_keys(auth_server: AuthServer) -> None:
    async with AsyncCarto("demo", MASTER, auth_server.base_url) as carto:
        for i in range(7):
            await carto.api_keys.create(f"k{i}", apis=["maps"])
        pages = []
        async for page in carto.api_keys.pages(per_page=4, types="regular"):
            pages.append(page.names())
        assert pages == [["k0", "k1", "k2", "k3"], ["k4", "k5", "k6"]]
        keys = await carto.api_keys.list()
        assert len(keys) == 9
        assert {k.apis for k in keys if k.is_regular} == {("maps",)}


# -- the unmodified carto-python -------------------------------------------------------------


def test_carto_python_api_key_manager_works_unmodified(auth_server: AuthServer) -> None:
    auth = APIKeyAuthClient(auth_server.base_url + "/", MASTER)
    try:
        manager = APIKeyManager(auth)
        # Tables as dicts: carto-python sends its own TableGrant objects as nulls.
        grant = {"schema": "public", "name": "stores", "permissions": ["select", "insert"]}
        created = manager.create(name="from-carto-python", apis=["sql", "maps"], tables=[grant])
        assert created.type == "regular"
        assert created.token
        assert created.grants.apis == ["sql", "maps"]
        assert created.grants.tables[0].name == "stores"
        got = manager.get("from-carto-python")
        assert got.token == created.token
        assert {k.name for k in manager.all()} == {"Master", "Default public", "from-carto-python"}
        old = got.token
        got.regenerate_token()
        assert auth_server.store.lookup(old) is None
        got.delete()
        assert {k.name for k in manager.all()} == {"Master", "Default public"}
        with pytest.raises(RestUnprocessableEntityError, match="did not match one of"):
            manager.create(
                name="bad",
                apis=["sql"],
                tables=[{"schema": "public", "name": "x", "permissions": ["read"]}],
            )
    finally:
        auth.session.close()


def test_carto_python_auth_api_client_validates_keys_with_basic_auth(
    auth_server: AuthServer,
) -> None:
    assert re.fullmatch(r"\w+", base64.b64encode(f"demo:{MASTER}".encode()).decode().rstrip("="))
    client = AuthAPIClient(auth_server.base_url + "/", MASTER)
    try:
        assert client.is_valid_api_key()
    finally:
        client.session.close()
    wrong = AuthAPIClient(auth_server.base_url + "/", "not-a-key")
    try:
        assert not wrong.is_valid_api_key()
    finally:
        wrong.session.close()


# -- the wire ----------------------------------------------------------------------------------


def test_create_answers_201_with_the_presenters_shape(http: httpx.Client) -> None:
    response = http.post(
        "/api/v3/api_keys",
        params=master_params(),
        json={"name": "app", "grants": [{"type": "apis", "apis": ["sql"]}]},
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["name", "user", "type", "token", "grants", "created_at", "updated_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", body["created_at"])


def test_the_key_may_travel_in_the_json_body_as_carto_python_sends_it(http: httpx.Client) -> None:
    response = http.post(
        "/api/v3/api_keys/",
        json={"name": "app", "grants": [{"type": "apis", "apis": []}], "api_key": MASTER},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v3/api_keys"),
        ("GET", "/api/v3/api_keys"),
        ("GET", "/api/v3/api_keys/Master"),
        ("DELETE", "/api/v3/api_keys/Master"),
        ("POST", "/api/v3/api_keys/Master/token/regenerate"),
    ],
)
def test_no_key_or_a_wrong_key_is_401_with_an_empty_body(
    http: httpx.Client, method: str, path: str
) -> None:
    for params in ({}, {"api_key": "wrong"}):
        response = http.request(method, path, params=params)
        assert (response.status_code, response.content) == (401, b"")
    basic = "Basic " + base64.b64encode(f"someone:{MASTER}".encode()).decode()
    response = http.request(method, path, headers={"Authorization": basic})
    assert response.status_code == 401


def test_the_default_public_key_reads_only_itself(http: httpx.Client) -> None:
    response = http.get("/api/v3/api_keys", params={"api_key": "default_public"})
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["count"]) == (1, 1)
    assert body["result"][0]["name"] == "Default public"
    shown = http.get("/api/v3/api_keys/Default%20public", params={"api_key": "default_public"})
    assert shown.json()["token"] == "default_public"
    hidden = http.get("/api/v3/api_keys/Master", params={"api_key": "default_public"})
    assert hidden.status_code == 404
    assert hidden.json() == {"errors": "API key not found: Master", "errors_cause": None}
    assert MASTER not in hidden.text


def test_errors_are_rails_json_and_delete_is_204(http: httpx.Client) -> None:
    invalid = http.post("/api/v3/api_keys", params=master_params(), json={"name": "app"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == "Validation failed: Grants grants has to be an array"
    listing = http.get("/api/v3/api_keys", params=master_params(type="INVALID"))
    assert listing.status_code == 400
    assert listing.json()["errors"].startswith("Wrong 'type' parameter value.")
    http.post(
        "/api/v3/api_keys",
        params=master_params(),
        json={"name": "gone", "grants": [{"type": "apis", "apis": []}]},
    )
    deleted = http.delete("/api/v3/api_keys/gone", params=master_params())
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_jsonp_callbacks_wrap_successes(http: httpx.Client) -> None:
    response = http.get("/api/v3/api_keys/Master", params=master_params(callback="cb"))
    assert response.text.startswith("/**/cb(")
    bad = http.get("/api/v3/api_keys/Master", params=master_params(callback="a b"))
    assert bad.status_code == 400


def test_hostile_bodies_get_a_400_not_a_crash(http: httpx.Client) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = http.post(
        "/api/v3/api_keys",
        params=master_params(),
        content=deep,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    huge = http.post(
        "/api/v3/api_keys",
        params=master_params(),
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 400
    assert http.get("/api/v3/api_keys/Master", params=master_params()).status_code == 200


def test_me_shows_the_account_to_the_master_key_only(http: httpx.Client) -> None:
    full = http.get("/api/v3/me", params=master_params())
    assert full.status_code == 200
    data: dict[str, Any] = full.json()
    assert data["user_data"]["username"] == "demo"
    assert data["user_data"]["base_url"].endswith("/user/demo")
    for params in ({}, {"api_key": "default_public"}, {"api_key": "wrong"}):
        anonymous = http.get("/api/v3/me", params=params)
        assert anonymous.status_code == 200
        assert "user_data" not in anonymous.json()
        assert MASTER not in anonymous.text


def test_a_regenerated_master_key_replaces_the_old_one(http: httpx.Client) -> None:
    response = http.post("/api/v3/api_keys/Master/token/regenerate", params=master_params())
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != MASTER
    assert http.get("/api/v3/api_keys", params={"api_key": MASTER}).status_code == 401
    assert http.get("/api/v3/api_keys", params={"api_key": new}).status_code == 200


def test_the_route_table_serves_every_auth_api_route(http: httpx.Client) -> None:
    """Paths may end in a slash, names arrive percent-decoded, and the routes stay listed
    for other apps."""
    assert [(r.method, r.template) for r in AUTH_API_ROUTES] == [
        ("GET", "/api/v3/api_keys"),
        ("POST", "/api/v3/api_keys"),
        ("POST", "/api/v3/api_keys/{name}/token/regenerate"),
        ("GET", "/api/v3/api_keys/{name}"),
        ("DELETE", "/api/v3/api_keys/{name}"),
        ("GET", "/api/v3/me"),
    ]
    found = match_auth_api("get", "/api/v3/me/")
    assert found is not None
    assert found[0].handler is me
    grants = [{"type": "apis", "apis": ["sql"]}]
    created = http.post(
        "/api/v3/api_keys/", params=master_params(), json={"name": "with space", "grants": grants}
    )
    assert created.status_code == 201
    shown = http.get("/api/v3/api_keys/with%20space/", params=master_params())
    assert shown.status_code == 200
    assert shown.json()["name"] == "with space"
    assert http.get("/api/v3/me/", params=master_params()).json()["user_data"]["table_count"] == 2
