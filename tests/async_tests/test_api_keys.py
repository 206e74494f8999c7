"""The Auth API client (``carto.api_keys``) over a mocked wire."""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import httpx
import pytest
import respx

from carto_async import (
    APIConnectionError,
    APIError,
    AsyncCarto,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TableGrant,
    UnprocessableEntityError,
    ValidationError,
)
from tests.helpers import BASE_URL, KEY

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

KEYS_URL = f"{BASE_URL}/api/v3/api_keys"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
NEW_TOKEN = "aaaabbbbccccddddeeeeffff0000111122223333"


def key_body(name: str = "app", token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    """A key as the Rails presenter renders it."""
    body: dict[str, Any] = {
        "name": name,
        "user": {"username": "demo"},
        "type": "regular",
        "token": token,
        "grants": [
            {"type": "apis", "apis": ["sql"]},
            {
                "type": "database",
                "tables": [
                    {
                        "schema": "public",
                        "name": "stores",
                        "owner": False,
                        "permissions": ["select"],
                    }
                ],
                "schemas": [],
            },
        ],
        "created_at": "2026-11-29 20:10:33 +0000",
        "updated_at": "2026-11-29 20:10:33 +0000",
    }
    body.update(extra)
    return body


def list_body(names: list[str], total: int) -> dict[str, Any]:
    return {
        "total": total,
        "count": len(names),
        "result": [key_body(n, token=f"{n}-token") for n in names],
        "_links": {"first": {"href": f"{KEYS_URL}?api_key={KEY}&page=1"}},
    }


async def test_create_posts_the_grants_and_returns_the_key_with_its_token(
    carto: AsyncCarto, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    route = respx_mock.post(KEYS_URL).mock(return_value=httpx.Response(201, json=key_body()))
    key = await carto.api_keys.create(
        "app", apis=["sql"], tables=[TableGrant("public", "stores", ["select"])]
    )
    assert key.token == TOKEN
    assert key.tables == (TableGrant("public", "stores", ("select",), owner=False),)
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "name": "app",
        "grants": [
            {"type": "apis", "apis": ["sql"]},
            {
                "type": "database",
                "tables": [{"schema": "public", "name": "stores", "permissions": ["select"]}],
            },
        ],
    }
    # The Rails Auth API reads the master key from ?api_key= (never from the JSON body).
    assert request.url.params["api_key"] == KEY
    assert KEY not in request.content.decode()
    for text in (repr(key), str(key), repr(key.raw)):
        assert TOKEN not in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged
    assert KEY not in logged


async def test_a_bad_key_is_refused_before_anything_is_sent(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    with pytest.raises(ValidationError) as info:
        await carto.api_keys.create(
            "", apis=["sql", "tiles"], tables=[TableGrant("public", "t", ["read"])]
        )
    assert len(info.value.problems) == 3
    assert carto.requests_sent == 0


async def test_a_taken_name_is_unprocessable_in_the_servers_words(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(KEYS_URL).mock(
        return_value=httpx.Response(
            422,
            json={"errors": "Validation failed: Name has already been taken", "errors_cause": None},
        )
    )
    with pytest.raises(UnprocessableEntityError) as info:
        await carto.api_keys.create("app")
    assert info.value.message == "Validation failed: Name has already been taken"


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(502, text="Bad Gateway"), httpx.ReadTimeout("read timed out")],
)
async def test_create_and_regenerate_are_never_repeated_after_an_ambiguous_failure(
    carto: AsyncCarto, respx_mock: respx.MockRouter, failure: Any
) -> None:
    create = respx_mock.post(KEYS_URL).mock(side_effect=[failure])
    with pytest.raises((ServerError, APIConnectionError)):
        await carto.api_keys.create("app")
    assert create.call_count == 1
    regenerate = respx_mock.post(f"{KEYS_URL}/app/token/regenerate").mock(side_effect=[failure])
    with pytest.raises((ServerError, APIConnectionError)):
        await carto.api_keys.regenerate("app")
    assert regenerate.call_count == 1


async def test_create_is_repeated_when_nothing_was_done(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(KEYS_URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json=key_body())]
    )
    key = await carto.api_keys.create("app")
    assert key.name == "app"
    assert route.call_count == 2


async def test_get_reads_a_key_by_its_escaped_name(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{KEYS_URL}/Default%20public").mock(
        return_value=httpx.Response(
            200,
            json=key_body(
                "Default public",
                token="default_public",
                type="default",
                grants=[
                    {"type": "apis", "apis": ["sql", "maps"]},
                    {"type": "database", "tables": [], "schemas": []},
                ],
            ),
        )
    )
    key = await carto.api_keys.get("Default public")
    assert key.is_default_public
    assert key.apis == ("sql", "maps")
    assert key.tables == ()
    assert route.call_count == 1


