"""The minimal SQL query over a mocked wire."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx

from carto_async import APIError, AsyncCarto, BadRequestError, Bounds, Identifier, ValidationError
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


async def test_query_options_and_params_go_on_the_wire(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200, json={"rows": [], "time": 0, "fields": {}, "total_rows": 0}
        )
    )
    await carto.sql.query(
        "select * from {{t}} where name = {{name}}",
        params={"t": Identifier("public", "my stores"), "name": "O'Brien"},
        skipfields=["the_geom", "the_geom_webmercator"],
        dp=3,
        page=2,
        rows_per_page=25,
        order_by="name",
        sort_order="DESC",
    )
    sent = route.calls.last.request.url.params
    assert sent["q"] == "select * from \"public\".\"my stores\" where name = 'O''Brien'"
    assert sent["skipfields"] == "the_geom,the_geom_webmercator"
    assert sent["dp"] == "3"
    assert (sent["page"], sent["rows_per_page"]) == ("2", "25")
    assert (sent["order_by"], sent["sort_order"]) == ("name", "desc")


async def test_bad_options_raise_before_anything_is_sent(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(500))
    with pytest.raises(ValidationError) as info:
        await carto.sql.query(
            "select {{a}}", params={"b": 1}, sort_order="sideways", rows_per_page=0
        )
    assert len(info.value.problems) == 4
    assert route.call_count == 0


async def test_bounds_sends_the_getbounds_query_and_parses_the_extent(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "rows": [{"minx": -3.5, "miny": 2, "maxx": 1, "maxy": 5.25}],
                "time": 0.01,
                "fields": {k: {"type": "number", "pgtype": "float8"} for k in ("minx",)},
                "total_rows": 1,
            },
        )
    )
    box = await carto.sql.bounds("select * from stores where city = {{c}}", params={"c": "Oslo"})
    assert box == Bounds(minx=-3.5, miny=2.0, maxx=1.0, maxy=5.25)
    q = route.calls.last.request.url.params["q"]
    assert q.startswith("SELECT ST_XMin(ST_Extent(the_geom)) as minx")
    assert "FROM (\nselect * from stores where city = 'Oslo'\n) as subq" in q


async def test_bounds_of_a_query_without_geometries_is_none(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "rows": [{"minx": None, "miny": None, "maxx": None, "maxy": None}],
                "time": 0.01,
                "fields": {},
                "total_rows": 1,
            },
        )
    )
    assert await carto.sql.bounds("select * from stores where false") is None


@pytest.mark.integration
async def test_templating_and_query_options_against_localcarto(local: AsyncCarto) -> None:
    await local.sql.query("create table people (name text, n integer)")
    await local.sql.query(
        "insert into people values ({{a}}, 1), ({{b}}, 2), ({{c}}, 3), ({{d}}, 4)",
        params={"a": "O'Brien", "b": "back\\slash", "c": "$$; drop table people; --", "d": None},
    )
    found = await local.sql.query(
        "select name, n from {{t}} where name = {{name}} or n in {{ns}}",
        params={"t": Identifier("people"), "name": "O'Brien", "ns": [2, 3]},
        order_by="n",
        sort_order="desc",
    )
    assert found.rows == [
        {"name": "$$; drop table people; --", "n": 3},
        {"name": "back\\slash", "n": 2},
        {"name": "O'Brien", "n": 1},
    ]
    paged = await local.sql.query(
        "select * from people", order_by="n", rows_per_page=2, page=1, skipfields="name"
    )
    assert paged.rows == [{"n": 3}, {"n": 4}]
    assert "name" not in paged.fields
    assert (await local.sql.query("select count(*) as c from people")).rows == [{"c": 4}]
