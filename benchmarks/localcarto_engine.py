"""#6 LocalCarto's engine: SQL API ``select 1`` requests per second, and a 100,000-row CSV import.

LocalCarto runs in a child process. The SQL figure is raw httpx (one keep-alive connection per
client thread) sending ``GET /api/v2/sql?q=select 1`` with the master key: what the server
answers per second, client included. The import figure is the wall time from the upload's first
byte to ``state == "complete"`` (the import walks its states in 0 s), and the server's peak RSS
during the import above its RSS just before (``VmHWM`` after clearing it through
``/proc/<pid>/clear_refs``; a 10 ms sampler of ``VmRSS`` where that is not allowed), after an
untimed 10-row import has loaded what the server loads once.

    python -m benchmarks.localcarto_engine --sql-requests 2000 --import-rows 100000
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import Table, median, scratch_dir
from benchmarks._data import csv_rows
from benchmarks._server import ServerProcess, local_carto_process

__all__ = ["add_arguments", "main", "run"]

MIB = 2**20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("LocalCarto engine (#5)")
    g.add_argument("--sql-requests", type=int, default=2000, help="requests per run (2000)")
    g.add_argument(
        "--sql-concurrency", type=int, nargs="+", default=[1, 8], help="client threads (1 8)"
    )
    g.add_argument("--import-rows", type=int, default=100_000, help="CSV rows (100000)")
    g.add_argument("--engine-repeat", type=int, default=3, help="runs (3)")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (independent of other load on the machine)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _PeakRSS:
    """Peak RSS of another process during a ``with`` block, above its RSS at entry."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cleared = False

    def __enter__(self) -> _PeakRSS:
        self.base_kib = _status_kib(self.pid, "VmRSS")
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            self._cleared = True
        except OSError:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_kib = max(self.peak_kib, _status_kib(self.pid, "VmRSS"))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._cleared:
            self.peak_kib = _status_kib(self.pid, "VmHWM")

    @property
    def above_base_mib(self) -> float:
        """Peak minus the RSS at entry, in MiB."""
        return max(0, self.peak_kib - self.base_kib) / 1024


def _sql_rps(server: ServerProcess, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, server CPU milliseconds per request)."""
    url = f"{server.base_url}/api/v2/sql"
    params = {"q": "select 1", "api_key": server.api_key}
    per_thread = max(1, requests // concurrency)

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(10):
                client.get(url, params=params).raise_for_status()
            barrier.wait()
            for _ in range(per_thread):
                client.get(url, params=params).raise_for_status()

    barrier = threading.Barrier(concurrency + 1)
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        barrier.wait()
        cpu = _cpu_seconds(server.pid)
        started = time.perf_counter()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(server.pid) - cpu
    total = per_thread * concurrency
    return total / elapsed, cpu * 1000 / total


def _make_csv(path: Path, rows: int) -> Path:
    rng = random.Random(1)
    with open(path, "w", encoding="ascii") as f:
        f.write("name,category,value,latitude,longitude\n")
        for start in range(0, rows, 10_000):
            f.write(csv_rows(rng, min(10_000, rows - start)))
    return path


def _import(server: ServerProcess, path: Path, table: str) -> tuple[float, float, float, int]:
    """(seconds, server CPU seconds, peak server MiB above baseline, rows) of one import.

    A 10-row file is imported first, untimed, so that what the server loads once (modules,
    threads) is in the baseline and not in the figure.
    """
    root = server.base_url
    warm = path.with_name("warm.csv")
    warm.write_text("name,latitude,longitude\n" + "a,1,2\n" * 10, encoding="ascii")
    with httpx.Client(timeout=600) as client:
        _run_import(client, server, warm, f"{table}_warm")
    with httpx.Client(timeout=600) as client, _PeakRSS(server.pid) as peak:
        cpu = _cpu_seconds(server.pid)
        started = time.perf_counter()
        state = _run_import(client, server, path, table)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(server.pid) - cpu
    count = httpx.get(
        f"{root}/api/v2/sql",
        params={"q": f"select count(*) from {state['table_name']}", "api_key": server.api_key},
    ).json()["rows"][0]["count"]
    return elapsed, cpu, peak.above_base_mib, int(count)


def _run_import(
    client: httpx.Client, server: ServerProcess, path: Path, table: str
) -> dict[str, Any]:
    root = server.base_url
    with open(path, "rb") as f:
        created = client.post(
            f"{root}/api/v1/imports",
            params={"api_key": server.api_key},
            files={"file": (f"{table}.csv", f, "text/csv")},
        )
    created.raise_for_status()
    job = created.json()["item_queue_id"]
    while True:
        state: dict[str, Any] = client.get(
            f"{root}/api/v1/imports/{job}", params={"api_key": server.api_key}
        ).json()
        if state["state"] in ("complete", "failure"):
            break
        time.sleep(0.02)
    if state["state"] != "complete":
        raise RuntimeError(f"import failed: {state.get('error_code')}")
    return state


def run(args: argparse.Namespace) -> str:
    """Run the benchmark; return its tables."""
    sql = Table(
        ["client threads", "requests", "req/s (median)", "server CPU ms/req (median)", "runs"],
        title="SQL API select 1",
    )
    imports = Table(
        ["rows", "seconds (median)", "server CPU s (median)", "peak server MiB (median)", "runs"],
        title="CSV import (lat/lon columns, type guessing on)",
    )
    with local_carto_process(import_processing_time=0) as server:
        for concurrency in args.sql_concurrency:
            runs = [
                _sql_rps(server, args.sql_requests, concurrency) for _ in range(args.engine_repeat)
            ]
            rate = median([r for r, _ in runs])
            cpu_ms = median([c for _, c in runs])
            sql.add([concurrency, args.sql_requests, f"{rate:.0f}", f"{cpu_ms:.2f}", len(runs)])
    with scratch_dir("engine") as directory:
        path = _make_csv(directory / "big.csv", args.import_rows)
        times, cpus, peaks = [], [], []
        for run_number in range(args.engine_repeat):
            # A fresh server per run, so that every run starts from the same memory.
            with local_carto_process(import_processing_time=0) as server:
                seconds, cpu, mib, count = _import(server, path, f"big_{run_number}")
            if count != args.import_rows:
                raise RuntimeError(f"imported {count} rows, expected {args.import_rows}")
            times.append(seconds)
            cpus.append(cpu)
            peaks.append(mib)
        imports.add(
            [
                args.import_rows,
                f"{median(times):.2f}",
                f"{median(cpus):.2f}",
                f"{median(peaks):.0f}",
                len(times),
            ]
        )
    text = "\n\n".join([sql.render(), imports.render()])
    note = "no goal: figures reported before/after the engine change in benchmarks/RESULTS.md"
    return "#6 LocalCarto engine\n\n" + text + "\n\n" + note


def main(argv: list[str] | None = None) -> str:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.localcarto_engine")
    add_arguments(parser)
    output = run(parser.parse_args(argv))
    print(output)
    return output


if __name__ == "__main__":
    main()
