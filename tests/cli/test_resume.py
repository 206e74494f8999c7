"""Resuming with a manifest: nothing is imported twice (LocalCarto's counters say so)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from carto_async import Credentials
from carto_async.cli._manifest import Manifest, ManifestLock
from carto_async.cli._run import Display, ImportRun, Settings
from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, HeldClock, held_server, invoke, wait_until

pytestmark = pytest.mark.integration

FAST = ["--poll-interval", "0.05"]
CREATES = "POST /api/v1/imports"


@pytest.fixture
def clock() -> HeldClock:
    """The import clock of ``slow_server``: held until the test releases it."""
    return HeldClock()


@pytest.fixture
def slow_server(clock: HeldClock) -> Iterator[LocalCarto]:
    """Imports take a second of ``clock``, which stands still until released: they are still
    running when the test acts, however slow the machine."""
    with held_server(clock, api_key=KEY, import_processing_time=1.0) as running:
        yield running


def _env(server: LocalCarto) -> dict[str, str | None]:
    return {"CARTO_USER": server.username, "CARTO_API_KEY": KEY, "CARTO_BASE_URL": server.base_url}


def _states(manifest: Path) -> dict[str, str]:
    """The manifest's records as they stand (its file and journal), by label."""
    return {e.label: e.state.value for e in Manifest.read(str(manifest)).entries.values()}


def _results(stdout: str) -> dict[str, dict[str, object]]:
    return {r["source"]: r for r in map(json.loads, stdout.splitlines())}


def _start(
    server: LocalCarto, cwd: Path, *args: str, ignore_sigint: bool = False
) -> subprocess.Popen[str]:
    """``carto-async ARGS`` as a child process pointed at ``server``."""
    command = [sys.executable, "-m", "carto_async.cli", *args]

    def ignoring_sigint() -> None:  # what a script's background job (cmd &) gets
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        command,
        env={**os.environ, **_env(server)},  # type: ignore[dict-item]
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignoring_sigint if ignore_sigint else None,  # noqa: PLW1509 - no threads use it
    )


def _tables(server: LocalCarto) -> list[str]:
    return sorted(t for t in server.db.list_tables() if not t.startswith(("_", "cdb_")))


def test_ctrl_c_saves_the_manifest_and_a_rerun_imports_nothing_twice(
    slow_server: LocalCarto, clock: HeldClock, data: Path, tmp_path: Path
) -> None:
    for name in ("roads", "rivers"):
        (data / f"{name}.csv").write_text("name,lat,lon\nx,40.1,-3.1\n")
    manifest = tmp_path / "m.json"
    process = _start(slow_server, tmp_path, "import", "data", "--manifest", str(manifest), *FAST)
    wait_until(
        lambda: manifest.exists() and "in_flight" in _states(manifest).values(),
        process,
        "an import created",
    )
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Interrupted:" in stderr
    assert f"Progress is saved in {manifest}: re-run the same command to resume" in stderr
    assert "interrupted" in stdout
    created_before = slow_server.counters.jobs_created
    in_flight = [label for label, state in _states(manifest).items() if state == "in_flight"]
    assert 1 <= len(in_flight) == created_before <= 3
    assert "started" not in _states(manifest).values()  # every record was completed

    clock.release()
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


@pytest.mark.parametrize(
    ("sig", "status", "ignore_sigint"),
    [
        (signal.SIGINT, 130, False),
        (signal.SIGTERM, 143, False),
        (signal.SIGTERM, 143, True),
    ],
    ids=["ctrl-c", "sigterm", "sigterm-in-a-background-job"],
)
def test_a_stop_while_create_answers_are_arriving_waits_for_them_and_records_them(
    data: Path, tmp_path: Path, sig: signal.Signals, status: int, ignore_sigint: bool
) -> None:
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as server:
        # Every import is made at once; its answer then takes 4 s to arrive.
        server.faults.slow_body("imports.create", seconds=4.0)
        manifest = tmp_path / "m.json"
        process = _start(
            server,
            tmp_path,
            *("import", "data", "--manifest", str(manifest), *FAST),
            ignore_sigint=ignore_sigint,
        )
        # The worst moment: the server has made all three imports, no answer is complete.
        wait_until(lambda: server.counters.jobs_created == 3, process, "three imports made")
        assert set(_states(manifest).values()) == {"started"}  # written ahead of the bodies
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == status, stderr
        assert "Stopping: waiting up to 10s for the server's answer to 3 upload(s)" in stderr
        assert set(_states(manifest).values()) == {"in_flight"}

        result = invoke(
            ["import", "data", "--manifest", str(manifest), "--json", *FAST], _env(server)
        )
        assert result.exit_code == 0, result.output
        assert all(r["resumed"] for r in _results(result.stdout).values())
        assert server.counters.jobs_created == 3
        assert server.counters.requests[CREATES] == 3
        assert _tables(server) == ["parks", "stores", "trees"]


