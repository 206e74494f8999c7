"""Static checks of the job API's types: run by mypy (``files`` in pyproject), never by pytest.

Each ``assert_type`` fails the type check if an overload or a generic loses its precision.
"""

from __future__ import annotations

from typing import Any, assert_type

from carto_async import (
    AsyncCarto,
    AsyncImportJob,
    AsyncJob,
    Carto,
    CartoError,
    ImportFailed,
    ImportJob,
    Job,
    JobFailed,
    JobTimeout,
)
from carto_async.models.imports import ImportStatus


async def check_async(carto: AsyncCarto, jobs: list[AsyncImportJob], flag: bool) -> None:
    assert_type(await jobs[0].wait(), ImportStatus)
    assert_type(jobs[0].result, ImportStatus | None)
    assert_type(await carto.jobs.wait_all(jobs), list[ImportStatus])
    assert_type(await carto.jobs.wait_all(jobs, return_exceptions=False), list[ImportStatus])
    assert_type(
        await carto.jobs.wait_all(jobs, return_exceptions=True),
        list[ImportStatus | CartoError],
    )
    assert_type(
        await carto.jobs.wait_all(jobs, return_exceptions=flag),
        list[ImportStatus | CartoError],
    )
    async for job in carto.jobs.as_completed(jobs):
        assert_type(job, AsyncImportJob)
    assert_type(carto.jobs.resume("token"), AsyncJob[Any])
    assert_type(carto.imports.resume("token"), AsyncImportJob)


def check_sync(carto: Carto, jobs: list[ImportJob], flag: bool) -> None:
    assert_type(jobs[0].wait(), ImportStatus)
    assert_type(carto.jobs.wait_all(jobs), list[ImportStatus])
    assert_type(carto.jobs.wait_all(jobs, return_exceptions=True), list[ImportStatus | CartoError])
    assert_type(carto.jobs.wait_all(jobs, return_exceptions=flag), list[ImportStatus | CartoError])
    for job in carto.jobs.as_completed(jobs):
        assert_type(job, ImportJob)
    assert_type(carto.jobs.resume("token"), Job[Any])


def check_errors(failed: JobFailed, imported: ImportFailed, timed_out: JobTimeout) -> None:
    assert_type(failed.job, AsyncJob[Any] | Job[Any] | None)
    assert_type(imported.job, AsyncJob[Any] | Job[Any] | None)
    assert_type(timed_out.job, AsyncJob[Any] | Job[Any] | None)
