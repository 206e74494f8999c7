"""The SDK against LocalCarto over real loopback sockets: data in, rows out, failures named."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from carto_async import AsyncCarto, ImportFailed, NotFoundError, PollPolicy
from carto_async.testing import LocalCarto
from tests.datasets import CSV_ROWS, parks_geojson, stores_csv, zipped

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAST = PollPolicy(initial=0.02, factor=1.5, cap=0.2)


@pytest.fixture
def files_server(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP file server on loopback, for URL imports."""
    root = tmp_path / "www"
    root.mkdir()
    stores_csv(root, "remote_stores.csv")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_csv_upload_lands_rows_with_point_geometries(
    local: AsyncCarto, tmp_path: Path
) -> None:
    status = await (await local.imports.upload(stores_csv(tmp_path))).wait(timeout=30)
    assert status.state == "complete"
    assert status.success is True
    assert status.table_name == "stores"
    result = await local.sql.query("select count(*) as n, count(the_geom) as g from stores")
    assert result.rows == [{"n": CSV_ROWS, "g": CSV_ROWS}]
    assert result.fields["n"].type == "number"


async def test_geojson_and_zip_uploads(local: AsyncCarto, tmp_path: Path) -> None:
    parks = await (await local.imports.upload(parks_geojson(tmp_path))).wait(timeout=30)
    bundle = await (await local.imports.upload(zipped(tmp_path))).wait(timeout=30)
    kinds = await local.sql.query(
        f"select distinct GeometryType(the_geom) as t from {parks.table_name}"
    )
    assert kinds.rows == [{"t": "POLYGON"}]
    count = await local.sql.query(f"select count(*) as n from {bundle.table_name}")
    assert count.rows[0]["n"] == CSV_ROWS


async def test_url_import_from_a_local_http_server(local: AsyncCarto, files_server: str) -> None:
    job = await local.imports.from_url(f"{files_server}/remote_stores.csv")
    status = await job.wait(timeout=30)
    assert status.table_name == "remote_stores"
    assert (await local.sql.query("select count(*) as n from remote_stores")).rows[0][
        "n"
    ] == CSV_ROWS


async def test_table_copy_and_table_from_query(local: AsyncCarto, tmp_path: Path) -> None:
    await (await local.imports.upload(stores_csv(tmp_path))).wait(timeout=30)
    copy = await (
        await local.imports.from_query(
            "select * from stores where cartodb_id <= 5", table_name="first_stores"
        )
    ).wait(timeout=30)
    assert copy.table_name == "first_stores"
    assert (await local.sql.query("select count(*) as n from first_stores")).rows[0]["n"] == 5
    dup = await (await local.imports.copy_table("stores")).wait(timeout=30)
    assert dup.table_name is not None
    assert dup.table_name.startswith("stores")


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("notes.xyz", b"hello", 1002),
        ("empty.csv", b"", 1005),
        ("broken.csv", b'a,b\n1,2\n\x00\x00\x00,"unterminated\n', 2003),
        (
            "wide.csv",
            (
                ",".join(f"c{i}" for i in range(251))
                + "\n"
                + ",".join("1" for _ in range(251))
                + "\n"
            ).encode(),
            2004,
        ),
    ],
)
async def test_failures_carry_the_real_error_codes(
    local: AsyncCarto, tmp_path: Path, name: str, content: bytes, code: int
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    job = await local.imports.upload(path)
    with pytest.raises(ImportFailed) as info:
        await job.wait(timeout=30)
    assert info.value.error_code == code
    assert info.value.title
    assert info.value.job_id == job.id


async def test_collision_strategies(local: AsyncCarto, tmp_path: Path) -> None:
    path = stores_csv(tmp_path)
    first = await (await local.imports.upload(path)).wait(timeout=30)
    second = await (await local.imports.upload(path)).wait(timeout=30)
    assert (first.table_name, second.table_name) == ("stores", "stores_1")
    job = await local.imports.upload(path, collision_strategy="skip")
    skipped = await job.wait(timeout=30)
    assert skipped.succeeded
    assert job.warning is not None
    assert skipped.error_code == 1022
    over = await (await local.imports.upload(path, collision_strategy="overwrite")).wait(timeout=30)
    assert over.table_name == "stores"


async def test_list_and_get_of_real_imports(local: AsyncCarto, tmp_path: Path) -> None:
    job = await local.imports.upload(stores_csv(tmp_path))
    await job.wait(timeout=30)
    status = await local.imports.get(job.id)
    assert status.id == job.id
    assert job.id not in await local.imports.list()  # finished imports are not listed
    with pytest.raises(NotFoundError):
        await local.imports.get("00000000-0000-4000-8000-000000000000")


async def test_import_slots_are_waited_for_and_nothing_is_duplicated(tmp_path: Path) -> None:
    paths = [stores_csv(tmp_path, f"batch_{i}.csv") for i in range(6)]
    with LocalCarto(import_slots=2, import_processing_time=0.1) as server:
        async with server.async_client(poll=FAST, max_concurrent_imports=None) as carto:
            jobs = [await carto.imports.upload(p) for p in paths]
            results = await carto.jobs.wait_all(jobs, timeout=60)
        assert all(r.state == "complete" for r in results)
        assert server.counters.jobs_created == 6
