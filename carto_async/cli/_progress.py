"""What a batch shows while it runs: a live rich display on a terminal, plain lines elsewhere,
and JSON lines for scripts.

Progress goes to stderr; results (the summary table, or one JSON object per source) go to
stdout, so ``carto-async import ... --json | jq`` sees only JSON.
"""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.filesize import decimal
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from carto_async.cli._batch import Action, Item, Phase, Reporter
from carto_async.cli._output import format_duration

__all__ = [
    "JSONReporter",
    "LiveReporter",
    "PlainReporter",
    "QuietReporter",
    "Reporters",
    "outcome_line",
    "result_json",
]

_STATE_STYLE = {
    "complete": "green",
    "skipped": "green",
    "failure": "red",
    "error": "red",
    "unknown": "yellow",
    "timeout": "yellow",
    "held": "yellow",
    "interrupted": "yellow",
}


# Told once at the start (skipped) or by the summary (interrupted), not line by line.
_QUIET_PHASES = frozenset({Phase.SKIPPED, Phase.INTERRUPTED})


def _skipped_note(items: Sequence[Item]) -> str | None:
    skipped = sum(1 for i in items if i.phase is Phase.SKIPPED)
    if not skipped:
        return None
    return f"skipping {skipped} source(s) imported by an earlier run (see --manifest)"


def _counts(items: Sequence[Item]) -> tuple[int, int, int]:
    """(finished, failed, total)."""
    done = sum(1 for i in items if i.final)
    return done, sum(1 for i in items if i.failed), len(items)


def outcome_line(item: Item) -> str:
    """One line saying how a source ended: what a person reads in a log."""
    label = item.source.label
    if item.phase is Phase.COMPLETE:
        warn = f" (warning {item.warning})" if item.warning else ""
        return f"{label} -> table {item.table_name} ({format_duration(item.duration)}){warn}"
    if item.phase is Phase.SKIPPED:
        return f"{label} -> table {item.table_name} (imported by an earlier run)"
    if item.phase is Phase.FAILURE:
        return f"{label}: error {item.error_code}: {item.title}"
    return f"{label}: {item.message or item.state}"


def result_json(item: Item) -> dict[str, Any]:
    """The JSON object of one source's result (``--json``)."""
    duration = item.duration
    return {
        "source": item.source.label,
        "ok": item.ok,
        "state": item.state,
        "table_name": item.table_name,
        "import_id": item.import_id,
        "error_code": item.error_code,
        "title": item.title,
        "what_about": item.what_about or None,
        "warning": item.warning,
        "message": item.message,
        "resumed": item.action is Action.RESUME,
        "duration": None if duration is None else round(duration, 3),
    }


class Reporters:
    """Several reporters as one."""

    def __init__(self, *reporters: Reporter) -> None:
        self._reporters = reporters

    def start(self, items: Sequence[Item]) -> None:
        for r in self._reporters:
            r.start(items)

    def changed(self, item: Item) -> None:
        for r in self._reporters:
            r.changed(item)

    def progress(self, item: Item, sent: int) -> None:
        for r in self._reporters:
            r.progress(item, sent)

    def finished(self, item: Item) -> None:
        for r in self._reporters:
            r.finished(item)

    def note(self, text: str) -> None:
        for r in self._reporters:
            r.note(text)

    def stop(self) -> None:
        for r in self._reporters:
            r.stop()


class _Silent:
    """Base for reporters that only care about some events."""

    items: Sequence[Item] = ()

    def start(self, items: Sequence[Item]) -> None:
        self.items = items

    def changed(self, item: Item) -> None:
        pass

    def progress(self, item: Item, sent: int) -> None:
        pass

    def finished(self, item: Item) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass


class JSONReporter(_Silent):
    """One JSON object per source on stdout, as each one ends."""

    def finished(self, item: Item) -> None:
        sys.stdout.write(json.dumps(result_json(item)) + "\n")
        sys.stdout.flush()


class QuietReporter(_Silent):
    """Nothing but one line on stderr per source that did not import."""

    def finished(self, item: Item) -> None:
        if item.failed:
            sys.stderr.write(f"{item.state}: {outcome_line(item)}\n")