def test_a_sigterm_whose_answers_do_not_come_in_time_leaves_them_unknown_and_held(
    data: Path, tmp_path: Path
) -> None:
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as server:
        server.faults.slow_body("imports.create", seconds=6.0, count=3)
        manifest = tmp_path / "m.json"
        args = ["import", "data", "--manifest", str(manifest), "--stop-grace", "0.2", *FAST]
        process = _start(server, tmp_path, *args)
        wait_until(lambda: server.counters.jobs_created == 3, process, "three imports made")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        assert set(_states(manifest).values()) == {"unknown"}
        assert "3 upload(s) got no answer from the server and may have been imported" in stderr
        assert stdout.count("unknown") >= 3

        held = invoke(
            ["import", "data", "--manifest", str(manifest), "--json", *FAST], _env(server)
        )
        assert held.exit_code == 1
        assert {r["state"] for r in _results(held.stdout).values()} == {"held"}
        assert server.counters.requests[CREATES] == 3
        assert server.counters.jobs_created == 3
        assert _tables(server) == ["parks", "stores", "trees"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_signal_stops_at_once_and_the_written_ahead_records_hold_the_sources(
    data: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as server:
        server.faults.slow_body("imports.create", seconds=8.0, count=3)
        manifest = tmp_path / "m.json"
        args = ["import", "data", "--manifest", str(manifest), "--stop-grace", "600", *FAST]
        process = _start(server, tmp_path, *args)
        wait_until(lambda: server.counters.jobs_created == 3, process, "three imports made")
        process.send_signal(sig)
        lines: queue.Queue[str] = queue.Queue()
        assert process.stderr is not None
        reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stderr or ()])
        reader.start()
        while "Stopping: waiting up to 600s" not in lines.get(timeout=30):
            pass
        process.send_signal(sig)  # the grace is 600 s: only a stop at once ends it soon
        process.wait(timeout=30)
        reader.join(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        said = "".join(iter_queue(lines))
        assert process.returncode == (130 if sig is signal.SIGINT else 143), said
        assert set(_states(manifest).values()) <= {"started", "unknown"}

        again = ["import", "data", "--manifest", str(manifest), "--json", *FAST]
        held = invoke(again, _env(server))
        assert held.exit_code == 1
        assert {r["state"] for r in _results(held.stdout).values()} == {"held"}
        assert server.counters.requests[CREATES] == 3
        assert server.counters.jobs_created == 3


def test_a_sigterm_during_an_upload_body_stops_it_and_a_rerun_uploads_it(
    data: Path, tmp_path: Path
) -> None:
    big = data / "big.csv"
    with big.open("w") as out:
        out.write("name\n")
        out.writelines(f"{i:08d}{'x' * 1000}\n" for i in range(48_000))  # 48 MB
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as server:
        # The server takes the headers, then reads nothing for a while: the client can send
        # only what the socket buffers hold, far less than the file.
        server.faults.latency(3.0, group="imports.create")
        manifest = tmp_path / "m.json"
        args = ["import", "data/big.csv", "--manifest", str(manifest), *FAST]
        process = _start(server, tmp_path, *args)

        def sending() -> bool:  # the headers are in, and the body has begun
            return server.counters.requests.get(CREATES) == 1 and manifest.exists()

        wait_until(sending, process, "the upload")
        assert _states(manifest) == {"data/big.csv": "started"}
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        # Cut off mid-body, the server cannot have made the import: uploaded again.
        assert _states(manifest) == {"data/big.csv": "pending"}
        server.faults.clear()
        big.write_text("name\nsmall\n")
        result = invoke(["import", "data/big.csv", "--manifest", str(manifest)], _env(server))
        assert result.exit_code == 0, result.output
        assert server.counters.jobs_created == 1
        assert _states(manifest) == {"data/big.csv": "done"}


def test_a_sigkill_at_the_worst_moment_duplicates_nothing_on_the_rerun(
    data: Path, tmp_path: Path
) -> None:
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as server:
        # Two of the three answers are slow; the third comes at once and is recorded.
        server.faults.slow_body("imports.create", seconds=6.0, count=2)
        manifest = tmp_path / "m.json"
        process = _start(server, tmp_path, "import", "data", "--manifest", str(manifest), *FAST)

        def moment() -> bool:
            states = _states(manifest) if manifest.exists() else {}
            answered = [s for s in states.values() if s in ("in_flight", "done")]
            return server.counters.jobs_created == 3 and len(answered) == 1

        wait_until(moment, process, "three imports made and one answer recorded")
        process.kill()  # SIGKILL: no handler runs, nothing more is written
        process.communicate(timeout=30)
        states = _states(manifest)
        started = sorted(label for label, state in states.items() if state == "started")
        assert len(started) == 2, states

        env = _env(server)
        rerun = invoke(["import", "data", "--manifest", str(manifest), "--json", *FAST], env)
        assert rerun.exit_code == 1, rerun.output
        outcomes = _results(rerun.stdout)
        assert sorted(k for k, r in outcomes.items() if r["state"] == "held") == started
        assert "an earlier run was stopped after its upload began" in rerun.stderr
        assert "--retry-unknown" in rerun.stderr
        assert server.counters.requests[CREATES] == 3
        assert server.counters.jobs_created == 3
        assert _tables(server) == ["parks", "stores", "trees"]  # none twice

        retried = invoke(
            ["import", "data", "--manifest", str(manifest), "--retry-unknown", "--json", *FAST],
            env,
        )
        assert retried.exit_code == 0, retried.output
        states_now = {k: r["state"] for k, r in _results(retried.stdout).items()}
        assert {k: states_now[k] for k in started} == dict.fromkeys(started, "complete")
        assert server.counters.requests[CREATES] == 5
        assert server.counters.jobs_created == 5


def test_a_manifest_in_use_by_another_run_is_refused_before_any_upload(
    server: LocalCarto, env: dict[str, str | None], data: Path, tmp_path: Path
) -> None:
    manifest = str(tmp_path / "m.json")
    other_run = ManifestLock(manifest)
    other_run.acquire()
    try:
        result = invoke(["import", "data", "--manifest", manifest, *FAST], env)
    finally:
        other_run.release()
    assert result.exit_code == 2
    assert "is in use by another carto-async run" in result.stderr
    assert server.counters.requests == {}
    again = invoke(["import", "data", "--manifest", manifest, *FAST], env)
    assert again.exit_code == 0, again.output
    assert not os.path.exists(f"{manifest}.lock")


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
    slow_server: LocalCarto, clock: HeldClock, data: Path, tmp_path: Path
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
    clock.release()
    second = invoke(["import", "data/stores.csv", "--manifest", manifest, "--json", *FAST], env)
    assert second.exit_code == 0
    assert _results(second.stdout)["data/stores.csv"]["resumed"] is True
    assert slow_server.counters.requests[CREATES] == 1


def test_without_a_manifest_imports_left_running_are_saved_to_a_new_one(
    slow_server: LocalCarto, clock: HeldClock, data: Path, tmp_path: Path
) -> None:
    first = invoke(["import", "data/stores.csv", "--timeout", "0.2", *FAST], _env(slow_server))
    assert first.exit_code == 1
    (saved,) = tmp_path.glob("carto-async-manifest-*.json")
    assert f"re-run the same command with --manifest {saved}" in first.stderr
    clock.release()
    second = invoke(
        ["import", "data/stores.csv", "--manifest", str(saved), *FAST], _env(slow_server)
    )
    assert second.exit_code == 0
    assert slow_server.counters.requests[CREATES] == 1


def iter_queue(lines: queue.Queue[str]) -> list[str]:
    """What is left in ``lines``, without waiting."""
    out = []
    while not lines.empty():
        out.append(lines.get_nowait())
    return out


@pytest.mark.parametrize("terminated", [False, True], ids=["ctrl-c", "sigterm"])
def test_a_signal_s_keyboardinterrupt_wrapped_by_a_task_group_is_still_a_stop(
    monkeypatch: pytest.MonkeyPatch, terminated: bool
) -> None:
    # A second signal raises KeyboardInterrupt wherever the main thread is; inside a task of
    # a task group it comes out as an exception group, which must stop the run the same way
    # (not escape to click as "Aborted!" with status 1).
    run = ImportRun(
        Credentials("demo", KEY, "http://127.0.0.1:9/user/demo"),
        [],
        settings=Settings(),
        display=Display(quiet=True),
        save_leftovers=False,
    )
    run.terminated = terminated

    async def stopped_inside_a_task() -> None:
        raise BaseExceptionGroup("tasks", [KeyboardInterrupt()])

    monkeypatch.setattr(run, "_main", stopped_inside_a_task)
    assert run.run() == (143 if terminated else 130)
    assert run.interrupted

    async def failed_inside_a_task() -> None:
        raise BaseExceptionGroup("tasks", [KeyboardInterrupt(), ValueError("boom")])

    monkeypatch.setattr(run, "_main", failed_inside_a_task)
    with pytest.raises(BaseExceptionGroup):
        run.run()
