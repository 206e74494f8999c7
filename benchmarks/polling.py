"""#4 Polling efficiency: many long imports awaited with ``wait_all``.

J import jobs whose server-side durations are spread uniformly over [min, max] seconds (seeded,
set per file through LocalCarto's ``import_processing_time`` callable) are created, then awaited
together. For each job: how many requests it cost, and how long after its completion on the
server the client noticed it (absolute, and as a fraction of the job's duration). LocalCarto
runs in this process here, so its job records give each job's real start and duration on the
same monotonic clock the client uses.

Two ways to wait, each with a :class:`PollPolicy`:

* ``wait_all:I,F,C,J``: ``carto.jobs.wait_all(jobs)``. From 4 pending imports it polls one
  ``GET /api/v1/imports`` listing (the user's unfinished imports) per round, every tenth of the
  youngest job's age (at least ``initial``, at most ``cap``), and sends a status request only for
  the jobs that left the listing.
* ``each:I,F,C,J``: ``await job.wait()`` for every job at once, in a task group. The waits
  share the client's one watcher, so they too are watched through the listing (before the
  watcher, each polled its own status at the policy's spacing).

    python -m benchmarks.polling --poll-jobs 500 --policies default fixed-5s
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from benchmarks._common import Stopwatch, Table, percentile, scratch_dir, verdict
from benchmarks._data import make_csv_files
from benchmarks._server import local_carto_threaded
from carto_async import AsyncCarto, AsyncImportJob, PollPolicy

if TYPE_CHECKING:
    from carto_async.testing import ImportInfo

__all__ = ["NAMED", "add_arguments", "main", "run"]

#: Named strategies: ``wait_all:`` or ``each:`` and a PollPolicy as ``INITIAL,FACTOR,CAP,JITTER``.
NAMED = {
    "default": "wait_all:1,1.5,30,0.2",
    "fixed-5s": "wait_all:5,1,30,0",
    "default-each": "each:1,1.5,30,0.2",
    "fixed-5s-each": "each:5,1,30,0",
}

GOAL_FRACTION = 0.20
GOAL_POLLS = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("polling efficiency (#4)")
    g.add_argument("--poll-jobs", type=int, default=500, help="import jobs (500)")
    g.add_argument("--min-duration", type=float, default=5.0, help="shortest job, s (5)")
    g.add_argument("--max-duration", type=float, default=60.0, help="longest job, s (60)")
    g.add_argument("--poll-seed", type=int, default=7, help="seed of the durations (7)")
    g.add_argument(
        "--policies",
        nargs="+",
        default=list(NAMED),
        help=f"strategies, by name ({', '.join(NAMED)}) or as wait_all:I,F,C,J or each:I,F,C,J "
        "(all named ones)",
    )


@attrs.frozen
class Strategy:
    """How the client waits (``wait_all`` or one ``job.wait()`` each) and its poll policy."""

    label: str
    policy: PollPolicy
    each: bool

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """A strategy from its name or its ``wait_all:I,F,C,J`` / ``each:I,F,C,J`` form."""
        kind, _, value = NAMED.get(text, text).partition(":")
        if kind not in ("wait_all", "each"):
            raise argparse.ArgumentTypeError(f"unknown strategy {text!r}")
        initial, factor, cap, jitter = (float(x) for x in value.split(","))
        policy = PollPolicy(initial=initial, factor=factor, cap=cap, jitter=jitter)
        how = "wait_all" if kind == "wait_all" else "job.wait() each"
        detail = f"{how}, {initial:g}s x{factor:g} cap {cap:g} ±{jitter * 100:.0f}%"
        return cls(f"{text}: {detail}" if text in NAMED else detail, policy, kind == "each")


@attrs.frozen
class Outcome:
    """Per-job figures of one strategy."""

    label: str
    wall: float
    polls: list[float]  # requests per job (list requests shared out in the prototype)
    delays: list[float]  # seconds from server completion to the client noticing
    fractions: list[float]  # delay / job duration
    status_gets: int  # counted by the server
    list_gets: int
    before_wait: int  # jobs that finished on the server before the client began to wait


class Observer:
    """Counts each job's status requests and notes when the client first saw it final."""

    def __init__(self) -> None:
        self.polls: dict[str, int] = {}
        self.noticed: dict[str, float] = {}
        self.wait_started = 0.0

    def watch(self, job: AsyncImportJob) -> None:
        refresh = job.refresh
        self.polls[job.id] = 0

        async def observed() -> Any:
            status = await refresh()
            self.polls[job.id] += 1
            if job.done and job.id not in self.noticed:
                self.noticed[job.id] = time.monotonic()
            return status

        job.refresh = observed  # type: ignore[method-assign]


async def _upload_all(carto: AsyncCarto, paths: Sequence[Path]) -> list[AsyncImportJob]:
    jobs: list[AsyncImportJob | None] = [None] * len(paths)

    async def upload(i: int, path: Path) -> None:
        jobs[i] = await carto.imports.upload(path)

    async with anyio.create_task_group() as tg:
        for i, path in enumerate(paths):
            tg.start_soon(upload, i, path)
    return [j for j in jobs if j is not None]


