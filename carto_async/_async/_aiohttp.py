"""An httpx transport over aiohttp, for many requests in flight on asyncio.

``AsyncCarto(..., http_backend="aiohttp")`` puts :class:`AiohttpTransport` under the client's
``httpx.AsyncClient``: requests are still built, retried, limited and redacted by
:class:`~carto_async._async.transport.AsyncTransport`; only the connection pool and the wire
are aiohttp's, whose pool stays fast with a hundred requests in flight where httpcore's slows
down. asyncio only: aiohttp cannot run under trio.

What httpx's own transport guarantees, this one keeps:

* **Errors say whether the request could have reached the server.** aiohttp's exceptions
  become httpx's, so that :mod:`carto_async._core.retry` decides as it does with httpx:
  nothing sent (:class:`httpx.ConnectError`, :class:`httpx.ConnectTimeout`) or perhaps
  received (:class:`httpx.RemoteProtocolError`, :class:`httpx.ReadError`,
  :class:`httpx.ReadTimeout`, :class:`httpx.WriteTimeout`). A request body that fails at its
  source (a file that vanished) raises its own exception, not a network error.
* **Streaming both ways.** Request bodies go out chunk by chunk as the body yields them;
  responses come back as aiohttp reads them.
* **httpx's timeouts.** ``connect`` bounds opening a connection, ``pool`` waiting for one,
  ``read`` each wait for response bytes, ``write`` each wait to hand a body chunk to the
  socket (aiohttp has no write timeout of its own: a deadline moved forward at every chunk).
* **Connection hygiene.** A response closed before its end, a cancelled request or a failed
  one closes its connection instead of returning it to the pool; :meth:`aclose` closes them all.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import httpx
import yarl

from carto_async.errors import ValidationError

__all__ = ["AiohttpClient", "AiohttpTransport", "require_asyncio"]

#: aiohttp's connection errors that are raised before any byte of the request was sent.
_CONNECT_ERRORS = (aiohttp.ClientConnectorError,)

#: httpx's default pool limits.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

#: Response bodies up to this size (by Content-Length) are read before the response is returned.
_READ_AT_ONCE = 64 * 1024

#: How long a finished request waits for a chunk still being read from its body's source.
_SETTLE_TIMEOUT = 10.0


def require_asyncio(*, running: bool = False) -> None:
    """Raise :class:`ValidationError` when running under trio (or, with ``running``, outside
    an asyncio event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return
    trio = sys.modules.get("trio")
    under_trio = False
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            under_trio = True
    if under_trio or running:
        where = "under trio" if under_trio else "outside an asyncio event loop"
        raise ValidationError(
            f"http_backend='aiohttp' needs asyncio and cannot run {where} "
            "(use the default http_backend='httpx')"
        )


def map_error(exc: BaseException) -> httpx.TransportError:
    """The httpx exception that says what an aiohttp exception says about the request.

    :class:`httpx.ConnectError` and :class:`httpx.ConnectTimeout` (a connection not opened,
    or not taken from the pool, in time) mean nothing was sent; every other result means the
    request may have reached the server.
    """
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, _CONNECT_ERRORS):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.LocalProtocolError(message)
    if isinstance(exc, TimeoutError):  # aiohttp's SocketTimeoutError, ServerTimeoutError
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed response
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientOSError):
        return (
            httpx.WriteError(message) if "write" in str(exc).lower() else httpx.ReadError(message)
        )
    return httpx.ReadError(message)  # ClientPayloadError, a connection closed mid-response


