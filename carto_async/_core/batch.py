"""SQL Batch API requests, payload checks and job parsing (sans-I/O; reference §9.2).

* ``POST /api/v2/sql/job`` creates a job (201): a JSON body ``{"query": ...}`` whose
  serialized form must stay within 16384 characters, checked here before sending the way the
  server measures it (``JSON.stringify(req.body).length``: UTF-16 code units, no spaces,
  non-ASCII unescaped). It is marked ``creates_job``: never repeated after an ambiguous
  failure, since the server may have queued it.
* ``GET`` / ``DELETE /api/v2/sql/job/:id`` read and cancel a job. An unknown or expired id is
  a **400** ``Job with id <id> not found``; cancelling a finished job is a 400
  ``Cannot set status from done to cancelled``.
* The server has no per-user list; ``GET /api/v2/jobs-wip`` (an unauthenticated internal
  route) maps each user to the ids of their unfinished jobs.
* Batch needs the master key (403 ``permission denied`` otherwise). The key goes in the Basic
  auth header, never in the JSON body (the server would count it, and store it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async._core.jobs import Outcome, classify
from carto_async.errors import APIError, APIStatusError, BatchJobFailed, ValidationError
from carto_async.models._converter import structure
from carto_async.models.batch import (
    BatchJobStatus,
    BatchQuery,
    BatchStatus,
    FallbackJob,
    statement_problems,
)

__all__ = [
    "BATCH_STATES",
    "JOBS_WIP_PATH",
    "JOB_KIND",
    "JOB_PATH",
    "MAX_PAYLOAD",
    "BatchInput",
    "cancel_refused",
    "cancel_request",
    "check_job_id",
    "create_request",
    "failure",
    "get_request",
    "job_body",
    "job_not_found",
    "list_request",
    "outcome",
    "parse_job",
    "parse_work_in_progress",
    "payload_size",
]

JOB_PATH = "/api/v2/sql/job"
JOBS_WIP_PATH = "/api/v2/jobs-wip"

#: The server's limit on ``JSON.stringify(body).length`` (``MAX_LIMIT_QUERY_SIZE_IN_KB = 16``).
MAX_PAYLOAD = 16 * 1024

#: The job kind of Batch jobs (their resume tokens carry it).
JOB_KIND = "batch"

#: What a job's ``status`` means. ``skipped`` only marks fallbacks that did not run; a job
#: reported so did not give a result. States the server adds later count as pending.
BATCH_STATES: Mapping[str, Outcome] = {
    BatchStatus.PENDING: Outcome.PENDING,
    BatchStatus.RUNNING: Outcome.PENDING,
    BatchStatus.DONE: Outcome.SUCCESS,
    BatchStatus.FAILED: Outcome.FAILURE,
    BatchStatus.CANCELLED: Outcome.FAILURE,
    BatchStatus.UNKNOWN: Outcome.FAILURE,
    BatchStatus.SKIPPED: Outcome.FAILURE,
}

#: What ``sql.batch`` takes: one statement, a list run in order, or a job with fallbacks.
BatchInput = str | Sequence[str | BatchQuery] | FallbackJob

_JOB_ID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_NOT_FOUND_RE = re.compile(r"^Job with id .* not found$")
_CANCEL_REFUSED_RE = re.compile(r"^Cannot set status from \w+ to cancelled$")


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if it is a UUID (the server makes only those), else raise."""
    if not isinstance(job_id, str) or not _JOB_ID_RE.match(job_id):
        raise ValidationError(f"invalid Batch job id {job_id!r:.60}: job ids are UUIDs")
    return job_id.lower()


def job_body(query: BatchInput) -> dict[str, Any]:
    """The JSON body that creates a job running ``query``; raises listing every problem.

    A list that holds :class:`BatchQuery` items with fallbacks becomes a fallback job.
    """
    problems: list[str] = []
    wire: Any
    value: object = query  # checked at run time too: callers may not be type-checked
    if isinstance(value, FallbackJob):
        problems = value.problems()
        wire = value.to_wire() if not problems else None
    elif isinstance(value, str):
        problems = statement_problems(value, "query") if value.strip() else ["query is empty"]
        wire = value
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
        if not items:
            problems = ["a Batch job needs at least one query"]
        if any(isinstance(item, BatchQuery) for item in items):
            return job_body(FallbackJob(tuple(items)))
        for i, item in enumerate(items):
            problems += (
                statement_problems(item, f"queries[{i}]")
                if item is not None
                else [f"queries[{i}] must be a SQL string, not None"]
            )
        wire = items
    else:
        problems = [
            "query must be a SQL string, a list of them, or a FallbackJob, "
            f"not {type(value).__name__}"
        ]
        wire = None
    if not problems:
        body = {"query": wire}
        size = payload_size(body)
        if size > MAX_PAYLOAD:
            problems.append(
                f"the job is {size} characters once serialized; the server takes at most "
                f"{MAX_PAYLOAD} (16 KB). Load data with COPY or the Import API, or split the job"
            )
        else:
            return body
    raise ValidationError(f"invalid Batch job: {'; '.join(problems)}", problems=problems)


