"""Sync tables on the job clock (reference §5): the sync objects, their runs and the scheduler.

A sync's first run is an Import API job (the create response nests its ``item_queue_id``),
later runs are ``SYNC_RUN`` jobs. A run downloads the source again and replaces the table's
rows only when the content changed (its checksum); ``ran_at``/``run_at`` move when it ends.
The sync's state is read from its current run: ``queued``, ``syncing``, then ``success`` or
``failure``. The scheduler listens to the server's clock: when ``run_at`` passes, a successful
sync runs again, and a failed one too while it has failed fewer than 10 times in a row.

    >>> SyncRules.can_sync_now(state="success", ran_ago=901, updated_ago=0, running=0)
    (True, None)
    >>> SyncRules.can_sync_now(state="success", ran_ago=10, updated_ago=0, running=0)
    (False, 'ran less than 900 s ago')
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import uuid
from typing import TYPE_CHECKING, Any

import attrs

from carto_async.testing._jobclock import IMPORT, SYNC_RUN, JobEnd, JobKind, JobRecord
from carto_async.testing._loader import LoadResult, load_file
from carto_async.testing._sources import SourceUnavailable
from carto_async.testing._staging import ImportFailure

if TYPE_CHECKING:
    from collections.abc import Callable

    from carto_async.testing._db import Database
    from carto_async.testing._importing import Importer, ImportRequest
    from carto_async.testing._jobclock import JobClock, JobInfo
    from carto_async.testing._visualizations import Visualizations

__all__ = [
    "MAX_RETRIES",
    "MAX_SYNCS_PER_USER",
    "MIN_INTERVAL",
    "SYNC_NOW_TIMESPAN",
    "Sync",
    "SyncRules",
    "Syncs",
]

MIN_INTERVAL = 900
DEFAULT_INTERVAL = 3600
SYNC_NOW_TIMESPAN = 900
MAX_SYNCS_PER_USER = 3
MAX_RETRIES = 10
_UNKNOWN = 99999
_RUNNING = ("queued", "syncing")


class SyncRules:
    """The server's decisions about syncs, written as data-free functions."""

    @staticmethod
    def can_sync_now(
        *, state: str, ran_ago: float, updated_ago: float, running: int
    ) -> tuple[bool, str | None]:
        """``member.rb#can_manually_sync?`` plus the per-user limit: (enqueue?, why not)."""
        stale_queue = state == "queued" and updated_ago > SYNC_NOW_TIMESPAN
        if state not in ("success", "failure") and not stale_queue:
            return False, f"already {state}"
        if ran_ago <= SYNC_NOW_TIMESPAN:
            return False, f"ran less than {SYNC_NOW_TIMESPAN} s ago"
        if running >= MAX_SYNCS_PER_USER:
            return False, f"{MAX_SYNCS_PER_USER} syncs already running"
        return True, None

    @staticmethod
    def is_due(*, state: str, run_at: float, now: float, retried_times: int) -> bool:
        """Whether the scheduler runs a sync now."""
        if run_at > now:
            return False
        return state == "success" or (state == "failure" and retried_times < MAX_RETRIES)


@attrs.define(eq=False)
class Sync:
    """One sync table: the stored columns plus its current run."""

    id: str
    user: str
    user_id: str
    name: str | None
    interval: int
    url: str | None
    state: str
    created_at: float
    updated_at: float
    run_at: float
    ran_at: float
    request: ImportRequest = attrs.field(repr=False)
    modified_at: float | None = None
    etag: str | None = None
    checksum: str | None = ""
    log_id: str = attrs.Factory(lambda: str(uuid.uuid4()))
    error_code: int | None = None
    error_message: str | None = None
    retried_times: int = 0
    service_name: str | None = None
    service_item_id: str | None = None
    type_guessing: bool = True
    quoted_fields_guessing: bool = True
    content_guessing: bool = False
    visualization_id: str | None = None
    from_external_source: bool = False
    table: str | None = None
    run: JobRecord | None = attrs.field(default=None, repr=False)
    first_import_id: str | None = None
    trigger: float = 0.0


@attrs.frozen
class _RunResult:
    changed: bool
    table: str | None
    checksum: str
    finished_at: float