class _Upload:
    """A request body for aiohttp: httpx's stream chunk by chunk, with a write deadline.

    aiohttp writes the body from a task of its own, concurrently with reading the response.
    Before each chunk is handed to it the deadline moves ``write_timeout`` ahead; when aiohttp
    asks for the next one (the previous one is written) it is lifted. An exception raised by
    the body's own source is kept, to be raised instead of aiohttp's wrapper of it.

    Once the request is over (a response came, or it failed) :meth:`settle` parks the writer:
    it takes nothing more from the source, which the caller may then close, and waits to be
    cancelled by aiohttp, which then closes the connection (a body cut short cannot share it).
    """

    def __init__(self, stream: httpx.AsyncByteStream, write_timeout: float | None) -> None:
        self._stream = stream
        self._write_timeout = write_timeout
        self.deadline: asyncio.Timeout | None = None
        self.error: Exception | None = None
        self.finished = False
        self._parked = False
        self._idle = asyncio.Event()
        self._idle.set()

    def _move_deadline(self, seconds: float | None) -> None:
        if self.deadline is not None and self._write_timeout is not None:
            when = None if seconds is None else asyncio.get_running_loop().time() + seconds
            self.deadline.reschedule(when)

    @property
    def timed_out(self) -> bool:
        """Whether the write deadline fired."""
        return self.deadline is not None and self.deadline.expired()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._stream)
        while True:
            self._move_deadline(None)
            if self._parked:
                await asyncio.get_running_loop().create_future()  # until aiohttp cancels it
            # aiohttp cancels its writer task as soon as a response ends, even an early one.
            # A read from the source must not be cut in half (a file being opened would be
            # lost): it runs as a task of its own, which the cancellation does not reach.
            self._idle.clear()
            pull = asyncio.ensure_future(self._pull(chunks))
            pull.add_done_callback(_retrieve)
            chunk = await asyncio.shield(pull)
            if chunk is None:
                self.finished = True
                return
            if chunk:
                self._move_deadline(self._write_timeout)
                yield chunk

    async def _pull(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        try:
            return await anext(chunks)
        except StopAsyncIteration:
            return None
        except Exception as exc:
            self.error = exc
            raise
        finally:
            self._idle.set()

    async def settle(self) -> None:
        """Take nothing more from the source; wait for a chunk being read from it."""
        self._parked = True
        self.deadline = None
        if not self.finished and not self._idle.is_set():
            with anyio.CancelScope(shield=True), anyio.move_on_after(_SETTLE_TIMEOUT):
                await self._idle.wait()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A pull whose writer was cancelled ends unobserved: its exception is not worth a log line.
    if not task.cancelled():
        task.exception()


class _ResponseStream(httpx.AsyncByteStream):
    """An aiohttp response body as httpx's stream; closing it releases the connection."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._response.close()
            raise map_error(exc) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end, closed otherwise.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncBaseTransport` that sends requests with an aiohttp session.

    ``limits`` and ``verify`` are httpx's. The session is opened by the first request (aiohttp
    binds it to the running event loop) and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._limits = limits or DEFAULT_LIMITS
        self._verify = verify
        self._ssl: ssl.SSLContext | bool | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this transport is closed")
        require_asyncio(running=True)
        if self._ssl is None:
            # httpx's context: the same CA bundle (certifi) and settings as the default backend.
            self._ssl = (
                httpx.create_ssl_context(verify=self._verify)
                if self._verify is not False
                else False
            )
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx's client keeps the cookies
        )
        return self._session

    def _ssl_context(self) -> ssl.SSLContext | bool:
        # httpx's context (its CA bundle, certifi, and settings), made at the first https
        # request: it costs tens of milliseconds.
        if self._ssl is None:
            verify = self._verify
            self._ssl = False if verify is False else httpx.create_ssl_context(verify=verify)
        return self._ssl

    def pool_state(self) -> tuple[int, int]:
        """Connections in use and connections idle in the pool (for tests and diagnostics)."""
        session = self._session
        connector = session.connector if session is not None else None
        if connector is None or connector.closed:
            return 0, 0
        in_use = len(connector._acquired)  # aiohttp exposes no public count
        idle = sum(len(conns) for conns in connector._conns.values())
        return in_use, idle

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeout.get("pool"), timeout.get("connect"), timeout.get("read"))
        cached = self._timeouts.get(key)
        if cached is None:
            pool, connect, read = key
            cached = aiohttp.ClientTimeout(
                total=None, connect=pool, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = cached
        return cached

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        options: dict[str, Any] = {
            "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            "allow_redirects": False,
            "timeout": self._timeout(request.extensions.get("timeout", {})),
        }
        url = yarl.URL(str(request.url), encoded=True)
        if request.url.scheme == "https":
            options["ssl"] = self._ssl_context()
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            options["data"] = b"".join(stream) or None
            try:
                response = await session.request(request.method, url, **options)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise map_error(exc) from exc
        else:
            response = await self._send_stream(session, request, url, options)
        body: httpx.AsyncByteStream
        length = response.content_length
        if length is not None and length <= _READ_AT_ONCE:
            # A small body (most API answers) is read here: one step instead of a stream, and
            # the connection is back in the pool before the caller looks at the response.
            try:
                body = httpx.ByteStream(await response.read())
            except (aiohttp.ClientError, TimeoutError) as exc:
                response.close()
                raise map_error(exc) from exc
            finally:
                response.release()
        else:
            body = _ResponseStream(response)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=body,
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def _send_stream(
        self,
        session: aiohttp.ClientSession,
        request: httpx.Request,
        url: yarl.URL,
        options: dict[str, Any],
    ) -> aiohttp.ClientResponse:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        timeout = request.extensions.get("timeout", {})
        upload = _Upload(request.stream, timeout.get("write"))
        # aiohttp frames the body itself: Content-Length when given, chunked otherwise.
        options["headers"] = [
            (k, v) for k, v in options["headers"] if k.lower() != "transfer-encoding"
        ]
        options["data"] = upload
        timed_out = False
        try:
            async with asyncio.timeout(None) as upload.deadline:
                try:
                    return await session.request(request.method, url, **options)
                finally:
                    timed_out = upload.timed_out
                    await upload.settle()
        except (aiohttp.ClientError, TimeoutError) as exc:
            if upload.error is not None:
                raise upload.error from None
            if timed_out:
                raise httpx.WriteTimeout("the request body could not be sent in time") from exc
            raise map_error(exc) from exc

    async def aclose(self) -> None:
        """Close every connection; the transport cannot be used afterwards."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class AiohttpClient(httpx.AsyncClient):
    """An :class:`httpx.AsyncClient` over :class:`AiohttpTransport` (same options, ``limits``
    sizing the aiohttp pool) whose :meth:`send` goes straight to the transport.

    The SDK's requests use none of the per-request steps of httpx's client (authentication
    flows, redirects, event hooks, cookies: CARTO's APIs authenticate by key), and skipping
    them takes about a sixth off the client's CPU per request. With any of them set, or asked
    for in the call, :meth:`send` is httpx's own.
    """

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS, **options: Any) -> None:
        super().__init__(limits=limits, transport=AiohttpTransport(limits=limits), **options)

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        if (
            auth is not httpx.USE_CLIENT_DEFAULT
            or follow_redirects is True
            or self.follow_redirects
            or self.auth is not None
            or any(self.event_hooks.values())
        ):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        transport = self._transport_for_url(request.url)
        response = await transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response
