"""#2 Per-request overhead: ``sql.query("select 1")`` against raw httpx sending the same request.

LocalCarto runs in a child process so its CPU work does not share the client's GIL; on a
2-core machine client and server still share the cores, so at concurrency 50 the figures are
for the pair, not the client alone.

The raw httpx clients send the identical request: the URL (with its ``q`` parameter) and the
headers (Basic auth, User-Agent, httpx's defaults) are captured from one SDK call, and the pool
limits and timeout match the SDK's. Both sides decode the JSON body.

The clients of one colour are compared in interleaved blocks: every client is opened and warmed
up, then each sends ``--block`` requests in turn (the order rotating from block to block) until
each has sent ``--requests``. Bursts of other work on the machine then hit every client alike.
Besides wall time, the CPU time of the client process per request is reported: it does not
depend on how busy the server or the rest of the machine is.

    python -m benchmarks.request_overhead --requests 2000 --concurrency 1 50
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx

from benchmarks import _carto_python as cp
from benchmarks._common import Table, median, quiet_warnings, ratio, verdict
from benchmarks._server import ServerProcess, local_carto_process
from carto_async import AsyncCarto, Carto

__all__ = ["add_arguments", "main", "run"]

QUERY = "select 1"
#: The SDK's default timeout.
SDK_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: The SDK's pool: ``max_concurrent_requests`` (64) connections, all kept alive.
SDK_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("per-request overhead (#2)")
    g.add_argument("--requests", type=int, default=2000, help="requests per run (2000)")
    g.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 50], help="concurrency levels (1 50)"
    )
    g.add_argument("--warmup", type=int, default=100, help="untimed requests per client (100)")
    g.add_argument(
        "--block", type=int, default=100, help="requests per client per interleaved block (100)"
    )
    g.add_argument("--overhead-repeat", type=int, default=3, help="runs (3)")


def _split(n: int, workers: int) -> list[int]:
    return [n // workers + (1 if i < n % workers else 0) for i in range(workers)]


# -- the request the SDK sends ------------------------------------------------------------


def sdk_request(srv: ServerProcess) -> tuple[str, dict[str, str]]:
    """The URL and headers of ``sql.query(QUERY)``, captured from a real SDK call."""
    seen: list[httpx.Request] = []
    with (
        httpx.Client(event_hooks={"request": [seen.append]}) as http,
        Carto(srv.username, srv.api_key, srv.base_url, http_client=http) as carto,
    ):
        carto.sql.query(QUERY)
    request = seen[-1]
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    return str(request.url), headers


#: Wall seconds and client-process CPU seconds (every thread) of one client's requests.
Timing = tuple[float, float]


def _count_repeats(notes: list[str], colour: str, c: int, retries: int, repeated: int) -> None:
    """Note the SDK's retries and the raw client's repeats (a kept-alive connection that the
    server closed as it was reused: the raw client sends such a request once more, the SDK
    retries a GET by its own rules). Both count in the timings, as they would for a user."""
    if retries:
        notes.append(f"carto_async {colour} at {c}: {retries} retries")
    if repeated:
        notes.append(f"raw httpx {colour} at {c}: {repeated} repeated")


def _blocks(n: int, block: int) -> list[int]:
    return [min(block, n - done) for done in range(0, n, block)]


def _rotated(names: Sequence[str], i: int) -> list[str]:
    k = i % len(names)
    return [*names[k:], *names[:k]]


# -- async: raw httpx.AsyncClient and AsyncCarto ----------------------------------------------


async def _async_batch(call: Callable[[], Any], n: int, concurrency: int) -> None:
    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    if concurrency == 1:
        await worker(n)
        return
    async with anyio.create_task_group() as tg:
        for count in _split(n, concurrency):
            tg.start_soon(worker, count)


async def _async_run(
    url: str,
    headers: dict[str, str],
    srv: ServerProcess,
    args: argparse.Namespace,
    c: int,
    notes: list[str],
) -> dict[str, Timing]:
    n, warmup = args.requests, args.warmup
    repeated = 0
    async with (
        httpx.AsyncClient(timeout=SDK_TIMEOUT, limits=SDK_LIMITS) as raw,
        AsyncCarto(srv.username, srv.api_key, srv.base_url) as carto,
    ):

        async def raw_call() -> Any:
            nonlocal repeated
            try:
                r = await raw.get(url, headers=headers)
            except httpx.TransportError:  # a kept-alive connection the server closed: once more
                repeated += 1
                r = await raw.get(url, headers=headers)
            r.raise_for_status()
            return r.json()

        calls: dict[str, Callable[[], Any]] = {
            "raw httpx.AsyncClient": raw_call,
            "carto_async async": lambda: carto.sql.query(QUERY),
        }
        for call in calls.values():
            await _async_batch(call, warmup, min(c, max(warmup, 1)))
        totals = dict.fromkeys(calls, (0.0, 0.0))
        for i, size in enumerate(_blocks(n, args.block)):
            for name in _rotated(list(calls), i):
                cpu, start = time.process_time(), time.perf_counter()
                await _async_batch(calls[name], size, c)
                wall_s, cpu_s = totals[name]
                totals[name] = (
                    wall_s + time.perf_counter() - start,
                    cpu_s + time.process_time() - cpu,
                )
        _count_repeats(notes, "async", c, carto.requests_sent - n - warmup, repeated)
    return totals


# -- sync: raw httpx.Client, Carto and carto-python (threads for concurrency) ---------------


def _sync_batch(
    call: Callable[[], Any], n: int, concurrency: int, pool: ThreadPoolExecutor | None
) -> None:
    def worker(count: int) -> None:
        for _ in range(count):
            call()

    if pool is None or concurrency == 1:
        worker(n)
        return
    for f in [pool.submit(worker, count) for count in _split(n, concurrency)]:
        f.result()


def _sync_run(
    url: str,
    headers: dict[str, str],
    srv: ServerProcess,
    args: argparse.Namespace,
    c: int,
    notes: list[str],
) -> dict[str, Timing]:
    n, warmup = args.requests, args.warmup
    repeated = [0]
    local = threading.local()
    sessions: list[Any] = []
    lock = threading.Lock()

    def carto_python_call() -> Any:
        # One auth client (requests.Session) per thread: Session is not documented thread-safe.
        sql = getattr(local, "sql", None)
        if sql is None:
            auth = cp.new_auth_client(srv.base_url, srv.api_key)
            with lock:
                sessions.append(auth.session)
            sql = local.sql = cp.sql_client(auth)
        with quiet_warnings():
            return sql.send(QUERY)

    pool = ThreadPoolExecutor(max_workers=c) if c > 1 else None
    try:
        with (
            httpx.Client(timeout=SDK_TIMEOUT, limits=SDK_LIMITS) as raw,
            Carto(srv.username, srv.api_key, srv.base_url) as carto,
        ):

            def raw_call() -> Any:
                try:
                    r = raw.get(url, headers=headers)
                except httpx.TransportError:  # a kept-alive connection the server closed
                    with lock:
                        repeated[0] += 1
                    r = raw.get(url, headers=headers)
                r.raise_for_status()
                return r.json()

            calls: dict[str, Callable[[], Any]] = {
                "raw httpx.Client": raw_call,
                "carto_async sync": lambda: carto.sql.query(QUERY),
                "carto-python SQLClient.send": carto_python_call,
            }
            for call in calls.values():
                _sync_batch(call, warmup, min(c, max(warmup, 1)), pool)
            totals = dict.fromkeys(calls, (0.0, 0.0))
            for i, size in enumerate(_blocks(n, args.block)):
                for name in _rotated(list(calls), i):
                    cpu, start = time.process_time(), time.perf_counter()
                    _sync_batch(calls[name], size, c, pool)
                    wall_s, cpu_s = totals[name]
                    totals[name] = (
                        wall_s + time.perf_counter() - start,
                        cpu_s + time.process_time() - cpu,
                    )
            _count_repeats(notes, "sync", c, carto.requests_sent - n - warmup, repeated[0])
    finally:
        if pool is not None:
            pool.shutdown()
        for session in sessions:
            session.close()
    return totals


# -- the benchmark --------------------------------------------------------------------------

#: Table rows: client, colour (whose raw httpx it is compared with).
#: The goal: at most this much wall time over raw httpx at concurrency 1 (issue 14: 10 %).
GOAL = 0.10

ROWS = [
    ("raw httpx.AsyncClient", "async"),
    ("carto_async async", "async"),
    ("raw httpx.Client", "sync"),
    ("carto_async sync", "sync"),
    ("carto-python SQLClient.send", "sync"),
]
RAW = {"async": "raw httpx.AsyncClient", "sync": "raw httpx.Client"}


def run(args: argparse.Namespace) -> str:
    """Run every case, print the table and the goal, and return that text."""
    n = args.requests
    load_before = os.getloadavg()[0]
    timings: dict[tuple[str, int], list[Timing]] = {}
    notes: list[str] = []
    with local_carto_process() as srv:
        url, headers = sdk_request(srv)
        shown = url.split("?")[0]
        for _ in range(args.overhead_repeat):
            for c in args.concurrency:
                runs = [
                    anyio.run(_async_run, url, headers, srv, args, c, notes),
                    _sync_run(url, headers, srv, args, c, notes),
                ]
                for totals in runs:
                    for name, timing in totals.items():
                        timings.setdefault((name, c), []).append(timing)
    load_after = os.getloadavg()[0]

    wall = {k: median([t[0] for t in ts]) for k, ts in timings.items()}
    cpu = {k: median([t[1] for t in ts]) / n for k, ts in timings.items()}
    table = Table(
        ["client", "concurrency", "req/s", "min-max req/s", "x raw httpx", "wall overhead",
         "client CPU us/req", "CPU overhead"],
        title=(
            f"#2 per-request overhead: {n} x sql.query({QUERY!r}) per client, in interleaved "
            f"blocks of {args.block}, {args.overhead_repeat} runs, medians; LocalCarto in a child "
            f"process; client and server share the machine's {os.cpu_count()} cores"
        ),
    )  # fmt: skip
    for c in args.concurrency:
        for name, colour in ROWS:
            key, base = (name, c), (RAW[colour], c)
            is_raw = name == RAW[colour]
            walls = [t[0] for t in timings[key]]
            table.add(
                [
                    name,
                    c,
                    f"{n / wall[key]:.0f}",
                    f"{n / max(walls):.0f}-{n / min(walls):.0f}",
                    f"{ratio(wall[base], wall[key]):.2f}x",
                    "-" if is_raw else f"{(ratio(wall[key], wall[base]) - 1) * 100:+.1f}%",
                    f"{cpu[key] * 1e6:.0f}",
                    "-" if is_raw else f"{(ratio(cpu[key], cpu[base]) - 1) * 100:+.1f}%",
                ]
            )
    lines = [
        table.render(),
        "",
        f"request: GET {shown}?q=... with headers {sorted(headers)} (captured from the SDK; the "
        "raw clients send exactly these, with the SDK's pool limits and timeout, and decode the "
        "JSON too); carto-python sends its default form POST with ?api_key=",
        "'x raw httpx' and the overheads compare with raw httpx of the same colour (async with "
        "httpx.AsyncClient; sync and carto-python with httpx.Client); wall overhead: extra wall "
        "time per request; client CPU: CPU time of the client process (all threads) per request",
        f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after",
        "retries: "
        + ("; ".join(notes) if notes else "none")
        + " (counted in the timings; a kept-alive connection the server closed as it was reused)",
        "",
    ]
    for colour, label in (("async", "carto_async async"), ("sync", "carto_async sync")):
        key, base = (label, 1), (RAW[colour], 1)
        if key not in wall:
            continue
        overhead = ratio(wall[key], wall[base]) - 1
        cpu_overhead = ratio(cpu[key], cpu[base]) - 1
        gap = "" if overhead <= GOAL else f" (by {(overhead - GOAL) * 100:.1f} points)"
        lines.append(
            f"goal: {label} adds <= {GOAL:.0%} over raw httpx at concurrency 1: wall "
            f"{overhead * 100:+.1f} % -> {verdict(overhead <= GOAL)}{gap}; client CPU "
            f"{cpu_overhead * 100:+.1f} % ({(cpu[key] - cpu[base]) * 1e6:+.0f} us per request)"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.request_overhead``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
