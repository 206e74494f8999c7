"""SQL Batch jobs (``carto.sql.batch``): long statements run by the server in the background.

A Batch job is created once (``POST /api/v2/sql/job``, never repeated after an ambiguous
failure), then polled (``GET /api/v2/sql/job/:id``) through the client's job watcher like any
other job, and may be cancelled (``DELETE``). See reference §9.2.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from carto_async._async.jobs import AsyncJob
from carto_async._core import batch as core
from carto_async._core.jobs import Account, Outcome, load_token
from carto_async.errors import (
    APIConnectionError,
    APIStatusError,
    BatchJobFailed,
    NotFoundError,
)
from carto_async.models.batch import BatchJobStatus, BatchStatus

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncBatchJob", "AsyncBatchJobs"]

logger = logging.getLogger("carto_async")


class AsyncBatchJob(AsyncJob[BatchJobStatus]):
    """A SQL Batch job: ``await job.wait()`` gives its final :class:`BatchJobStatus` or raises
    :class:`~carto_async.BatchJobFailed` (``failed_reason``, ``query_index``, ``query``).

    A fallback job is over once its job-level ``onsuccess``/``onerror`` has run too.
    ``cancel()`` stops it on the server (a running query is interrupted); cancelling a job that
    already finished takes its final snapshot instead. ``token()`` / ``carto.jobs.resume``
    wait on it from another process. Finished jobs are forgotten by the server 2 hours after
    they end: a later status request is a :class:`~carto_async.NotFoundError`.

    Example::

        job = await carto.sql.batch(["UPDATE stores SET open = true", "VACUUM stores"])
        status = await job.wait(timeout=3600)
        print(status.status, [q.status for q in status.queries])
    """

    kind = core.JOB_KIND
    _states = core.BATCH_STATES
    _listable = True

    async def _fetch(self) -> BatchJobStatus:
        return await self._client.sql.batch_jobs.get(self.id)

    def _state_of(self, snapshot: BatchJobStatus) -> str:
        return snapshot.status

    def _outcome_of(self, snapshot: BatchJobStatus) -> Outcome:
        # The server shows a fallback job's final status while its job-level onsuccess /
        # onerror still runs: the job is over only once that fallback is too.
        if snapshot.fallback_status in (BatchStatus.PENDING, BatchStatus.RUNNING):
            return Outcome.PENDING
        return core.outcome(snapshot)

    @classmethod
    async def _list(cls, client: AsyncCarto) -> Mapping[str, BatchJobStatus | None]:
        # GET /api/v2/jobs-wip names every unfinished job of the user: one request tells which
        # of many jobs may have finished (those no longer listed get a status request).
        return dict.fromkeys(await client.sql.batch_jobs.list())

    def _failure(self, snapshot: BatchJobStatus) -> BatchJobFailed:
        error = core.failure(snapshot, handle=self)
        assert error is not None  # only called for a failed snapshot
        return error

    async def _cancel(self) -> BatchJobStatus:
        return await self._client.sql.batch_jobs.cancel(self.id)

    @property
    def queries(self) -> tuple[str, ...]:
        """The statements of the job, from the last snapshot (empty before the first)."""
        if self._snapshot is None:
            return ()
        return tuple(q.query for q in self._snapshot.queries)


class AsyncBatchJobs:
    """Lower-level Batch requests (``carto.sql.batch_jobs``): one request each, no waiting.

    Create jobs with ``carto.sql.batch(...)``; use these to look at or cancel a job by id.
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def create(self, query: core.BatchInput) -> AsyncBatchJob:
        """Create a job running ``query`` and return its handle (see ``carto.sql.batch``)."""
        spec = core.create_request(query)
        try:
            response = await self._client._transport.request(spec)
        except APIConnectionError as exc:
            if exc.request_sent:
                note = (
                    "the Batch job may have been created on the server all the same; it was "
                    "not sent again. Look for it in carto.sql.batch_jobs.list() before "
                    "creating it again"
                )
                exc.message = f"{exc.message}; {note}"
                exc.args = (exc.message,)
                logger.warning("Batch job creation got no answer: %s", note)
            raise
        snapshot = core.parse_job(response.body())
        job = AsyncBatchJob(self._client, snapshot.job_id, snapshot=snapshot)
        job._apply(snapshot, polled=True)
        return job

    async def get(self, job_id: str) -> BatchJobStatus:
        """One snapshot of a job. An unknown id, or a job that ended over 2 hours ago, is a
        :class:`~carto_async.NotFoundError` (the server answers 400)."""
        spec = core.get_request(job_id)
        try:
            response = await self._client._transport.request(spec)
        except APIStatusError as exc:
            if core.job_not_found(exc):
                raise _not_found(exc, job_id) from None
            raise
        return core.parse_job(response.body())

    async def cancel(self, job_id: str) -> BatchJobStatus:
        """Cancel a pending or running job and return its snapshot; a job that already
        finished is left as it is and its final snapshot returned."""
        spec = core.cancel_request(job_id)
        try:
            response = await self._client._transport.request(spec)
        except APIStatusError as exc:
            if core.cancel_refused(exc):
                return await self.get(job_id)
            if core.job_not_found(exc):
                raise _not_found(exc, job_id) from None
            raise
        return core.parse_job(response.body())

    async def list(self) -> list[str]:
        """The ids of this user's unfinished jobs (``GET /api/v2/jobs-wip``)."""
        response = await self._client._transport.request(core.list_request())
        return core.parse_work_in_progress(response.body(), self._client.credentials.username)

    def job(self, job_id: str) -> AsyncBatchJob:
        """A handle on an existing job, to wait on or cancel it (no request is sent yet)."""
        return AsyncBatchJob(self._client, core.check_job_id(job_id), resumed=True)

    def resume(self, token: str) -> AsyncBatchJob:
        """The handle of a Batch job's ``job.token()`` (a token of another kind or account is
        a :class:`~carto_async.ValidationError`, before any request)."""
        creds = self._client.credentials
        account = Account.of(creds.username, creds.base_url)
        fields = load_token(token, kind=core.JOB_KIND, account=account)
        return self.job(fields["id"])


def _not_found(exc: APIStatusError, job_id: str) -> NotFoundError:
    message = f"no Batch job with id {job_id} (unknown, or finished over 2 hours ago)"
    return NotFoundError(
        message,
        status_code=exc.status_code,
        body=exc.body,
        headers=exc.headers,
        request=exc.request,
        method=exc.method,
        url=exc.url,
    )