class Syncs:
    """The sync tables of one server."""

    def __init__(
        self,
        *,
        jobs: JobClock,
        importer: Importer,
        db: Database,
        visualizations: Visualizations,
        processing_time: float | Callable[[JobInfo], float],
        error_title: Callable[[int], str],
    ) -> None:
        self.jobs = jobs
        self.importer = importer
        self.db = db
        self.visualizations = visualizations
        self.processing_time = processing_time
        self._error_title = error_title
        self._lock = threading.RLock()
        self._syncs: dict[str, Sync] = {}

    @property
    def clock(self) -> Any:
        """The server's clock."""
        return self.jobs.clock

    # -- creation --------------------------------------------------------------------------

    def create(
        self, user: str, user_id: str, request: ImportRequest, *, interval: int, name: str | None
    ) -> Sync:
        """Store a sync (state ``created``) without starting it (see :meth:`start_first`)."""
        now = self.clock.time()
        url = request.url if request.kind == "url" else None
        sync = Sync(
            id=str(uuid.uuid4()),
            user=user,
            user_id=user_id,
            name=name,
            interval=interval,
            url=url if url is not None else _given_url(request.params.get("url")),
            state="created",
            created_at=now,
            updated_at=now,
            run_at=now + interval,
            ran_at=now,
            request=request,
            service_name=None if request.kind == "url" else request.service_name,
            service_item_id=request.service_item_id,
            type_guessing=request.options.type_guessing,
            quoted_fields_guessing=request.options.quoted_fields_guessing,
            content_guessing=request.options.content_guessing,
        )
        with self._lock:
            self._syncs[sync.id] = sync
        return sync

    def start_first(self, sync: Sync) -> JobRecord:
        """Start the first run, an Import API job, and mark the sync ``queued``."""
        job = self.jobs.start(
            IMPORT,
            sync.user,
            display_name=sync.request.display_name,
            duration=self.importer.processing_time,
            work=functools.partial(self._first_run, sync),
            payload=sync.request,
            data_type=sync.request.data_type,
            service_name=sync.request.service_name,
            params=sync.request.params,
        )
        job.extra["synchronization_id"] = sync.id
        with self._lock:
            sync.first_import_id = job.id
            sync.run = job
            sync.state = "queued"
            sync.updated_at = self.clock.time()
            sync.trigger = sync.updated_at
        return job

    def _start_run(self, sync: Sync, *, due_at: float | None = None) -> JobRecord:
        now_time, now_mono = self.clock.time(), self.clock.monotonic()
        started = None if due_at is None else now_mono - max(0.0, now_time - due_at)
        job = self.jobs.start(
            SYNC_RUN,
            sync.user,
            display_name=sync.name or sync.id,
            duration=self.processing_time,
            work=functools.partial(self._next_run, sync),
            payload=sync,
            service_name=sync.service_name or "public_url",
            started=started,
        )
        sync.run = job
        sync.state = "queued"
        sync.updated_at = now_time
        sync.trigger = now_time
        return job

    # -- reading ---------------------------------------------------------------------------

    def get(self, sync_id: str) -> Sync | None:
        """The sync with ``sync_id``, settled."""
        with self._lock:
            sync = self._syncs.get(sync_id)
        if sync is not None:
            self.settle(sync)
        return sync

    def of_user(self, user: str) -> list[Sync]:
        """``user``'s syncs, settled, oldest first."""
        self.tick()
        with self._lock:
            found = [s for s in self._syncs.values() if s.user == user]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    def running(self, user: str) -> int:
        """How many of ``user``'s syncs have a run queued or under way."""
        with self._lock:
            syncs = [s for s in self._syncs.values() if s.user == user]
        return sum(1 for s in syncs if self.settle(s) in _RUNNING and s.run is not None)

    def settle(self, sync: Sync) -> str:
        """Bring ``sync`` up to date with its run; returns its state."""
        with self._lock:
            job = sync.run
            if job is None:
                return sync.state
            state = self.jobs.state(job)
            if state not in job.kind.final_states:
                # The first run is a data import: the sync says "queued" until it ends, as
                # only a worker's Member#run sets "syncing".
                first = job.kind is IMPORT or state == job.kind.phases[0]
                sync.state = "queued" if first else "syncing"
                return sync.state
            end = job.end() or JobEnd.failed(job.kind, _UNKNOWN)
            self._finish(sync, job, end)
            return sync.state

    def _finish(self, sync: Sync, job: JobRecord, end: JobEnd) -> None:
        result: Any = end.result.get("sync") if end.result else None
        finished = result.finished_at if isinstance(result, _RunResult) else self.clock.time()
        ran_at = max(job.created_at + job.duration, finished)
        sync.run = None
        sync.ran_at = ran_at
        sync.run_at = ran_at + sync.interval
        sync.updated_at = ran_at
        if end.state == job.kind.succeeded and isinstance(result, _RunResult):
            sync.state = "success"
            sync.error_code = None
            sync.error_message = None
            sync.retried_times = 0
            sync.checksum = result.checksum
            if result.changed:
                sync.modified_at = ran_at
            if result.table is not None:
                sync.table = result.table
                if sync.name is None:
                    sync.name = result.table
                record = self.visualizations.table(result.table)
                if record is not None:
                    sync.visualization_id = record.visualization_id
            return
        code = end.error_code or _UNKNOWN
        sync.state = "failure"
        sync.error_code = code
        sync.error_message = self._error_title(code)
        sync.retried_times += 1

    # -- changes ---------------------------------------------------------------------------

    def update(self, sync: Sync, *, interval: int | None) -> None:
        """``PUT /synchronizations/:id``: setting the interval moves ``run_at`` (no checks)."""
        with self._lock:
            now = self.clock.time()
            if interval is not None:
                sync.interval = interval
                sync.run_at = now + interval
            sync.updated_at = now

    def delete(self, sync: Sync) -> None:
        """Forget ``sync``; its table stays."""
        with self._lock:
            self._syncs.pop(sync.id, None)

    def sync_now(self, sync: Sync) -> tuple[bool, str | None]:
        """``PUT sync_now``: enqueue a run if the server's rules allow it."""
        with self._lock:
            state = self.settle(sync)
            now = self.clock.time()
            allowed, why = SyncRules.can_sync_now(
                state=state,
                ran_ago=now - sync.ran_at,
                updated_ago=now - sync.updated_at,
                running=self.running(sync.user),
            )
            if allowed:
                self._start_run(sync)
            return allowed, why

    def tick(self, _seconds: float = 0.0) -> None:
        """The scheduler: settle every sync and start the due ones (a clock listener)."""
        now = self.clock.time()
        with self._lock:
            syncs = list(self._syncs.values())
            for sync in syncs:
                state = self.settle(sync)
                if sync.run is None and SyncRules.is_due(
                    state=state, run_at=sync.run_at, now=now, retried_times=sync.retried_times
                ):
                    self._start_run(sync, due_at=sync.run_at)

    def clear(self) -> None:
        """Forget every sync (a server reset)."""
        with self._lock:
            self._syncs.clear()

    # -- the work (pool threads) -----------------------------------------------------------

    def _fetch_and_load(self, sync: Sync, kind: JobKind) -> JobEnd:
        request = sync.request
        try:
            got = self.importer.fetch(request)
        except SourceUnavailable as exc:
            return JobEnd.failed(kind, exc.code, http_response_code=exc.http_response_code)
        try:
            if got.size > request.options.max_file_size:
                return JobEnd.failed(kind, 6666)
            checksum = _md5(got.path)
            if (
                sync.table is not None
                and checksum == sync.checksum
                and self.db.table_exists(sync.table)
            ):
                result = _RunResult(False, sync.table, checksum, self.clock.time())
                return JobEnd(kind.succeeded, result={"sync": result})
            loaded = load_file(self.db, got.filename, got.path, request.options)
            if not loaded.table_names:
                return JobEnd.failed(kind, 1002)
            table = self._swap(sync, loaded.table_names)
        except ImportFailure as exc:
            return JobEnd.failed(kind, exc.code)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(got.path)
        result = _RunResult(True, table, checksum, self.clock.time())
        return JobEnd(kind.succeeded, result={"sync": result, "table_name": table})

    def _swap(self, sync: Sync, created: list[str]) -> str:
        new, extra = created[0], created[1:]
        with self.db.transaction():
            for table in extra:
                self.db.drop_table(table)
            target: str | None = sync.table
            if target is None:
                wanted = sync.name
                if wanted and wanted != new and not self.db.table_exists(wanted):
                    self.db.rename_table(new, wanted)
                    return wanted
                return new
            if target != new:
                self.db.drop_table(target)
                self.db.rename_table(new, target)
            return target

    def _first_run(self, sync: Sync) -> JobEnd:
        end = self._fetch_and_load(sync, IMPORT)
        if end.state != IMPORT.succeeded:
            return end
        table: str = end.result["sync"].table
        completed = self.importer.complete(
            LoadResult([table], 0, skipped=False),
            create_vis=sync.request.flags.get("create_visualization", False),
        )
        return JobEnd(end.state, result={**completed.result, "sync": end.result["sync"]})

    def _next_run(self, sync: Sync) -> JobEnd:
        return self._fetch_and_load(sync, SYNC_RUN)


def _given_url(value: Any) -> str | None:
    # The url as sent: ArcGIS syncs send "" and the server keeps it.
    return value if isinstance(value, str) else None


def _md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
