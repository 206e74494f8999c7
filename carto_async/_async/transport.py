"""Sends :class:`RequestSpec` requests with retries, limits, key placement and redaction.

Two ways to send: :meth:`AsyncTransport.request` reads the whole (small) response;
:meth:`AsyncTransport.stream` hands the body out as it arrives, and
:meth:`AsyncTransport.download` writes it into a path or a file object. Both follow the
same retry rules (:mod:`carto_async._core.retry`); a streamed response can be retried only
until its first byte reaches the caller.

No error raised here can lead to the API key: errors are raised outside the ``except`` block
that caught the library's exception (no ``__context__`` holding a request with ``?api_key=``),
and the request that carries the key lives only in a frame that is gone by then.
"""

from __future__ import annotations

import base64
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import IO, Any
from urllib.parse import quote, quote_plus

import attrs
import httpx

from carto_async._async import _concurrency as cc
from carto_async._async import _downloads
from carto_async._async._bodies import AsyncBody, ProgressCallback
from carto_async._core.credentials import REDACTED, Credentials
from carto_async._core.errors import decode_body, error_from_response, import_slots_exhausted
from carto_async._core.http import (
    KeyPlacement,
    RateLimitInfo,
    RequestSpec,
    declared_length,
    parse_rate_limit,
)
from carto_async._core.logs import install_redaction
from carto_async._core.retry import Decision, Failure, RetryPolicy, RetryState
from carto_async._version import __version__
from carto_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CartoError,
    RateLimitError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncBody",
    "AsyncStreamedResponse",
    "AsyncTransport",
    "Downloaded",
    "Response",
]

logger = logging.getLogger("carto_async")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@attrs.frozen
class Response:
    """A finished response: status, headers, body bytes and the body decoded."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    rate_limit: RateLimitInfo | None

    def body(self) -> Any:
        """JSON when the body is JSON, else text, else ``None``."""
        return decode_body(self.content, self.headers.get("content-type"))


@attrs.frozen
class Downloaded:
    """What :meth:`AsyncTransport.download` wrote: ``size`` bytes, into ``path`` when the
    destination was a path; ``headers`` of the response (``Content-Disposition``...)."""

    size: int
    path: str | None
    status_code: int
    headers: httpx.Headers


class AsyncStreamedResponse:
    """A successful response whose body is read as it arrives: ``async for chunk in it``.

    ``total`` is the length of the body when the server declared it (and did not compress
    it), else ``None``; ``received`` counts the bytes handed out so far. A connection that
    breaks mid-body raises :class:`APIConnectionError` (never retried: the caller has bytes).
    """

    def __init__(self, sent: _Sent, transport: AsyncTransport) -> None:
        self.status_code = sent.response.status_code
        self.headers = sent.response.headers
        self.rate_limit = sent.rate_limit
        self.total = declared_length(sent.response.headers)
        self.received = 0
        self._sent = sent
        self._first: bytes | None = sent.content or None
        self._transport = transport

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            chunk, self._first = self._first, None
        else:
            chunks = self._sent.chunks
            if chunks is None:
                raise StopAsyncIteration
            error: APIError | None = None
            try:
                chunk = await chunks.__anext__()
            except httpx.TransportError as exc:
                error = self._transport._connection_error(exc, self._sent.method, self._sent.shown)
                error.message = f"{error.message} (after {self.received} bytes of the body)"
                error.args = (error.message,)
            if error is not None:
                raise error  # outside the except block: no __context__ to the library's error
        self.received += len(chunk)
        return chunk

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.status_code} {self._sent.method} {self._sent.shown} "
            f"{self.received}/{self.total if self.total is not None else '?'} bytes>"
        )


@attrs.define
class _Sent:
    """One attempt that got a response: its whole body, or (streamed) its first chunk."""

    method: str
    response: httpx.Response = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)
    rate_limit: RateLimitInfo | None
    #: The URL as sent (it may hold the key) and what masks the key in it: the URL shown is
    #: computed only when one is shown (errors, logs, reprs).
    url: httpx.URL = attrs.field(repr=False)
    redact: Callable[[str], str] = attrs.field(repr=False)
    chunks: AsyncIterator[bytes] | None = attrs.field(default=None, repr=False)
    released: bool = False
    _shown: str | None = attrs.field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """The request's URL, safe to show (the key masked), computed once when first shown."""
        if self._shown is None:
            self._shown = self.redact(str(self.url))
        return self._shown


@attrs.define
class _Broken:
    """One attempt that got no response: the error to raise, and how the request failed."""

    error: CartoError
    failure: Failure | None


