"""``http_backend="aiohttp"``: the same guarantees as httpx's transport, over real sockets.

respx cannot drive aiohttp, so the integration and resilience suites run here again against
LocalCarto with the aiohttp transport (their test functions are imported, and every client
LocalCarto hands out uses the backend), and the transport's own promises (error mapping,
timeouts, streaming both ways, connection hygiene) are checked against small servers on
loopback. asyncio only: aiohttp cannot run under trio.

This module has no sync twin (``gen_sync`` skips it).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import httpx
import pytest

from carto_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncCarto,
    BadRequestError,
    PollPolicy,
    RetryPolicy,
    ValidationError,
)
from carto_async._async._aiohttp import AiohttpClient, AiohttpTransport, map_error
from carto_async.testing import Faults, LocalCarto
from tests.async_tests.test_integration import (  # noqa: F401 - collected again, on aiohttp
    files_server,
    test_collision_strategies,
    test_csv_upload_lands_rows_with_point_geometries,
    test_failures_carry_the_real_error_codes,
    test_geojson_and_zip_uploads,
    test_import_slots_are_waited_for_and_nothing_is_duplicated,
    test_list_and_get_of_real_imports,
    test_table_copy_and_table_from_query,
    test_url_import_from_a_local_http_server,
)
from tests.async_tests.test_resilience import (  # noqa: F401 - collected again, on aiohttp
    test_a_dropped_response_to_a_create_is_reported_not_repeated,
    test_fifty_imports_under_503s_and_a_rate_limit_all_land_exactly_once,
)
from tests.datasets import stores_csv
from tests.helpers import KEY

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAST = PollPolicy(initial=0.05, factor=1.5, cap=0.3)
MiB = 2**20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _aiohttp_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SDK client LocalCarto hands out in this module sends through aiohttp."""
    plain = LocalCarto.async_client

    def async_client(self: LocalCarto, **options: Any) -> AsyncCarto:
        client = plain(self, http_backend="aiohttp", **options)
        assert isinstance(aiohttp_transport(client), AiohttpTransport)
        return client

    monkeypatch.setattr(LocalCarto, "async_client", async_client)


def aiohttp_transport(carto: AsyncCarto) -> AiohttpTransport:
    transport = carto._transport.http._transport
    assert isinstance(transport, AiohttpTransport)
    return transport


# -- choosing the backend ----------------------------------------------------------------------


def test_the_backend_is_chosen_with_one_argument() -> None:
    carto = AsyncCarto("demo", KEY, "https://demo.carto.com", http_backend="aiohttp")
    assert isinstance(carto._transport.http, AiohttpClient)
    assert isinstance(aiohttp_transport(carto), AiohttpTransport)
    assert carto._transport.http.timeout == httpx.Timeout(60.0, connect=10.0)
    assert not isinstance(
        AsyncCarto("demo", KEY, "https://demo.carto.com")._transport.http._transport,
        AiohttpTransport,
    )


def test_bad_backend_choices_are_validation_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="'httpx' or 'aiohttp'"):
        AsyncCarto("demo", KEY, http_backend="curl")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not both"):
        AsyncCarto("demo", KEY, http_client=httpx.AsyncClient(), http_backend="aiohttp")
    # The extra is missing: importing the transport fails.
    monkeypatch.setitem(sys.modules, "carto_async._async._aiohttp", None)
    with pytest.raises(ValidationError, match=r"pip install 'carto-async\[aiohttp\]'"):
        AsyncCarto("demo", KEY, http_backend="aiohttp")


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_is_refused_with_a_clear_error(anyio_backend: str) -> None:
    with pytest.raises(ValidationError, match="cannot run under trio"):
        AsyncCarto("demo", KEY, http_backend="aiohttp")
    # A client made outside any event loop and first used under trio says so too.
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(ValidationError, match="cannot run under trio"):
            await http.get("http://127.0.0.1:9/")


# -- the SDK over aiohttp against LocalCarto ---------------------------------------------------


async def test_sql_queries_forms_and_errors(local: AsyncCarto) -> None:
    result = await local.sql.query("select 1 as x, 'a b&c=d' as s")
    assert result.rows == [{"x": 1, "s": "a b&c=d"}]
    long_query = "select '" + "x" * 10_000 + "' as s"  # posted as a form
    assert (await local.sql.query(long_query)).rows == [{"s": "x" * 10_000}]
    with pytest.raises(BadRequestError) as info:
        await local.sql.query("select * from no_such_table")
    assert 'relation "no_such_table" does not exist' in str(info.value)
    assert KEY not in str(info.value)
    assert local.rate_limit is None or local.rate_limit.limit >= 0


