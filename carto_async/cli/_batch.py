"""The batch import: upload or resume every source, wait for every import, record each outcome.

One task per source: upload (or resume), then wait. The SDK client does the pacing: it holds
each new import until one of its import slots is free (``max_concurrent_imports``), caps the
uploads in flight (``max_concurrent_uploads``), and spaces every job's status polls with one
shared scheduler, so however many tasks wait, each import is polled at its own widening
interval.

The manifest is written ahead: a source is recorded ``started`` before the first byte of its
upload's body goes out (for a URL, before its create request is made), again as soon as its
import exists on the server (its token), and again when it ends. Whatever stops this process
(Ctrl-C, SIGTERM, SIGKILL, a power cut), a re-run never uploads again a source whose import the
server may have made, unless told to (``--retry-unknown``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import attrs

from carto_async.cli._manifest import Entry, EntryState, Manifest
from carto_async.cli._output import strip_html
from carto_async.errors import (
    APIConnectionError,
    APIError,
    ImportFailed,
    JobTimeout,
    NotFoundError,
    ValidationError,
)

if TYPE_CHECKING:
    from carto_async import AsyncCarto, AsyncImportJob
    from carto_async.cli._sources import Source

__all__ = ["Action", "Batch", "Item", "Phase", "Reporter", "plan"]


class Action(StrEnum):
    """What this run does about a source, decided from the manifest before it starts."""

    UPLOAD = "upload"
    RESUME = "resume"  # the import exists: poll it again from its token
    SKIP = "skip"  # it completed in an earlier run
    HOLD = "hold"  # an earlier create request got no answer; not retried unless asked


class Phase(StrEnum):
    """Where a source stands in this run."""

    WAITING = "waiting"  # for an import slot or an upload slot
    UPLOADING = "uploading"
    CREATING = "creating"  # a URL import's create request
    RUNNING = "running"  # the server has it; ``job.state`` says where it is
    COMPLETE = "complete"
    FAILURE = "failure"  # the import failed on the server
    ERROR = "error"  # a request failed (refused, or no connection)
    UNKNOWN = "unknown"  # the create request got no answer: the import may exist
    TIMEOUT = "timeout"  # still running after --timeout; it goes on on the server
    SKIPPED = "skipped"
    HELD = "held"
    INTERRUPTED = "interrupted"


#: After Ctrl-C or SIGTERM, how long an upload whose bytes were all sent may wait for its answer,
#: so that the import it created is recorded (and resumed later) instead of being left in doubt.
ANSWER_GRACE = 10.0

_FINAL = frozenset(Phase) - {Phase.WAITING, Phase.UPLOADING, Phase.CREATING, Phase.RUNNING}
_OK = frozenset({Phase.COMPLETE, Phase.SKIPPED})


@attrs.define(eq=False)
class Item:
    """One source and everything this run learned about it."""

    source: Source
    action: Action
    previous: Entry | None = None
    phase: Phase = Phase.WAITING
    job: AsyncImportJob | None = None
    sent: int = 0
    started: float | None = None
    finished: float | None = None
    import_id: str | None = None
    table_name: str | None = None
    error_code: int | None = None
    title: str | None = None
    what_about: str | None = None
    warning: str | None = None
    message: str | None = None
    recorded_start: bool = False  # the manifest says "started" for it (written ahead)

    @property
    def state(self) -> str:
        """The state to show: the server's state while it runs, else this run's phase."""
        if self.phase is Phase.RUNNING:
            seen = self.job.state if self.job is not None else None
            return seen or ("resumed" if self.action is Action.RESUME else "created")
        return self.phase.value

    @property
    def final(self) -> bool:
        """True once this run is done with the source."""
        return self.phase in _FINAL

    @property
    def ok(self) -> bool:
        """True when the source's table exists (imported now or in an earlier run)."""
        return self.phase in _OK

    @property
    def failed(self) -> bool:
        """True when the source ended badly in this run (Ctrl-C is not a failure)."""
        return self.final and not self.ok and self.phase is not Phase.INTERRUPTED

    @property
    def duration(self) -> float | None:
        """Seconds from the start of its upload (or resume) to its final state."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


class Reporter(Protocol):
    """What the batch tells the person or the script watching it."""

    def start(self, items: Sequence[Item]) -> None:
        """The batch starts with ``items`` (those skipped or held are final already)."""

    def changed(self, item: Item) -> None:
        """``item`` changed phase (its upload started, its import was created or resumed)."""

    def progress(self, item: Item, sent: int) -> None:
        """``sent`` bytes of ``item`` are uploaded (``item.sent`` still holds the last count)."""

    def finished(self, item: Item) -> None:
        """``item`` is final for this run."""

    def note(self, text: str) -> None:
        """Something the person watching should know now."""

    def stop(self) -> None:
        """The batch is over (or interrupted): release the display."""


def plan(sources: Sequence[Source], manifest: Manifest, *, retry_unknown: bool) -> list[Item]:
    """Decide what to do about each source from its manifest record."""
    items = []
    for source in sources:
        entry = manifest.get(source.key)
        item = Item(source, Action.UPLOAD, previous=entry)
        if entry is None:
            items.append(item)
            continue
        if entry.state is EntryState.DONE:
            item.action, item.phase = Action.SKIP, Phase.SKIPPED
            item.table_name, item.import_id = entry.table_name, entry.import_id
            item.message = "imported by an earlier run"
        elif entry.state is EntryState.IN_FLIGHT and entry.token:
            item.action, item.import_id = Action.RESUME, entry.import_id
        elif entry.state.in_doubt and not retry_unknown:
            item.action, item.phase = Action.HOLD, Phase.HELD
            what = (
                "an earlier upload got no answer"
                if entry.state is EntryState.UNKNOWN
                else "an earlier run was stopped after its upload began"
            )
            item.message = (
                f"{what} and may have been imported: check your datasets, then re-run with "
                "--retry-unknown to upload it again"
            )
        items.append(item)
    return items


class Batch:
    """Runs the plan with one client; ``options`` are the import options for every create."""

    def __init__(
        self,
        carto: AsyncCarto,
        items: Sequence[Item],
        *,
        manifest: Manifest,
        reporter: Reporter,
        options: dict[str, Any],
        timeout: float | None = None,
        answer_grace: float = ANSWER_GRACE,
    ) -> None:
        self.carto = carto
        self.items = list(items)
        self.manifest = manifest
        self.reporter = reporter
        self.options = options
        self.timeout = timeout
        self.answer_grace = answer_grace
        self.interrupted = False
        # URL creates go one at a time: the SDK gives no signal between waiting for an import
        # slot and sending, so if Ctrl-C comes, only the one holding this lock may have been
        # sent (and is recorded as unknown); the others certainly were not.
        self._url_gate = anyio.Lock()
        # Uploads run shielded so that Ctrl-C can tell apart the ones it may stop at once
        # from the ones whose whole body was sent (see _stop_uploads).
        self._uploads: dict[Item, anyio.CancelScope] = {}
        self._remaining = 0
        self._all_done: anyio.Event | None = None

    async def run(self) -> None:
        """Import everything; on cancellation (Ctrl-C), record where each source stood."""
        self.reporter.start(self.items)
        pending = [i for i in self.items if not i.final]
        for item in self.items:
            if item.final:
                self.reporter.finished(item)
        self._remaining = len(pending)
        self._all_done = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                if pending:
                    tg.start_soon(self._guard)
                for item in pending:
                    tg.start_soon(self._run, item)
        except anyio.get_cancelled_exc_class():
            self.interrupted = True
            raise
        finally:
            for item in self.items:
                if not item.final:
                    self._interrupt(item)
            self.reporter.stop()

    async def _guard(self) -> None:
        """Wait for the end of the batch; if Ctrl-C comes first, stop the uploads."""
        assert self._all_done is not None
        try:
            await self._all_done.wait()
        except anyio.get_cancelled_exc_class():
            self._stop_uploads()
            raise

    def _stop_uploads(self) -> None:
        """Stop at once the uploads that wait or are part-sent: the server cannot have made
        their import. Give those whose bytes were all sent a moment to be answered."""
        self.interrupted = True
        deadline = anyio.current_time() + self.answer_grace
        answering = 0
        for item, scope in self._uploads.items():
            if _fully_sent(item):
                scope.deadline = min(scope.deadline, deadline)
                answering += 1
            else:
                scope.cancel()
        if answering:
            self.reporter.note(
                f"Stopping: waiting up to {self.answer_grace:g}s for the server's answer to "
                f"{answering} upload(s) already sent (Ctrl-C or SIGTERM again to stop now)."
            )

    # -- one source -------------------------------------------------------------------------

    async def _run(self, item: Item) -> None:
        try:
            await self._run_one(item)
        finally:
            self._remaining -= 1
            if not self._remaining and self._all_done is not None:
                self._all_done.set()

    async def _run_one(self, item: Item) -> None:
        if item.action is Action.RESUME:
            assert item.previous is not None
            assert item.previous.token is not None
            try:
                job = self.carto.imports.resume(item.previous.token)
            except ValidationError as exc:
                self._end(
                    item, Phase.ERROR, EntryState.FAILED, message=f"bad manifest record: {exc}"
                )
                return
            item.job, item.started, item.phase = job, time.monotonic(), Phase.RUNNING
            self.reporter.changed(item)
        else:
            created = await self._create(item)
            if created is None:
                return
            job = created
        await self._wait(item, job)

    async def _create(self, item: Item) -> AsyncImportJob | None:
        source = item.source
        try:
            if source.url is not None:
                async with self._url_gate:
                    item.phase, item.started = Phase.CREATING, time.monotonic()
                    self._record_start(item)
                    self.reporter.changed(item)
                    job = await self.carto.imports.from_url(source.url, **self.options)
            else:
                uploaded = await self._upload(item)
                if uploaded is None:
                    return None
                job = uploaded
        except APIConnectionError as exc:
            if exc.request_sent:
                self._end(item, Phase.UNKNOWN, EntryState.UNKNOWN, message=_unknown_message(exc))
            else:
                self._end(item, Phase.ERROR, EntryState.FAILED, message=exc.message)
            return None
        except (APIError, ValidationError) as exc:
            self._end(item, Phase.ERROR, EntryState.FAILED, message=str(exc))
            return None
        item.job, item.import_id, item.phase = job, job.id, Phase.RUNNING
        self.manifest.record(
            source.key, source.label, EntryState.IN_FLIGHT, token=job.token(), import_id=job.id
        )
        self.reporter.changed(item)
        return job

    async def _upload(self, item: Item) -> AsyncImportJob | None:
        """The upload, shielded from Ctrl-C until :meth:`_stop_uploads` decides; ``None``
        when it was stopped (the batch's cleanup records how far it got)."""
        assert item.source.path is not None
        with anyio.CancelScope(shield=True) as scope:
            self._uploads[item] = scope
            if self.interrupted:
                scope.cancel()
            try:
                return await self.carto.imports.upload(
                    item.source.path,
                    progress=lambda sent, _total: self._sent(item, sent),
                    **self.options,
                )
            finally:
                del self._uploads[item]
        return None

    def _sent(self, item: Item, sent: int) -> None:
        # The SDK reports 0 bytes before the first byte of the body goes out: the record
        # is on disk before the server can have the file.
        if item.phase is Phase.WAITING:
            item.phase, item.started = Phase.UPLOADING, time.monotonic()
            self._record_start(item)
            self.reporter.changed(item)
        self.reporter.progress(item, sent)
        item.sent = sent

    async def _wait(self, item: Item, job: AsyncImportJob) -> None:
        try:
            status = await job.wait(timeout=self.timeout)
        except ImportFailed as exc:
            item.error_code, item.title = exc.error_code, exc.title
            item.what_about = strip_html(exc.what_about)
            self._end(
                item, Phase.FAILURE, EntryState.FAILED, error_code=exc.error_code, error=exc.title
            )
        except JobTimeout:
            message = (
                f"still {job.state or 'pending'} after {self.timeout:g}s; it goes on on the server"
            )
            self._end(item, Phase.TIMEOUT, None, message=message)
        except NotFoundError:
            # The server does not know this import (a manifest from another server or an
            # emptied database): nothing runs there, so a later run may upload it again.
            message = f"the server does not know import {job.id}"
            self._end(item, Phase.ERROR, EntryState.FAILED, message=message)
        except APIError as exc:
            # The import exists; only its status requests failed. Keep it in flight.
            self._end(item, Phase.ERROR, None, message=f"lost track of it: {exc}")
        else:
            item.table_name = status.table_name
            if status.warning is not None:
                item.warning = f"{status.error_code}: {status.warning.title}"
            self._end(item, Phase.COMPLETE, EntryState.DONE, table_name=status.table_name)

    def _end(
        self,
        item: Item,
        phase: Phase,
        record: EntryState | None,
        *,
        message: str | None = None,
        error: str | None = None,
        error_code: int | None = None,
        table_name: str | None = None,
    ) -> None:
        """Finish ``item`` in ``phase`` and, unless ``record`` is None, record it."""
        item.phase, item.finished = phase, time.monotonic()
        if message is not None:
            item.message = message
        if record is not None:
            fields: dict[str, Any] = {"error": error or message, "error_code": error_code}
            if item.job is not None:
                fields.update(token=item.job.token(), import_id=item.job.id)
            if table_name is not None:
                fields["table_name"] = table_name
            self.manifest.record(item.source.key, item.source.label, record, **fields)
        self.reporter.finished(item)

    def _record_start(self, item: Item) -> None:
        """Write ahead that ``item``'s create request is starting."""
        source = item.source
        self.manifest.record(source.key, source.label, EntryState.STARTED)
        item.recorded_start = True

    def _interrupt(self, item: Item) -> None:
        """Record a source that Ctrl-C stopped before its end."""
        source, was = item.source, item.phase
        item.phase, item.finished = Phase.INTERRUPTED, time.monotonic()
        if item.job is not None:
            item.message = "still running on the server; a re-run resumes it"
        elif was in (Phase.WAITING, Phase.UPLOADING) and not _fully_sent(item, was):
            # Nothing sent, or cut off mid-body: the server never had the whole request.
            item.message = "not imported; a re-run uploads it"
            if item.previous is not None or item.recorded_start:
                self.manifest.record(source.key, source.label, EntryState.PENDING)
        else:
            item.phase = Phase.UNKNOWN
            item.message = (
                "stopped while waiting for the server's answer: it may have been imported"
            )
            self.manifest.record(source.key, source.label, EntryState.UNKNOWN, error=item.message)
        self.reporter.finished(item)


def _fully_sent(item: Item, phase: Phase | None = None) -> bool:
    """True once every byte of the file went out (the server may be making the import)."""
    uploading = (phase or item.phase) is Phase.UPLOADING
    return uploading and item.sent >= (item.source.size or 0)


def _unknown_message(exc: APIConnectionError) -> str:
    return f"no answer to the create request, so it may have been imported ({exc.message})"