def payload_size(body: Any) -> int:
    """``JSON.stringify(body).length`` as the server computes it: compact JSON with non-ASCII
    left as is, counted in UTF-16 code units (a character outside the BMP counts 2)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-16-le")) // 2


def create_request(query: BatchInput) -> RequestSpec:
    """``POST /api/v2/sql/job``: never repeated once it may have reached the server."""
    return RequestSpec(
        "POST",
        JOB_PATH,
        Service.SQL,
        json=job_body(query),
        key=KeyPlacement.BASIC,
        creates_job=True,
    )


def get_request(job_id: str) -> RequestSpec:
    """``GET /api/v2/sql/job/:id``: one snapshot of the job."""
    return RequestSpec(
        "GET", f"{JOB_PATH}/{check_job_id(job_id)}", Service.SQL, key=KeyPlacement.BASIC
    )


def cancel_request(job_id: str) -> RequestSpec:
    """``DELETE /api/v2/sql/job/:id``: cancel a pending or running job (a running query is
    stopped). Repeating it is harmless, so it is retried like any DELETE."""
    return RequestSpec(
        "DELETE", f"{JOB_PATH}/{check_job_id(job_id)}", Service.SQL, key=KeyPlacement.BASIC
    )


def list_request() -> RequestSpec:
    """``GET /api/v2/jobs-wip``: ids of every user's unfinished jobs (the only listing)."""
    return RequestSpec("GET", JOBS_WIP_PATH, Service.SQL, key=KeyPlacement.NONE)


def parse_work_in_progress(body: Any, user: str) -> list[str]:
    """The ids of ``user``'s unfinished jobs from a ``jobs-wip`` body (``{user: [ids]}``)."""
    if not isinstance(body, Mapping):
        raise APIError(f"unexpected jobs-wip response: {str(body)[:200]}")
    ids = body.get(user) or []
    if not isinstance(ids, list):
        raise APIError(f"unexpected jobs-wip entry for {user!r}: {str(ids)[:200]}")
    return [str(i) for i in ids]


def parse_job(body: Any) -> BatchJobStatus:
    """A :class:`BatchJobStatus` from a job body (create, get or cancel)."""
    if (
        not isinstance(body, Mapping)
        or not isinstance(body.get("job_id"), str)
        or not isinstance(body.get("status"), str)
        or not isinstance(body.get("query"), str | list | Mapping)
    ):
        raise APIError(f"unexpected Batch job response: {str(body)[:200]}")
    return structure(body, BatchJobStatus)


def outcome(job: BatchJobStatus) -> Outcome:
    """Where ``job`` stands, from :data:`BATCH_STATES`."""
    return classify(BATCH_STATES, job.status)


def failure(job: BatchJobStatus, *, handle: Any = None) -> BatchJobFailed | None:
    """The :class:`BatchJobFailed` a finished-but-unsuccessful job raises (else ``None``).

    It names the query that failed (``query_index``, ``query``) and the server's
    ``failed_reason`` (the job's, or the failed query's in a multi-query job).
    """
    if outcome(job) is not Outcome.FAILURE:
        return None
    failed = job.failed_query
    index, query = (failed[0], failed[1].query) if failed else (None, None)
    reason = job.failed_reason or (failed[1].failed_reason if failed else None)
    if job.status == BatchStatus.CANCELLED:
        message = f"Batch job {job.job_id} was cancelled"
    elif job.status == BatchStatus.FAILED:
        where = f" (query {index + 1} of {len(job.queries)})" if index is not None else ""
        message = f"Batch job {job.job_id} failed{where}: {reason or 'no reason given'}"
    else:
        message = f"Batch job {job.job_id} ended {job.status}"
    return BatchJobFailed(
        message,
        job=handle,
        job_id=job.job_id,
        state=job.status,
        failed_reason=reason,
        query_index=index,
        query=query,
        title=reason,
        source="user" if job.status == BatchStatus.FAILED else None,
    )


def _first_message(error: APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping) and isinstance(body.get("error"), list) and body["error"]:
        return str(body["error"][0])
    return error.message


def job_not_found(error: APIStatusError) -> bool:
    """True for the 400 ``Job with id <id> not found`` (unknown, or expired 2 h after it ended)."""
    return error.status_code in (400, 404) and bool(_NOT_FOUND_RE.match(_first_message(error)))


def cancel_refused(error: APIStatusError) -> bool:
    """True for the 400 ``Cannot set status from <final state> to cancelled``."""
    return error.status_code == 400 and bool(_CANCEL_REFUSED_RE.match(_first_message(error)))
