"""The SQL API (``carto.sql``): queries and bounds; formats, Batch and COPY come later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from carto_async._async.batch import AsyncBatchJob, AsyncBatchJobs
from carto_async._core import sql as core
from carto_async._core.batch import BatchInput
from carto_async.models.sql import Bounds, SQLResult

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncSQL"]


class AsyncSQL:
    """Run SQL on your CARTO database.

    Example::

        result = await carto.sql.query("select count(*) as n from stores")
        print(result.rows[0]["n"])
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def query(
        self,
        q: str,
        *,
        params: Mapping[str, Any] | None = None,
        skipfields: str | Sequence[str] | None = None,
        dp: int | None = None,
        page: int | None = None,
        rows_per_page: int | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> SQLResult:
        """Run ``q`` and return its rows and field types.

        ``params`` fills ``{{name}}`` placeholders with safely quoted literals (wrap table and
        column names in :class:`~carto_async.Identifier`); ``skipfields`` drops columns, ``dp``
        sets the decimal places of geometries, ``rows_per_page``/``page`` page the rows and
        ``order_by``/``sort_order`` sort them. Bad options raise
        :class:`~carto_async.ValidationError` before anything is sent.

        Short queries go as GET, long ones as a form POST. Read-only queries are retried on
        server errors; writes only where nothing could have been done twice. An ``error``
        member that arrives with HTTP 200 (a failure after rows began streaming) raises.

        Example::

            result = await carto.sql.query(
                "select name from {{table}} where pop > {{min}}",
                params={"table": Identifier("cities"), "min": 10_000},
                order_by="name",
                rows_per_page=50,
            )
        """
        spec = core.query_request(
            q,
            params=params,
            skipfields=skipfields,
            dp=dp,
            page=page,
            rows_per_page=rows_per_page,
            order_by=order_by,
            sort_order=sort_order,
        )
        response = await self._client._transport.request(
            spec, max_retries=max_retries, timeout=timeout
        )
        return core.parse_result(response.body())

    async def bounds(
        self,
        q: str,
        *,
        params: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Bounds | None:
        """The extent of ``q``'s ``the_geom`` column, or ``None`` when it has no geometry.

        The same query CartoDB.js ``getBounds`` sends; ``params`` fills ``q``'s placeholders.

        Example::

            box = await carto.sql.bounds("select * from stores")
        """
        result = await self.query(
            core.bounds_query(q, params), max_retries=max_retries, timeout=timeout
        )
        return core.parse_bounds(result)

    async def batch(self, query: BatchInput) -> AsyncBatchJob:
        """Run ``query`` as a SQL Batch job in the background; returns its handle at once.

        ``query`` is one statement, a list of statements run in order, or a
        :class:`~carto_async.FallbackJob` (``onsuccess``/``onerror`` per query and per job,
        with the ``<%= job_id %>`` / ``<%= error_message %>`` templates). A job over the
        server's 16 KB limit, an empty statement or a misplaced template raises
        :class:`~carto_async.ValidationError` before anything is sent. Creating a job is never
        repeated after an ambiguous failure (the error then says the job may exist). Needs
        the master key.

        Example::

            job = await carto.sql.batch("UPDATE stores SET open = true")
            status = await job.wait(timeout=600)
        """
        return await self.batch_jobs.create(query)

    @property
    def batch_jobs(self) -> AsyncBatchJobs:
        """Single Batch requests by job id: ``get``, ``cancel``, ``list``, ``job``, ``resume``."""
        return AsyncBatchJobs(self._client)
