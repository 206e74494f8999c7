"""LocalCarto's Batch queue on the engine: job forms, fallback semantics, queues, limits, expiry.

The queue is driven directly (no HTTP) on a frozen server clock; ``wait_idle`` waits for the
background workers, never for wall-clock time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from carto_async.testing._batch import (
    FINISHED_TTL,
    BatchQueue,
    CannotCancel,
    InvalidJob,
    QueueFull,
)
from carto_async.testing._clock import Clock
from carto_async.testing._db import Database
from carto_async.testing._faults import Counters, Faults


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    database.run_statements("CREATE TABLE log (n INTEGER, note TEXT)")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(frozen=True)


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def queue(db: Database, clock: Clock, faults: Faults) -> Iterator[BatchQueue]:
    q = BatchQueue(db, clock, faults=faults, counters=Counters())
    try:
        yield q
    finally:
        q.close()


def run(queue: BatchQueue, query: Any, user: str = "demo") -> dict[str, Any]:
    job = queue.create(user, query)
    assert queue.wait_idle(10)
    data = queue.get(job["job_id"])
    assert data is not None
    return data


def notes(db: Database) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.run_statements("SELECT n, note FROM log ORDER BY n").rows]


def test_a_simple_job_runs_on_the_engine(queue: BatchQueue, db: Database) -> None:
    created = queue.create("demo", "INSERT INTO log VALUES (1, 'a')")
    assert list(created) == ["job_id", "user", "query", "status", "created_at", "updated_at"]
    assert created["status"] == "pending"
    assert created["created_at"].endswith("Z")
    assert queue.wait_idle(10)
    done = queue.get(created["job_id"])
    assert done is not None
    assert done["status"] == "done"
    assert notes(db) == [(1, "a")]


def test_a_failed_simple_job_carries_the_engines_message(queue: BatchQueue) -> None:
    data = run(queue, "SELECT * FROM nonexistent_table")
    assert data["status"] == "failed"
    assert data["failed_reason"] == 'relation "nonexistent_table" does not exist'


def test_a_multiple_job_stops_at_the_failed_query(queue: BatchQueue, db: Database) -> None:
    data = run(
        queue,
        [
            "INSERT INTO log VALUES (1, 'a')",
            "SELECT * FROM nope",
            "INSERT INTO log VALUES (3, 'c')",
        ],
    )
    assert data["status"] == "failed"
    assert data["failed_reason"] == 'relation "nope" does not exist'
    assert [q["status"] for q in data["query"]] == ["done", "failed", "pending"]
    assert data["query"][1]["failed_reason"] == 'relation "nope" does not exist'
    assert notes(db) == [(1, "a")]


def test_a_fallback_job_runs_onsuccess_and_skips_unused_fallbacks(
    queue: BatchQueue, db: Database
) -> None:
    data = run(
        queue,
        {
            "query": [
                {
                    "query": "INSERT INTO log VALUES (1, 'q1')",
                    "onsuccess": "INSERT INTO log VALUES (2, '<%= job_id %>')",
                },
                {"query": "INSERT INTO log VALUES (3, 'q2')", "onerror": "SELECT 1"},
            ],
            "onsuccess": "INSERT INTO log VALUES (4, 'job ok <%= job_id %>')",
            "onerror": "INSERT INTO log VALUES (5, 'job failed')",
        },
    )
    job_id = data["job_id"]
    assert data["status"] == "done"
    assert data["fallback_status"] == "done"
    first, second = data["query"]["query"]
    assert (first["status"], first["fallback_status"]) == ("done", "done")
    assert (second["status"], second["fallback_status"]) == ("done", "skipped")
    assert notes(db) == [(1, "q1"), (2, job_id), (3, "q2"), (4, f"job ok {job_id}")]


def test_a_fallback_job_after_a_failure_fills_the_error_and_skips_the_rest(
    queue: BatchQueue, db: Database
) -> None:
    data = run(
        queue,
        {
            "query": [
                {
                    "query": "SELECT * FROM nonexistent_table /* query should fail */",
                    "onerror": "INSERT INTO log VALUES (1, $e$<%= error_message %>$e$)",
                },
                {"query": "INSERT INTO log VALUES (2, 'never')", "onsuccess": "SELECT 1"},
            ],
            "onerror": "INSERT INTO log VALUES (3, '<%= job_id %>')",
            "onsuccess": "INSERT INTO log VALUES (4, 'never')",
        },
    )
    assert data["status"] == "failed"
    assert data["fallback_status"] == "done"
    first, second = data["query"]["query"]
    # The reference's own fixture of a failed query member with an onerror that ran.
    assert first["status"] == "failed"
    assert first["fallback_status"] == "done"
    assert first["failed_reason"] == 'relation "nonexistent_table" does not exist'
    assert (second["status"], second["fallback_status"]) == ("skipped", "skipped")
    assert notes(db) == [(1, 'relation "nonexistent_table" does not exist'), (3, data["job_id"])]


def test_a_failing_fallback_marks_its_query(queue: BatchQueue) -> None:
    data = run(
        queue,
        {"query": [{"query": "SELECT 1", "onsuccess": "SELECT * FROM missing_log"}]},
    )
    item = data["query"]["query"][0]
    assert (item["status"], item["fallback_status"]) == ("done", "failed")
    assert item["failed_reason"] == 'relation "missing_log" does not exist'
    assert data["status"] == "done"
    assert "fallback_status" not in data


@pytest.mark.parametrize(
    "query",
    [None, "", "   ", [], ["SELECT 1", 2], {"query": []}, {"query": [{"onsuccess": "x"}]}, 3],
)
def test_queries_of_no_known_form_are_refused(queue: BatchQueue, query: Any) -> None:
    with pytest.raises(InvalidJob):
        queue.create("demo", query)


def test_one_queue_per_user_runs_in_order_and_requeues_multi_query_jobs(
    queue: BatchQueue, faults: Faults, db: Database
) -> None:
    faults.stuck_jobs("batch", count=1)
    blocker = queue.create("demo", "SELECT 1")
    first = queue.create(
        "demo",
        [
            "INSERT INTO log SELECT count(*) + 1, 'a1' FROM log",
            "INSERT INTO log SELECT count(*) + 1, 'a2' FROM log",
        ],
    )
    second = queue.create("demo", "INSERT INTO log SELECT count(*) + 1, 'b' FROM log")
    other_user = queue.create("other", "INSERT INTO log SELECT count(*) + 1, 'other' FROM log")
    assert queue.wait_idle(10)
    # Another user's queue is not held up by demo's stuck job.
    assert queue.get(other_user["job_id"])["status"] == "done"  # type: ignore[index]
    assert queue.get(blocker["job_id"])["status"] == "running"  # type: ignore[index]
    assert queue.get(first["job_id"])["status"] == "pending"  # type: ignore[index]
    assert notes(db) == [(1, "other")]
    assert set(queue.work_in_progress()) == {"demo"}
    assert sorted(queue.work_in_progress()["demo"]) == sorted(
        [blocker["job_id"], first["job_id"], second["job_id"]]
    )
    cancelled = queue.cancel(blocker["job_id"])
    assert cancelled is not None
    assert cancelled["status"] == "cancelled"
    assert queue.wait_idle(10)
    # a1 ran, then the job went to the back of the queue: b ran before a2.
    assert notes(db) == [(1, "other"), (2, "a1"), (3, "b"), (4, "a2")]
    assert queue.work_in_progress() == {}


def test_the_64_job_limit(queue: BatchQueue, faults: Faults) -> None:
    faults.stuck_jobs("batch")
    # The first job is taken by the worker (running); 64 more may wait behind it.
    queue.create("demo", "SELECT 1")
    deadline = time.monotonic() + 10
    while (
        queue.work_in_progress()
        and queue.get(queue.work_in_progress()["demo"][0])["status"] != "running"
    ):  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for _ in range(64):
        queue.create("demo", "SELECT 1")
    with pytest.raises(
        QueueFull, match=r"^Failed to create job\. Max number of jobs \(64\) queued reached$"
    ):
        queue.create("demo", "SELECT 1")
    queue.create("someone_else", "SELECT 1")  # per user


def test_finished_jobs_expire_two_hours_after_they_end(queue: BatchQueue, clock: Clock) -> None:
    data = run(queue, "SELECT 1")
    clock.advance(FINISHED_TTL - 1)
    assert queue.get(data["job_id"]) is not None
    clock.advance(2)
    assert queue.get(data["job_id"]) is None
    assert queue.get("de305d54-75b4-431b-adb2-eb6b9e546014") is None


def test_cancel_of_a_pending_multiple_job_and_of_a_finished_one(
    queue: BatchQueue, faults: Faults
) -> None:
    faults.stuck_jobs("batch", count=1)
    queue.create("demo", "SELECT 1")
    pending = queue.create("demo", ["SELECT 1", "SELECT 2"])
    data = queue.cancel(pending["job_id"])
    assert data is not None
    assert data["status"] == "cancelled"
    assert [q["status"] for q in data["query"]] == ["cancelled", "pending"]
    with pytest.raises(CannotCancel, match=r"^Cannot set status from cancelled to cancelled$"):
        queue.cancel(pending["job_id"])
    assert queue.cancel("de305d54-75b4-431b-adb2-eb6b9e546014") is None


def test_cancel_of_a_fallback_job_skips_what_is_left(queue: BatchQueue, faults: Faults) -> None:
    faults.stuck_jobs("batch", count=1)
    job = queue.create(
        "demo",
        {
            "query": [{"query": "SELECT 1", "onerror": "SELECT 2"}, {"query": "SELECT 3"}],
            "onerror": "SELECT 4",
        },
    )
    deadline = time.monotonic() + 10
    while queue.get(job["job_id"])["status"] != "running":  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    data = queue.cancel(job["job_id"])
    assert data is not None
    assert data["status"] == "cancelled"
    assert data["fallback_status"] == "skipped"
    first, second = data["query"]["query"]
    assert (first["status"], first["fallback_status"]) == ("cancelled", "skipped")
    assert second["status"] == "skipped"


def test_a_fail_fault_fails_the_job(queue: BatchQueue, faults: Faults) -> None:
    faults.fail_jobs(99, "batch", count=1)
    data = run(queue, "SELECT 1")
    assert data["status"] == "failed"
    assert "99" in data["failed_reason"]


def test_cancel_interrupts_the_running_statement(queue: BatchQueue, db: Database) -> None:
    slow = (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000000000)"
        " SELECT count(*) FROM c"
    )
    job = queue.create("demo", slow)
    deadline = time.monotonic() + 10
    while queue.get(job["job_id"])["status"] != "running":  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)  # let the statement get going on the engine
    started = time.monotonic()
    data = queue.cancel(job["job_id"])
    assert data is not None
    assert data["status"] == "cancelled"
    assert queue.wait_idle(10)
    assert time.monotonic() - started < 5  # stopped, not run to its end
    # The engine is usable afterwards.
    assert db.run_statements("SELECT 41 + 1").rows[0][0] == 42
    after = run(queue, "INSERT INTO log VALUES (7, 'after')")
    assert after["status"] == "done"


def test_workers_end_when_their_queue_is_empty(queue: BatchQueue) -> None:
    run(queue, "SELECT 1")
    deadline = time.monotonic() + 5
    while any(t.name.startswith("localcarto-batch-") for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
