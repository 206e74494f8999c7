"""The Import API: upload files, import URLs, tables, queries and connectors (``carto.imports``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from carto_async._async import _concurrency as cc
from carto_async._async._bodies import BodySource, ProgressCallback, multipart_body
from carto_async._async.jobs import AsyncJob
from carto_async._core import imports as core
from carto_async._core.jobs import IMPORT_STATES, Account, load_token
from carto_async._core.waiter import Poll, Sleep, SlotPlan
from carto_async.errors import ImportFailed, NotFoundError, ValidationError
from carto_async.models.imports import ImportErrorText, ImportStatus

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncImportJob", "AsyncImports", "ProgressCallback", "UploadSource"]

logger = logging.getLogger("carto_async")

#: What ``upload`` takes: a path, a binary file object, bytes, or an (async) iterator of bytes.
UploadSource = BodySource


class AsyncImportJob(AsyncJob[ImportStatus]):
    """An import in progress: ``await job.wait()`` gives its :class:`ImportStatus` or raises
    :class:`ImportFailed`.

    A ``complete`` import that carries error 1022 (every table was skipped by
    ``collision_strategy="skip"``) is a success whose ``warning`` says so. The Import API
    has no cancel request: ``cancel()`` raises :class:`ValidationError`.
    """

    kind = "import"
    _states = IMPORT_STATES
    _listable = True
    _no_cancel = "the Import API has no cancel request; the import runs to its end"

    def __init__(
        self,
        client: AsyncCarto,
        job_id: str,
        *,
        source: str | None = None,
        snapshot: ImportStatus | None = None,
        resumed: bool = False,
    ) -> None:
        super().__init__(client, job_id, snapshot=snapshot, resumed=resumed)
        self.source = source

    async def _fetch(self) -> ImportStatus:
        return await self._client.imports.get(self.id)

    def _state_of(self, snapshot: ImportStatus) -> str:
        return snapshot.state

    @classmethod
    async def _list(cls, client: AsyncCarto) -> Mapping[str, ImportStatus | None]:
        # GET /api/v1/imports lists the ids of the unfinished imports of the last 24 h: one
        # request tells which of many imports may have finished (those no longer listed).
        return dict.fromkeys(await client.imports.list())

    def _failure(self, snapshot: ImportStatus) -> ImportFailed:
        text = snapshot.error or ImportErrorText("Unknown error")
        code = snapshot.error_code
        where = f" ({self.source})" if self.source else ""
        return ImportFailed(
            f"import {self.id}{where} ended in {snapshot.state!r}: error {code}: {text.title}",
            job=self,
            job_id=self.id,
            state=snapshot.state,
            error_code=code,
            title=text.title,
            what_about=text.what_about,
            source=text.source,
        )

    def _token_fields(self) -> dict[str, str]:
        return {"source": self.source} if self.source else {}

    @classmethod
    def _resume(cls, client: AsyncCarto, fields: Mapping[str, str]) -> AsyncImportJob:
        # Through imports.job(), so that a resumed import counts against the slot cap.
        return client.imports.job(fields["id"], source=fields.get("source"))

    @property
    def table_name(self) -> str | None:
        """The table the import created, once complete."""
        return self._snapshot.table_name if self._snapshot is not None else None

    @property
    def warning(self) -> ImportErrorText | None:
        """The warning of a successful import (1022: all tables skipped), if any."""
        return self._snapshot.warning if self._snapshot is not None else None


class _ImportSlots:
    """A per-client cap on imports in progress (CARTO allows 3 per user by default).

    The counting and the waits are :class:`~carto_async._core.waiter.SlotPlan`'s. A new import
    waits for a slot by polling this client's running imports through the client's watcher
    (one listing request for all of them), so it never deadlocks on jobs nobody else waits
    for, and never uploads a file only to be told 429.
    """

    def __init__(self, client: AsyncCarto, cap: int | None) -> None:
        self._client = client
        self._plan = SlotPlan(cap)
        # Uploads of sync callers register from their own threads; never held while waiting.
        self._count = threading.Lock()
        self.active: dict[str, AsyncImportJob] = {}
        self._lock = cc.Lock()
        self._changed = cc.Event()

    @property
    def cap(self) -> int | None:
        return self._plan.cap

    async def acquire(self) -> None:
        if not self._plan.limited:
            return
        async with self._lock:
            while not self._free():
                await self._wait_for_change()
            with self._count:
                self._plan.reserve()

    def _free(self) -> bool:
        with self._count:
            return self._plan.free()

    async def _wait_for_change(self) -> None:
        self._changed = changed = cc.Event()
        watcher = self._client.jobs._watcher
        with self._count:
            jobs = list(self.active.values())
            step = self._plan.next(cc.now(), watcher.wake if jobs else None)
        # The running imports are listed from one on (eager), however few they are.
        watcher.add(jobs, eager=True)
        try:
            if isinstance(step, Poll):
                await watcher.round()
            elif isinstance(step, Sleep):
                # Woken early when an upload registers its job or gives its slot back.
                await changed.wait(step.seconds)
        finally:
            watcher.remove(jobs, eager=True)

    def register(self, job: AsyncImportJob) -> None:
        if not self._plan.limited:
            return
        with self._count:
            if self._plan.register(job.id, done=job.done):
                self.active[job.id] = job
                job._done_callbacks.append(self._release)
        self._changed.set()

    def adopt(self, job: AsyncImportJob) -> None:
        """Count an import this client did not create (a resumed one) until it is seen final:
        it holds one of the account's import slots on the server all the same."""
        with self._count:
            adopted = self._plan.adopt(job.id, done=job.done)
            if adopted:
                self.active[job.id] = job
                job._done_callbacks.append(self._release)
        if adopted:
            self._changed.set()

    def cancel(self) -> None:
        if self._plan.limited:
            with self._count:
                self._plan.cancel()
            self._changed.set()

    def _release(self, job: AsyncJob[Any]) -> None:
        with self._count:
            self._plan.release(job.id)
            self.active.pop(job.id, None)
        self._changed.set()