async def test_an_unknown_key_is_not_found(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{KEYS_URL}/nope").mock(
        return_value=httpx.Response(
            404, json={"errors": "API key not found: nope", "errors_cause": None}
        )
    )
    with pytest.raises(NotFoundError, match="API key not found: nope"):
        await carto.api_keys.get("nope")


async def test_managing_keys_without_the_master_key_is_unauthorized(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(KEYS_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(AuthenticationError, match="master API key"):
        await carto.api_keys.create("app")


async def test_regenerate_returns_the_new_token(
    carto: AsyncCarto, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    respx_mock.post(f"{KEYS_URL}/app/token/regenerate").mock(
        return_value=httpx.Response(200, json=key_body(token=NEW_TOKEN))
    )
    key = await carto.api_keys.regenerate("app")
    assert key.token == NEW_TOKEN
    assert NEW_TOKEN not in repr(key)
    assert NEW_TOKEN not in "\n".join(r.getMessage() for r in caplog.records)


async def test_delete_answers_204_and_built_in_keys_cannot_be_deleted(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    ok = respx_mock.delete(f"{KEYS_URL}/app").mock(return_value=httpx.Response(204))
    assert await carto.api_keys.delete("app") is None
    assert ok.call_count == 1
    respx_mock.delete(f"{KEYS_URL}/Master").mock(
        return_value=httpx.Response(
            403,
            json={
                "errors": "You don't have permission to access that resource",
                "errors_cause": None,
            },
        )
    )
    with pytest.raises(PermissionDeniedError, match="don't have permission"):
        await carto.api_keys.delete("Master")


async def test_delete_of_a_missing_key_raises_unless_missing_ok(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.delete(f"{KEYS_URL}/gone").mock(
        return_value=httpx.Response(404, json={"errors": "API key not found: gone"})
    )
    with pytest.raises(NotFoundError):
        await carto.api_keys.delete("gone")
    await carto.api_keys.delete("gone", missing_ok=True)
    assert route.call_count == 2


async def test_list_walks_every_page_once(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(KEYS_URL).mock(
        side_effect=[
            httpx.Response(200, json=list_body(["Master", "Default public"], total=5)),
            httpx.Response(200, json=list_body(["a", "b"], total=5)),
            httpx.Response(200, json=list_body(["c"], total=5)),
        ]
    )
    pages = []
    async for page in carto.api_keys.pages(per_page=2):
        pages.append(page)
    assert [p.names() for p in pages] == [["Master", "Default public"], ["a", "b"], ["c"]]
    sent = [dict(c.request.url.params) for c in route.calls]
    assert [(p["page"], p["per_page"]) for p in sent] == [("1", "2"), ("2", "2"), ("3", "2")]
    for page in pages:
        for key in page.keys:
            assert KEY not in repr(key.raw)


async def test_list_returns_every_key_and_stops_on_an_empty_page(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(KEYS_URL).mock(
        side_effect=[
            httpx.Response(200, json=list_body(["Master", "a"], total=300)),
            httpx.Response(200, json=list_body([], total=300)),
        ]
    )
    keys = await carto.api_keys.list(types=["master", "regular"])
    assert [k.name for k in keys] == ["Master", "a"]
    assert route.calls[0].request.url.params["type"] == "master,regular"
    assert route.call_count == 2


async def test_list_page_with_a_regular_key_shows_only_that_key(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(KEYS_URL).mock(return_value=httpx.Response(200, json=list_body(["app"], 1)))
    page = await carto.api_keys.list_page()
    assert page.names() == ["app"]
    assert page.total == 1
    assert not page.has_next


async def test_list_stops_when_a_page_brings_nothing_new(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(KEYS_URL).mock(
        return_value=httpx.Response(200, json=list_body(["Master", "a"], total=10_000))
    )
    keys = await carto.api_keys.list()
    assert [k.name for k in keys] == ["Master", "a"]
    assert route.call_count == 2


async def test_an_unexpected_answer_shows_no_token_even_in_frame_locals(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(KEYS_URL).mock(
        return_value=httpx.Response(201, json={"token": TOKEN, "surprise": True})
    )
    with pytest.raises(APIError, match="unexpected API key response") as info:
        await carto.api_keys.create("app")
    shown = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert TOKEN not in shown
    assert KEY not in str(info.value)
