"""The import-slot waiter of benchmark #1 on a virtual clock: what the poll rule alone costs.

It runs the client's sans-I/O :class:`~carto_async._core.polling.ListingWatch` (the default
``PollPolicy()``) against a model of the server: ``K`` slots, imports lasting ``T`` seconds,
an upload of ``--upload`` seconds before each job exists, a listing or status request of
``--rtt`` seconds. No sockets, no threads: the figures depend only on the rule, not on how
busy the machine is, so they complement #1's wall-clock figures on a loaded machine.

    python -m benchmarks.batch_simulation --files 60 --slots 8 --processing-time 0.5
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Sequence

from carto_async._core.jobs import JobKey
from carto_async._core.polling import ListingWatch, PollPolicy, PollScheduler, Watched


def simulate(
    n: int, k: int, t: float, *, upload: float, rtt: float, seed: int
) -> tuple[float, int, int]:
    """Seconds to import ``n`` files, listing and status requests sent."""
    sched: PollScheduler[JobKey] = PollScheduler(PollPolicy(), rng=random.Random(seed))
    watch = ListingWatch(sched)
    now, todo, made = 0.0, n, 0
    active: dict[str, tuple[float, float]] = {}  # id -> (created, finishes)
    listings = statuses = 0
    while todo or active:
        while todo and len(active) < k:
            now += upload
            job_id = f"job-{made}"
            made += 1
            todo -= 1
            active[job_id] = (now, now + t)
            sched.add(("import", job_id), now)
        watched = [Watched(j, "import", True, c) for j, (c, _) in active.items()]
        due_listings, _ = watch.plan(now, watched, eager={"import"})
        if not due_listings:
            wake = watch.next_wake()
            assert wake is not None
            now = max(now, wake)
            continue
        for kind, members in due_listings.items():
            now += rtt
            listings += 1
            running = [j for j, (_, ends) in active.items() if ends > now]
            missing = watch.listed(kind, members, running, now)
            if missing:
                now += rtt  # their status requests, in parallel
                statuses += len(missing)
            for member in members:
                if member.key in missing:
                    watch.finished(member, now)
                    sched.discard(member.key)
                    del active[member.id]
    return now, listings, statuses


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.batch_simulation``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--processing-time", type=float, default=0.5)
    parser.add_argument("--upload", type=float, default=0.005, help="seconds per upload")
    parser.add_argument("--rtt", type=float, default=0.003, help="seconds per listing/status")
    parser.add_argument("--seeds", type=int, default=10, help="runs (jitter seeds)")
    args = parser.parse_args(argv)
    n, k, t = args.files, args.slots, args.processing_time
    waves = math.ceil(n / k)
    floor = waves * t + waves * args.upload
    print(f"batch import, simulated: N={n}, K={k}, T={t:g} s, default PollPolicy()")
    print(f"floor = {waves} x {t:g} s + {waves} x {args.upload * 1000:g} ms = {floor:.2f} s")
    ratios = []
    for seed in range(args.seeds):
        wall, listings, statuses = simulate(n, k, t, upload=args.upload, rtt=args.rtt, seed=seed)
        ratios.append(wall / floor)
        print(
            f"seed {seed}: {wall:.2f} s = {wall / floor:.2f}x floor; {listings} listings, "
            f"{statuses} status requests, {(listings + statuses + n) / n:.2f} requests per job"
        )
    ratios.sort()
    print(f"x floor: median {ratios[len(ratios) // 2]:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}")


if __name__ == "__main__":
    main()
