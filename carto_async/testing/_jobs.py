"""Import jobs: the state clock, import slots and the worker pool that loads the data.

There is no thread or task per job. A job's state is computed from the time elapsed since it
was created each time it is read, and its data load runs in a small thread pool; the final
state shows once both the clock has run out and the load has finished (reference §4.4).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from carto_async.testing._loader import LoadResult, copy_table, load_file, table_from_query
from carto_async.testing._sources import Sources, SourceUnavailable, download
from carto_async.testing._staging import ImportFailure, LoadOptions

if TYPE_CHECKING:
    from carto_async.testing._bodies import Upload
    from carto_async.testing._db import Database
    from carto_async.testing._faults import Counters, Faults

__all__ = ["FINAL_STATES", "ImportInfo", "ImportJob", "ImportJobs", "ImportSpec", "Outcome"]

log = logging.getLogger("carto_async.testing")

FINAL_STATES = frozenset({"complete", "failure", "stuck"})
_PHASES = ("pending", "uploading", "unpacking", "importing", "guessing")
_STUCK_PHASE = 2  # a stuck job stalls in "unpacking", the server tests' example
_DAY = 24 * 3600.0


@attrs.frozen
class ImportInfo:
    """What LocalCarto knows about an import when it is created.

    Passed to an ``import_processing_time`` callable and to fault predicates.

    >>> info = ImportInfo(id="0", data_type="file", display_name="a.csv", service_name="public_url")
    >>> info.display_name
    'a.csv'
    """

    id: str
    data_type: str
    display_name: str
    service_name: str
    size: int | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class ImportSpec:
    """What to load for one import (validated request)."""

    kind: str  # file | url | query | copy | datasource | connector | nothing
    data_type: str
    display_name: str
    service_name: str
    options: LoadOptions
    flags: Mapping[str, bool]
    user_defined_limits: str
    params: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    upload: Upload | None = None
    url: str | None = None
    sql: str | None = None
    source_table: str | None = None
    target_table: str | None = None
    service_item_id: str | None = None


@attrs.frozen
class Outcome:
    """How a job ended."""

    state: str
    error_code: int | None = None
    table_name: str | None = None
    tables_created_count: int | None = None
    table_id: str | None = None
    http_response_code: str | None = None

    @classmethod
    def failed(cls, code: int, http_response_code: str | None = None) -> Outcome:
        """A failure with ``code``."""
        return cls("failure", code, http_response_code=http_response_code)


@attrs.define(eq=False)
class ImportJob:
    """One import: its spec, clock and (eventual) outcome."""

    id: str
    user: str
    spec: ImportSpec
    info: ImportInfo
    created_at: float  # wall clock, for the 24 h and stale windows
    started: float  # monotonic, for the state clock
    duration: float
    stuck: bool = False
    future: Future[Outcome] | None = None
    forced: Outcome | None = None
    visualization_id: str | None = None

    def outcome(self) -> Outcome | None:
        """The load's outcome if it is known."""
        if self.forced is not None:
            return self.forced
        if self.future is not None and self.future.done():
            return self.future.result()
        return None


