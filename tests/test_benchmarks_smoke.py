"""Every benchmark runs end to end at tiny sizes, so the benchmarks do not rot.

Nothing here is timed: the figures at these sizes mean nothing. Each benchmark must finish,
drive every client it compares, and print its table and its goal lines.
"""

from __future__ import annotations

import pytest

from benchmarks import BENCHMARKS
from benchmarks.__main__ import main

pytest.importorskip("carto_async.testing", reason="LocalCarto needs the [local] extra")
pytest.importorskip("carto", reason="carto-python is the benchmarks' baseline")

EXPECTED_ROWS = {
    "batch": ["carto_async async", "carto_async sync", "carto-python, sequential"],
    "overhead": ["raw httpx.AsyncClient", "carto_async sync", "carto-python SQLClient.send"],
    "memory": ["carto_async async", "carto_async sync", "carto-python FileImportJob.run"],
    "polling": ["wait_all, ", "job.wait() each, "],
    "download": ["carto_async async (transport.download)", "raw httpx.Client.stream"],
    "engine": ["SQL API select 1", "CSV import"],
    "fanout": ["raw aiohttp.ClientSession", "carto_async async (aiohttp)", "carto-python"],
    "dataframes": [
        "carto_async dataframes.write(df)",
        "carto-python CopySQLClient.copyfrom",
        "carto_async dataframes.read_chunks",
    ],
    "tiles": ["raw httpx.AsyncClient", "carto_async async", "carto-python + requests"],
    "sqldownload": [
        "carto_async async sql.download",
        "carto_async sync sql.download",
        "carto_async async sql.copy_to",
        "carto_async sync sql.copy_to",
        "raw httpx.AsyncClient.stream",
        "raw httpx.Client.stream",
        "carto-python SQLClient.send",
        "carto-python CopySQLClient.copyto_file_path",
    ],
}


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_runs_at_smoke_size_and_prints_its_table(name: str) -> None:
    if name == "tiles":
        # The layer's SQL (ST_AsBinary, &&) needs LocalCarto's spatial engine.
        pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's engine")
    output = main(["--smoke", "--only", name])

    assert f"#{list(BENCHMARKS).index(name) + 1} " in output
    for row in EXPECTED_ROWS[name]:
        assert row in output
    assert "goal:" in output or "reported" in output


def test_sql_download_scales_sizes_down_to_the_memory_carto_python_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import sql_download  # noqa: PLC0415 - imports carto-python

    gib = 2**30
    monkeypatch.setattr(sql_download, "_mem_available", lambda: 64 * gib)
    assert sql_download._fit_memory([1024], list(sql_download.CLIENTS)) == ([1024], "")

    # 2 GiB kept free, then SERVER_FACTOR (+2 for carto-python's whole body) per MiB.
    monkeypatch.setattr(sql_download, "_mem_available", lambda: 3 * gib)
    per_mib = sql_download.SERVER_FACTOR + 2
    room = 1 * gib // (per_mib * 2**20)
    sizes, note = sql_download._fit_memory([64, 1024], list(sql_download.CLIENTS))
    assert sizes == [64, room]
    assert f"scaled down from [64, 1024] MiB to [64, {room}] MiB" in note
    assert "holds the whole body" in note
    # Without carto-python nothing needs the body in memory: no size is scaled down.
    assert sql_download._fit_memory([1024], ["sql-async", "copy-async"]) == ([1024], "")


def test_sql_download_query_makes_the_asked_size_on_the_server() -> None:
    from benchmarks.sql_download import WIDTH, copy_statement, rows_for, select  # noqa: PLC0415

    rows = rows_for(2**30)
    # About 1 KiB a row: the CSV is within a few percent of the size asked.
    assert 0.97 * 2**30 < rows * (WIDTH + 9) < 1.03 * 2**30
    assert f"generate_series(1, {rows})" in select(rows)
    assert copy_statement(rows) == (
        f"COPY ({select(rows)}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
