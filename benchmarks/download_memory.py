"""#5 Download memory: peak RSS of a client process while it streams one big body into a file.

The body comes from a tiny HTTP server in its own child process (a CSV export of the asked
size, ``Content-Length`` known, served from one repeated 1 MiB block), so that neither the
server's memory nor its speed counts: LocalCarto's SQL API builds a result in memory before it
sends it, which is not what is measured here. Each download runs in a fresh child process: it
builds its client, downloads 1 MiB as a warm-up (imports, threads, connection), resets its
peak RSS (see :class:`benchmarks.upload_memory.PeakRSS`), downloads the big body into a file,
and reports ``VmHWM`` minus the RSS it had just before. The file is checked (size) and removed.

carto_async (``transport.download``: a temporary name, renamed when complete) is measured side
by side with raw httpx streaming (``client.stream`` + ``iter_bytes`` written to a file).

    python -m benchmarks.download_memory --download-mib 128 1024
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from benchmarks._common import REPO_ROOT, Table, child_env, median, scratch_dir, verdict
from benchmarks.upload_memory import PeakRSS

__all__ = ["CLIENTS", "add_arguments", "main", "run"]

MIB = 2**20
#: The goal: carto_async's peak above its baseline, whatever the body size.
BUDGET = 64 * MIB
KEY = "bench-download-key"

CLIENTS = {
    "async": "carto_async async (transport.download)",
    "sync": "carto_async sync (transport.download)",
    "httpx-async": "raw httpx.AsyncClient.stream",
    "httpx-sync": "raw httpx.Client.stream",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("download memory (#5)")
    g.add_argument(
        "--download-mib",
        type=int,
        nargs="+",
        default=[128, 1024],
        help="body sizes in MiB (128 1024)",
    )
    g.add_argument("--download-repeat", type=int, default=3, help="runs per client and size (3)")
    g.add_argument(
        "--download-clients",
        nargs="+",
        choices=sorted(CLIENTS),
        default=list(CLIENTS),
        help="clients to measure (all)",
    )


# -- the server: N bytes of CSV ---------------------------------------------------------------


def _block() -> bytes:
    rows = []
    n = 0
    size = 0
    while size < MIB:
        row = f"{n},row {n},{n * 0.5:.1f},POINT({n % 360 - 180} {n % 180 - 90})\n"
        rows.append(row)
        size += len(row)
        n += 1
    return "".join(rows).encode()[:MIB]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    block = _block()

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        size = int(query.get("bytes", ["0"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8; header=present")
        self.send_header("Content-Disposition", "attachment; filename=cartodb-query.csv")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        view = memoryview(self.block)
        left = size
        while left > 0:
            n = min(left, len(view))
            self.wfile.write(view[:n])
            left -= n

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve() -> None:
    """In the server child: print the port, serve until stdin closes."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    sys.stdin.read()
    server.shutdown()