class ImportJobs:
    """The jobs of one server, with the slot limit and the pool that runs loads."""

    def __init__(
        self,
        *,
        db: Database,
        sources: Sources,
        counters: Counters,
        faults: Faults,
        processing_time: float | Callable[[ImportInfo], float],
        slots: int,
        stale_after: float,
        stale_list_after: float,
        workers: int,
        download_dir: str,
    ) -> None:
        self.db = db
        self.sources = sources
        self.counters = counters
        self.faults = faults
        self.processing_time = processing_time
        self.slots = slots
        self.stale_after = stale_after
        self.stale_list_after = stale_list_after
        self._download_dir = download_dir
        self._lock = threading.Lock()
        self._jobs: dict[str, ImportJob] = {}
        # Jobs not yet seen in a final state: what the slot check and the listing scan, so
        # neither slows down as finished jobs pile up in a long benchmark.
        self._active: dict[str, ImportJob] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="localcarto-load")
        self._clock: Callable[[], float] = time.monotonic
        self._wall: Callable[[], float] = time.time

    # -- creation --------------------------------------------------------------------------

    def _unfinished_jobs(self, user: str) -> list[ImportJob]:
        now = self._clock()
        with self._lock:
            for job in list(self._active.values()):
                if self.state_of(job, now) in FINAL_STATES:
                    del self._active[job.id]
            return [j for j in self._active.values() if j.user == user]

    def in_progress(self, user: str) -> int:
        """How many of ``user``'s imports hold a slot (are not in a final state)."""
        return len(self._unfinished_jobs(user))

    def create(self, user: str, spec: ImportSpec) -> ImportJob:
        """Register a job and start loading its data in the pool."""
        job_id = str(uuid.uuid4())
        info = ImportInfo(
            id=job_id,
            data_type=spec.data_type,
            display_name=spec.display_name or job_id,
            service_name=spec.service_name,
            size=spec.upload.size if spec.upload is not None else None,
            params=spec.params,
        )
        duration = self.processing_time
        seconds = float(duration(info) if callable(duration) else duration)
        job = ImportJob(
            id=job_id,
            user=user,
            spec=spec,
            info=info,
            created_at=self._wall(),
            started=self._clock(),
            duration=max(seconds, 0.0),
        )
        if self.faults.fire("stuck", "imports", info) is not None:
            job.stuck = True
        elif (rule := self.faults.fire("fail", "imports", info)) is not None:
            assert rule.error_code is not None
            job.forced = Outcome.failed(rule.error_code)
        if job.stuck or job.forced is not None:
            self._discard_upload(spec)
        else:
            job.future = self._pool.submit(self._load, spec)
        with self._lock:
            self._jobs[job_id] = job
            self._active[job_id] = job
        self.counters.count_job()
        return job

    # -- reading ---------------------------------------------------------------------------

    def get(self, job_id: str) -> ImportJob | None:
        """The job with ``job_id``."""
        with self._lock:
            return self._jobs.get(job_id)

    def state_of(self, job: ImportJob, now: float | None = None) -> str:
        """The state a client sees now (without the stale-import side effect)."""
        if job.forced is not None:
            return job.forced.state
        elapsed = (self._clock() if now is None else now) - job.started
        phase = len(_PHASES) if job.duration <= 0 else int(elapsed / job.duration * len(_PHASES))
        if job.stuck:
            return _PHASES[min(phase, _STUCK_PHASE)]
        outcome = job.outcome()
        if phase >= len(_PHASES) and outcome is not None:
            return outcome.state
        # The clock ran out but the load has not: the real importer is still importing.
        return _PHASES[min(phase, len(_PHASES) - 1)] if job.duration > 0 else "importing"

    def read(self, job: ImportJob) -> tuple[str, Outcome | None]:
        """State and outcome for ``GET /imports/:id``, flipping a stale stuck job to 6671."""
        state = self.state_of(job)
        if (
            job.stuck
            and state not in FINAL_STATES
            and state not in ("enqueued", "pending")
            and self._wall() - job.created_at > self.stale_after
        ):
            job.forced = Outcome.failed(6671)
            state = "failure"
        return state, job.outcome() if state in FINAL_STATES else None

    def unfinished(self, user: str) -> list[str]:
        """``GET /imports``: ids of the user's unfinished imports of the last 24 h, newest first.

        Stuck ones older than the list threshold are failed with 6671 and left out, as the
        real server does with imports older than an hour that no worker runs.
        """
        wall = self._wall()
        listed: list[ImportJob] = []
        for job in self._unfinished_jobs(user):
            if wall - job.created_at > _DAY:
                continue
            if job.stuck and wall - job.created_at > self.stale_list_after:
                job.forced = Outcome.failed(6671)
                continue
            listed.append(job)
        listed.sort(key=lambda j: j.created_at, reverse=True)
        return [j.id for j in listed]

    def all(self) -> list[ImportJob]:
        """Every job, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def close(self) -> None:
        """Stop the pool; loads that have not started are cancelled."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- loading (worker threads) ----------------------------------------------------------

    @staticmethod
    def _discard_upload(spec: ImportSpec) -> None:
        if spec.upload is not None:
            with contextlib.suppress(OSError):
                os.unlink(spec.upload.path)

    def _load(self, spec: ImportSpec) -> Outcome:
        try:
            return self._load_unsafe(spec)
        except ImportFailure as exc:
            return Outcome.failed(exc.code)
        except SourceUnavailable as exc:
            return Outcome.failed(exc.code, exc.http_response_code)
        except Exception:
            log.exception("import failed with an unexpected error")
            return Outcome.failed(99999)
        finally:
            self._discard_upload(spec)

    def _load_unsafe(self, spec: ImportSpec) -> Outcome:
        options = spec.options
        if spec.kind == "query":
            assert spec.sql is not None
            return _complete(table_from_query(self.db, spec.sql, spec.target_table, options))
        if spec.kind == "copy":
            assert spec.source_table is not None
            result = copy_table(self.db, spec.source_table, spec.target_table, options)
            return _complete(result)
        if spec.kind == "file":
            upload = spec.upload
            assert upload is not None
            return self._load_path(upload.filename, upload.path, upload.size, options)
        if spec.kind == "url":
            assert spec.url is not None
            got = download(spec.url, self._download_dir, options.max_file_size + 1)
            try:
                return self._load_path(got.filename, got.path, got.size, options)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(got.path)
        if spec.kind == "datasource":
            got = self.sources.fetch(
                spec.service_name, spec.service_item_id or "", self._download_dir
            )
            try:
                return self._load_path(got.filename, got.path, got.size, options)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(got.path)
        if spec.kind == "connector":
            return Outcome.failed(1501)
        return Outcome.failed(99999)

    def _load_path(self, filename: str, path: str, size: int, options: LoadOptions) -> Outcome:
        # The real runner checks the size before unpacking anything.
        if size > options.max_file_size:
            return Outcome.failed(6666)
        return _complete(load_file(self.db, filename, path, options))


def _complete(result: LoadResult) -> Outcome:
    if result.skipped:
        return Outcome("complete", 1022, tables_created_count=0)
    return Outcome(
        "complete",
        table_name=result.table_names[0] if result.table_names else None,
        tables_created_count=len(result.table_names),
        table_id=str(uuid.uuid4()),
    )
