"""``AsyncCarto``: the async client that owns the connection pool and every API module."""

from __future__ import annotations

import random
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx

from carto_async._async.api_keys import AsyncApiKeys
from carto_async._async.exports import AsyncExports
from carto_async._async.imports import AsyncImports
from carto_async._async.jobs import AsyncJobs
from carto_async._async.maps import AsyncMaps
from carto_async._async.sql import AsyncSQL
from carto_async._async.syncs import AsyncSyncs
from carto_async._async.transport import DEFAULT_TIMEOUT, AsyncTransport
from carto_async._async.visualizations import AsyncVisualizations
from carto_async._core.credentials import Credentials
from carto_async._core.http import RateLimitInfo
from carto_async._core.jobs import JobKey
from carto_async._core.polling import PollPolicy, PollScheduler
from carto_async._core.retry import RetryPolicy
from carto_async.errors import ValidationError

if TYPE_CHECKING:
    from carto_async._async.dataframes import AsyncDataFrames

__all__ = ["AsyncCarto"]


class AsyncCarto:
    """An async CARTO client (asyncio or trio). Use it as an async context manager.

    Example::

        async with AsyncCarto("demo", api_key="...") as carto:
            job = await carto.imports.upload("stores.csv")
            status = await job.wait()
            rows = await carto.sql.query(f"select count(*) from {status.table_name}")

    ``base_url`` defaults to ``https://{username}.carto.com``; pass ``credentials`` instead of
    the three first arguments, or use :meth:`from_env`. ``timeout`` is httpx's (seconds or an
    :class:`httpx.Timeout`); ``max_retries`` and ``retry`` set the retry policy,
    ``poll`` the spacing of job status polls. ``max_concurrent_requests`` caps requests in
    flight, ``max_concurrent_uploads`` uploads in flight, and ``max_concurrent_imports`` the
    imports this client keeps running at once (CARTO's default per user is 3; ``None``: no
    cap). ``http_client`` injects your own :class:`httpx.AsyncClient` (you close it).
    """

    def __init__(
        self,
        username: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        credentials: Credentials | None = None,
        allow_insecure_http: bool = False,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        max_concurrent_requests: int | None = 64,
        max_concurrent_uploads: int | None = 4,
        max_concurrent_imports: int | None = 3,
        http_client: httpx.AsyncClient | None = None,
        seed: int | None = None,
        # async-only:start
        # "aiohttp" (asyncio only, extra carto-async[aiohttp]) sends over an aiohttp connection
        # pool, faster than httpx's with many requests in flight (benchmarks/RESULTS.md).
        http_backend: Literal["httpx", "aiohttp"] = "httpx",
        # async-only:end
    ) -> None:
        if credentials is None:
            if username is None:
                raise ValidationError("give a username (and api_key), or credentials=")
            credentials = Credentials(
                username,
                api_key=api_key,
                base_url=base_url or "",
                allow_insecure_http=allow_insecure_http,
            )
        elif username is not None or api_key is not None or base_url is not None:
            raise ValidationError("give either credentials= or username/api_key/base_url")
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(
                max_retries=max_retries,
                backoff_base=policy.backoff_base,
                backoff_cap=policy.backoff_cap,
                jitter=policy.jitter,
                retry_after_cap=policy.retry_after_cap,
                import_slot_timeout=policy.import_slot_timeout,
            )
        rng = random.Random(seed)
        self.credentials = credentials
        self._transport = AsyncTransport(
            credentials,
            http_client=http_client,
            timeout=timeout,
            retry=policy,
            max_concurrent_requests=max_concurrent_requests,
            rng=rng,
            # async-only:start
            http_client_class=_http_client_class(http_backend, http_client),
            # async-only:end
        )
        # One scheduler keyed by (kind, id) for every wait of this client (see jobs._Watcher).
        self._scheduler: PollScheduler[JobKey] = PollScheduler(poll or PollPolicy(), rng=rng)
        self.imports = AsyncImports(
            self,
            max_concurrent_imports=max_concurrent_imports,
            max_concurrent_uploads=max_concurrent_uploads,
        )
        self.sql = AsyncSQL(self)
        self.jobs = AsyncJobs(self)
        self.maps = AsyncMaps(self)
        self.api_keys = AsyncApiKeys(self)
        self.syncs = AsyncSyncs(self)
        self.exports = AsyncExports(self)
        self.visualizations = AsyncVisualizations(self)
        self._dataframes: AsyncDataFrames | None = None

    @classmethod
    def from_env(cls, **options: Any) -> AsyncCarto:
        """A client for ``CARTO_USER``, ``CARTO_API_KEY`` and ``CARTO_BASE_URL``."""
        return cls(credentials=Credentials.from_env(), **options)

    @property
    def dataframes(self) -> AsyncDataFrames:
        """pandas and GeoPandas to and from tables (the ``dataframes`` extra)."""
        if self._dataframes is None:
            try:
                from carto_async._async.dataframes import AsyncDataFrames  # noqa: PLC0415
            except ImportError as exc:
                raise ImportError(
                    f"carto.dataframes needs pandas, GeoPandas and pyarrow ({exc}): "
                    "pip install 'carto-async[dataframes]'"
                ) from None
            self._dataframes = AsyncDataFrames(self)
        return self._dataframes

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The ``Carto-Rate-Limit-*`` headers of the last response that carried them."""
        return self._transport.last_rate_limit

    @property
    def requests_sent(self) -> int:
        """How many HTTP requests this client has sent, retries included."""
        return self._transport.requests_sent

    @property
    def poll_policy(self) -> PollPolicy:
        """The spacing of job status polls."""
        return self._scheduler.policy

    async def aclose(self) -> None:
        """Close the connection pool (unless it was injected)."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncCarto:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.credentials!r}>"


# async-only:start
def _http_client_class(
    backend: str, http_client: httpx.AsyncClient | None
) -> type[httpx.AsyncClient]:
    """The class of the client's connection pool for ``http_backend``."""
    if backend == "httpx":
        return httpx.AsyncClient
    if backend != "aiohttp":
        raise ValidationError(f"http_backend must be 'httpx' or 'aiohttp', not {backend!r}")
    if http_client is not None:
        raise ValidationError("give http_client= or http_backend='aiohttp', not both")
    try:
        from carto_async._async._aiohttp import (  # noqa: PLC0415 - optional extra
            AiohttpClient,
            require_asyncio,
        )
    except ImportError as exc:
        raise ValidationError(
            f"http_backend='aiohttp' needs aiohttp: pip install 'carto-async[aiohttp]' ({exc})"
        ) from None
    require_asyncio()
    return AiohttpClient


# async-only:end
