"""Sync tables: tables CARTO re-imports from a URL (or an ArcGIS layer) at an interval
(``carto.syncs``)."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from carto_async._async.jobs import AsyncJob
from carto_async._core import syncs as core
from carto_async._core.http import RequestSpec
from carto_async._core.jobs import Account, Outcome, classify, load_token
from carto_async.errors import AuthenticationError, NotFoundError, SyncFailed
from carto_async.models._converter import parse_datetime
from carto_async.models.syncs import DataImport, Sync, SyncNowRefusal

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto
    from carto_async._async.imports import AsyncImportJob
    from carto_async._async.transport import Response

__all__ = ["AsyncSyncRun", "AsyncSyncs"]

_NO_FEATURE = (
    "Unauthorized: sync tables need the account's master API key and an account with the "
    "sync tables feature (the server answered 401 with an empty body)"
)


class AsyncSyncRun(AsyncJob[Sync]):
    """One run of a sync table: ``await run.wait()`` gives the :class:`Sync` once the run this
    handle follows has finished, or raises :class:`SyncFailed`.

    A sync cycles ``queued -> syncing -> success`` forever, so ``success`` left by an earlier
    run does not end the wait: the run is over once it was seen queued or syncing and then
    final, or once the sync's ``ran_at`` moved past the trigger. ``enqueued`` and ``refusal``
    tell what ``sync_now`` got: a run refused because the table is already queued or syncing
    follows that run; any other refusal is a :class:`SyncFailed` saying why. ``data_import``
    is the first import a new sync started (``import_job()`` follows it).
    """

    kind = "sync_run"
    _states = core.SYNC_STATES
    _listable = True
    _no_cancel = "a sync run cannot be stopped; delete the sync to stop its next runs"

    def __init__(
        self,
        client: AsyncCarto,
        sync_id: str,
        *,
        triggered_at: datetime | None = None,
        started: bool = False,
        enqueued: bool = True,
        refusal: SyncNowRefusal | None = None,
        data_import: DataImport | None = None,
        snapshot: Sync | None = None,
        resumed: bool = False,
    ) -> None:
        self.triggered_at = triggered_at
        self.enqueued = enqueued
        self.refusal = refusal
        self.data_import = data_import
        self._started = started or (
            snapshot is not None and classify(self._states, snapshot.state) is Outcome.PENDING
        )
        super().__init__(client, sync_id, snapshot=snapshot, resumed=resumed)
        if self.done:
            client._scheduler.discard(self._key)

    @property
    def _refused(self) -> bool:
        return self.refusal is not None and self.refusal is not SyncNowRefusal.BUSY

    async def _fetch(self) -> Sync:
        return await self._client.syncs.get(self.id)

    def _state_of(self, snapshot: Sync) -> str:
        return snapshot.state

    def _apply(self, snapshot: Sync, *, polled: bool = True) -> Sync:
        if classify(self._states, snapshot.state) is Outcome.PENDING:
            self._started = True
        return super()._apply(snapshot, polled=polled)

    def _outcome_of(self, snapshot: Sync) -> Outcome:
        return core.run_outcome_of(
            snapshot, triggered_at=self.triggered_at, started=self._started, refusal=self.refusal
        )

    @classmethod
    async def _list(cls, client: AsyncCarto) -> Mapping[str, Sync | None]:
        return {sync.id: sync for sync in await client.syncs.list()}

    def _failure(self, snapshot: Sync) -> SyncFailed:
        if self._refused:
            assert self.refusal is not None
            return SyncFailed(
                f"sync {self.id}: no run was enqueued: {self.refusal.message}",
                job=self,
                job_id=self.id,
                state=snapshot.state,
                retried_times=snapshot.retried_times,
            )
        text = snapshot.error
        title = text.title if text is not None else "Unknown error"
        return SyncFailed(
            f"sync {self.id} ({snapshot.url or snapshot.service_item_id or snapshot.name}) "
            f"failed: error {snapshot.error_code}: {title} "
            f"(retried {snapshot.retried_times} times)",
            job=self,
            job_id=self.id,
            state=snapshot.state,
            error_code=snapshot.error_code,
            title=title,
            what_about=text.what_about if text is not None else None,
            source=text.source if text is not None else None,
            retried_times=snapshot.retried_times,
        )

    def _token_fields(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        if self.triggered_at is not None:
            fields["since"] = self.triggered_at.isoformat()
        if self._started:
            fields["started"] = "1"
        return fields

    @classmethod
    def _resume(cls, client: AsyncCarto, fields: Mapping[str, str]) -> AsyncSyncRun:
        since = fields.get("since")
        return client.syncs.run(
            fields["id"],
            since=parse_datetime(since) if since else None,
            started=fields.get("started") == "1",
        )

    def import_job(self) -> AsyncImportJob | None:
        """A handle on the first import a new sync started (``None`` for other runs)."""
        if self.data_import is None:
            return None
        return self._client.imports.job(self.data_import.item_queue_id)


def _server_now(response: Response) -> datetime:
    """The server's time from the ``Date`` header, else this machine's."""
    value = response.headers.get("date")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return when
    return datetime.now(UTC)


class AsyncSyncs:
    """Sync tables (``/api/v1/synchronizations``; the master key and the sync tables feature).

    Example::

        run = await carto.syncs.create("https://example.com/stores.csv", interval=3600)
        sync = await run.wait()                  # the first import has finished
        run = await carto.syncs.sync_now(sync.id)
        if run.enqueued:
            await run.wait()
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def _send(self, spec: RequestSpec, sync_id: str | None = None) -> Response:
        try:
            return await self._client._transport.request(spec)
        except AuthenticationError as exc:
            if exc.body is None:
                exc.message = _NO_FEATURE
                exc.args = (exc.message,)
            raise
        except NotFoundError as exc:
            if exc.body is None and sync_id is not None:
                exc.message = f"no sync table with id {sync_id}"
                exc.args = (exc.message,)
            raise

    async def create(
        self,
        url: str,
        *,
        interval: int | float | timedelta = 3600,
        table_name: str | None = None,
        type_guessing: bool | None = None,
        quoted_fields_guessing: bool | None = None,
        content_guessing: bool | None = None,
        create_vis: bool | None = None,
    ) -> AsyncSyncRun:
        """Create a sync table of the file at ``url``, re-imported every ``interval`` seconds
        (at least 900). The returned run finishes when the first import has."""
        spec = core.create_request(
            url=url,
            interval=interval,
            table_name=table_name,
            type_guessing=type_guessing,
            quoted_fields_guessing=quoted_fields_guessing,
            content_guessing=content_guessing,
            create_vis=create_vis,
        )
        return await self._created(spec)

    async def from_arcgis(
        self,
        layer_or_service_url: str,
        *,
        interval: int | float | timedelta = 3600,
        table_name: str | None = None,
        type_guessing: bool | None = None,
        quoted_fields_guessing: bool | None = None,
        content_guessing: bool | None = None,
        create_vis: bool | None = None,
    ) -> AsyncSyncRun:
        """Sync an ArcGIS Server layer (``.../rest/services/<folder>/<service>/FeatureServer/0``)
        or a whole service (ending in ``/MapServer/``); the URL's shape is checked first."""
        spec = core.create_request(
            url=None,
            service_name="arcgis",
            service_item_id=layer_or_service_url,
            interval=interval,
            table_name=table_name,
            type_guessing=type_guessing,
            quoted_fields_guessing=quoted_fields_guessing,
            content_guessing=content_guessing,
            create_vis=create_vis,
        )
        return await self._created(spec)

    async def _created(self, spec: RequestSpec) -> AsyncSyncRun:
        sync = core.parse_sync((await self._send(spec)).body(), "create")
        return AsyncSyncRun(
            self._client,
            sync.id,
            triggered_at=sync.ran_at or sync.created_at,
            started=True,
            data_import=sync.data_import,
            snapshot=sync,
        )

    async def list(self) -> list[Sync]:
        """Every sync table of the account."""
        return core.parse_list((await self._send(core.list_request())).body())

    async def get(self, sync_id: str) -> Sync:
        """One sync table (``NotFoundError`` for an unknown id)."""
        spec = core.get_request(sync_id)
        return core.parse_sync((await self._send(spec, sync_id)).body())

    async def update(self, sync_id: str, *, interval: int | float | timedelta) -> Sync:
        """Change the interval (at least 900 s: checked here, as the server does not)."""
        spec = core.update_request(sync_id, interval=interval)
        return core.parse_sync((await self._send(spec, sync_id)).body(), "update")

    async def delete(self, sync_id: str) -> None:
        """Stop syncing: the table stays, as a normal dataset."""
        await self._send(core.delete_request(sync_id), sync_id)

    async def check(self, sync_id: str) -> str:
        """The sync's state (``GET .../sync_now``): ``queued``, ``syncing``, ``success``..."""
        spec = core.check_request(sync_id)
        return core.parse_check((await self._send(spec, sync_id)).body())

    async def sync_now(self, sync_id: str) -> AsyncSyncRun:
        """Ask for a run now (``PUT .../sync_now``); the handle says whether it was enqueued.

        The server refuses when the table ran less than 15 minutes ago, is already queued or
        syncing, or the account runs 3 syncs already; ``run.refusal`` says which (read from
        the sync fetched just before asking). A refused run's ``wait()`` raises
        :class:`SyncFailed` saying why, except when a run is already under way: it follows it.
        """
        before = await self.get(sync_id)
        response = await self._send(core.sync_now_request(sync_id), sync_id)
        enqueued = core.parse_sync_now(response.body())
        if enqueued:
            return AsyncSyncRun(self._client, before.id, triggered_at=before.ran_at, started=True)
        refusal = core.refusal_of(before, _server_now(response))
        return AsyncSyncRun(
            self._client,
            before.id,
            triggered_at=before.ran_at,
            enqueued=False,
            refusal=refusal,
            snapshot=before,
        )

    def run(
        self, sync_id: str, *, since: datetime | None = None, started: bool = False
    ) -> AsyncSyncRun:
        """A handle on a sync's next (or current) run, to wait on it (no request is sent).

        It finishes once the sync is seen queued or syncing and then final, or once its
        ``ran_at`` is later than ``since``.
        """
        return AsyncSyncRun(
            self._client,
            core.check_sync_id(sync_id),
            triggered_at=since,
            started=started,
            resumed=True,
        )

    def resume(self, token: str) -> AsyncSyncRun:
        """The handle of a sync run's ``run.token()``."""
        creds = self._client.credentials
        account = Account.of(creds.username, creds.base_url)
        fields = load_token(token, kind=AsyncSyncRun.kind, account=account)
        return AsyncSyncRun._resume(self._client, fields)
