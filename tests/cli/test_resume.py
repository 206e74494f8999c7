"""Resuming with a manifest: nothing is imported twice (LocalCarto's counters say so)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, invoke

pytestmark = pytest.mark.integration

FAST = ["--poll-interval", "0.05"]
CREATES = "POST /api/v1/imports"


@pytest.fixture
def slow_server() -> Iterator[LocalCarto]:
    """Imports take a second, so that they are still running when the test acts."""
    with LocalCarto(api_key=KEY, import_processing_time=1.0) as running:
        yield running


def _env(server: LocalCarto) -> dict[str, str | None]:
    return {"CARTO_USER": server.username, "CARTO_API_KEY": KEY, "CARTO_BASE_URL": server.base_url}


def _states(manifest: Path) -> dict[str, str]:
    entries = json.loads(manifest.read_text())["entries"]
    return {e["label"]: e["state"] for e in entries.values()}


def _results(stdout: str) -> dict[str, dict[str, object]]:
    return {r["source"]: r for r in map(json.loads, stdout.splitlines())}


def test_ctrl_c_saves_the_manifest_and_a_rerun_imports_nothing_twice(
    slow_server: LocalCarto, data: Path, tmp_path: Path
) -> None:
    for name in ("roads", "rivers"):
        (data / f"{name}.csv").write_text("name,lat,lon\nx,40.1,-3.1\n")
    manifest = tmp_path / "m.json"
    command = [sys.executable, "-m", "carto_async.cli", "import", "data"]
    command += ["--manifest", str(manifest), *FAST]
    env = {**os.environ, **_env(slow_server)}
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 15
    while not (manifest.exists() and "in_flight" in manifest.read_text()):
        assert time.monotonic() < deadline, "no import was created"
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 130, stderr
    assert "Interrupted:" in stderr
    assert f"Progress is saved in {manifest}: re-run the same command to resume" in stderr
    assert "interrupted" in stdout
    created_before = slow_server.counters.jobs_created
    in_flight = [label for label, state in _states(manifest).items() if state == "in_flight"]
    assert 1 <= len(in_flight) == created_before <= 3

    result = invoke(
        ["import", "data", "--manifest", str(manifest), "--json", *FAST], _env(slow_server)
    )
    assert result.exit_code == 0, result.output
    outcomes = _results(result.stdout)
    assert all(r["state"] == "complete" for r in outcomes.values())
    assert all(outcomes[label]["resumed"] for label in in_flight)
    assert slow_server.counters.jobs_created == 5
    # Creates refused for busy import slots (429) made nothing; every other one made one job.
    refused = slow_server.counters.responses.get(429, 0)
    assert slow_server.counters.requests[CREATES] == 5 + refused

    again = invoke(["import", "data", "--manifest", str(manifest), "--json"], _env(slow_server))
    assert again.exit_code == 0
    assert {r["state"] for r in _results(again.stdout).values()} == {"skipped"}
    assert slow_server.counters.jobs_created == 5


def test_ctrl_c_after_an_upload_was_sent_waits_for_its_answer_and_records_it(
    data: Path, tmp_path: Path
) -> None:
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as server:
        server.faults.latency(1.0, group="imports.create")
        manifest = tmp_path / "m.json"
        command = [sys.executable, "-m", "carto_async.cli", "import", "data/stores.csv"]
        command += ["--manifest", str(manifest), *FAST]
        process = subprocess.Popen(
            command,
            env={**os.environ, **_env(server)},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 15
        while CREATES not in server.counters.requests:
            assert time.monotonic() < deadline, "the upload never arrived"
            time.sleep(0.01)
        time.sleep(0.3)  # the server sits on the request; the client has sent every byte
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 130, stderr
        assert "Stopping: waiting up to 10s for the server's answer to 1 upload(s)" in stderr
        assert _states(manifest) == {"data/stores.csv": "in_flight"}
        result = invoke(
            ["import", "data/stores.csv", "--manifest", str(manifest), *FAST], _env(server)
        )
        assert result.exit_code == 0
        assert server.counters.jobs_created == 1
        assert server.counters.requests[CREATES] == 1


def test_only_what_failed_is_uploaded_again(
    server: LocalCarto, env: dict[str, str | None], data: Path, tmp_path: Path
) -> None:
    server.faults.fail_imports(1002, count=1, predicate=lambda i: i.display_name == "parks.csv")
    manifest = str(tmp_path / "m.json")
    first = invoke(["import", "data", "--manifest", manifest, *FAST], env)
    assert first.exit_code == 1
    assert _states(Path(manifest))["data/parks.csv"] == "failed"
    second = invoke(["import", "data", "--manifest", manifest, "--json", *FAST], env)
    assert second.exit_code == 0
    states = {k: r["state"] for k, r in _results(second.stdout).items()}
    assert states == {
        "data/parks.csv": "complete",
        "data/stores.csv": "skipped",
        "data/trees.csv": "skipped",
    }
    assert server.counters.requests[CREATES] == 4


def test_a_create_without_answer_is_recorded_unknown_and_not_retried_unless_asked(
    server: LocalCarto, env: dict[str, str | None], data: Path, tmp_path: Path
) -> None:
    server.faults.drop_connection("imports.create", after=True, count=1)
    manifest = str(tmp_path / "m.json")
    first = invoke(["import", "data", "--manifest", manifest, "--json", *FAST], env)
    assert first.exit_code == 1
    (unknown,) = [k for k, r in _results(first.stdout).items() if r["state"] == "unknown"]
    assert "may have been imported" in first.stderr
    assert "--retry-unknown" in first.stderr
    assert _states(Path(manifest))[unknown] == "unknown"
    assert server.counters.jobs_created == 3

    second = invoke(["import", "data", "--manifest", manifest, "--json", *FAST], env)
    assert second.exit_code == 1
    assert _results(second.stdout)[unknown]["state"] == "held"
    assert "may have been imported" in second.stderr
    assert server.counters.jobs_created == 3

    third = invoke(["import", "data", "--manifest", manifest, "--retry-unknown", *FAST], env)
    assert third.exit_code == 0, third.output
    assert server.counters.jobs_created == 4


def test_a_job_timeout_leaves_the_import_running_and_a_rerun_waits_for_it(
    slow_server: LocalCarto, data: Path, tmp_path: Path
) -> None:
    env = _env(slow_server)
    manifest = str(tmp_path / "m.json")
    first = invoke(
        ["import", "data/stores.csv", "--manifest", manifest, "--timeout", "0.2", "--json", *FAST],
        env,
    )
    assert first.exit_code == 1
    assert _results(first.stdout)["data/stores.csv"]["state"] == "timeout"
    assert "still running on the server: re-run the same command to wait" in first.stderr
    second = invoke(["import", "data/stores.csv", "--manifest", manifest, "--json", *FAST], env)
    assert second.exit_code == 0
    assert _results(second.stdout)["data/stores.csv"]["resumed"] is True
    assert slow_server.counters.requests[CREATES] == 1


def test_without_a_manifest_imports_left_running_are_saved_to_a_new_one(
    slow_server: LocalCarto, data: Path, tmp_path: Path
) -> None:
    first = invoke(["import", "data/stores.csv", "--timeout", "0.2", *FAST], _env(slow_server))
    assert first.exit_code == 1
    (saved,) = tmp_path.glob("carto-async-manifest-*.json")
    assert f"re-run the same command with --manifest {saved}" in first.stderr
    second = invoke(
        ["import", "data/stores.csv", "--manifest", str(saved), *FAST], _env(slow_server)
    )
    assert second.exit_code == 0
    assert slow_server.counters.requests[CREATES] == 1
