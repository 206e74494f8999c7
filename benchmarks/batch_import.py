"""#1 Batch import, end to end: N small CSVs imported to completion against LocalCarto.

LocalCarto runs in a child process with a fixed processing time per import (``T``, spread
over its states) and ``K`` import slots; its counters are reset before each run and every run
ends with all its imports final, so each run starts with all K slots free. The floor is what
the server allows: ``ceil(N/K)`` waves of ``T`` each, plus one upload per wave (a slot must be
free before an upload can create its job), the upload time measured with raw httpx against the
same server in the same run.

    python -m benchmarks.batch_import --files 60 --slots 8 --processing-time 0.5
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

from benchmarks import _carto_python as cp
from benchmarks._common import Stopwatch, Table, median, ratio, scratch_dir, verdict
from benchmarks._data import make_csv_files
from benchmarks._server import ServerCounters, ServerProcess, local_carto_process
from carto_async import AsyncCarto, AsyncImportJob, Carto, PollPolicy
from carto_async._core.polling import GROUP_FLOOR, GROUP_FRACTION, LEARNED_FLOOR

__all__ = ["add_arguments", "main", "run"]

DEFAULT_POLL = PollPolicy()


def parse_policy(text: str) -> PollPolicy:
    """``initial,factor,cap,jitter`` as a :class:`PollPolicy`."""
    initial, factor, cap, jitter = (float(x) for x in text.split(","))
    return PollPolicy(initial=initial, factor=factor, cap=cap, jitter=jitter)


def describe_policy(policy: PollPolicy) -> str:
    """A short label: ``1s x1.5 cap 30 ±20%``."""
    return f"{policy.initial:g}s x{policy.factor:g} cap {policy.cap:g} ±{policy.jitter * 100:.0f}%"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark (also used by ``python -m benchmarks``)."""
    g = parser.add_argument_group("batch import (#1)")
    g.add_argument("--files", type=int, default=60, help="N files to import (60)")
    g.add_argument("--rows", type=int, default=50, help="rows per CSV file (50)")
    g.add_argument("--slots", type=int, default=8, help="K import slots, server and client (8)")
    g.add_argument("--processing-time", type=float, default=0.5, help="T seconds per import (0.5)")
    g.add_argument("--batch-repeat", type=int, default=3, help="runs per client (3)")
    g.add_argument(
        "--documented-repeat",
        type=int,
        default=1,
        help="runs of the sequential carto-python loop, the slow one (1)",
    )
    g.add_argument(
        "--tuned-poll",
        type=parse_policy,
        default=PollPolicy(initial=0.1, factor=1.2, cap=1.0, jitter=0.1),
        metavar="INITIAL,FACTOR,CAP,JITTER",
        help="carto_async's poll policy tuned for short jobs (0.1,1.2,1.0,0.1)",
    )
    g.add_argument(
        "--default-poll",
        type=parse_policy,
        default=DEFAULT_POLL,
        metavar="INITIAL,FACTOR,CAP,JITTER",
        help="the policy of the 'default' rows (carto_async's default: 1,1.5,30,0.2)",
    )
    g.add_argument(
        "--documented-poll",
        type=float,
        default=2.0,
        help="carto-python's sleep between polls, as in its examples (2.0 s)",
    )
    g.add_argument(
        "--tuned-fixed-poll",
        type=float,
        default=0.1,
        help="a tight fixed poll for the carto-python thread pool (0.1 s)",
    )


@attrs.frozen
class Run:
    """One run of one client: wall seconds and what the server counted."""

    seconds: float
    counters: ServerCounters


def _check(results: Sequence[Any], n: int) -> None:
    states = [getattr(r, "state", repr(r)) for r in results]
    bad = [s for s in states if s != "complete"]
    if len(states) != n or bad:
        raise RuntimeError(f"{len(bad)} of {n} imports did not complete: {bad[:3]}")


# -- clients --------------------------------------------------------------------------------


