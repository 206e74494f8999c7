"""#10 SQL download: a big result through ``sql.download`` and ``copy_to`` against raw httpx.

The two public paths users call to save a query's result to a file, side by side in one run
with raw httpx streaming the same request (same URL, parameters and Basic auth, ``stream`` +
``iter_bytes`` written to a file) and with carto-python:

* SQL API: ``carto.sql.download(q, path, format="csv")``; raw httpx ``GET /api/v2/sql``;
  carto-python ``SQLClient.send(q, format="csv")``, which returns the whole body in memory
  (carto-python has no streamed SQL API download), written to the file afterwards.
* COPY: ``carto.sql.copy_to("COPY (q) TO STDOUT ...", path)``; raw httpx
  ``GET /api/v2/sql/copyto``; carto-python ``CopySQLClient.copyto_file_path``.

The query makes its rows on the server (``generate_series`` and a 1,000-character text per
row, about 1 KiB a row), so nothing is uploaded first. Each download gets a fresh LocalCarto
child process, and runs in a fresh child process of its own, as in benchmark #5 (same peak-RSS
machinery): it builds its client, downloads a 1 MiB result as a warm-up, resets its peak RSS,
downloads the big result into a file under ``benchmarks/_work/`` and reports wall time, the
time to the first body bytes (the SDK's ``progress`` callback, raw httpx's first chunk; not
available for carto-python), CPU time (user + system, every thread) and peak RSS above its
baseline. Throughput is given end to end and after the first byte (the transfer alone, which
is what the client can change). The file's size is checked, then it is removed. The server's
peak RSS above its baseline is measured the same way for each download
(``/proc/<pid>/clear_refs`` of the LocalCarto child): LocalCarto runs the query, spools its
rows to disk and formats them chunk by chunk as they are sent, so its memory should not grow
with the size. Sizes that would not fit in the machine's available memory (carto-python's
``SQLClient`` holds the whole body) are scaled down, and the output says so.

    python -m benchmarks.sql_download --sqldl-mib 1024
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import REPO_ROOT, Table, child_env, median, ratio, scratch_dir, verdict
from benchmarks.download_memory import BUDGET, _fit_sizes
from benchmarks.upload_memory import PeakRSS

__all__ = ["CLIENTS", "add_arguments", "copy_statement", "main", "rows_for", "run", "select"]

MIB = 2**20
#: Characters of the text column: with the row number, about 1 KiB per CSV row.
WIDTH = 1000
#: Memory per body byte assumed when checking that a size fits: LocalCarto streams (its
#: spool is on disk, about 100 MiB of memory at any size, see ``benchmarks/RESULTS.md``
#: section 10), so only carto-python's whole body counts; the run reports the real figures.
SERVER_FACTOR = 0
#: Read timeouts, the same for the SDK and raw httpx (carto-python has none). LocalCarto runs
#: the whole query (spooling its rows to disk) before the first byte, tens of seconds at
#: 1 GiB on a loaded machine: past the SDK's default 60 s for ``sql.download``, so every SQL
#: API client is given 600 s (``sql.download(..., timeout=600)``). ``copy_to``'s default is
#: already 5 hours.
SQL_TIMEOUT = 600.0
COPY_TIMEOUT = 5 * 3600.0

#: client -> (label, endpoint, the raw httpx client it is compared with).
CLIENTS: dict[str, tuple[str, str, str]] = {
    "sql-httpx-async": ("raw httpx.AsyncClient.stream", "sql", "sql-httpx-async"),
    "sql-async": ("carto_async async sql.download", "sql", "sql-httpx-async"),
    "sql-httpx-sync": ("raw httpx.Client.stream", "sql", "sql-httpx-sync"),
    "sql-sync": ("carto_async sync sql.download", "sql", "sql-httpx-sync"),
    "sql-carto-python": ("carto-python SQLClient.send (whole body)", "sql", "sql-httpx-sync"),
    "copy-httpx-async": ("raw httpx.AsyncClient.stream", "copy", "copy-httpx-async"),
    "copy-async": ("carto_async async sql.copy_to", "copy", "copy-httpx-async"),
    "copy-httpx-sync": ("raw httpx.Client.stream", "copy", "copy-httpx-sync"),
    "copy-sync": ("carto_async sync sql.copy_to", "copy", "copy-httpx-sync"),
    "copy-carto-python": ("carto-python CopySQLClient.copyto_file_path", "copy", "copy-httpx-sync"),
}  # fmt: skip

ENDPOINTS = {
    "sql": "SQL API GET /api/v2/sql?format=csv",
    "copy": "COPY TO GET /api/v2/sql/copyto (CSV, header)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("SQL download (#10)")
    g.add_argument(
        "--sqldl-mib",
        type=int,
        nargs="+",
        default=[1024],
        help="result sizes in MiB (1024); scaled down when the server could not hold them",
    )
    g.add_argument("--sqldl-repeat", type=int, default=1, help="runs per client and size (1)")
    g.add_argument(
        "--sqldl-clients",
        nargs="+",
        choices=list(CLIENTS),
        default=list(CLIENTS),
        help="clients to measure (all)",
    )


# -- the request ------------------------------------------------------------------------------


def rows_for(size: int) -> int:
    """Rows of :func:`select` for a CSV of about ``size`` bytes."""
    return max(1, size // (WIDTH + 8))


def select(rows: int) -> str:
    """A query that makes ``rows`` rows of about 1 KiB on the server."""
    return f"select i, repeat('x', {WIDTH}) as pad from generate_series(1, {rows}) as g(i)"


def copy_statement(rows: int) -> str:
    """``COPY (select(rows)) TO STDOUT`` as CSV with a header (the SQL API's CSV has one)."""
    return f"COPY ({select(rows)}) TO STDOUT WITH (FORMAT csv, HEADER true)"


# -- the child: measure one download ----------------------------------------------------------


class _Probe:
    """Wall time, time to the first byte, CPU time (user + system, every thread) and peak RSS
    of one download."""

    def __init__(self) -> None:
        self.peak = PeakRSS()
        self._start = self._cpu_start = 0.0
        self.seconds = self.cpu_seconds = 0.0
        self.first_byte = math.nan
        self.above = 0
        self._running = False

    def received(self, size: int, total: int | None = None) -> None:
        """Called as bytes arrive (a ``progress`` callback): notes when the first came."""
        if self._running and size > 0 and math.isnan(self.first_byte):
            self.first_byte = time.perf_counter() - self._start

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def begin(self) -> None:
        self.peak.start()
        self._cpu_start = self._cpu()
        self._start = time.perf_counter()
        self._running = True

    def end(self) -> None:
        self.seconds = time.perf_counter() - self._start
        self._running = False
        self.cpu_seconds = self._cpu() - self._cpu_start
        self.above = self.peak.stop()


def _timed(download: Callable[[int], None], warmup: int, big: int, probe: _Probe) -> None:
    download(warmup)
    probe.begin()
    download(big)
    probe.end()


async def _timed_async(
    download: Callable[[int], Awaitable[None]], warmup: int, big: int, probe: _Probe
) -> None:
    await download(warmup)
    probe.begin()
    await download(big)
    probe.end()


def _measure(
    client: str, base_url: str, username: str, key: str, target: Path, warmup: int, big: int
) -> _Probe:
    """Build ``client``, download ``warmup`` rows, then ``big`` rows measured, into ``target``."""
    probe = _Probe()
    endpoint = CLIENTS[client][1]
    url = f"{base_url}/api/v2/sql" + ("/copyto" if endpoint == "copy" else "")
    timeout = SQL_TIMEOUT if endpoint == "sql" else COPY_TIMEOUT

    def params(rows: int) -> dict[str, str]:
        if endpoint == "sql":
            return {"q": select(rows), "format": "csv"}
        return {"q": copy_statement(rows)}

    if client in ("sql-async", "copy-async"):
        import anyio  # noqa: PLC0415 - each child imports only its own client

        from carto_async import AsyncCarto  # noqa: PLC0415

        async def main() -> None:
            async with AsyncCarto(username, key, base_url) as carto:

                async def download(rows: int) -> None:
                    if endpoint == "sql":
                        await carto.sql.download(
                            select(rows),
                            target,
                            format="csv",
                            timeout=SQL_TIMEOUT,
                            progress=probe.received,
                        )
                    else:
                        await carto.sql.copy_to(
                            copy_statement(rows), target, progress=probe.received
                        )

                await _timed_async(download, warmup, big, probe)

        anyio.run(main)
    elif client in ("sql-sync", "copy-sync"):
        from carto_async import Carto  # noqa: PLC0415

        with Carto(username, key, base_url) as carto:

            def download(rows: int) -> None:
                if endpoint == "sql":
                    carto.sql.download(
                        select(rows),
                        target,
                        format="csv",
                        timeout=SQL_TIMEOUT,
                        progress=probe.received,
                    )
                else:
                    carto.sql.copy_to(copy_statement(rows), target, progress=probe.received)

            _timed(download, warmup, big, probe)
    elif client.endswith("httpx-async"):
        import anyio  # noqa: PLC0415
        import httpx  # noqa: PLC0415

        async def main_raw() -> None:
            limits = httpx.Timeout(timeout, connect=10.0)
            async with httpx.AsyncClient(timeout=limits, auth=(username, key)) as http:

                async def download(rows: int) -> None:
                    async with http.stream("GET", url, params=params(rows)) as response:
                        response.raise_for_status()
                        with target.open("wb") as out:
                            async for chunk in response.aiter_bytes():
                                probe.received(len(chunk))
                                out.write(chunk)

                await _timed_async(download, warmup, big, probe)

        anyio.run(main_raw)
    elif client.endswith("httpx-sync"):
        import httpx  # noqa: PLC0415

        limits = httpx.Timeout(timeout, connect=10.0)
        with httpx.Client(timeout=limits, auth=(username, key)) as http:

            def download(rows: int) -> None:
                with http.stream("GET", url, params=params(rows)) as response:
                    response.raise_for_status()
                    with target.open("wb") as out:
                        for chunk in response.iter_bytes():
                            probe.received(len(chunk))
                            out.write(chunk)

            _timed(download, warmup, big, probe)
    elif client.endswith("carto-python"):
        from benchmarks._carto_python import auth_client, sql_client  # noqa: PLC0415
        from benchmarks._common import quiet_warnings  # noqa: PLC0415

        with quiet_warnings():
            from carto.sql import CopySQLClient  # noqa: PLC0415

        with auth_client(base_url, key) as auth, quiet_warnings():
            sql, copy = sql_client(auth), CopySQLClient(auth)

            def download(rows: int) -> None:
                if endpoint == "sql":
                    # carto-python returns the whole body; the caller then writes it.
                    body = sql.send(select(rows), parse_json=False, do_post=False, format="csv")
                    target.write_bytes(body)
                else:
                    copy.copyto_file_path(copy_statement(rows), str(target))

            _timed(download, warmup, big, probe)
    else:
        raise ValueError(f"unknown client {client!r}")
    return probe


def _measure_child(spec: dict[str, Any]) -> dict[str, Any]:
    client, target, big = spec["client"], Path(spec["target"]), int(spec["rows"])
    probe = _measure(
        client, spec["base_url"], spec["username"], spec["key"], target, rows_for(MIB), big
    )
    written = target.stat().st_size
    target.unlink()
    if written < big * WIDTH:
        raise RuntimeError(f"{client} wrote {written} bytes for {big} rows of {WIDTH} characters")
    return {
        "client": client,
        "bytes": written,
        "seconds": probe.seconds,
        "cpu": probe.cpu_seconds,
        "first_byte": probe.first_byte,
        "above": int(probe.above),
        "baseline": probe.peak.baseline,
        "method": probe.peak.method,
    }


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.sql_download", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_env(),
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{spec['client']} download child failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the parent -------------------------------------------------------------------------------


def _status_bytes(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for row in f:
            if row.startswith(field + ":"):
                return int(row.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


class ServerPeak:
    """The peak RSS of the LocalCarto child during one download, above its RSS before it
    (``clear_refs`` resets the child's ``VmHWM`` to its RSS, the baseline; NaN where that is
    not allowed)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = 0
        self.ok = True

    def start(self) -> None:
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            self.baseline = _status_bytes(self.pid, "VmHWM")
        except OSError:
            self.ok = False

    def stop(self) -> float:
        if not self.ok:
            return float("nan")
        return float(_status_bytes(self.pid, "VmHWM") - self.baseline)


def _mem_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for row in f:
                if row.startswith("MemAvailable:"):
                    return int(row.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _fit_memory(sizes_mib: Sequence[int], clients: Sequence[str]) -> tuple[list[int], str]:
    """Sizes whose download the server (and carto-python's whole body) fit in memory."""
    available = _mem_available()
    if not available:
        return list(sizes_mib), ""
    # The server holds SERVER_FACTOR x the body; carto-python's SQLClient holds it twice.
    per_mib = SERVER_FACTOR + (2 if "sql-carto-python" in clients else 0)
    if not per_mib:
        return list(sizes_mib), ""
    room = (available - 2 * 2**30) // (per_mib * MIB)
    if max(sizes_mib) <= room:
        return list(sizes_mib), ""
    scaled = [max(1, min(s, int(room))) for s in sizes_mib]
    return scaled, (
        f"NOTE: {available / 2**30:.1f} GiB of memory available: carto-python's SQLClient "
        f"holds the whole body (about {per_mib}x its size), so sizes were scaled down from "
        f"{list(sizes_mib)} MiB to {scaled} MiB"
    )


def run(args: argparse.Namespace) -> str:
    """Measure every client at every size, print the table and the figures, return that text."""
    from benchmarks._server import local_carto_process  # noqa: PLC0415 - needs the extra

    clients = list(args.sqldl_clients)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with scratch_dir("sql_download") as scratch:
        sizes, disk_note = _fit_sizes(args.sqldl_mib, scratch)
        sizes, mem_note = _fit_memory(sizes, clients)
        for _ in range(args.sqldl_repeat):
            for size in sizes:
                for client in clients:
                    # A fresh server for each download: what an earlier download left in the
                    # server's heap must not hide (or add to) this one's peak.
                    with local_carto_process() as server:
                        spec = {
                            "client": client,
                            "base_url": server.base_url,
                            "username": server.username,
                            "key": server.api_key,
                            "rows": rows_for(size * MIB),
                            "target": str(scratch / "download.csv"),
                        }
                        peak = ServerPeak(server.pid)
                        peak.start()
                        got = _run_child(spec)
                        got["server"] = peak.stop()
                    results.setdefault((client, size), []).append(got)
    return _report(args, results, [n for n in (disk_note, mem_note) if n])


def _times(value: float) -> str:
    """``1.23x``, or ``n/a`` for NaN."""
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def _stats(rs: Sequence[dict[str, Any]]) -> dict[str, float]:
    first = median([r["first_byte"] for r in rs])
    size = median([r["bytes"] for r in rs])
    seconds = median([r["seconds"] for r in rs])
    return {
        "bytes": size,
        "seconds": seconds,
        "first": first,
        "speed": size / MIB / seconds,
        # After the first byte: the transfer alone, without the server building the body.
        "transfer": ratio(size / MIB, seconds - first),
        "cpu": median([r["cpu"] for r in rs]),
        "above": median([r["above"] for r in rs]),
        "worst": max(r["above"] for r in rs),
        "server": median([r["server"] for r in rs]),
    }


def _report(
    args: argparse.Namespace, results: dict[tuple[str, int], list[dict[str, Any]]], notes: list[str]
) -> str:
    table = Table(
        ["endpoint", "client", "body", "runs", "seconds", "first byte s", "MiB/s",
         "MiB/s after 1st byte", "x raw", "client CPU s", "CPU x raw",
         "client peak above baseline", "server peak above baseline"],
        title=(
            "#10 SQL download: a CSV result made on the server (about 1 KiB a row) saved to a "
            f"file, {args.sqldl_repeat} run(s), medians; each client in a fresh process, a "
            "fresh LocalCarto child process for each download"
        ),
    )  # fmt: skip
    stats = {key: _stats(rs) for key, rs in results.items()}
    methods = sorted({r["method"] for rs in results.values() for r in rs})

    def versus(client: str, size: int) -> dict[str, float] | None:
        raw = CLIENTS[client][2]
        return None if raw == client else stats.get((raw, size))

    for (client, size), s in stats.items():
        label, endpoint, _ = CLIENTS[client]
        base = versus(client, size)
        x_raw = "-" if base is None else _times(ratio(s["transfer"], base["transfer"]))
        cpu_x = "-" if base is None else _times(ratio(s["cpu"], base["cpu"]))
        table.add(
            [
                ENDPOINTS[endpoint].split(" GET")[0],
                label,
                f"{s['bytes'] / MIB:.0f} MiB",
                len(results[client, size]),
                f"{s['seconds']:.2f}",
                "n/a" if math.isnan(s["first"]) else f"{s['first']:.2f}",
                f"{s['speed']:.0f}",
                "n/a" if math.isnan(s["transfer"]) else f"{s['transfer']:.0f}",
                x_raw,
                f"{s['cpu']:.2f}",
                cpu_x,
                f"{s['above'] / MIB:.1f} MiB",
                f"{s['server'] / MIB:.0f} MiB",
            ]
        )
    lines = [table.render(), "", *notes]
    lines.append(f"client peak measured with {', '.join(methods)}; the server's with VmHWM")
    lines.append(
        "first byte: from the request to the first body bytes (the SDK's progress callback, "
        "raw httpx's first chunk; n/a for carto-python); x raw: MiB/s after the first byte "
        "against the raw httpx client of the same kind (async or sync)"
    )
    lines += [f"{name}: {text}" for name, text in ENDPOINTS.items()]
    lines.append("")
    for client in ("sql-async", "sql-sync", "copy-async", "copy-sync"):
        worst = [s["worst"] for (c, _), s in stats.items() if c == client]
        if worst:
            w = max(worst)
            gap = "" if w < BUDGET else f" (by {(w - BUDGET) / MIB:.1f} MiB)"
            lines.append(
                f"goal: {CLIENTS[client][0]} under 64 MiB above baseline at every size "
                f"(worst run {w / MIB:.1f} MiB) -> {verdict(w < BUDGET)}{gap}"
            )
    server: dict[tuple[str, int], list[float]] = {}
    for (client, size), s in stats.items():
        server.setdefault((CLIENTS[client][1], size), []).append(s["server"] / s["bytes"])
    for (endpoint, size), factors in server.items():
        lines.append(
            f"LocalCarto {ENDPOINTS[endpoint].split(' GET')[0]} at {size} MiB (reported): server "
            f"peak {min(factors):.2f}-{max(factors):.2f}x the body above its baseline (it spools "
            "the rows to disk and streams them)"
        )
    for (client, size), s in stats.items():
        base = versus(client, size)
        if base is not None:
            lines.append(
                f"{CLIENTS[client][0]} at {size} MiB (reported): "
                f"{_times(ratio(s['speed'], base['speed']))} raw httpx's MiB/s end to end, "
                f"{_times(ratio(s['transfer'], base['transfer']))} after the first byte, "
                f"{_times(ratio(s['cpu'], base['cpu']))} its client CPU"
            )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.sql_download`` (``--child <json>`` measures one download)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        print(json.dumps(_measure_child(json.loads(argv[1]))), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
