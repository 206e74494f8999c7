"""No error the SDK raises leads to the API key.

Error trackers record an exception's message, its chained exceptions and their attributes,
and the local variables of every frame of its traceback. For every kind of error the SDK
raises, none of those may hold the key (or the Basic credentials that encode it), even when
the server echoes the request URL back in its error body.
"""

from __future__ import annotations

import base64
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from carto_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncCarto,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ImportFailed,
    JobTimeout,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SourceChangedError,
    UnprocessableEntityError,
    ValidationError,
)
from carto_async._core.http import KeyPlacement, RequestSpec, Service
from tests.helpers import IMPORT_ID, IMPORTS_URL, KEY, SQL_URL, FakeClock, created, status_body

pytestmark = pytest.mark.anyio

SECRETS = (KEY, base64.b64encode(f"demo:{KEY}".encode()).decode())


def _texts_of(exc: BaseException) -> list[str]:
    """What an error tracker would record of one exception (not its traceback)."""
    out = [repr(exc), str(exc), *getattr(exc, "__notes__", [])]
    for name, value in vars(exc).items():
        out.append(f"{name}={value!r}")
        request = getattr(value, "request", None) if name != "request" else value
        if isinstance(request, httpx.Request):
            out.append(str(request.url))
            out.extend(f"{k}: {v}" for k, v in request.headers.items())
        if isinstance(value, httpx.Headers):
            out.extend(f"{k}: {v}" for k, v in value.items())
    return out


def assert_key_unreachable(exc: BaseException) -> None:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        recorded = "\n".join(_texts_of(current))
        for secret in SECRETS:
            assert secret not in recorded, f"{type(current).__name__} holds the key: {recorded}"
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    formatted = "".join(
        traceback.TracebackException(
            type(exc), exc, exc.__traceback__, capture_locals=True
        ).format()
    )
    for secret in SECRETS:
        assert secret not in formatted, formatted


def echo(status: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    """A server that quotes the request URL and headers in its error body (some do)."""

    def answer(request: httpx.Request) -> httpx.Response:
        quoted = f"{request.url} {dict(request.headers)}"
        return httpx.Response(status, json={"error": [f"bad request {quoted}"]}, headers=headers)

    return answer


Scenario = Callable[[AsyncCarto, respx.MockRouter, Path], Awaitable[Any]]


async def _validation(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    return await carto.imports.upload(b"x", filename="a\x00.csv")


async def _not_sent(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.post(IMPORTS_URL).mock(side_effect=httpx.ConnectError("refused"))
    return await carto.imports.from_url("https://example.com/a.csv")


async def _dropped(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.post(IMPORTS_URL).mock(side_effect=httpx.RemoteProtocolError("disconnected"))
    return await carto.imports.upload(b"a\n1\n", filename="a.csv")


async def _timeout(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.post(IMPORTS_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    return await carto.imports.from_url("https://example.com/a.csv")


def _status(status: int, **headers: str) -> Scenario:
    async def scenario(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
        mock.post(IMPORTS_URL).mock(side_effect=echo(status, **headers))
        return await carto.imports.upload(b"a\n1\n", filename="a.csv")

    return scenario


async def _sql_error(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.get(SQL_URL).mock(side_effect=echo(400))
    return await carto.sql.query("select nonsense")


async def _sql_timeout(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            429, json={"error": ["canceling statement due to statement timeout"]}
        )
    )
    return await carto.sql.query("select pg_sleep(1000)")


async def _import_failed(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.post(IMPORTS_URL).mock(return_value=created())
    mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        return_value=httpx.Response(200, json=status_body("failure", error_code=1002))
    )
    job = await carto.imports.upload(b"a\n1\n", filename="a.csv")
    return await job.wait()


async def _job_timeout(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        return_value=httpx.Response(200, json=status_body("importing"))
    )
    mock.get(IMPORTS_URL).mock(
        return_value=httpx.Response(200, json={"imports": [IMPORT_ID], "success": True})
    )
    return await carto.imports.job(IMPORT_ID).wait(timeout=5)


async def _source_changed(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    mock.post(IMPORTS_URL).mock(return_value=created())
    path = tmp / "a.csv"
    path.write_bytes(b"a\n" + b"1\n" * 400_000)

    def shrink(done: int, total: int | None) -> None:
        if done:
            path.write_bytes(b"a\n")

    return await carto.imports.upload(path, progress=shrink)


async def _broken_download(carto: AsyncCarto, mock: respx.MockRouter, tmp: Path) -> Any:
    async def cut() -> AsyncIterator[bytes]:
        yield b"abc"
        raise httpx.ReadError("reset")

    mock.get(f"{IMPORTS_URL}/x.csv").mock(return_value=httpx.Response(200, content=cut()))
    spec = RequestSpec("GET", "/api/v1/imports/x.csv", Service.IMPORTS, key=KeyPlacement.QUERY)
    return await carto._transport.download(spec, tmp / "x.csv")


SCENARIOS: dict[str, tuple[Scenario, type[BaseException]]] = {
    "validation": (_validation, ValidationError),
    "not-sent": (_not_sent, APIConnectionError),
    "dropped": (_dropped, APIConnectionError),
    "timeout": (_timeout, APITimeoutError),
    "400": (_status(400), BadRequestError),
    "401": (_status(401), AuthenticationError),
    "403": (_status(403), PermissionDeniedError),
    "404": (_status(404), NotFoundError),
    "409": (_status(409), ConflictError),
    "422": (_status(422), UnprocessableEntityError),
    "429": (_status(429, **{"Retry-After": "3600"}), RateLimitError),
    "500": (_status(500), ServerError),
    "sql-400": (_sql_error, BadRequestError),
    "sql-timeout": (_sql_timeout, RateLimitError),
    "import-failed": (_import_failed, ImportFailed),
    "job-timeout": (_job_timeout, JobTimeout),
    "source-changed": (_source_changed, SourceChangedError),
    "broken-download": (_broken_download, APIConnectionError),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_no_error_leads_to_the_key(
    carto: AsyncCarto,
    respx_mock: respx.MockRouter,
    tmp_path: Path,
    clock: FakeClock,
    name: str,
) -> None:
    scenario, expected = SCENARIOS[name]
    with pytest.raises(expected) as info:
        await scenario(carto, respx_mock, tmp_path)
    assert_key_unreachable(info.value)


async def test_the_server_quoting_the_url_is_redacted_not_dropped(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(IMPORTS_URL).mock(side_effect=echo(400))
    with pytest.raises(BadRequestError) as info:
        await carto.imports.upload(b"a\n1\n", filename="a.csv")
    assert "api_key=***" in str(info.value)
    assert "api_key=***" in str(info.value.body)
