"""Sync tables, ArcGIS syncs, visualizations and exports against LocalCarto over real sockets,
with the ``.carto`` round trip: export a map, delete it and its table, import the file back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from carto_async import (
    AsyncCarto,
    AuthenticationError,
    NotFoundError,
    PollPolicy,
    SyncFailed,
    SyncNowRefusal,
    ValidationError,
)
from carto_async.testing import Clock, LocalCarto
from tests.testing.conftest import FileServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

CSV = "name,value,lat,lon\nalpha,1,10,20\nbeta,2,30,40\n"
CSV_CHANGED = CSV + "gamma,3,50,60\n"
ROWS = "select name, value from stores order by name"
POLL = PollPolicy(initial=0.01, factor=1.5, cap=0.1, jitter=0)


@pytest.fixture
def files() -> Iterator[FileServer]:
    fs = FileServer()
    fs.thread.start()
    try:
        yield fs
    finally:
        fs.httpd.shutdown()
        fs.httpd.server_close()
        fs.thread.join()


@pytest.fixture
def server() -> Iterator[LocalCarto]:
    """Jobs end as soon as their work does; syncs re-run only when the clock is advanced."""
    with LocalCarto(
        clock=Clock(frozen=True),
        import_processing_time=0,
        sync_processing_time=0,
        export_processing_time=0,
    ) as running:
        yield running


@pytest.fixture
async def carto(server: LocalCarto) -> AsyncIterator[AsyncCarto]:
    async with server.async_client(poll=POLL) as client:
        yield client


async def _names(carto: AsyncCarto) -> list[tuple[str, int]]:
    rows = (await carto.sql.query(ROWS)).rows
    return [(r["name"], r["value"]) for r in rows]


async def test_a_sync_table_lives_runs_again_and_is_deleted(
    carto: AsyncCarto, server: LocalCarto, files: FileServer
) -> None:
    url = files.add("/stores.csv", CSV)
    run = await carto.syncs.create(url, interval=3600, table_name="stores")
    assert run.data_import is not None
    first_import = run.import_job()
    assert first_import is not None
    sync = await run.wait(timeout=30)
    assert sync.state == "success"
    assert (await first_import.wait(timeout=30)).table_name == "stores"
    assert await _names(carto) == [("alpha", 1), ("beta", 2)]
    assert [s.id for s in await carto.syncs.list()] == [sync.id]
    assert await carto.syncs.check(sync.id) == "success"

    # Less than 15 minutes after the last run: refused, and waiting says why.
    refused = await carto.syncs.sync_now(sync.id)
    assert not refused.enqueued
    assert refused.refusal is SyncNowRefusal.RAN_RECENTLY
    with pytest.raises(SyncFailed, match="less than 15 minutes ago"):
        await refused.wait()

    # The source changes; 16 minutes later a manual run picks it up.
    files.add("/stores.csv", CSV_CHANGED)
    server.advance(960)
    again = await carto.syncs.sync_now(sync.id)
    assert again.enqueued
    after = await again.wait(timeout=30)
    assert after.ran_at is not None
    assert sync.ran_at is not None
    assert after.ran_at > sync.ran_at
    assert await _names(carto) == [("alpha", 1), ("beta", 2), ("gamma", 3)]

    updated = await carto.syncs.update(sync.id, interval=7200)
    assert updated.interval == 7200
    assert (await carto.syncs.get(sync.id)).interval == 7200
    with pytest.raises(ValidationError, match="at least 900"):
        await carto.syncs.update(sync.id, interval=600)

    await carto.syncs.delete(sync.id)
    with pytest.raises(NotFoundError, match="no sync table with id"):
        await carto.syncs.get(sync.id)
    assert await carto.syncs.list() == []
    assert await _names(carto) == [("alpha", 1), ("beta", 2), ("gamma", 3)]  # the table stays


async def test_the_scheduler_runs_a_sync_again_after_its_interval(
    carto: AsyncCarto, server: LocalCarto, files: FileServer
) -> None:
    url = files.add("/stores.csv", CSV)
    sync = await (await carto.syncs.create(url, interval=900)).wait(timeout=30)
    files.add("/stores.csv", CSV_CHANGED)
    next_run = carto.syncs.run(sync.id, since=sync.ran_at)
    server.advance(901)
    await next_run.wait(timeout=30)
    assert len(await _names(carto)) == 3


async def test_a_failing_source_raises_sync_failed_with_its_code(
    carto: AsyncCarto, files: FileServer
) -> None:
    url = files.add("/stores.csv", CSV)
    files.files["/stores.csv"] = (404, b"gone", {})
    run = await carto.syncs.create(url)
    with pytest.raises(SyncFailed) as info:
        await run.wait(timeout=30)
    assert info.value.error_code is not None
    assert info.value.title
    assert info.value.retried_times >= 1


async def test_an_arcgis_layer_syncs_end_to_end(carto: AsyncCarto, server: LocalCarto) -> None:
    imported = await (await carto.imports.upload(CSV.encode(), filename="parks.csv")).wait(
        timeout=30
    )
    assert imported.table_name == "parks"
    layer = server.arcgis_url("parks")
    sync = await (await carto.syncs.from_arcgis(layer, table_name="parks_copy")).wait(timeout=30)
    assert sync.service_name == "arcgis"
    assert sync.service_item_id == layer
    count = (await carto.sql.query("select count(*) as n from parks_copy")).rows[0]["n"]
    assert count == 2
    with pytest.raises(ValidationError, match="ArcGIS"):
        await carto.syncs.from_arcgis(server.base_url + "/arcgis/nothing/here")


async def test_a_whole_arcgis_service_syncs(carto: AsyncCarto, server: LocalCarto) -> None:
    await (await carto.imports.upload(CSV.encode(), filename="parks.csv")).wait(timeout=30)
    service = server.arcgis_url("parks", layer=None)
    assert service.endswith("/FeatureServer/")
    sync = await (await carto.syncs.from_arcgis(service)).wait(timeout=30)
    assert sync.state == "success"
    assert len(server.tables()) == 2


async def test_without_the_sync_tables_feature_the_error_says_so(files: FileServer) -> None:
    with LocalCarto(sync_tables=False) as plain:
        async with plain.async_client(poll=POLL) as client:
            with pytest.raises(AuthenticationError, match="sync tables feature"):
                await client.syncs.create(files.add("/a.csv", CSV))


async def test_export_delete_and_reimport_finds_the_same_map_and_rows(
    carto: AsyncCarto, server: LocalCarto, tmp_path: Path
) -> None:
    job = await carto.imports.upload(CSV.encode(), filename="stores.csv", create_vis=True)
    status = await job.wait(timeout=30)
    vis_id = status.visualization_id
    assert vis_id is not None
    maps = await carto.visualizations.list(type="derived")
    assert [m.id for m in maps] == [vis_id]
    original = await carto.visualizations.get(vis_id)
    assert original.table_names == ["stores"]
    rows = await _names(carto)

    export = await carto.exports.create(vis_id)
    seen: list[int] = []
    path = tmp_path / "map.carto"
    done = await export.download(path, progress=lambda got, total: seen.append(got), timeout=30)
    assert export.state == "complete"
    assert path.stat().st_size == done.size > 0
    assert seen[-1] == done.size
    assert path.read_bytes()[:2] == b"PK"

    # Delete the map, then the dataset (its table goes with it).
    table = await carto.visualizations.table(original.related_tables[0].id)
    assert table.table_visualization is not None
    await carto.visualizations.delete(vis_id)
    await carto.visualizations.delete(table.table_visualization.id)
    assert server.tables() == []
    with pytest.raises(NotFoundError):
        await carto.visualizations.get(vis_id)

    back = await (await carto.imports.upload(path)).wait(timeout=30)
    assert back.state == "complete"
    assert await _names(carto) == rows
    restored = await carto.visualizations.list(type="derived")
    assert [m.name for m in restored] == [original.name]
    assert restored[0].id == back.visualization_id
    assert restored[0].raw["layers"] == original.raw["layers"]


async def test_export_errors_in_the_servers_words(carto: AsyncCarto) -> None:
    status = await (await carto.imports.upload(CSV.encode(), filename="stores.csv")).wait(
        timeout=30
    )
    datasets = await carto.visualizations.list(type="table")
    assert [d.name for d in datasets] == [status.table_name]
    with pytest.raises(Exception, match="Only derived visualizations can be exported"):
        await carto.exports.create(datasets[0].id)
    with pytest.raises(NotFoundError, match="Visualization not found"):
        await carto.exports.create("00000000-0000-0000-0000-000000000000")
