"""#3 Upload memory: peak RSS of a client process while it uploads one big file.

Each upload runs in a fresh child process: it imports its client, builds it, uploads a tiny
file as a warm-up (imports, threads, connection), then resets its peak RSS
(``/proc/self/clear_refs``; a 1 ms sampler of ``VmRSS`` where that is not allowed), uploads the
big file and reports ``VmHWM`` minus the RSS it had just before. LocalCarto runs in another
child process so its memory does not count.

LocalCarto keeps CARTO's default ``max_file_size`` (150 MiB): a bigger file is received in full
and then fails with error 6666 ("Dataset too big"), as on CARTO's free plan. Only the upload
is measured; nobody waits for the import.

    python -m benchmarks.upload_memory --upload-mib 128 1024
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import (
    REPO_ROOT,
    WORK_DIR,
    Table,
    child_env,
    median,
    scratch_dir,
    verdict,
    work_dir,
)
from benchmarks._data import make_big_csv, make_csv_files
from benchmarks._server import local_carto_process

__all__ = ["CLIENTS", "add_arguments", "main", "run"]

MIB = 2**20
#: The goal: carto_async's peak above its baseline, whatever the file size.
BUDGET = 64 * MIB

CLIENTS = {
    "async": "carto_async async (imports.upload)",
    "sync": "carto_async sync (imports.upload)",
    "carto-python": "carto-python FileImportJob.run",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("upload memory (#3)")
    g.add_argument(
        "--upload-mib",
        type=int,
        nargs="+",
        default=[128, 1024],
        help="file sizes in MiB, generated once under benchmarks/_work/ (128 1024)",
    )
    g.add_argument("--memory-repeat", type=int, default=3, help="runs per client and size (3)")
    g.add_argument(
        "--memory-clients",
        nargs="+",
        choices=sorted(CLIENTS),
        default=list(CLIENTS),
        help="clients to measure (all)",
    )


# -- the child: measure one upload ----------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for row in f:
            if row.startswith(field + ":"):
                return int(row.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


class PeakRSS:
    """Peak resident memory from now on, in bytes, above the RSS at :meth:`start`."""

    def __init__(self) -> None:
        self.method = "VmHWM after clear_refs"
        self.baseline = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        except OSError:
            self.method = "VmRSS sampled every 1 ms"
            self._thread = threading.Thread(target=self._sample, daemon=True)
        self.baseline = _status_kib("VmRSS") * 1024
        self._peak = self.baseline
        if self._thread is not None:
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, _status_kib("VmRSS") * 1024)

    def stop(self) -> int:
        """The peak above the baseline, in bytes."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            return self._peak - self.baseline
        return _status_kib("VmHWM") * 1024 - self.baseline


def _measure_child(
    client: str, base_url: str, username: str, key: str, big: Path, tiny: Path
) -> dict[str, Any]:
    """In the child: warm up with ``tiny``, then measure the upload of ``big``."""
    peak = PeakRSS()
    timing: dict[str, float] = {}

    def begin() -> None:
        peak.start()
        timing["start"] = time.perf_counter()

    def end() -> None:
        timing["seconds"] = time.perf_counter() - timing["start"]
        timing["above"] = peak.stop()

    if client == "async":
        import anyio  # noqa: PLC0415 - each child imports only its own client

        from carto_async import AsyncCarto  # noqa: PLC0415

        async def main() -> None:
            async with AsyncCarto(username, key, base_url, max_concurrent_imports=None) as carto:
                await carto.imports.upload(tiny)
                begin()
                await carto.imports.upload(big)
                end()

        anyio.run(main)
    elif client == "sync":
        from carto_async import Carto  # noqa: PLC0415

        with Carto(username, key, base_url, max_concurrent_imports=None) as carto:
            carto.imports.upload(tiny)
            begin()
            carto.imports.upload(big)
            end()
    elif client == "carto-python":
        from benchmarks import _carto_python as cp  # noqa: PLC0415

        with cp.auth_client(base_url, key) as auth:
            cp.upload_only(tiny, auth)
            begin()
            cp.upload_only(big, auth)
            end()
    else:
        raise ValueError(f"unknown client {client!r}")
    return {
        "client": client,
        "baseline": peak.baseline,
        "above": int(timing["above"]),
        "seconds": timing["seconds"],
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "method": peak.method,
    }


