"""``carto-async demo`` and ``carto-async local-server``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from carto_async.cli._demo_data import EXPECTED_FAILURES, datasets
from tests.cli.conftest import KEY, invoke

pytestmark = pytest.mark.integration


def test_the_sample_datasets_are_the_same_on_every_run_and_there_are_enough() -> None:
    first, second = datasets(), datasets()
    assert first == second
    assert len(first) - len(EXPECTED_FAILURES) >= 20
    kinds = {os.path.splitext(d.path)[1] for d in first}
    assert {".csv", ".tsv", ".geojson", ".zip"} <= kinds


@pytest.mark.slow
def test_the_demo_runs_to_completion_and_shows_the_expected_failures(tmp_path: Path) -> None:
    result = invoke(["demo", "--dir", str(tmp_path / "samples")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1005 Empty file" in out
    assert "2003 Malformed CSV" in out
    assert "23 imported, 2 failed" in out
    assert "As expected, every dataset imported except" in out
    for geometry in ("POINT", "POLYGON", "MULTIPOLYGON", "LINESTRING", "a plain table"):
        assert geometry in out
    assert (tmp_path / "samples" / "cities" / "world_cities.csv").is_file()


def test_local_server_serves_until_ctrl_c_with_the_faults_asked_for() -> None:
    command = [sys.executable, "-m", "carto_async.cli", "local-server", "--port", "0"]
    command += ["--api-key", KEY, "--error-rate", "sql=1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("LocalCarto serving user demo at http://127.0.0.1:")
        base_url = first.split(" at ")[1].split(" ")[0]
        announced = [process.stdout.readline() for _ in range(4)]
        assert "  export CARTO_API_KEY=<the key you gave>\n" in announced
        imports = httpx.get(f"{base_url}/api/v1/imports", params={"api_key": KEY})
        assert imports.status_code == 200
        sql = httpx.get(f"{base_url}/api/v2/sql", params={"q": "select 1", "api_key": KEY})
        assert sql.status_code >= 500
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    assert process.returncode == 0