class PlainReporter(_Silent):
    """Plain lines on stderr (a log file, a CI job): one when an import is created, one when
    it ends, with the running count of done and failed."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def start(self, items: Sequence[Item]) -> None:
        super().start(items)
        note = _skipped_note(items)
        if note:
            self.console.print(note, markup=False)

    def note(self, text: str) -> None:
        self.console.print(text, markup=False)

    def changed(self, item: Item) -> None:
        if item.phase is not Phase.RUNNING:
            return
        if item.action is Action.RESUME:
            what = f"resuming import {item.import_id}"
        elif item.source.is_url:
            what = f"import {item.import_id} created"
        else:
            what = f"uploaded {decimal(item.source.size or 0)}, import {item.import_id}"
        self.console.print(f"{item.source.label}: {what}", markup=False)

    def finished(self, item: Item) -> None:
        if item.phase in _QUIET_PHASES:
            return
        done, failed, total = _counts(self.items)
        self.console.print(
            f"[{done}/{total} done, {failed} failed] {item.state}: {outcome_line(item)}",
            markup=False,
        )


class _StatusLine:
    """Jobs per state and the done/failed count, computed each time the display refreshes."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = items

    def __rich__(self) -> RenderableType:
        by_state = collections.Counter(i.state for i in self.items)
        text = Text()
        for state, n in sorted(by_state.items(), key=lambda kv: _state_order(kv[0])):
            if text:
                text.append(" · ")
            text.append(f"{state} {n}", style=_STATE_STYLE.get(state, "cyan"))
        done, failed, total = _counts(self.items)
        text.append(f"    done {done}/{total}", style="bold")
        text.append(f" · failed {failed}", style="bold red" if failed else "bold")
        return text


def _state_order(state: str) -> int:
    """This run's early phases first, then the server's states, then the final ones."""
    order = ["waiting", "uploading", "creating", "created", "resumed"]
    if state in order:
        return order.index(state)
    return 20 if state in _STATE_STYLE else 10


class LiveReporter(_Silent):
    """The terminal display: a bar per file being uploaded, one for all the bytes, the jobs
    per state, and a line above the bars for each source as it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
        )
        self._overall: TaskID | None = None
        # Only the event loop touches this; rich's Progress locks its own tasks for redraws.
        self._tasks: dict[Item, TaskID] = {}
        self._live: Live | None = None

    def start(self, items: Sequence[Item]) -> None:
        super().start(items)
        upload_bytes = sum(
            i.source.size or 0 for i in items if i.action is Action.UPLOAD and not i.source.is_url
        )
        self._overall = self.bars.add_task("all uploads", total=upload_bytes or None)
        self._live = Live(
            Group(self.bars, _StatusLine(items)),
            console=self.console,
            refresh_per_second=8,
            transient=True,
        )
        self._live.start()
        note = _skipped_note(items)
        if note:
            self.console.print(note, markup=False)

    def changed(self, item: Item) -> None:
        if item.phase is Phase.UPLOADING and item not in self._tasks:
            name = _short(item.source.label)
            self._tasks[item] = self.bars.add_task(name, total=item.source.size)
        elif item.phase is not Phase.UPLOADING:
            self._drop(item)

    def progress(self, item: Item, sent: int) -> None:
        task = self._tasks.get(item)
        if task is not None:
            self.bars.update(task, completed=sent)
        if self._overall is not None:
            self.bars.advance(self._overall, sent - item.sent)

    def finished(self, item: Item) -> None:
        self._drop(item)
        if item.phase in _QUIET_PHASES:
            return
        style = _STATE_STYLE.get(item.state, "")
        mark = "✓" if item.ok else "✗"
        line = Text(f"{mark} ", style=style)
        line.append(outcome_line(item))
        self.console.print(line)

    def note(self, text: str) -> None:
        self.console.print(text, markup=False)

    def _drop(self, item: Item) -> None:
        task = self._tasks.pop(item, None)
        if task is not None:
            self.bars.remove_task(task)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _short(label: str, width: int = 40) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1) :]