class AsyncTransport:
    """The HTTP layer of one client: one connection pool, limits, retries, redaction."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_concurrent_requests: int | None = 64,
        rng: random.Random | None = None,
        http_client_class: type[httpx.AsyncClient] = httpx.AsyncClient,
    ) -> None:
        install_redaction()
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._own_client = http_client is None
        self._timeout = timeout
        if http_client is None:
            limit = max_concurrent_requests or 100
            http_client = http_client_class(
                timeout=timeout,
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                headers={"User-Agent": f"carto_async/{__version__}"},
                follow_redirects=False,
            )
        self.http = http_client
        self._limiter = cc.Limiter(max_concurrent_requests)
        self._basic = (
            "Basic "
            + base64.b64encode(f"{credentials.username}:{credentials.api_key}".encode()).decode()
            if credentials.api_key
            else None
        )
        key = credentials.api_key
        forms = {key, quote(key, safe=""), quote_plus(key)} if key else set()
        if self._basic:
            forms.add(self._basic.split()[1])
        self._secrets = [f.encode() for f in forms if f]
        self.last_rate_limit: RateLimitInfo | None = None
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.credentials!r}>"

    async def aclose(self) -> None:
        """Close the connection pool, if this transport created it."""
        if self._own_client:
            await self.http.aclose()

    def shown_url(self, url: str | httpx.URL) -> str:
        """A URL safe to show: the key masked."""
        return self.credentials.redact(str(url))

    def _build(self, spec: RequestSpec, body: AsyncBody | None) -> httpx.Request:
        params = dict(spec.params)
        headers = dict(spec.headers)
        # An absolute URL (a presigned download) is taken as it is; off the account's base URL
        # it never gets the key, whatever the spec says.
        absolute = "://" in spec.path
        own = not absolute or spec.path.startswith(self.credentials.base_url.rstrip("/") + "/")
        if own and spec.key is KeyPlacement.QUERY:
            # Before anything is sent: without a key the server reads the whole request
            # (a whole upload) and then answers 401.
            params["api_key"] = self.credentials.required_key(f"{spec.method} {spec.path}")
        elif self._basic and own and spec.key is KeyPlacement.BASIC:
            headers["Authorization"] = self._basic
        url = spec.path if absolute else self.credentials.url(spec.path)
        if body is not None:
            headers.update(body.headers)
            request = self.http.build_request(
                spec.method, url, params=params or None, headers=headers
            )
            if "Transfer-Encoding" in body.headers:
                request.headers.pop("Content-Length", None)
            request.stream = body.stream()
            return request
        if spec.json is None and spec.data is None:
            return self._build_bodiless(spec.method, url, params, headers)
        # No params: a presigned URL's own query string is left exactly as it was signed.
        return self.http.build_request(
            spec.method, url, params=params or None, headers=headers, json=spec.json, data=spec.data
        )

    def _build_bodiless(
        self, method: str, url: str, params: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Request:
        """What ``http.build_request`` makes for a request without a body, at a quarter of its
        CPU: the base URL is parsed once, not twice, and client settings that are unset
        (cookies, default params) are not merged."""
        http = self.http
        if http.cookies or http.params or "?" in url:
            # No params: a presigned URL's own query string is left exactly as it was signed.
            return http.build_request(method, url, params=params or None, headers=headers)
        query = str(httpx.QueryParams(params)) if params else ""
        merged = httpx.Headers(http.headers)
        merged.update(headers)
        return httpx.Request(
            method,
            f"{url}?{query}" if query else url,
            headers=merged,
            extensions={"timeout": http.timeout.as_dict()},
        )

    async def request(
        self,
        spec: RequestSpec,
        *,
        body: AsyncBody | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send ``spec`` (retrying as :mod:`carto_async._core.retry` decides).

        Returns the successful response; raises an :class:`APIError` subclass otherwise.
        """
        sent = await self._send(spec, body, max_retries, timeout, stream=False)
        return Response(
            sent.response.status_code, sent.response.headers, sent.content, sent.rate_limit
        )

    @asynccontextmanager
    async def stream(
        self,
        spec: RequestSpec,
        *,
        body: AsyncBody | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[AsyncStreamedResponse]:
        """Send ``spec`` and hand its body out as it arrives::

            async with transport.stream(spec) as response:
                async for chunk in response:
                    ...

        Error statuses raise as :meth:`request` does (their small bodies are read whole).
        Until the first byte of a successful body is handed out, failures are retried by the
        same rules as :meth:`request`; after it, a broken connection raises. The connection
        (and its request slot) is released when the block ends, read to the end or not.
        """
        sent = await self._send(spec, body, max_retries, timeout, stream=True)
        try:
            yield AsyncStreamedResponse(sent, self)
        finally:
            await self._release(sent)

    async def download(
        self,
        spec: RequestSpec,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        progress: ProgressCallback | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Downloaded:
        """Stream the body of ``spec`` into ``destination``, a path or a binary file object.

        A path is written under a temporary name in its directory and renamed when the body
        is complete: a partial download never takes the final name, and the temporary file is
        removed on any error (cancellation included). ``progress(received, total)`` is called
        as bytes arrive (``total`` is ``None`` when the server did not say). The destination
        is checked before anything is sent (:class:`ValidationError`).
        """
        target = _downloads.DownloadTarget(destination)
        async with self.stream(spec, max_retries=max_retries, timeout=timeout) as response:
            size = await target.write(response, response.total, progress)
        return Downloaded(size, target.path, response.status_code, response.headers)

    async def _send(
        self,
        spec: RequestSpec,
        body: AsyncBody | None,
        max_retries: int | None,
        timeout: float | None,
        *,
        stream: bool,
    ) -> _Sent:
        state = RetryState(
            self.retry,
            spec,
            self.retry.max_retries if max_retries is None else max_retries,
            rng=self._rng,
        )
        while True:
            outcome = await self._attempt(spec, body, timeout, stream=stream)
            replayable = body is None or body.replayable or not body.started
            if isinstance(outcome, _Broken):
                error = outcome.error
                if outcome.failure is None:
                    raise error  # the body's own error (its source changed): never retried
                decision = state.on_failure(outcome.failure, replayable=replayable)
                if not decision.retry:
                    if isinstance(error, APIError):
                        error.message = f"{error.message} ({decision.reason})"
                        error.args = (error.message,)
                    raise error
                await self._wait(decision, spec.method, str(getattr(error, "url", "")))
                continue
            response = outcome.response
            if response.status_code < 400:
                return outcome
            status_error = error_from_response(
                status_code=response.status_code,
                content=self._scrub(outcome.content),
                headers=response.headers,
                service=spec.service,
                method=spec.method,
                url=outcome.shown,
                request=httpx.Request(spec.method, outcome.shown),
            )
            rate = outcome.rate_limit
            decision = state.on_status(
                response.status_code,
                retry_after=rate.retry_after if rate else None,
                import_slots=import_slots_exhausted(response.status_code, status_error.body),
                statement_timeout=isinstance(status_error, RateLimitError)
                and status_error.kind == "timeout",
                replayable=replayable,
            )
            if not decision.retry:
                raise status_error
            await self._wait(decision, spec.method, outcome.shown)

    async def _attempt(
        self, spec: RequestSpec, body: AsyncBody | None, timeout: float | None, *, stream: bool
    ) -> _Sent | _Broken:
        """One attempt. The request that holds the key lives (and dies) in this frame."""
        request = self._build(spec, body)
        if timeout is not None:
            request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        await self._limiter.__aenter__()
        sent: _Sent | None = None
        try:
            self.requests_sent += 1
            try:
                response = await self.http.send(request, stream=True)
            finally:
                if isinstance(request.stream, httpx.AsyncByteStream):
                    await request.stream.aclose()
            sent = _Sent(
                spec.method,
                response,
                b"",
                parse_rate_limit(response.headers),
                request.url,
                self.shown_url,
            )
            if sent.rate_limit is not None:
                self.last_rate_limit = sent.rate_limit
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s %s -> %s", spec.method, sent.shown, response.status_code)
            if not stream or response.status_code >= 400:
                sent.content = await response.aread()
                await self._release(sent)
            else:
                # Read the first chunk here: until it reaches the caller, a retry is possible.
                sent.chunks = response.aiter_bytes()
                try:
                    sent.content = await sent.chunks.__anext__()
                except StopAsyncIteration:
                    sent.content = b""
            return sent
        except httpx.TransportError as exc:
            if sent is not None:
                await self._release(sent)
            else:
                await self._limiter.__aexit__(None, None, None)
            error = self._connection_error(exc, spec.method, self.shown_url(request.url))
            if isinstance(exc, httpx.UnsupportedProtocol):
                return _Broken(error, None)
            return _Broken(
                error, Failure.NOT_SENT if isinstance(exc, _NOT_SENT) else Failure.AMBIGUOUS
            )
        except CartoError as exc:
            # Raised by the body stream (SourceChangedError...): the request was cut short.
            if sent is not None:
                await self._release(sent)
            else:
                await self._limiter.__aexit__(None, None, None)
            return _Broken(exc.with_traceback(None), None)
        except BaseException:
            if sent is not None:
                await self._release(sent)
            else:
                await self._limiter.__aexit__(None, None, None)
            raise

    async def _release(self, sent: _Sent) -> None:
        """Close a response (once) and give back its request slot."""
        if sent.released:
            return
        sent.released = True
        chunks, sent.chunks = sent.chunks, None
        try:
            try:
                if chunks is not None:
                    await chunks.aclose()  # type: ignore[attr-defined]
            finally:
                await sent.response.aclose()
        finally:
            await self._limiter.__aexit__(None, None, None)

    def _scrub(self, content: bytes) -> bytes:
        """An error body with the key masked: some servers quote the request URL back."""
        for secret in self._secrets:
            content = content.replace(secret, REDACTED.encode())
        return content

    def _connection_error(self, exc: httpx.TransportError, method: str, shown: str) -> APIError:
        detail = self.credentials.redact(str(exc)) or type(exc).__name__
        sent = not isinstance(exc, _NOT_SENT)
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        what = "timed out" if cls is APITimeoutError else "failed"
        return cls(
            f"{method} {shown} {what}: {type(exc).__name__}: {detail}",
            method=method,
            url=shown,
            request_sent=sent,
        )

    async def _wait(self, decision: Decision, method: str, shown: str) -> None:
        logger.info("retrying %s %s in %.2fs: %s", method, shown, decision.delay, decision.reason)
        await cc.sleep(decision.delay)