async def _wait_each(jobs: Sequence[AsyncImportJob]) -> None:
    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(job.wait)


async def _one(strategy: Strategy, srv: Any, paths: Sequence[Path]) -> tuple[float, Observer]:
    observer = Observer()
    async with AsyncCarto(
        srv.username,
        srv.api_key,
        srv.base_url,
        max_concurrent_imports=None,
        poll=strategy.policy,
    ) as carto:
        with Stopwatch() as sw:
            jobs = await _upload_all(carto, paths)
            observer.wait_started = time.monotonic()
            for job in jobs:
                observer.watch(job)
            if strategy.each:
                await _wait_each(jobs)  # raises ImportFailed if any failed
            else:
                results = await carto.jobs.wait_all(jobs, limit=20, return_exceptions=True)
                bad = [r for r in results if getattr(r, "state", None) != "complete"]
                if bad:
                    raise RuntimeError(f"{len(bad)} imports did not complete: {bad[:3]}")
    return sw.seconds, observer


def measure(strategy: Strategy, paths: Sequence[Path], durations: dict[str, float]) -> Outcome:
    """Run one strategy against a fresh LocalCarto; the per-job figures."""

    def processing_time(info: ImportInfo) -> float:
        return durations[info.display_name]

    with local_carto_threaded(
        import_processing_time=processing_time, import_slots=len(paths) + 10
    ) as srv:
        wall, observer = anyio.run(_one, strategy, srv, paths)
        counters = srv.counters()
        records = {j.id: j for j in srv.server.jobs()}
    polls, delays, fractions = [], [], []
    before_wait = 0
    # Listing requests serve every job: share them out.
    share = counters.lists / max(len(observer.polls), 1)
    for job_id, count in observer.polls.items():
        record = records[job_id]
        completed = record.started + record.duration
        delay = observer.noticed[job_id] - completed
        before_wait += completed < observer.wait_started
        polls.append(count + share)
        delays.append(delay)
        fractions.append(delay / record.duration)
    return Outcome(
        strategy.label,
        wall,
        polls,
        delays,
        fractions,
        counters.status_polls,
        counters.lists,
        before_wait,
    )


def run(args: argparse.Namespace) -> str:
    """Run every strategy once, print the table and the goal, and return that text."""
    with scratch_dir("polling") as scratch:
        return _run(args, scratch)


def _run(args: argparse.Namespace, scratch: Path) -> str:
    strategies = [Strategy.parse(p) for p in args.policies]
    paths = make_csv_files(scratch / "csv", args.poll_jobs, rows=5, seed=2)
    rng = random.Random(args.poll_seed)
    durations = {p.name: rng.uniform(args.min_duration, args.max_duration) for p in paths}
    outcomes = [measure(s, paths, durations) for s in strategies]
    n = len(paths)
    table = Table(
        ["strategy", "wall s", "req/job mean", "req/job max", "status GETs", "list GETs",
         "done before wait",
         "delay p50 s", "delay p95 s", "delay/duration p50", "p95", "max"],
        title=(
            f"#4 polling: {n} imports lasting U({args.min_duration:g}, {args.max_duration:g}) s "
            f"(seed {args.poll_seed}), awaited together; one run per strategy; LocalCarto in "
            "this process"
        ),
    )  # fmt: skip
    for o in outcomes:
        table.add(
            [
                o.label,
                f"{o.wall:.1f}",
                f"{sum(o.polls) / n:.2f}",
                f"{max(o.polls):.2f}",
                o.status_gets,
                o.list_gets,
                o.before_wait,
                f"{percentile(o.delays, 0.5):.2f}",
                f"{percentile(o.delays, 0.95):.2f}",
                f"{percentile(o.fractions, 0.5) * 100:.1f}%",
                f"{percentile(o.fractions, 0.95) * 100:.1f}%",
                f"{max(o.fractions) * 100:.1f}%",
            ]
        )
    lines = [
        table.render(),
        "",
        "req/job: the job's status requests (counted by the client) plus its share of the "
        "listing requests; status/list GETs: counted by LocalCarto; done before wait: jobs that "
        "ended on the server before the last upload returned and the client began to wait; "
        "delay: from the job's completion on the server to the client seeing it final",
        "",
    ]
    for o in outcomes:
        p95 = percentile(o.fractions, 0.95)
        worst = max(o.polls)
        ok = p95 < GOAL_FRACTION and worst <= GOAL_POLLS
        gaps = []
        if p95 >= GOAL_FRACTION:
            gaps.append(f"p95 {p95 * 100:.1f} % is {(p95 - GOAL_FRACTION) * 100:.1f} points over")
        if worst > GOAL_POLLS:
            gaps.append(f"up to {worst:.0f} requests per job")
        gap = f" ({'; '.join(gaps)})" if gaps else ""
        lines.append(
            f"goal: {o.label}: delay p95 < 20 % of the duration with <= 15 requests per job "
            f"-> {verdict(ok)}{gap}"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.polling``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
