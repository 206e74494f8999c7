"""Static checks of the sync table, export and visualization types: run by mypy (``files`` in
pyproject), never by pytest."""

from __future__ import annotations

from datetime import timedelta
from typing import assert_type

from carto_async import (
    AsyncCarto,
    AsyncExportJob,
    AsyncSyncRun,
    Carto,
    ExportJob,
    Sync,
    SyncNowRefusal,
    SyncRun,
    Table,
    Visualization,
    VisualizationExport,
)
from carto_async._async.transport import Downloaded


async def check_async(carto: AsyncCarto) -> None:
    run = await carto.syncs.create("https://x/a.csv", interval=timedelta(hours=1))
    assert_type(run, AsyncSyncRun)
    assert_type(await run.wait(), Sync)
    assert_type(run.refusal, SyncNowRefusal | None)
    assert_type(await carto.syncs.list(), list[Sync])
    assert_type(await carto.syncs.check("id"), str)
    assert_type(await carto.jobs.wait_all([run]), list[Sync])
    await carto.syncs.create("https://x/a.csv", interval="1h")  # type: ignore[arg-type]
    job = await carto.exports.create("id", user_tables_ids=["a", "b"])
    assert_type(job, AsyncExportJob)
    assert_type(await job.wait(), VisualizationExport)
    assert_type(await job.download("map.carto"), Downloaded)
    assert_type(await carto.visualizations.list(type="derived"), list[Visualization])
    assert_type(await carto.visualizations.table("id"), Table)


def check_sync(carto: Carto) -> None:
    run = carto.syncs.sync_now("id")
    assert_type(run, SyncRun)
    assert_type(run.wait(), Sync)
    job = carto.exports.create("id")
    assert_type(job, ExportJob)
    assert_type(job.wait(timeout=5), VisualizationExport)
