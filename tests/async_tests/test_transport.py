"""Retries, rate limits, timeouts and redaction over a mocked wire."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from carto_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncCarto,
    RateLimitError,
    ServerError,
)
from tests.helpers import IMPORT_ID, IMPORTS_URL, KEY, SQL_URL, FakeClock, created, statuses

pytestmark = pytest.mark.anyio

SQL_OK = httpx.Response(
    200,
    json={
        "rows": [{"x": 1}],
        "time": 0.001,
        "fields": {"x": {"type": "number", "pgtype": "int4"}},
        "total_rows": 1,
    },
)
RATE_LIMITED = {
    "error": ["You are over platform's limits. Please contact us to know more details"],
    "context": "limit",
    "detail": "rate-limit",
}
SLOTS = {"errors": {"imports": "We're sorry but you're already using your allowed 3 import slots"}}


async def test_a_read_timeout_on_an_import_post_is_raised_not_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(APITimeoutError) as info:
        await carto.imports.from_url("https://example.com/a.csv")
    assert route.call_count == 1
    assert info.value.request_sent
    assert "could do the work twice" in str(info.value)


async def test_a_connection_dropped_after_an_upload_is_not_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(
        side_effect=httpx.RemoteProtocolError("Server disconnected without sending a response.")
    )
    with pytest.raises(APIConnectionError) as info:
        await carto.imports.upload(b"a\n1\n", filename="a.csv")
    assert route.call_count == 1
    assert info.value.request_sent


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_errors_on_a_creating_post_are_not_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter, status: int
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=httpx.Response(status))
    with pytest.raises(ServerError):
        await carto.imports.upload(b"a\n1\n", filename="a.csv")
    assert route.call_count == 1


async def test_a_503_on_post_is_retried(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(side_effect=[httpx.Response(503), created()])
    job = await carto.imports.upload(b"a\n1\n", filename="a.csv")
    assert job.id == IMPORT_ID
    assert route.call_count == 2
    # The retried upload sent the whole body again.
    assert route.calls[0].request.content == route.calls[1].request.content


async def test_a_connect_error_is_retried_even_for_a_creating_post(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(
        side_effect=[httpx.ConnectError("refused"), created()]
    )
    await carto.imports.from_url("https://example.com/a.csv")
    assert route.call_count == 2


async def test_status_polls_are_retried_on_server_errors(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=[httpx.Response(502), httpx.ReadTimeout("slow"), *statuses("complete")]
    )
    assert (await carto.imports.get(IMPORT_ID)).state == "complete"
    assert route.call_count == 3


async def test_a_429_with_retry_after_is_waited_and_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(SQL_URL).mock(
        side_effect=[
            httpx.Response(
                429,
                json=RATE_LIMITED,
                headers={
                    "Retry-After": "3",
                    "Carto-Rate-Limit-Limit": "2",
                    "Carto-Rate-Limit-Remaining": "0",
                    "Carto-Rate-Limit-Reset": "2",
                },
            ),
            SQL_OK,
        ]
    )
    result = await carto.sql.query("select 1 as x")
    assert result.rows == [{"x": 1}]
    assert route.call_count == 2
    assert 3 <= max(clock.slept) <= 4
    assert carto.rate_limit is not None
    assert carto.rate_limit.limit == 2


async def test_retry_after_over_the_cap_raises_rate_limit_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "3600"})
    )
    with pytest.raises(RateLimitError) as info:
        await carto.sql.query("select 1")
    assert route.call_count == 1
    assert info.value.retry_after == 3600
    assert info.value.kind == "rate-limit"
    assert clock.slept == []


async def test_import_slot_429s_are_waited_out(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(
        side_effect=[
            httpx.Response(429, json=SLOTS),
            httpx.Response(429, json=SLOTS),
            httpx.Response(429, json=SLOTS),
            created(),
        ]
    )
    job = await carto.imports.upload(b"a\n1\n", filename="a.csv")
    assert job.id == IMPORT_ID
    assert route.call_count == 4
    assert len(clock.slept) == 3


async def test_max_retries_per_call(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(503))
    with pytest.raises(ServerError):
        await carto.sql.query("select 1", max_retries=0)
    assert route.call_count == 1
    with pytest.raises(ServerError):
        await carto.sql.query("select 1")
    assert route.call_count == 1 + 3


async def test_the_key_stays_out_of_logs_and_errors(
    carto: AsyncCarto, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    respx_mock.post(IMPORTS_URL).mock(
        side_effect=[
            httpx.ConnectError(f"refused {KEY}"),
            httpx.ConnectError("refused"),
            httpx.ConnectError("refused"),
        ]
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(APIConnectionError) as info:
        await carto.imports.from_url("https://example.com/a.csv")
    assert not info.value.request_sent
    assert KEY not in str(info.value)
    assert KEY not in caplog.text
    assert "retrying POST" in caplog.text
    assert KEY not in repr(carto)
