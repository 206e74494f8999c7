"""SQL Batch jobs without I/O: request specs, the 16 KB check, states, snapshots, failures."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from carto_async import APIError, BatchJobFailed, Carto, RetryPolicy, ValidationError
from carto_async._core import batch as core
from carto_async._core.errors import error_from_response
from carto_async._core.http import KeyPlacement, Service
from carto_async._core.jobs import Outcome
from carto_async._core.retry import Failure, RetryState
from carto_async.models.batch import (
    ERROR_MESSAGE,
    JOB_ID,
    BatchQuery,
    BatchStatus,
    FallbackJob,
    error_message_literal,
)
from tests.helpers import BASE_URL, KEY, fixture

JOB = "de305d54-75b4-431b-adb2-eb6b9e546014"
JOB_URL = f"{BASE_URL}/api/v2/sql/job"


# --------------------------------------------------------------------------- create


@pytest.mark.parametrize(
    ("query", "wire"),
    [
        ("UPDATE t SET a = 1", "UPDATE t SET a = 1"),
        (["UPDATE t SET a = 1", "VACUUM t"], ["UPDATE t SET a = 1", "VACUUM t"]),
        (("select 1",), ["select 1"]),
        (
            FallbackJob.builder()
            .query("UPDATE t SET a = 1", onerror=f"INSERT INTO log VALUES ('{JOB_ID}')")
            .query("select 2", onsuccess="select 3")
            .on_success("select 4")
            .on_error(f"INSERT INTO log VALUES ({error_message_literal()})")
            .build(),
            {
                "query": [
                    {
                        "query": "UPDATE t SET a = 1",
                        "onerror": "INSERT INTO log VALUES ('<%= job_id %>')",
                    },
                    {"query": "select 2", "onsuccess": "select 3"},
                ],
                "onsuccess": "select 4",
                "onerror": (
                    "INSERT INTO log VALUES ($carto_error$<%= error_message %>$carto_error$)"
                ),
            },
        ),
        (
            ["select 1", BatchQuery("select 2", onerror="select 3")],
            {"query": [{"query": "select 1"}, {"query": "select 2", "onerror": "select 3"}]},
        ),
        (
            FallbackJob(["select 1"], onsuccess="select 2"),
            {"query": [{"query": "select 1"}], "onsuccess": "select 2"},
        ),
    ],
)
def test_create_sends_the_three_query_forms_as_json(query: Any, wire: Any) -> None:
    spec = core.create_request(query)
    assert (spec.method, spec.path, spec.service) == ("POST", "/api/v2/sql/job", Service.SQL)
    assert spec.json == {"query": wire}
    assert spec.key is KeyPlacement.BASIC


def test_create_is_never_repeated_after_an_ambiguous_failure() -> None:
    spec = core.create_request("UPDATE t SET a = 1")
    assert spec.creates_job
    assert not spec.is_idempotent
    for failure in (
        lambda s: s.on_failure(Failure.AMBIGUOUS),
        lambda s: s.on_status(500, retry_after=None),
        lambda s: s.on_status(502, retry_after=None),
    ):
        state = RetryState(RetryPolicy(), spec, 5, rng=random.Random(1))
        assert failure(state).retry is False
    state = RetryState(RetryPolicy(), spec, 5, rng=random.Random(1))
    assert state.on_failure(Failure.NOT_SENT).retry is True  # nothing reached the server


def test_get_and_cancel_are_repeatable() -> None:
    get = core.get_request(JOB.upper())
    cancel = core.cancel_request(JOB)
    assert (get.method, get.path) == ("GET", f"/api/v2/sql/job/{JOB}")
    assert (cancel.method, cancel.path) == ("DELETE", f"/api/v2/sql/job/{JOB}")
    assert get.is_idempotent
    assert cancel.is_idempotent
    assert get.key is cancel.key is KeyPlacement.BASIC


@pytest.mark.parametrize("job_id", ["", "irrelevantJob", f"{JOB}/../x", None, f"{JOB}?a=1"])
def test_job_ids_are_uuids(job_id: Any) -> None:
    with pytest.raises(ValidationError, match="UUID"):
        core.get_request(job_id)


def test_the_key_travels_in_the_header_never_in_the_json_body() -> None:
    with respx.mock() as mock, Carto("demo", KEY, BASE_URL) as carto:
        route = mock.post(JOB_URL).mock(
            return_value=httpx.Response(201, json=fixture("batch", "job_docs_pending.json"))
        )
        carto._transport.request(core.create_request("UPDATE t SET a = 1"))
        request = route.calls.last.request
    assert json.loads(request.content) == {"query": "UPDATE t SET a = 1"}
    assert KEY not in request.content.decode()
    assert KEY not in str(request.url)
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["content-type"] == "application/json"


# --------------------------------------------------------------------------- the 16 KB limit

ENVELOPE = len('{"query":""}')


@pytest.mark.parametrize(
    ("body", "size"),
    [
        ({"query": "a"}, ENVELOPE + 1),
        ({"query": "é"}, ENVELOPE + 1),  # not escaped, one UTF-16 unit
        ({"query": "😀"}, ENVELOPE + 2),  # outside the BMP: a surrogate pair
        ({"query": "\n"}, ENVELOPE + 2),  # escaped as \n
        ({"query": '"'}, ENVELOPE + 2),  # escaped as \"
        ({"query": "\x01"}, ENVELOPE + 6),  # escaped as \u0001
        ({"query": "/"}, ENVELOPE + 1),  # JSON.stringify leaves / alone
        ({"query": ["a", "b"]}, len('{"query":["a","b"]}')),
    ],
)
def test_payload_size_is_measured_like_json_stringify_length(body: Any, size: int) -> None:
    assert core.payload_size(body) == size


def test_the_16_kb_limit_is_checked_before_sending_at_the_exact_boundary() -> None:
    fits = "a" * (core.MAX_PAYLOAD - ENVELOPE)
    assert core.create_request(fits).json == {"query": fits}
    with pytest.raises(ValidationError, match="16384"):
        core.create_request(fits + "a")
    # Non-ASCII counts in UTF-16 units, not bytes: 16372 'é' fit though they are 32 KB of UTF-8.
    assert core.create_request("é" * (core.MAX_PAYLOAD - ENVELOPE)).json is not None
    with pytest.raises(ValidationError, match="16 KB"):
        core.create_request("😀" * ((core.MAX_PAYLOAD - ENVELOPE) // 2 + 1))


def test_a_fallback_job_counts_all_its_statements() -> None:
    big = "x" * 6000
    with pytest.raises(ValidationError, match="once serialized"):
        core.create_request(FallbackJob([BatchQuery(big, onsuccess=big)], onerror=big))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ([], "at least one query"),
        (["select 1", ""], r"queries\[1\] must be a non-empty SQL string"),
        (["select 1", None], r"queries\[1\] must be a SQL string"),
        (["select 1", 3], r"queries\[1\] must be a non-empty SQL string"),
        ("select '\x00'", "NUL"),
        ("select '\ud800'", "lone surrogate"),
        (b"select 1", "not bytes"),
        (42, "not int"),
        (None, "not NoneType"),
        (f"select '{JOB_ID}'", "only filled in onsuccess/onerror"),
        (FallbackJob([]), "at least one query"),
        (
            FallbackJob([BatchQuery("select 1", onsuccess=f"select '{ERROR_MESSAGE}'")]),
            "only filled in onerror",
        ),
        (
            FallbackJob(["select 1"], onsuccess=f"select '{ERROR_MESSAGE}'"),
            "only filled in onerror",
        ),
        (FallbackJob([BatchQuery("select 1", onerror="select '<%= user %>'")]), "unknown template"),
        (FallbackJob([BatchQuery("select 1", onerror="")]), "onerror must be a non-empty"),
        (FallbackJob([3]), r"queries\[0\] must be a BatchQuery"),  # type: ignore[list-item]
    ],
)
def test_bad_jobs_are_refused_before_sending(query: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        core.create_request(query)


def test_the_builder_reports_every_problem_at_once() -> None:
    builder = (
        FallbackJob.builder()
        .query("", onsuccess=f"select '{ERROR_MESSAGE}'")
        .query(f"select '{JOB_ID}'", onerror="select '<%= nope %>'")
        .on_success("  ")
    )
    with pytest.raises(ValidationError) as info:
        builder.build()
    assert len(info.value.problems) == 5


def test_templates_tolerate_spaces_like_the_server() -> None:
    job = FallbackJob(
        [BatchQuery("select 1", onerror="select $e$<%=error_message%>$e$, '<%=  job_id %>'")]
    )
    assert job.problems() == []


def test_error_message_literal_checks_its_tag() -> None:
    assert error_message_literal("e") == "$e$<%= error_message %>$e$"
    with pytest.raises(ValueError, match="dollar-quote tag"):
        error_message_literal("a$b")


# --------------------------------------------------------------------------- states and snapshots


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("pending", Outcome.PENDING),
        ("running", Outcome.PENDING),
        ("done", Outcome.SUCCESS),
        ("failed", Outcome.FAILURE),
        ("cancelled", Outcome.FAILURE),
        ("unknown", Outcome.FAILURE),
        ("skipped", Outcome.FAILURE),
        ("rebalancing", Outcome.PENDING),  # a state the server adds later
    ],
)
def test_state_table(state: str, expected: Outcome) -> None:
    job = core.parse_job({"job_id": JOB, "status": state, "query": "select 1"})
    assert core.outcome(job) is expected
    assert job.done is (state in {"done", "failed", "cancelled", "unknown", "skipped"})


def test_every_documented_state_is_in_the_table() -> None:
    assert set(core.BATCH_STATES) == {s.value for s in BatchStatus}


def test_the_docs_job_parses() -> None:
    job = core.parse_job(fixture("batch", "job_docs_pending.json"))
    assert job.job_id == JOB
    assert job.user == "cartofante"
    assert job.status == BatchStatus.PENDING
    assert job.kind == "simple"
    assert job.created_at == datetime(2015, 12, 15, 7, 36, 25, tzinfo=UTC)
    assert [q.query for q in job.queries] == ["UPDATE airports SET type = 'international'"]
    assert core.failure(job) is None


def test_timestamps_with_milliseconds_parse() -> None:
    job = core.parse_job(
        {
            "job_id": JOB,
            "status": "done",
            "query": "select 1",
            "created_at": "2015-12-15T07:36:25.123Z",
        }
    )
    assert job.created_at == datetime(2015, 12, 15, 7, 36, 25, 123000, tzinfo=UTC)


def _fallback_job() -> dict[str, Any]:
    return {
        "job_id": JOB,
        "user": "vizzuality",
        "status": "failed",
        "query": fixture("batch", "fallback_job_query_member_failed.json"),
        "created_at": "2016-06-01T10:00:00.000Z",
        "updated_at": "2016-06-01T10:00:01.000Z",
    }


def test_a_failed_fallback_job_names_the_failed_query() -> None:
    job = core.parse_job(_fallback_job())
    assert job.kind == "fallback"
    (query,) = job.queries
    assert query.status == "failed"
    assert query.fallback_status == "done"
    assert query.onerror == "SELECT * FROM untitle_table_4 limit 1"
    error = core.failure(job, handle="the handle")
    assert isinstance(error, BatchJobFailed)
    assert error.failed_reason == 'relation "nonexistent_table" does not exist'
    assert error.query_index == 0
    assert error.query == "SELECT * FROM nonexistent_table /* query should fail */"
    assert error.job == "the handle"
    assert (error.job_id, error.state) == (JOB, "failed")
    assert 'relation "nonexistent_table" does not exist' in str(error)


def test_a_failed_multi_query_job_names_the_failed_query() -> None:
    job = core.parse_job(
        {
            "job_id": JOB,
            "status": "failed",
            "failed_reason": "division by zero",
            "query": [
                {"query": "select 1", "status": "done"},
                {"query": "select 1/0", "status": "failed", "failed_reason": "division by zero"},
                {"query": "select 3", "status": "pending"},
            ],
        }
    )
    assert job.kind == "multiple"
    error = core.failure(job)
    assert error is not None
    assert (error.query_index, error.query) == (1, "select 1/0")
    assert "query 2 of 3" in str(error)
    assert error.failed_reason == "division by zero"


def test_a_failed_simple_job_carries_its_reason() -> None:
    job = core.parse_job(
        {
            "job_id": JOB,
            "status": "failed",
            "query": "select 1/0",
            "failed_reason": "division by zero",
        }
    )
    error = core.failure(job)
    assert error is not None
    assert (error.query_index, error.query, error.failed_reason) == (
        0,
        "select 1/0",
        "division by zero",
    )


@pytest.mark.parametrize(
    ("state", "words"), [("cancelled", "was cancelled"), ("unknown", "ended unknown")]
)
def test_cancelled_and_unknown_jobs_fail(state: str, words: str) -> None:
    error = core.failure(core.parse_job({"job_id": JOB, "status": state, "query": "select 1"}))
    assert error is not None
    assert words in str(error)
    assert error.state == state


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"job_id": JOB},
        {"job_id": JOB, "status": "done"},
        {"job_id": 1, "status": "done", "query": "q"},
    ],
)
def test_unexpected_job_bodies_are_api_errors(body: Any) -> None:
    with pytest.raises(APIError, match="unexpected Batch job response"):
        core.parse_job(body)


def test_the_fallback_job_keeps_its_job_level_statements() -> None:
    job = core.parse_job(
        {
            "job_id": JOB,
            "status": "done",
            "fallback_status": "done",
            "query": {
                "query": [{"query": "select 1", "status": "done"}],
                "onsuccess": "select 2",
                "onerror": "select 3",
            },
        }
    )
    assert (job.onsuccess, job.onerror, job.fallback_status) == ("select 2", "select 3", "done")
    assert job.succeeded
    assert job.failed_query is None


# --------------------------------------------------------------------------- errors and listing


def _error(status: int, body: Any) -> Any:
    return error_from_response(
        status_code=status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        service=Service.SQL,
    )


def test_not_found_and_refused_cancel_are_recognised() -> None:
    not_found = _error(400, fixture("batch", "error_job_not_found_400.json"))
    assert core.job_not_found(not_found)
    refused = _error(400, {"error": ["Cannot set status from done to cancelled"]})
    assert core.cancel_refused(refused)
    assert not core.job_not_found(refused)
    assert not core.cancel_refused(not_found)
    missing = _error(400, fixture("batch", "error_missing_query_400.json"))
    assert not core.job_not_found(missing)
    assert missing.message == "You must indicate a valid SQL"


def test_work_in_progress_listing() -> None:
    spec = core.list_request()
    assert (spec.method, spec.path, spec.key) == ("GET", "/api/v2/jobs-wip", KeyPlacement.NONE)
    body = {"demo": [JOB, "x"], "someone": ["y"]}
    assert core.parse_work_in_progress(body, "demo") == [JOB, "x"]
    assert core.parse_work_in_progress(body, "nobody") == []
    with pytest.raises(APIError):
        core.parse_work_in_progress([], "demo")
    with pytest.raises(APIError):
        core.parse_work_in_progress({"demo": "x"}, "demo")
