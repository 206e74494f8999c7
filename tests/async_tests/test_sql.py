"""The minimal SQL query over a mocked wire."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx

from carto_async import APIError, AsyncCarto, BadRequestError
from tests.helpers import KEY, SQL_URL, fixture

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end


async def test_query_sends_basic_auth_and_keeps_the_key_out_of_the_url(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "rows": [{"n": 3}],
                "time": 0.002,
                "fields": {"n": {"type": "number", "pgtype": "int8"}},
                "total_rows": 1,
            },
        )
    )
    result = await carto.sql.query("select count(*) as n from stores")
    assert result.rows == [{"n": 3}]
    assert result.fields["n"].type == "number"
    assert result.total_rows == 1
    request = route.calls.last.request
    assert request.url.params["q"] == "select count(*) as n from stores"
    assert KEY not in str(request.url)
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"demo:{KEY}".encode()).decode()
    )


async def test_long_queries_are_posted_as_a_form(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(SQL_URL).mock(
        return_value=httpx.Response(
            200, json={"rows": [], "time": 0, "fields": {}, "total_rows": 0}
        )
    )
    q = "select 1 where 1 in (" + ",".join(["1"] * 1000) + ")"
    await carto.sql.query(q)
    assert route.calls.last.request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_sql_errors_carry_the_server_message(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    body = fixture("sql", "error_syntax_400.json")
    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(BadRequestError) as info:
        await carto.sql.query("select from where")
    assert info.value.message == body["error"][0]


async def test_an_error_member_with_http_200_raises(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "rows": [{"x": 1}],
                "time": 0.1,
                "fields": {},
                "total_rows": 1,
                "error": ["canceling statement due to statement timeout"],
            },
        )
    )
    with pytest.raises(APIError, match="statement timeout"):
        await carto.sql.query("select x from big")


async def test_writes_are_not_retried_after_a_server_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(500))
    with pytest.raises(APIError):
        await carto.sql.query("insert into t values (1)")
    assert route.call_count == 1
    with pytest.raises(APIError):
        await carto.sql.query("select 1")
    assert route.call_count == 1 + 3
