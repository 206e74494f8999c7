"""Visualization exports: a map and its datasets as one ``.carto`` file (``carto.exports``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING

from carto_async._async._bodies import ProgressCallback
from carto_async._async.jobs import AsyncJob
from carto_async._async.transport import Downloaded
from carto_async._core import exports as core
from carto_async._core.jobs import Account, load_token
from carto_async.errors import ExportFailed, NotFoundError
from carto_async.models.exports import VisualizationExport

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncExportJob", "AsyncExports"]


class AsyncExportJob(AsyncJob[VisualizationExport]):
    """An export in progress: ``await job.wait()`` gives the finished
    :class:`VisualizationExport` or raises :class:`ExportFailed`; ``await job.download(path)``
    waits for it and streams the ``.carto`` file. Exports cannot be cancelled."""

    kind = "export"
    _states = core.EXPORT_STATES
    _no_cancel = "the export API has no cancel request; the export runs to its end"

    async def _fetch(self) -> VisualizationExport:
        return await self._client.exports.get(self.id)

    def _state_of(self, snapshot: VisualizationExport) -> str:
        return snapshot.state

    def _failure(self, snapshot: VisualizationExport) -> ExportFailed:
        return ExportFailed(
            f"export {self.id} of visualization {snapshot.visualization_id} ended in "
            f"{snapshot.state!r}",
            job=self,
            job_id=self.id,
            state=snapshot.state,
        )

    @classmethod
    def _resume(cls, client: AsyncCarto, fields: Mapping[str, str]) -> AsyncExportJob:
        return client.exports.job(fields["id"])

    @property
    def url(self) -> str | None:
        """Where the finished file is (a path on the account or a presigned URL)."""
        return self._snapshot.url if self._snapshot is not None else None

    async def download(
        self,
        destination: str | os.PathLike[str] | IO[bytes],
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> Downloaded:
        """Wait for the export (up to ``timeout`` seconds), then stream the ``.carto`` file to
        ``destination``, a path (written under a temporary name, renamed when complete) or a
        binary file object. ``progress(received, total)`` is called as bytes arrive.

        A relative ``url`` is fetched from the account with the key; an absolute URL on another
        host (a presigned S3 URL) is fetched without it.
        """
        export = await self.wait(timeout)
        spec = core.download_request(export.url or "", self._client.credentials.base_url)
        return await self._client._transport.download(spec, destination, progress=progress)


class AsyncExports:
    """Visualization exports (``/api/v3/visualization_exports``).

    Example::

        job = await carto.exports.create(map_id)
        await job.download("map.carto")          # later: carto.imports.upload("map.carto")
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def create(
        self, visualization_id: str, *, user_tables_ids: Iterable[str] | str | None = None
    ) -> AsyncExportJob:
        """Start exporting a map (a ``derived`` visualization) with its datasets, or only the
        tables ``user_tables_ids`` names. 403, 404 and 422 carry the server's words."""
        spec = core.create_request(visualization_id, user_tables_ids=user_tables_ids)
        response = await self._client._transport.request(spec)
        export = core.parse_export(response.body())
        return AsyncExportJob(self._client, export.id, snapshot=export)

    async def get(self, export_id: str) -> VisualizationExport:
        """One export (``NotFoundError`` for an unknown id)."""
        spec = core.get_request(export_id)
        try:
            response = await self._client._transport.request(spec)
        except NotFoundError as exc:
            if exc.body is None:
                exc.message = f"no visualization export with id {export_id}"
                exc.args = (exc.message,)
            raise
        return core.parse_export(response.body())

    def job(self, export_id: str) -> AsyncExportJob:
        """A handle on an existing export, to wait on it or download it (no request sent)."""
        return AsyncExportJob(self._client, core.check_id(export_id, "export id"), resumed=True)

    def resume(self, token: str) -> AsyncExportJob:
        """The handle of an export's ``job.token()``."""
        creds = self._client.credentials
        account = Account.of(creds.username, creds.base_url)
        fields = load_token(token, kind=AsyncExportJob.kind, account=account)
        return self.job(fields["id"])
