"""The SQL API (``carto.sql``): queries, for now; formats, Batch and COPY come later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from carto_async._core import sql as core
from carto_async.models.sql import SQLResult

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
        params: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> SQLResult:
        """Run ``q`` and return its rows and field types.

        Short queries go as GET, long ones as a form POST. Read-only queries are retried on
        server errors; writes only where nothing could have been done twice. An ``error``
        member that arrives with HTTP 200 (a failure after rows began streaming) raises.
        """
        spec = core.query_request(q, params=params, idempotent=core.is_read_only(q))
        response = await self._client._transport.request(
            spec, max_retries=max_retries, timeout=timeout
        )
        return core.parse_result(response.body())
