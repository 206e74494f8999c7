"""LocalCarto's SQL Batch queue: jobs run for real on the engine, one queue per user.

Mirrors CartoDB-SQL-API's batch service (reference §9.2; ``lib/batch``):

* A job is a simple query, a list of queries or a fallback job (``onsuccess``/``onerror`` per
  query and per job, with ``<%= job_id %>`` and ``<%= error_message %>`` filled in).
* Each user has one FIFO queue worked by one thread: jobs of a user run one statement at a
  time, in order. A job with more queries to run goes back to ``pending`` and to the end of
  its user's queue after each one, as the real scheduler re-enqueues it.
* At most :data:`MAX_QUEUED` jobs wait in a user's queue (``Failed to create job. Max number
  of jobs (64) queued reached``).
* Finished jobs are forgotten :data:`FINISHED_TTL` seconds (2 h) after they end, on the
  server's clock (``server.advance(7201)`` in a test).
* Cancelling a running job interrupts its statement on the engine.
* Faults: ``server.faults.stuck_jobs("batch")`` makes a job stall in ``running`` (its user's
  later jobs wait behind it) until it is cancelled; ``fail_jobs(code, "batch")`` makes it fail.

The statements run through the engine's ``run_statements``, as the SQL API's ``q`` does, with
the master user's rights.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from carto_async.testing._db import QueryError
from carto_async.testing._jobclock import BATCH_QUERY, JobInfo

if TYPE_CHECKING:
    from carto_async.testing._clock import Clock
    from carto_async.testing._context import Context
    from carto_async.testing._db import Database
    from carto_async.testing._faults import Counters, Faults

__all__ = [
    "FINISHED_TTL",
    "MAX_QUEUED",
    "BatchQueue",
    "CannotCancel",
    "InvalidJob",
    "QueueFull",
    "batch_queue",
    "close_batch_queue",
    "reset_batch_queue",
]

#: ``batch_max_queued_jobs``: jobs waiting in one user's queue.
MAX_QUEUED = 64
#: ``finished_jobs_ttl_in_seconds``: how long a finished job can still be read.
FINISHED_TTL = 2 * 60 * 60

PENDING, RUNNING, DONE, FAILED, CANCELLED, UNKNOWN, SKIPPED = (
    "pending",
    "running",
    "done",
    "failed",
    "cancelled",
    "unknown",
    "skipped",
)
_FINAL = frozenset({DONE, FAILED, CANCELLED, UNKNOWN})
_JOB_ID_TEMPLATE = r"<%=\s*job_id\s*%>"
_ERROR_TEMPLATE = r"<%=\s*error_message\s*%>"


class InvalidJob(Exception):
    """The job's ``query`` has none of the three forms (400 ``You must indicate a valid SQL``)."""


class QueueFull(Exception):
    """The user's queue holds :data:`MAX_QUEUED` jobs already (400)."""


class CannotCancel(Exception):
    """The job is finished (400 ``Cannot set status from <status> to cancelled``)."""


@attrs.define(eq=False)
class _Job:
    data: dict[str, Any]
    kind: str  # simple | multiple | fallback
    stuck: bool = False
    forced_failure: str | None = None
    finished_at: float | None = None
    executing: bool = False  # taken by a worker (between two of its statements too)
    in_statement: bool = False  # its statement holds the engine
    cancelled: threading.Event = attrs.Factory(threading.Event)

    @property
    def id(self) -> str:
        return str(self.data["job_id"])

    @property
    def user(self) -> str:
        return str(self.data["user"])


def _sub(pattern: str, value: str, text: str) -> str:
    return re.sub(pattern, lambda _: value, text)


def _shape(query: Any) -> tuple[str, Any]:
    """The kind of a job and its stored ``query`` (statuses added), or :class:`InvalidJob`."""
    if isinstance(query, str):
        if not query.strip():
            raise InvalidJob
        return "simple", query
    if isinstance(query, list):
        if not query or not all(isinstance(q, str) and q.strip() for q in query):
            raise InvalidJob
        return "multiple", [{"query": q, "status": PENDING} for q in query]
    if isinstance(query, Mapping):
        items = query.get("query")
        if not isinstance(items, list) or not items:
            raise InvalidJob
        stored: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("query"), str):
                raise InvalidJob
            if not item["query"].strip():
                raise InvalidJob
            entry: dict[str, Any] = {"query": item["query"]}
            for name in ("onsuccess", "onerror"):
                if isinstance(item.get(name), str) and item[name]:
                    entry[name] = item[name]
            entry["status"] = PENDING
            if "onsuccess" in entry or "onerror" in entry:
                entry["fallback_status"] = PENDING
            stored.append(entry)
        out: dict[str, Any] = {"query": stored}
        for name in ("onsuccess", "onerror"):
            if isinstance(query.get(name), str) and query[name]:
                out[name] = query[name]
        return "fallback", out
    raise InvalidJob