async def _async_batch(paths: Sequence[Path], srv: ServerProcess, k: int, poll: PollPolicy) -> None:
    async with AsyncCarto(
        srv.username, srv.api_key, srv.base_url, max_concurrent_imports=k, poll=poll
    ) as carto:
        jobs: list[AsyncImportJob | None] = [None] * len(paths)

        async def upload(i: int, path: Path) -> None:
            jobs[i] = await carto.imports.upload(path)

        async with anyio.create_task_group() as tg:
            for i, path in enumerate(paths):
                tg.start_soon(upload, i, path)
        started = [j for j in jobs if j is not None]
        results = await carto.jobs.wait_all(started, limit=20, return_exceptions=True)
    _check(results, len(paths))


def _sync_batch(paths: Sequence[Path], srv: ServerProcess, k: int, poll: PollPolicy) -> None:
    with Carto(
        srv.username, srv.api_key, srv.base_url, max_concurrent_imports=k, poll=poll
    ) as carto:
        # Each upload waits for a free slot (polling the imports in progress) before it goes.
        jobs = [carto.imports.upload(p) for p in paths]
        results = carto.jobs.wait_all(jobs, limit=20, return_exceptions=True)
    _check(results, len(paths))


def _measure(client: Callable[[ServerProcess], object], srv: ServerProcess) -> Run:
    srv.reset()
    with Stopwatch() as sw:
        client(srv)
    return Run(sw.seconds, srv.counters())


def upload_seconds(paths: Sequence[Path], srv: ServerProcess, slots: int, t: float) -> float:
    """Median time of one upload request (raw httpx), then wait for those imports to end."""
    times: list[float] = []
    url = srv.base_url + "/api/v1/imports"
    with httpx.Client(timeout=60) as client:
        for path in paths[:slots]:
            data = path.read_bytes()
            with Stopwatch() as sw:
                r = client.post(
                    url,
                    params={"api_key": srv.api_key},
                    files={"file": (path.name, data, "text/csv")},
                )
            r.raise_for_status()
            times.append(sw.seconds)
    time.sleep(t + 0.5)  # free the slots before the first measured run
    return median(times)


# -- the benchmark --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    """Run every client, print the table and the goals, and return that text."""
    with scratch_dir("batch_import") as scratch:
        return _run(args, scratch)