def _run_child(client: str, srv: Any, big: Path, tiny: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.upload_memory",
            "--child",
            json.dumps(
                {
                    "client": client,
                    "base_url": srv.base_url,
                    "username": srv.username,
                    "key": srv.api_key,
                    "big": str(big),
                    "tiny": str(tiny),
                }
            ),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_env(),
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} upload child failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the parent -----------------------------------------------------------------------------


def _fit_sizes(sizes_mib: Sequence[int]) -> tuple[list[int], str]:
    """Scale the sizes down if the disk cannot hold the files plus the server's copy."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(WORK_DIR).free
    existing = {p.name: p.stat().st_size for p in (WORK_DIR / "upload_memory").glob("*.csv")}
    needed = sum(s * MIB for s in sizes_mib if existing.get(f"big_{s}mib.csv") != s * MIB)
    # The server keeps at most max_file_size (150 MiB) of an upload on disk; leave 2 GiB spare.
    margin = 150 * MIB + 2 * 2**30
    if needed + margin <= free:
        return list(sizes_mib), ""
    room = max(free - margin, 0) // MIB
    scaled = [max(1, min(s, int(room // max(len(sizes_mib), 1)))) for s in sizes_mib]
    note = (
        f"NOTE: only {free / 2**30:.1f} GiB free on disk: sizes scaled down from "
        f"{list(sizes_mib)} MiB to {scaled} MiB"
    )
    return scaled, note


def run(args: argparse.Namespace) -> str:
    """Measure every client at every size, print the table and the goal, return that text."""
    sizes, note = _fit_sizes(args.upload_mib)
    with scratch_dir("upload_memory") as scratch:
        return _run(args, sizes, note, scratch)


def _run(args: argparse.Namespace, sizes: list[int], note: str, scratch: Path) -> str:
    # The big files are kept between runs: writing 1 GiB takes a while.
    directory = work_dir("upload_memory")
    tiny = make_csv_files(scratch / "tiny", 1, rows=10)[0]
    bigs = {s: make_big_csv(directory / f"big_{s}mib.csv", s * MIB) for s in sizes}
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with local_carto_process(import_slots=10_000) as srv:
        for _ in range(args.memory_repeat):
            for size in sizes:
                for client in args.memory_clients:
                    got = _run_child(client, srv, bigs[size], tiny)
                    results.setdefault((client, size), []).append(got)
    table = Table(
        ["client", "file", "runs", "peak above baseline", "min-max MiB", "baseline RSS",
         "upload s", "MiB/s"],
        title=(
            "#3 upload memory: peak RSS of the client process above its RSS just before the "
            f"upload, {args.memory_repeat} runs, medians; LocalCarto in another process"
        ),
    )  # fmt: skip
    methods: set[str] = set()
    worst: dict[str, float] = {}
    for (client, size), rs in results.items():
        above = [r["above"] for r in rs]
        secs = median([r["seconds"] for r in rs])
        methods.update(r["method"] for r in rs)
        worst[client] = max(worst.get(client, 0.0), *above)
        table.add(
            [
                CLIENTS[client],
                f"{size} MiB",
                len(rs),
                f"{median(above) / MIB:.1f} MiB",
                f"{min(above) / MIB:.1f}-{max(above) / MIB:.1f}",
                f"{median([r['baseline'] for r in rs]) / MIB:.1f} MiB",
                f"{secs:.2f}",
                f"{size / secs:.0f}",
            ]
        )
    lines = [table.render(), ""]
    if note:
        lines.append(note)
    lines += [
        f"peak measured with {', '.join(sorted(methods))}; the import of a file above LocalCarto's "
        "max_file_size (150 MiB, CARTO's default) fails with 6666 after the upload, which is "
        "what is measured",
        "",
    ]
    for client in ("async", "sync"):
        if client in worst:
            w = worst[client]
            gap = "" if w < BUDGET else f" (by {(w - BUDGET) / MIB:.1f} MiB)"
            lines.append(
                f"goal: {CLIENTS[client]} under 64 MiB above baseline at every size "
                f"(worst run {w / MIB:.1f} MiB) -> {verdict(w < BUDGET)}{gap}"
            )
    if "carto-python" in worst:
        lines.append(
            f"carto-python (reported, no goal): worst run {worst['carto-python'] / MIB:.1f} MiB "
            "above baseline"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.upload_memory`` (``--child <json>`` measures one upload)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        spec = json.loads(argv[1])
        got = _measure_child(
            spec["client"],
            spec["base_url"],
            spec["username"],
            spec["key"],
            Path(spec["big"]),
            Path(spec["tiny"]),
        )
        print(json.dumps(got), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