class AsyncImports:
    """The Import API: every create returns an :class:`AsyncImportJob` to await.

    Example::

        job = await carto.imports.upload("stores.csv", privacy="public")
        status = await job.wait()
        print(status.table_name)
    """

    def __init__(
        self,
        client: AsyncCarto,
        *,
        max_concurrent_imports: int | None,
        max_concurrent_uploads: int | None,
    ) -> None:
        self._client = client
        self._slots = _ImportSlots(client, max_concurrent_imports)
        self._uploads = cc.Limiter(max_concurrent_uploads)
        #: Uploads stopped after their last byte was sent, whose import may exist (labels).
        self.unknown_outcomes: list[str] = []

    async def _start(
        self, send: Callable[[], Awaitable[Any]], source: str | None
    ) -> AsyncImportJob:
        await self._slots.acquire()
        try:
            response = await send()
            job_id = core.parse_created(response.body())
        except BaseException:
            self._slots.cancel()
            raise
        job = AsyncImportJob(self._client, job_id, source=source)
        self._slots.register(job)
        return job

    async def upload(
        self,
        source: UploadSource,
        *,
        filename: str | None = None,
        progress: ProgressCallback | None = None,
        **options: Unpack[core.ImportOptionArgs],
    ) -> AsyncImportJob:
        """Upload a file to import, streamed from disk in chunks.

        ``source`` is a path, a binary file object, bytes (with ``filename=``) or an iterator
        of bytes, sync or async (with ``filename=``; it cannot be replayed, so it is never
        retried once sending began). A missing, unreadable or directory path, or a file name
        CARTO cannot store (control characters, over 255 bytes), fails before any request.
        ``progress(sent, total)`` is called as bytes go out. A file that grows or shrinks
        while it is sent raises :class:`SourceChangedError` (nothing is created).

        If the upload is cancelled after its last byte was sent, the import may exist on the
        server all the same: a warning is logged, the exception carries a note saying so, and
        the source is added to :attr:`unknown_outcomes`.
        """
        checked = core.ImportOptions.build(**options)
        _, body = multipart_body(source, filename=filename, progress=progress)
        spec = core.upload_request(checked)
        label = body.label

        async def send() -> Any:
            async with self._uploads:
                try:
                    return await self._client._transport.request(spec, body=body)
                except BaseException as exc:
                    if body.fully_sent and not isinstance(exc, Exception):
                        self._unknown_outcome(label, exc)
                    raise

        return await self._start(send, label)

    def _unknown_outcome(self, label: str, exc: BaseException) -> None:
        """An upload stopped (cancelled, interrupted) after its last byte went out: CARTO may
        have created an import nobody waits for. Say so, in the log and on the exception."""
        self.unknown_outcomes.append(label)
        message = (
            f"the upload of {label} was stopped after the whole file was sent: CARTO may have "
            "created an import this client does not know about (see carto.imports.list() for "
            "unfinished imports; the table may appear)"
        )
        logger.warning("%s", message)
        exc.add_note(message)

    async def create(
        self,
        *,
        url: str | None = None,
        sql: str | None = None,
        table_name: str | None = None,
        service_name: str | None = None,
        service_item_id: str | None = None,
        connector: Mapping[str, Any] | None = None,
        file: object = None,
        **options: Unpack[core.ImportOptionArgs],
    ) -> AsyncImportJob:
        """Create any non-upload import from raw Import API parameters.

        Prefer the named methods (``from_url``, ``copy_table``, ``from_query``...). A file or
        URL combined with ``table_name`` or ``sql`` is a :class:`ValidationError`.
        """
        checked = core.ImportOptions.build(**options)
        spec = core.create_request(
            checked,
            file=file,
            url=url,
            sql=sql,
            table_name=table_name,
            service_name=service_name,
            service_item_id=service_item_id,
            connector=connector,
        )
        if file is not None:
            raise ValidationError("use upload() to import a file")
        label = url or service_item_id or table_name or (sql[:60] if sql else None)

        async def send() -> Any:
            return await self._client._transport.request(spec)

        return await self._start(send, label)

    async def from_url(self, url: str, **options: Unpack[core.ImportOptionArgs]) -> AsyncImportJob:
        """Import the file at ``url`` (http, https or ftp); the server downloads it."""
        return await self.create(url=url, **options)

    async def copy_table(
        self, table_name: str, **options: Unpack[core.ImportOptionArgs]
    ) -> AsyncImportJob:
        """Copy one of your tables into a new table named after it."""
        return await self.create(table_name=table_name, **options)

    async def from_query(
        self, sql: str, *, table_name: str | None = None, **options: Unpack[core.ImportOptionArgs]
    ) -> AsyncImportJob:
        """Create a table from the result of ``sql``, named ``table_name``."""
        return await self.create(sql=sql, table_name=table_name, **options)

    async def from_datasource(
        self,
        service_name: str,
        service_item_id: str,
        **options: Unpack[core.ImportOptionArgs],
    ) -> AsyncImportJob:
        """Import from a connected datasource (``gdrive``, ``dropbox``, ``box``...)."""
        return await self.create(
            service_name=service_name, service_item_id=service_item_id, **options
        )

    async def from_arcgis(
        self, layer_or_service_url: str, **options: Unpack[core.ImportOptionArgs]
    ) -> AsyncImportJob:
        """Import an ArcGIS Server layer (``.../FeatureServer/0``) or a whole service."""
        return await self.create(
            service_name="arcgis", service_item_id=layer_or_service_url, **options
        )

    async def get(self, import_id: str) -> ImportStatus:
        """The status of one import (``NotFoundError`` if the server does not know it)."""
        spec = core.status_request(import_id)
        try:
            response = await self._client._transport.request(spec)
        except NotFoundError as exc:
            exc.message = f"no import with id {import_id}"
            exc.args = (exc.message,)
            raise
        return core.parse_status(response.body())

    async def list(self) -> list[str]:
        """The ids of your *unfinished* imports of the last 24 hours, newest first.

        This is what the server really returns: finished imports are not listed.
        """
        response = await self._client._transport.request(core.list_request())
        return core.parse_list(response.body())

    def job(self, import_id: str, *, source: str | None = None) -> AsyncImportJob:
        """A handle on an existing import, to wait on it (no request is sent yet).

        Until it is seen final it counts against ``max_concurrent_imports``, as the imports
        this client creates do.
        """
        job = AsyncImportJob(
            self._client, core.check_import_id(import_id), source=source, resumed=True
        )
        self._slots.adopt(job)
        return job

    def resume(self, token: str) -> AsyncImportJob:
        """The handle of an import's ``job.token()``: waiting on it polls the same import.

        A shortcut of ``carto.jobs.resume(token)`` that also checks the token is an import's;
        a token of another account is a :class:`ValidationError`, before any request.
        """
        creds = self._client.credentials
        account = Account.of(creds.username, creds.base_url)
        fields = load_token(token, kind="import", account=account)
        return self.job(fields["id"], source=fields.get("source"))