def _run(args: argparse.Namespace, scratch: Path) -> str:
    n, k, t = args.files, args.slots, args.processing_time
    paths = make_csv_files(scratch / "csv", n, rows=args.rows, seed=1)
    waves = math.ceil(n / k)
    tuned, default = args.tuned_poll, args.default_poll
    dlabel = "default" if default == DEFAULT_POLL else "baseline"

    def async_client(poll: PollPolicy) -> Callable[[ServerProcess], object]:
        return lambda srv: anyio.run(_async_batch, paths, srv, k, poll)

    def sync_client(poll: PollPolicy) -> Callable[[ServerProcess], object]:
        return lambda srv: _sync_batch(paths, srv, k, poll)

    def cp_pool(interval: float) -> Callable[[ServerProcess], object]:
        return lambda srv: cp.import_thread_pool(
            paths, srv.base_url, srv.api_key, threads=k, poll_interval=interval
        )

    def cp_documented(srv: ServerProcess) -> object:
        return cp.import_sequential(
            paths, srv.base_url, srv.api_key, poll_interval=args.documented_poll
        )

    # name, poll label, client, runs
    cases: list[tuple[str, str, Callable[[ServerProcess], object], int]] = [
        ("carto_async async", f"{dlabel} {describe_policy(default)}",
         async_client(default), args.batch_repeat),
        ("carto_async async", f"tuned {describe_policy(tuned)}",
         async_client(tuned), args.batch_repeat),
        ("carto_async sync", f"{dlabel} {describe_policy(default)}",
         sync_client(default), args.batch_repeat),
        ("carto_async sync", f"tuned {describe_policy(tuned)}",
         sync_client(tuned), args.batch_repeat),
        (f"carto-python, {k} threads", f"fixed {args.documented_poll:g}s (as documented)",
         cp_pool(args.documented_poll), args.batch_repeat),
        (f"carto-python, {k} threads", f"fixed {args.tuned_fixed_poll:g}s (tuned)",
         cp_pool(args.tuned_fixed_poll), args.batch_repeat),
        ("carto-python, sequential (documented)", f"fixed {args.documented_poll:g}s",
         cp_documented, args.documented_repeat),
    ]  # fmt: skip
    runs: dict[int, list[Run]] = {i: [] for i in range(len(cases))}
    with local_carto_process(import_processing_time=t, import_slots=k) as srv:
        one_upload = upload_seconds(paths, srv, k, t)
        # Round-robin, so drift on a shared machine hits every client alike.
        for rep in range(max(c[3] for c in cases)):
            for i, (_, _, client, repeat) in enumerate(cases):
                if rep < repeat:
                    runs[i].append(_measure(client, srv))
    floor = waves * t + waves * one_upload

    documented = median([r.seconds for r in runs[len(cases) - 1]])
    table = Table(
        [
            "client",
            "poll",
            "runs",
            "wall s",
            "min-max s",
            "x floor",
            "vs documented",
            "uploads",
            "status GETs",
            "list GETs",
            "requests",
            "req/job",
            "429s",
        ],
        title=(
            f"#1 batch import: N={n} CSVs ({args.rows} rows), K={k} slots, T={t:g} s per "
            f"import; LocalCarto in a child process; medians"
        ),
    )
    summary: dict[str, float] = {}
    for i, (name, poll, _, _) in enumerate(cases):
        rs = runs[i]
        secs = [r.seconds for r in rs]
        mid = median(secs)
        c = rs[secs.index(sorted(secs)[(len(secs) - 1) // 2])].counters
        summary[f"{name} | {poll}"] = mid
        table.add(
            [
                name,
                poll,
                len(rs),
                f"{mid:.2f}",
                f"{min(secs):.2f}-{max(secs):.2f}",
                f"{ratio(mid, floor):.2f}x",
                f"{ratio(documented, mid):.1f}x",
                c.creates,
                c.status_polls,
                c.lists,
                c.total,
                f"{c.total / n:.2f}",
                c.rejected_429,
            ]
        )
    lines = [
        table.render(),
        "",
        f"floor = ceil(N/K) x T + ceil(N/K) x one upload = {waves} x {t:g} s + {waves} x "
        f"{one_upload * 1000:.1f} ms = {floor:.2f} s",
        "requests: counted by LocalCarto (every route; the median run's), req/job: requests / N, "
        "the upload included; 'vs documented': how many times faster than carto-python's "
        "sequential loop",
        "",
    ]
    best_async = summary[f"carto_async async | tuned {describe_policy(tuned)}"]
    best_sync = summary[f"carto_async sync | tuned {describe_policy(tuned)}"]
    default_async = summary[f"carto_async async | {dlabel} {describe_policy(default)}"]
    for label, value in (("async, tuned poll", best_async), ("sync, tuned poll", best_sync)):
        r = ratio(value, floor)
        gap = "" if r <= 1.25 else f" (by {(r / 1.25 - 1) * 100:.0f} %)"
        lines.append(
            f"goal: carto_async {label} within 1.25x of the floor: {r:.2f}x -> "
            f"{verdict(r <= 1.25)}{gap}"
        )
    default_sync = summary[f"carto_async sync | {dlabel} {describe_policy(default)}"]
    for label, value in ((f"async, {dlabel}", default_async), (f"sync, {dlabel}", default_sync)):
        r = ratio(value, floor)
        gap = "" if r <= 1.15 else f" (by {(r / 1.15 - 1) * 100:.0f} %)"
        lines.append(
            f"goal: carto_async {label} poll within 1.15x of the floor: {r:.2f}x -> "
            f"{verdict(r <= 1.15)}{gap}"
        )
    lines.append(
        f"      (running imports are watched through one listing, at first every "
        f"{default.initial / 4:g} s; once jobs are seen finishing in under "
        f"{default.initial * GROUP_FLOOR / GROUP_FRACTION:g} s, every "
        f"{GROUP_FRACTION:g} of their typical duration, at least {LEARNED_FLOOR:g} s; "
        f"T is {t:g} s)"
    )
    for label, value in (("tuned", best_async), (dlabel, default_async)):
        s = ratio(documented, value)
        lines.append(
            f"goal: carto_async async ({label} poll) >= 10x faster than carto-python as "
            f"documented: {s:.1f}x -> {verdict(s >= 10)}"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.batch_import``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