async def test_a_hundred_queries_in_flight_share_the_pool(local_server: LocalCarto) -> None:
    async with local_server.async_client(max_concurrent_requests=16) as carto:
        results = await asyncio.gather(*[carto.sql.query(f"select {i} as i") for i in range(100)])
        assert [r.rows[0]["i"] for r in results] == list(range(100))
        in_use, idle = aiohttp_transport(carto).pool_state()
        assert in_use == 0
        assert 1 <= idle <= 16  # the limiter and the pool cap agree
        assert carto.requests_sent == 100
    assert aiohttp_transport(carto).pool_state() == (0, 0)


async def test_a_refused_connection_is_retried_then_reported_as_not_sent() -> None:
    with LocalCarto() as server:
        base_url = server.base_url
    # The server is gone: its port refuses connections.
    retry = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_cap=0.002)
    async with AsyncCarto("demo", KEY, base_url, http_backend="aiohttp", retry=retry) as carto:
        with pytest.raises(APIConnectionError) as info:
            await carto.sql.query("select 1")
    assert not info.value.request_sent
    assert carto.requests_sent == 3  # nothing was sent: every attempt could be repeated
    assert "ConnectError" in str(info.value)
    assert KEY not in str(info.value)


async def test_a_read_timeout_is_retried_for_a_query_and_final_without_retries(
    tmp_path: Path,
) -> None:
    faults = Faults(seed=2)
    faults.slow_body("sql.query", seconds=2.0, count=1)
    with LocalCarto(faults=faults) as server:
        async with server.async_client(timeout=0.4, max_retries=1) as carto:
            assert (await carto.sql.query("select 1 as x")).rows == [{"x": 1}]
            assert carto.requests_sent == 2
            faults.slow_body("sql.query", seconds=2.0, count=1)
            with pytest.raises(APITimeoutError) as info:
                await carto.sql.query("select 2 as x", max_retries=0)
            assert info.value.request_sent
            assert "ReadTimeout" in str(info.value)
            assert aiohttp_transport(carto).pool_state()[0] == 0


async def test_no_connection_is_left_open_after_retries_timeouts_and_cancellation(
    tmp_path: Path,
) -> None:
    faults = Faults(seed=5)
    faults.drop_connection("imports.show", after=False, count=2)
    faults.slow_body("sql.query", seconds=2.0, count=1)
    with LocalCarto(faults=faults) as server:
        async with server.async_client(poll=FAST, max_retries=3, timeout=0.5) as carto:
            transport = aiohttp_transport(carto)
            job = await carto.imports.upload(stores_csv(tmp_path))
            await job.wait(timeout=30)  # its first polls met dropped connections
            await carto.sql.query("select 1 as x")  # the first answer trickled past the timeout
            with anyio.move_on_after(0.01):
                await carto.imports.upload(stores_csv(tmp_path, "cancelled.csv"))
            await asyncio.sleep(0)
            in_use, _ = transport.pool_state()
            assert in_use == 0
            # The pool still works after all that.
            assert (await carto.sql.query("select 3 as x")).rows == [{"x": 3}]
        assert transport.pool_state() == (0, 0)


# -- the transport itself, against small servers on loopback -----------------------------------


class _Server:
    """An asyncio TCP server on loopback whose connection handler the test writes."""

    def __init__(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]):
        self.handler = handler
        self.received = 0
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}


async def _read_chunked(reader: asyncio.StreamReader, server: _Server) -> None:
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        server.received += size
        if size == 0:
            return


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        yield client


