"""What every benchmark shares: statistics, aligned tables, machine facts, child processes."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "WORK_DIR",
    "CPUShare",
    "Stopwatch",
    "Table",
    "child_env",
    "machine_busy",
    "machine_facts",
    "median",
    "percentile",
    "quiet_warnings",
    "ratio",
    "scratch_dir",
    "verdict",
    "wait_for_quiet",
    "work_dir",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Generated data and scratch files (git-ignored).
WORK_DIR = REPO_ROOT / "benchmarks" / "_work"


def work_dir(name: str) -> Path:
    """A directory under ``benchmarks/_work/`` for files kept between runs (created if missing)."""
    path = WORK_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    """A directory under ``benchmarks/_work/`` private to this process, removed afterwards.

    Private, so that two runs at once (a full run and the test suite's smoke run) never
    rewrite each other's input files.
    """
    path = WORK_DIR / f"{name}-{os.getpid()}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def child_env() -> dict[str, str]:
    """The environment for child processes: this checkout importable, output unbuffered."""
    env = dict(os.environ)
    parts = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence library warnings (carto-python warns about ``pkg_resources`` and plain http)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation, or NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(a: float, b: float) -> float:
    """``a / b``, NaN when ``b`` is zero or NaN."""
    if not b or math.isnan(b):
        return math.nan
    return a / b


def verdict(ok: bool) -> str:
    """``MET`` or ``MISSED``."""
    return "MET" if ok else "MISSED"


class Stopwatch:
    """Wall time of a ``with`` block, in seconds (``perf_counter``)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = math.nan

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


class Table:
    """A plain-text table with aligned columns: text left, numbers right.

    Example::

        table = Table(["client", "req/s"])
        table.add(["httpx", "1234"])
        print(table.render())
    """

    def __init__(self, headers: Sequence[str], *, title: str = "") -> None:
        self.title = title
        self.headers = list(headers)
        self.rows: list[list[str]] = []

    def add(self, row: Sequence[object]) -> None:
        """Append a row; values are shown with ``str``."""
        if len(row) != len(self.headers):
            raise ValueError(f"row has {len(row)} cells, table has {len(self.headers)}")
        self.rows.append([str(v) for v in row])

    @staticmethod
    def _numeric(cell: str) -> bool:
        text = cell.strip().rstrip("x%s").replace(",", "").replace("MiB", "").strip()
        try:
            float(text)
        except ValueError:
            return cell.strip() in ("-", "n/a", "nan")
        return True

    def render(self) -> str:
        """The table as text, one line per row, with a rule under the header."""
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        numeric = [
            bool(self.rows) and all(self._numeric(r[i]) for r in self.rows)
            for i in range(len(self.headers))
        ]

        def line(cells: Sequence[str]) -> str:
            out = [
                c.rjust(w) if num else c.ljust(w)
                for c, w, num in zip(cells, widths, numeric, strict=True)
            ]
            return "  ".join(out).rstrip()

        lines = [self.title] if self.title else []
        lines.append(line(self.headers))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(line(r) for r in self.rows)
        return "\n".join(lines)


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields), idle


def machine_busy(seconds: float = 1.0) -> float:
    """The fraction of all CPUs busy over the next ``seconds`` (NaN without ``/proc/stat``)."""
    try:
        total0, idle0 = _cpu_times()
        time.sleep(seconds)
        total1, idle1 = _cpu_times()
    except OSError:
        return math.nan
    return 1 - ratio(idle1 - idle0, total1 - total0)


class CPUShare:
    """How much of the machine this process (and its finished children) and others used.

    ``with CPUShare() as share: ...`` then ``share.describe()``: the CPU time everything on the
    machine used during the block, split into ours and other processes', as a share of all CPUs.
    """

    def __init__(self) -> None:
        self.ours = self.others = math.nan

    @staticmethod
    def _own() -> float:
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total

    def __enter__(self) -> CPUShare:
        self._start = (_cpu_times(), self._own())
        return self

    def __exit__(self, *exc: object) -> None:
        (total0, idle0), own0 = self._start
        total1, idle1 = _cpu_times()
        tick = os.sysconf("SC_CLK_TCK")
        capacity = (total1 - total0) / tick
        busy = ((total1 - total0) - (idle1 - idle0)) / tick
        ours = self._own() - own0
        self.ours = ratio(ours, capacity)
        self.others = ratio(max(busy - ours, 0.0), capacity)

    def describe(self) -> str:
        """One line for the output."""
        return (
            f"CPU during this benchmark: {self.ours * 100:.0f} % of the machine by the benchmark "
            f"and its servers, {self.others * 100:.0f} % by other processes"
        )


def wait_for_quiet(max_wait: float, *, threshold: float = 0.2) -> str:
    """Wait (up to ``max_wait`` s) until under ``threshold`` of the CPUs are busy; say how it went.

    Other work on a small machine (a test suite, a build) distorts wall-clock figures.
    """
    start = time.monotonic()
    busy = machine_busy()
    while busy >= threshold and time.monotonic() - start < max_wait:
        busy = machine_busy()
    waited = time.monotonic() - start
    state = "quiet" if busy < threshold else "still busy"
    return (
        f"machine {state}: {busy * 100:.0f} % of CPUs busy before starting (waited {waited:.0f} s)"
    )


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _mem_total() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for row in f:
                if row.startswith("MemTotal:"):
                    kib = int(row.split()[1])
                    return f"{kib / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def machine_facts(command: str) -> list[tuple[str, str]]:
    """The facts a reader needs to compare figures: CPUs, memory, Python, library versions."""
    import carto_async  # noqa: PLC0415 - only needed here

    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return [
        ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpus", f"{cpus} (usable by this process: {usable})"),
        ("memory", _mem_total()),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("carto_async", f"{carto_async.__version__} (checkout {_git_commit()})"),
        ("httpx", _version("httpx")),
        ("httpcore", _version("httpcore")),
        ("anyio", _version("anyio")),
        ("carto (carto-python)", _version("carto")),
        ("requests", _version("requests")),
        ("starlette", _version("starlette")),
        ("uvicorn", _version("uvicorn")),
        ("command", command),
    ]
