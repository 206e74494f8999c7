"""The end of a batch: the summary table, what to do next, and the exit status."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from carto_async.cli._batch import Item, Phase
from carto_async.cli._output import format_duration

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "exit_status",
    "next_steps",
    "print_summary",
    "totals",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells report for kill, timeout, docker stop

_STYLE = {
    Phase.COMPLETE: "green",
    Phase.SKIPPED: "green",
    Phase.FAILURE: "red",
    Phase.ERROR: "red",
}


def exit_status(items: Sequence[Item], *, interrupted: bool) -> int:
    """0 when every source is imported, 1 when some are not, 130 after Ctrl-C."""
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(i.ok for i in items) else EXIT_FAILED


def _problem(item: Item) -> str:
    if item.phase is Phase.FAILURE:
        return f"{item.error_code} {item.title}"
    if item.phase is Phase.COMPLETE:
        return f"warning {item.warning}" if item.warning else ""
    if item.phase is Phase.SKIPPED:
        return ""
    return item.message or ""


def totals(items: Sequence[Item]) -> str:
    """``12 imported, 2 failed, ...``: the counts that are not zero."""
    counts: dict[str, int] = {}
    names = {  # in the order they are listed
        Phase.COMPLETE: "imported",
        Phase.SKIPPED: "already imported",
        Phase.FAILURE: "failed",
        Phase.ERROR: "not imported (request failed)",
        Phase.UNKNOWN: "unknown",
        Phase.HELD: "held back (unknown)",
        Phase.TIMEOUT: "still running (timeout)",
        Phase.INTERRUPTED: "interrupted",
    }
    for item in items:
        name = names.get(item.phase, item.state)
        counts[name] = counts.get(name, 0) + 1
    order = list(names.values())
    ranked = sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    return ", ".join(f"{n} {name}" for name, n in ranked)


def print_summary(
    console: Console, items: Sequence[Item], *, elapsed: float, verbose: bool = False
) -> None:
    """The table of every source: table name, state, time, and the error of failures.

    With ``verbose`` the server's advice for each failure follows, without its HTML.
    """
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("source", overflow="fold")
    table.add_column("table", overflow="fold")
    table.add_column("state")
    table.add_column("time", justify="right")
    table.add_column("error", overflow="fold")
    for item in items:
        style = _STYLE.get(item.phase, "yellow")
        table.add_row(
            Text(item.source.label),
            Text(item.table_name or "-"),
            Text(item.state, style=style),
            format_duration(item.duration),
            Text(_problem(item)),
        )
    console.print(table)
    if verbose:
        advice = [i for i in items if i.what_about]
        if advice:
            console.print("Advice from the server:")
            for item in advice:
                console.print(Text(f"  {item.source.label} ({item.error_code}): {item.what_about}"))
    console.print(f"{totals(items)} in {format_duration(elapsed)}", markup=False)


def next_steps(
    items: Sequence[Item], *, manifest: str | None, manifest_given: bool, interrupted: bool
) -> list[str]:
    """What the user should do about sources left running or in doubt."""
    lines: list[str] = []
    doubtful = [i for i in items if i.phase in (Phase.UNKNOWN, Phase.HELD)]
    if doubtful:
        names = ", ".join(i.source.label for i in doubtful)
        lines.append(
            f"{len(doubtful)} upload(s) got no answer from the server and may have been imported: "
            f"{names}. Check your datasets on CARTO before uploading them again; a re-run with "
            "--retry-unknown uploads them again."
        )
    running = [i for i in items if i.job is not None and not i.job.done and not i.ok]
    rerun = "re-run the same command" + ("" if manifest_given else f" with --manifest {manifest}")
    if interrupted:
        left = sum(1 for i in items if i.phase is Phase.INTERRUPTED and i.job is None)
        if manifest is None:
            lines.append("Interrupted.")
        else:
            lines.append(
                f"Interrupted: {len(running)} import(s) still running on the server, {left} "
                f"source(s) not started. Progress is saved in {manifest}: {rerun} to resume "
                "(nothing is imported twice)."
            )
    elif running and manifest is not None:
        lines.append(
            f"{len(running)} import(s) are still running on the server: {rerun} to wait for "
            "them (nothing is uploaded again)."
        )
    return lines