class CountingBody(httpx.AsyncByteStream):
    """``total`` bytes made on the fly in ``chunk``-byte pieces, never held at once."""

    def __init__(
        self,
        total: int,
        chunk: int = 64 * 1024,
        check: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.total, self.chunk, self.check = total, chunk, check
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            if self.check is not None:
                await self.check(self.sent)
            size = min(self.chunk, self.total - self.sent)
            self.sent += size
            yield b"x" * size

    async def aclose(self) -> None:
        self.closed = True


async def test_a_streamed_upload_leaves_while_the_body_is_still_being_made(
    http: httpx.AsyncClient,
) -> None:
    server: _Server

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await _read_head(reader)
        assert headers.get("transfer-encoding") == "chunked"
        await _read_chunked(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    seen_by_server: list[int] = []

    async def check(made: int) -> None:
        if made == 16 * MiB:  # halfway: the server already has most of what was made
            for _ in range(200):
                if server.received >= 8 * MiB:
                    break
                await asyncio.sleep(0.01)
            seen_by_server.append(server.received)

    server = _Server(handler)
    body = CountingBody(32 * MiB, check=check)
    tracemalloc.start()
    try:
        async with server as url:
            response = await http.post(url, content=body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.text == "ok"
    assert server.received == 32 * MiB
    assert seen_by_server
    assert seen_by_server[0] >= 8 * MiB  # streamed, not buffered first
    assert peak < 8 * MiB  # 32 MiB went through in constant memory


async def test_a_content_length_upload_is_sent_with_its_length(http: httpx.AsyncClient) -> None:
    server: _Server

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await _read_head(reader)
        assert "transfer-encoding" not in headers
        body = await reader.readexactly(int(headers["content-length"]))
        server.received += len(body)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    server = _Server(handler)
    async with server as url:
        response = await http.post(
            url, content=CountingBody(300_000), headers={"Content-Length": "300000"}
        )
    assert response.status_code == 201
    assert server.received == 300_000


async def test_a_failing_body_source_raises_its_own_error(http: httpx.AsyncClient) -> None:
    class Vanishing(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"a" * 1000
            raise FileNotFoundError("stores.csv was removed during the upload")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await reader.read()

    async with _Server(handler) as url:
        with pytest.raises(FileNotFoundError, match="removed during the upload"):
            await http.post(url, content=Vanishing())


async def test_a_stalled_upload_hits_the_write_timeout() -> None:
    stop = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()  # never reads: the socket buffers fill up

    transport = AiohttpTransport()
    async with (
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, write=0.3)) as http,
        _Server(handler) as url,
    ):
        body = CountingBody(512 * MiB, chunk=1024 * 1024)
        with pytest.raises(httpx.WriteTimeout):
            await http.post(url, content=body)
        stop.set()
        assert body.sent < 512 * MiB
        assert transport.pool_state() == (0, 0)  # that connection was closed, not pooled


async def test_responses_stream_and_an_early_close_drops_the_connection(
    http: httpx.AsyncClient,
) -> None:
    release = asyncio.Event()
    transport = http._transport
    assert isinstance(transport, AiohttpTransport)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"a" * 100_000)
        await writer.drain()
        await release.wait()
        writer.write(b"b" * 100_000)
        await writer.drain()
        await reader.read()

    async with _Server(handler) as url:
        async with http.stream("GET", url) as response:
            got = 0
            async for chunk in response.aiter_raw():
                got += len(chunk)
                if got >= 100_000:
                    break  # the first half arrived before the server sent the rest
            assert got == 100_000
            assert transport.pool_state() == (1, 0)
        # Closed before its end: the connection is not returned to the pool.
        assert transport.pool_state() == (0, 0)
        release.set()


async def test_the_client_sends_direct_unless_httpx_features_are_asked_for() -> None:
    seen: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                headers = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            seen.append(headers.get("authorization", "-"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"z" * 300_000)
            await writer.drain()

    hooked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        hooked.append(request.method)

    async with _Server(handler) as url:
        async with AiohttpClient() as http:
            assert (await http.get(url)).content == b"z" * 300_000  # read by send
            async with http.stream("GET", url) as response:  # left to the caller
                assert not response.is_stream_consumed
                assert len(await response.aread()) == 300_000
            await http.get(url, auth=("user", "pass"))  # httpx's send: its auth flow
            http.event_hooks = {"request": [hook], "response": []}
            await http.get(url)
        with pytest.raises(RuntimeError, match="closed"):
            await http.get(url)
    assert seen[:2] == ["-", "-"]
    assert seen[2].startswith("Basic ")
    assert hooked == ["GET"]


async def test_keep_alive_connections_are_reused(http: httpx.AsyncClient) -> None:
    server: _Server

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Seen: 1\r\n\r\nhello")
            await writer.drain()

    server = _Server(handler)
    async with server as url:
        for _ in range(5):
            response = await http.get(url)
            assert response.text == "hello"
            assert response.headers["x-seen"] == "1"
            assert response.http_version == "HTTP/1.1"
    assert server.connections == 1


async def test_a_gzip_body_is_decoded_by_httpx(http: httpx.AsyncClient) -> None:
    import gzip  # noqa: PLC0415

    payload = gzip.compress(b'{"rows": []}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await _read_head(reader)
        assert "gzip" in headers["accept-encoding"]
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()

    async with _Server(handler) as url:
        response = await http.get(url)
    assert response.json() == {"rows": []}


def _aiohttp_errors() -> Iterator[tuple[BaseException, type[httpx.TransportError]]]:
    key = aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None)
    yield aiohttp.ClientConnectorError(key, OSError(111, "refused")), httpx.ConnectError
    yield aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout
    yield aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout
    yield aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError
    yield aiohttp.ClientPayloadError("truncated"), httpx.ReadError
    yield aiohttp.ClientOSError(32, "Can not write request body"), httpx.WriteError
    yield aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError
    yield aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol


@pytest.mark.parametrize(("error", "expected"), list(_aiohttp_errors()))
def test_aiohttp_errors_map_to_what_they_say_about_the_request(
    error: BaseException, expected: type[httpx.TransportError]
) -> None:
    mapped = map_error(error)
    assert type(mapped) is expected
    not_sent = isinstance(mapped, httpx.ConnectError | httpx.ConnectTimeout)
    assert not_sent == isinstance(
        error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
    )


def test_an_unclosed_transport_holds_no_session() -> None:
    # The session is made by the first request, inside the loop: nothing to leak before.
    transport = AiohttpTransport()
    assert transport.pool_state() == (0, 0)
    del transport
    gc.collect()
