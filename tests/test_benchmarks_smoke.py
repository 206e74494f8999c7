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
