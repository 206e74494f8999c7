"""Streaming against LocalCarto over real loopback sockets: big SQL API downloads, written
atomically, and an upload whose file changes size on the way."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from carto_async import AsyncCarto, SourceChangedError
from carto_async._core.http import KeyPlacement, RequestSpec, Service

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROWS = 200_000
QUERY = (
    "with recursive s(n) as (select 1 union all select n + 1 from s where n < {rows}) "
    "select n, 'row ' || n as label from s"
)


def sql_spec(fmt: str, rows: int = ROWS) -> RequestSpec:
    return RequestSpec(
        "GET",
        "/api/v2/sql",
        Service.SQL,
        params={"q": QUERY.format(rows=rows), "format": fmt},
        key=KeyPlacement.BASIC,
    )


async def test_a_large_csv_streams_into_a_file(local: AsyncCarto, tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    seen: list[tuple[int, int | None]] = []
    done = await local._transport.download(
        sql_spec("csv"), target, progress=lambda n, total: seen.append((n, total))
    )
    assert done.size == target.stat().st_size > 3_000_000
    assert "filename=cartodb-query.csv" in done.headers["content-disposition"]
    # LocalCarto streams the body as CARTO does (chunked): its size is not known ahead.
    assert seen[-1] == (done.size, None)
    assert len(seen) > 3  # it arrived in pieces, each reported
    with target.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["n", "label"]
    assert len(rows) == ROWS + 1
    assert rows[-1] == [str(ROWS), f"row {ROWS}"]
    assert sorted(os.listdir(tmp_path)) == ["rows.csv"]


async def test_a_json_result_streams_chunk_by_chunk(local: AsyncCarto) -> None:
    out = io.BytesIO()
    async with local._transport.stream(sql_spec("json", rows=50_000)) as response:
        assert response.total is None  # chunked, as CARTO streams it
        chunks = 0
        async for chunk in response:
            out.write(chunk)
            chunks += 1
        assert response.received == len(out.getvalue())
    assert chunks > 1
    body = json.loads(out.getvalue())
    assert body["total_rows"] == 50_000
    assert body["rows"][-1] == {"n": 50_000, "label": "row 50000"}


async def test_an_error_status_of_a_streamed_query_is_the_servers_message(
    local: AsyncCarto,
) -> None:
    spec = RequestSpec(
        "GET",
        "/api/v2/sql",
        Service.SQL,
        params={"q": "select * from no_such_table", "format": "csv"},
        key=KeyPlacement.BASIC,
    )
    with pytest.raises(Exception, match="no_such_table") as info:
        await local._transport.download(spec, io.BytesIO())
    assert getattr(info.value, "status_code", None) in (400, 404)


async def test_a_file_that_shrinks_mid_upload_creates_nothing(
    local: AsyncCarto, tmp_path: Path
) -> None:
    path = tmp_path / "shrinking.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 300_000)
    size = path.stat().st_size

    def progress(done: int, total: int | None) -> None:
        if done and path.stat().st_size == size:
            os.truncate(path, size // 3)

    with pytest.raises(SourceChangedError, match="shrank from"):
        await local.imports.upload(path, progress=progress)
    assert await local.imports.list() == []
    # The connection that carried the cut request is gone; the client goes on.
    result = await local.sql.query("select 1 as x")
    assert result.rows == [{"x": 1}]