@contextmanager
def body_server() -> Iterator[str]:
    """The base URL of a child process serving ``/api/v2/sql?bytes=N``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.download_memory", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}/user/bench"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# -- the child: measure one download ----------------------------------------------------------


def _measure_child(client: str, base_url: str, size: int, target: Path) -> dict[str, Any]:
    peak = PeakRSS()
    timing: dict[str, float] = {}
    url = f"{base_url}/api/v2/sql"

    def begin() -> None:
        peak.start()
        timing["start"] = time.perf_counter()

    def end() -> None:
        timing["seconds"] = time.perf_counter() - timing["start"]
        timing["above"] = peak.stop()

    if client in ("async", "sync"):
        from carto_async._core.http import RequestSpec, Service  # noqa: PLC0415

        def spec(n: int) -> RequestSpec:
            # The key goes as ?api_key=, as the raw httpx clients send it.
            params = {"q": "select * from big", "format": "csv", "bytes": str(n)}
            return RequestSpec("GET", "/api/v2/sql", Service.SQL, params=params)

    if client == "async":
        import anyio  # noqa: PLC0415 - each child imports only its own client

        from carto_async import AsyncCarto  # noqa: PLC0415

        async def main() -> None:
            async with AsyncCarto("bench", KEY, base_url) as carto:
                await carto._transport.download(spec(MIB), target)
                begin()
                await carto._transport.download(spec(size), target)
                end()

        anyio.run(main)
    elif client == "sync":
        from carto_async import Carto  # noqa: PLC0415

        with Carto("bench", KEY, base_url) as carto:
            carto._transport.download(spec(MIB), target)
            begin()
            carto._transport.download(spec(size), target)
            end()
    elif client == "httpx-async":
        import anyio  # noqa: PLC0415
        import httpx  # noqa: PLC0415

        async def raw(http: httpx.AsyncClient, n: int) -> None:
            params = {"q": "select * from big", "format": "csv", "bytes": str(n), "api_key": KEY}
            async with http.stream("GET", url, params=params) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)

        async def main_raw() -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                await raw(http, MIB)
                begin()
                await raw(http, size)
                end()

        anyio.run(main_raw)
    elif client == "httpx-sync":
        import httpx  # noqa: PLC0415

        def raw_sync(http: httpx.Client, n: int) -> None:
            params = {"q": "select * from big", "format": "csv", "bytes": str(n), "api_key": KEY}
            with http.stream("GET", url, params=params) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)

        with httpx.Client(timeout=60) as http:
            raw_sync(http, MIB)
            begin()
            raw_sync(http, size)
            end()
    else:
        raise ValueError(f"unknown client {client!r}")
    written = target.stat().st_size
    target.unlink()
    if written != size:
        raise RuntimeError(f"{client} wrote {written} bytes, expected {size}")
    return {
        "client": client,
        "baseline": peak.baseline,
        "above": int(timing["above"]),
        "seconds": timing["seconds"],
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "method": peak.method,
    }


def _run_child(client: str, base_url: str, size: int, target: Path) -> dict[str, Any]:
    args = {"client": client, "base_url": base_url, "size": size, "target": str(target)}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.download_memory", "--child", json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_env(),
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} download child failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the parent -------------------------------------------------------------------------------


def _fit_sizes(sizes_mib: Sequence[int], directory: Path) -> tuple[list[int], str]:
    free = shutil.disk_usage(directory).free
    margin = 2 * 2**30
    biggest = max(sizes_mib) * MIB
    if biggest + margin <= free:
        return list(sizes_mib), ""
    room = max(free - margin, MIB) // MIB
    scaled = [max(1, min(s, int(room))) for s in sizes_mib]
    return scaled, (
        f"NOTE: only {free / 2**30:.1f} GiB free on disk: sizes scaled down from "
        f"{list(sizes_mib)} MiB to {scaled} MiB"
    )


def run(args: argparse.Namespace) -> str:
    """Measure every client at every size, print the table and the goal, return that text."""
    with scratch_dir("download_memory") as scratch:
        sizes, note = _fit_sizes(args.download_mib, scratch)
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        with body_server() as base_url:
            for _ in range(args.download_repeat):
                for size in sizes:
                    for client in args.download_clients:
                        got = _run_child(client, base_url, size * MIB, scratch / "download.csv")
                        results.setdefault((client, size), []).append(got)
    table = Table(
        ["client", "body", "runs", "peak above baseline", "min-max MiB", "baseline RSS",
         "download s", "MiB/s"],
        title=(
            "#5 download memory: peak RSS of the client process above its RSS just before the "
            f"download, {args.download_repeat} runs, medians; the server in another process"
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
    lines += [f"peak measured with {', '.join(sorted(methods))}", ""]
    for client in ("async", "sync"):
        if client in worst:
            w = worst[client]
            gap = "" if w < BUDGET else f" (by {(w - BUDGET) / MIB:.1f} MiB)"
            lines.append(
                f"goal: {CLIENTS[client]} under 64 MiB above baseline at every size "
                f"(worst run {w / MIB:.1f} MiB) -> {verdict(w < BUDGET)}{gap}"
            )
    for client in ("httpx-async", "httpx-sync"):
        if client in worst:
            lines.append(
                f"{CLIENTS[client]} (reported, no goal): worst run "
                f"{worst[client] / MIB:.1f} MiB above baseline"
            )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.download_memory`` (``--child <json>`` measures one download,
    ``--serve`` is the body server)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        _serve()
        return
    if argv[:1] == ["--child"]:
        spec = json.loads(argv[1])
        got = _measure_child(spec["client"], spec["base_url"], spec["size"], Path(spec["target"]))
        print(json.dumps(got), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