class BatchQueue:
    """Every Batch job of one server, and the per-user threads that run them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        faults: Faults | None = None,
        counters: Counters | None = None,
        max_queued: int = MAX_QUEUED,
        ttl: float = FINISHED_TTL,
    ) -> None:
        self.db = db
        self.clock = clock
        self.faults = faults
        self.counters = counters
        self.max_queued = max_queued
        self.ttl = ttl
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._queues: dict[str, collections.deque[_Job]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._closed = False

    # -- requests ---------------------------------------------------------------------------

    def create(self, user: str, query: Any) -> dict[str, Any]:
        """Queue a job; its JSON. Raises :class:`InvalidJob` or :class:`QueueFull`."""
        kind, stored = _shape(query)
        now = self._stamp()
        data: dict[str, Any] = {
            "job_id": str(uuid.uuid4()),
            "user": user,
            "query": stored,
            "status": PENDING,
            "created_at": now,
            "updated_at": now,
        }
        if kind == "fallback" and ("onsuccess" in stored or "onerror" in stored):
            data["fallback_status"] = PENDING
        job = _Job(data, kind)
        if self.faults is not None:
            info = JobInfo(
                id=job.id,
                kind=BATCH_QUERY.name,
                display_name=_first_query(data)[:60],
                params={"query": query},
            )
            if self.faults.fire("stuck", BATCH_QUERY.fault_group, info) is not None:
                job.stuck = True
            elif (rule := self.faults.fire("fail", BATCH_QUERY.fault_group, info)) is not None:
                job.forced_failure = f"job failed by a LocalCarto fault (error {rule.error_code})"
        with self._lock:
            queue = self._queues.setdefault(user, collections.deque())
            if len(queue) >= self.max_queued:
                raise QueueFull(
                    f"Failed to create job. Max number of jobs ({self.max_queued}) queued reached"
                )
            self._jobs[job.id] = job
            queue.append(job)
            self._wake(user)
            snapshot = _copy(job.data)
        if self.counters is not None:
            self.counters.count_job(BATCH_QUERY.name)
        return snapshot

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's JSON, or ``None`` if unknown or expired."""
        with self._lock:
            job = self._find(job_id)
            return None if job is None else _copy(job.data)

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a job (interrupting its running statement); its JSON, ``None`` if unknown.

        Raises :class:`CannotCancel` for a finished job.
        """
        with self._lock:
            job = self._find(job_id)
            if job is None:
                return None
            status = job.data["status"]
            if status not in (PENDING, RUNNING):
                raise CannotCancel(
                    f"Cannot set status from {status} to cancelled"
                    if job.kind != "fallback"
                    else "Cannot set status to cancelled"
                )
            _apply_cancel(job)
            job.data["updated_at"] = self._stamp()
            job.cancelled.set()
            self._finished(job)
            with contextlib.suppress(ValueError):
                self._queues.get(job.user, collections.deque()).remove(job)
            if job.in_statement:
                # The worker holds the engine's lock while its statement runs: the interrupt
                # can only reach this job's statement.
                with contextlib.suppress(Exception):
                    _interrupt(self.db)
            return _copy(job.data)

    def work_in_progress(self) -> dict[str, list[str]]:
        """``{user: [ids of unfinished jobs]}`` for users with any (``/api/v2/jobs-wip``)."""
        with self._lock:
            out: dict[str, list[str]] = {}
            for job in self._jobs.values():
                if job.finished_at is None:
                    out.setdefault(job.user, []).append(job.id)
            return out

    # -- inspection (tests) -----------------------------------------------------------------

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no job is queued or running, except stuck ones (True) or ``timeout``."""
        with self._idle:
            return self._idle.wait_for(self._is_idle, timeout)

    def _is_idle(self) -> bool:
        # Idle: each user's queue is empty and nothing of theirs runs, or it is blocked behind
        # a stuck job (which only a cancel moves on).
        busy = {j.user: j for j in self._jobs.values() if j.executing}
        for user, queue in self._queues.items():
            running = busy.get(user)
            if running is not None and running.stuck and not running.cancelled.is_set():
                continue
            if queue or running is not None:
                return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking jobs: stuck jobs are released, a running statement is interrupted, and
        the workers are waited for (up to ``timeout`` seconds)."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                job.cancelled.set()
                if job.in_statement:
                    with contextlib.suppress(Exception):
                        _interrupt(self.db)
            workers = list(self._workers.values())
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(timeout)

    def reset(self) -> None:
        """Forget every job (what runs is stopped first), for :meth:`LocalCarto.reset`."""
        self.close()
        with self._lock:
            self._jobs.clear()
            self._queues.clear()
            self._workers.clear()
            self._closed = False

    # -- the workers ------------------------------------------------------------------------

    def _wake(self, user: str) -> None:
        worker = self._workers.get(user)
        if worker is not None and worker.is_alive():
            return
        worker = threading.Thread(
            target=self._work, args=(user,), name=f"localcarto-batch-{user}", daemon=True
        )
        self._workers[user] = worker
        worker.start()

    def _work(self, user: str) -> None:
        while True:
            with self._lock:
                queue = self._queues.get(user)
                if self._closed or not queue:
                    self._workers.pop(user, None)
                    self._idle.notify_all()
                    return
                job = queue.popleft()
                step = _next_step(job)
                if step is None:  # nothing left (cancelled meanwhile)
                    continue
                _start(job, step)
                job.data["updated_at"] = self._stamp()
                job.executing = True
            error = self._execute(job, step)
            with self._lock:
                job.executing = False
                if job.cancelled.is_set():
                    self._idle.notify_all()
                    continue
                _end(job, step, error)
                job.data["updated_at"] = self._stamp()
                if _next_step(job) is None:
                    self._finished(job)
                else:
                    queue.append(job)  # the rest runs after the jobs queued meanwhile
                self._idle.notify_all()

    def _execute(self, job: _Job, step: _Step) -> str | None:
        """Run one statement; its error message, or ``None``."""
        if job.stuck:
            job.cancelled.wait()
            return "cancelled"
        if job.forced_failure is not None:
            return job.forced_failure
        sql = step.sql(job)
        lock = getattr(self.db, "_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            with self._lock:
                if job.cancelled.is_set():
                    return "cancelled"
                job.in_statement = True
            try:
                self.db.run_statements(sql)
            except QueryError as exc:
                return exc.message
            except Exception as exc:  # the engine closed under us, say
                return str(exc) or type(exc).__name__
            finally:
                with self._lock:
                    job.in_statement = False
        return None

    # -- bookkeeping ------------------------------------------------------------------------

    def _find(self, job_id: str) -> _Job | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.finished_at is not None and self.clock.time() - job.finished_at > self.ttl:
            del self._jobs[job_id]
            return None
        return job

    def _finished(self, job: _Job) -> None:
        if job.finished_at is None:
            job.finished_at = self.clock.time()

    def _stamp(self) -> str:
        stamp = dt.datetime.fromtimestamp(self.clock.time(), tz=dt.UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- the steps


@attrs.frozen
class _Step:
    """One statement of a job: a query (``index``), its fallback, or the job's fallback."""

    what: str  # "query" | "fallback" | "main"
    index: int = 0

    def sql(self, job: _Job) -> str:
        data = job.data
        if job.kind == "simple":
            return str(data["query"])
        if job.kind == "multiple":
            return str(data["query"][self.index]["query"])
        query = data["query"]
        if self.what == "query":
            return str(query["query"][self.index]["query"])
        if self.what == "fallback":
            item = query["query"][self.index]
            if item["status"] == DONE:
                return _sub(_JOB_ID_TEMPLATE, job.id, item["onsuccess"])
            text = _sub(_JOB_ID_TEMPLATE, job.id, item["onerror"])
            return _sub(_ERROR_TEMPLATE, str(item.get("failed_reason", "")), text)
        if data["status"] == DONE:
            return _sub(_JOB_ID_TEMPLATE, job.id, query["onsuccess"])
        text = _sub(_JOB_ID_TEMPLATE, job.id, query["onerror"])
        reason = data.get("failed_reason") or _last_failed_reason(data) or ""
        return _sub(_ERROR_TEMPLATE, str(reason), text)


def _first_query(data: Mapping[str, Any]) -> str:
    query = data["query"]
    if isinstance(query, str):
        return query
    if isinstance(query, list):
        return str(query[0]["query"])
    return str(query["query"][0]["query"])


def _last_failed_reason(data: Mapping[str, Any]) -> str | None:
    reason = None
    for item in data["query"]["query"]:
        if item.get("failed_reason"):
            reason = item["failed_reason"]
    return reason


def _query_fallback_due(item: Mapping[str, Any]) -> bool:
    if item.get("fallback_status") != PENDING:
        return False
    return (item["status"] == DONE and "onsuccess" in item) or (
        item["status"] == FAILED and "onerror" in item
    )


def _next_from_queries(job: _Job) -> _Step | None:
    data = job.data
    if job.kind == "simple":
        return _Step("query") if data["status"] in (PENDING, RUNNING) else None
    items = data["query"] if job.kind == "multiple" else data["query"]["query"]
    if data["status"] in (CANCELLED, UNKNOWN) or (
        job.kind == "multiple" and data["status"] == FAILED
    ):
        return None
    for index, item in enumerate(items):
        if item["status"] == PENDING:
            return _Step("query", index)
        if job.kind == "fallback" and _query_fallback_due(item):
            return _Step("fallback", index)
    return None


def _next_step(job: _Job) -> _Step | None:
    step = _next_from_queries(job)
    if step is not None or job.kind != "fallback":
        return step
    data = job.data
    query = data["query"]
    if data.get("fallback_status") == PENDING and (
        (data["status"] == DONE and "onsuccess" in query)
        or (data["status"] == FAILED and "onerror" in query)
    ):
        return _Step("main")
    return None


def _start(job: _Job, step: _Step) -> None:
    data = job.data
    if step.what == "main":
        data["fallback_status"] = RUNNING  # the job keeps its final status meanwhile
        return
    data["status"] = RUNNING
    if job.kind == "simple":
        return
    items = data["query"] if job.kind == "multiple" else data["query"]["query"]
    if step.what == "query":
        items[step.index]["status"] = RUNNING
    else:
        items[step.index]["fallback_status"] = RUNNING


def _end(job: _Job, step: _Step, error: str | None) -> None:
    data = job.data
    outcome = DONE if error is None else FAILED
    if job.kind == "simple":
        data["status"] = outcome
        if error is not None:
            data["failed_reason"] = error
        return
    if job.kind == "multiple":
        item = data["query"][step.index]
        item["status"] = outcome
        if error is not None:
            item["failed_reason"] = error
            data["status"] = FAILED
            data["failed_reason"] = error
        else:
            data["status"] = PENDING if _next_from_queries(job) is not None else DONE
        return
    query = data["query"]
    items = query["query"]
    if step.what == "main":
        data["fallback_status"] = outcome
        return
    item = items[step.index]
    if step.what == "query":
        item["status"] = outcome
        if error is not None:
            item["failed_reason"] = error
            for later in items[step.index + 1 :]:
                later["status"] = SKIPPED
                if "fallback_status" in later:
                    later["fallback_status"] = SKIPPED
        if "fallback_status" in item and not _query_fallback_due(item):
            item["fallback_status"] = SKIPPED
        applied_to_fallback = False
    else:
        item["fallback_status"] = outcome
        if error is not None:
            item["failed_reason"] = error
        applied_to_fallback = True
    if _next_from_queries(job) is not None:
        data["status"] = PENDING
    else:
        finals = [i["status"] for i in items if i["status"] in _FINAL]
        data["status"] = finals[-1] if finals else DONE
        if data["status"] == FAILED and error is not None and not applied_to_fallback:
            data["failed_reason"] = error
        main_due = (data["status"] == DONE and "onsuccess" in query) or (
            data["status"] == FAILED and "onerror" in query
        )
        if data.get("fallback_status") == PENDING and not main_due:
            data["fallback_status"] = SKIPPED


def _apply_cancel(job: _Job) -> None:
    data = job.data
    data["status"] = CANCELLED
    if job.kind == "simple":
        return
    if job.kind == "multiple":
        for item in data["query"]:
            if item["status"] in (PENDING, RUNNING):
                item["status"] = CANCELLED
                break
        return
    found = False
    for item in data["query"]["query"]:
        if not found and item["status"] in (PENDING, RUNNING):
            item["status"] = CANCELLED
            found = True
            if "fallback_status" in item:
                item["fallback_status"] = SKIPPED
        elif not found and item.get("fallback_status") in (PENDING, RUNNING):
            item["fallback_status"] = CANCELLED
            found = True
        elif found:
            item["status"] = SKIPPED
            if "fallback_status" in item:
                item["fallback_status"] = SKIPPED
    if data.get("fallback_status") in (PENDING, RUNNING):
        data["fallback_status"] = SKIPPED


def _interrupt(db: Database) -> None:
    """Stop the statement running on the engine's connection."""
    # The engine has no public hook for this; both engines' connections have interrupt().
    connection: Callable[[], Any] = db._connection
    connection().interrupt()


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(data))


_QUEUE_LOCK = threading.Lock()


def batch_queue(ctx: Context) -> BatchQueue:
    """The Batch queue of the server ``ctx`` serves (made on first use)."""
    # The queue lives on the context and is closed by LocalCarto.stop: no registry and no
    # finalizer (a finalizer taking a lock can run inside a garbage collection that an
    # allocation made while that lock was held, and wait on itself).
    with _QUEUE_LOCK:
        if ctx.batch is None:
            ctx.batch = BatchQueue(ctx.db, ctx.clock, faults=ctx.faults, counters=ctx.counters)
        return ctx.batch


def reset_batch_queue(ctx: Context) -> None:
    """Forget the server's Batch jobs (``LocalCarto.reset``)."""
    if ctx.batch is not None:
        ctx.batch.reset()


def close_batch_queue(ctx: Context) -> None:
    """Stop the server's Batch workers before its engine closes (``LocalCarto.stop``)."""
    if ctx.batch is not None:
        ctx.batch.close()
