"""One batch import from start to exit status: client, pre-flight check, batch, summary.

Shared by ``carto-async import`` and ``carto-async demo``, so the demo shows exactly what the
import command does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import anyio
import attrs
import click

from carto_async import AsyncCarto, PollPolicy
from carto_async._core.credentials import Credentials
from carto_async.cli._batch import ANSWER_GRACE, Batch, Item, Phase, Reporter, plan
from carto_async.cli._manifest import Account, Manifest, ManifestError, ManifestLock
from carto_async.cli._output import console
from carto_async.cli._progress import (
    JSONReporter,
    LiveReporter,
    PlainReporter,
    QuietReporter,
    Reporters,
)
from carto_async.cli._sources import Source
from carto_async.cli._summary import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    exit_status,
    next_steps,
    print_summary,
)
from carto_async.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
)

__all__ = ["LOCAL_POLL", "Display", "ImportRun", "Problem", "Settings"]

#: Polls of an embedded LocalCarto cost nothing; CARTO's default spacing would only add waiting.
LOCAL_POLL = PollPolicy(initial=0.1, factor=1.2, cap=0.5)


class Problem(click.ClickException):
    """Bad input or an unusable server, found before anything was uploaded (exit status 2)."""

    exit_code = EXIT_USAGE

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def show(self, file: Any = None) -> None:
        for problem in self.problems:
            click.echo(f"error: {problem}", err=True)


@attrs.frozen
class Display:
    """How the run talks: JSON lines for scripts, quiet, verbose (advice, retry logs)."""

    json: bool = False
    quiet: bool = False
    verbose: int = 0

    def reporter(self) -> Reporter:
        """The reporters for this display: progress on stderr, results on stdout."""
        reporters: list[Reporter] = []
        if self.json:
            reporters.append(JSONReporter())
        if self.quiet:
            if not self.json:
                reporters.append(QuietReporter())
        else:
            err = console(stderr=True)
            reporters.append(LiveReporter(err) if err.is_terminal else PlainReporter(err))
        return Reporters(*reporters)


@attrs.frozen
class Settings:
    """Everything about the imports themselves."""

    options: dict[str, Any] = attrs.Factory(dict)
    concurrency: int = 4
    max_imports: int | None = 3
    timeout: float | None = None
    retry_unknown: bool = False
    poll: PollPolicy | None = None
    answer_grace: float = ANSWER_GRACE


def preflight_problem(exc: Exception, credentials: Credentials) -> str:
    """What a failed pre-flight request means, in one sentence."""
    where = credentials.base_url
    if isinstance(exc, AuthenticationError):
        return (
            f"{where} refused the API key of {credentials.username} (401): "
            "the Import API needs the account's master API key"
        )
    if isinstance(exc, NotFoundError):
        return f"{where} does not know the user {credentials.username} (404)"
    if isinstance(exc, APIConnectionError):
        return f"cannot reach {where}: {exc.message}"
    if isinstance(exc, APIStatusError):
        return f"{where} answered {exc.status_code}: {exc.message}"
    return f"{where}: {exc}"


class ImportRun:
    """A batch import of ``sources`` into ``credentials``' account.

    ``manifest_path`` (optional) is the manifest to resume from and record into; without one,
    the records are kept in memory and saved to a new file only if something is left running
    (``save_leftovers``).
    """

    def __init__(
        self,
        credentials: Credentials,
        sources: Sequence[Source],
        *,
        settings: Settings,
        display: Display,
        manifest_path: str | None = None,
        save_leftovers: bool = True,
    ) -> None:
        self.credentials = credentials
        self.settings = settings
        self.display = display
        self.manifest_given = manifest_path is not None
        self.save_leftovers = save_leftovers
        account = Account(credentials.username, credentials.base_url)
        self._lock = ManifestLock(manifest_path) if manifest_path is not None else None
        try:
            if self._lock is not None:
                self._lock.acquire()
            self.manifest = (
                Manifest.open(manifest_path, account)
                if manifest_path is not None
                else Manifest(None, account)
            )
        except ManifestError as exc:
            if self._lock is not None:
                self._lock.release()
            raise Problem(str(exc)) from None
        self.items: list[Item] = plan(sources, self.manifest, retry_unknown=settings.retry_unknown)
        self.interrupted = False
        self.terminated = False  # stopped by SIGTERM (exit status 143, not 130)
        self._cancel_main: Callable[[], object] | None = None
        self._signals = 0  # stop signals received (SIGINT or SIGTERM); the second stops at once
        self._runner_sigint: Callable[[int, Any], object] | None = None
        self.elapsed = 0.0

    def client(self) -> AsyncCarto:
        """The SDK client, paced by the settings."""
        return AsyncCarto(
            credentials=self.credentials,
            max_concurrent_uploads=self.settings.concurrency,
            max_concurrent_imports=self.settings.max_imports or None,
            poll=self.settings.poll,
        )

    async def _main(self) -> None:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        if task is not None:
            self._cancel_main = functools.partial(loop.call_soon_threadsafe, task.cancel)
        with self._second_ctrl_c_stops_at_once():
            await self._batch()

    async def _batch(self) -> None:
        async with self.client() as carto:
            try:
                # One cheap request that needs the master key: a wrong URL, user or key
                # shows here, before any upload.
                await carto.imports.list()
            except (APIConnectionError, APIStatusError) as exc:
                raise Problem(preflight_problem(exc, self.credentials)) from None
            batch = Batch(
                carto,
                self.items,
                manifest=self.manifest,
                reporter=self.display.reporter(),
                options=self.settings.options,
                timeout=self.settings.timeout,
                answer_grace=self.settings.answer_grace,
            )
            await batch.run()

    def run(self) -> int:
        """Run the batch, print the summary and what to do next; return the exit status."""
        started = time.monotonic()
        try:
            with self._sigterm_as_ctrl_c():
                anyio.run(self._main)
        except BaseException as exc:
            if not self._is_stop(exc):
                raise
            self._stopped()
        finally:
            self.manifest.close()  # the journal folded into the file, whatever happened
            if self._lock is not None:
                self._lock.release()
        self.elapsed = time.monotonic() - started
        self._save_leftovers()
        self.report()
        if self.terminated:
            return EXIT_TERMINATED
        return exit_status(self.items, interrupted=self.interrupted)

    def _is_stop(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the stop a signal asked for: Ctrl-C (or a second signal), or
        SIGTERM cancelling the batch itself (Ctrl-C is not handled that way). A signal
        handler's ``KeyboardInterrupt`` raised inside a task of a task group comes out
        wrapped in an exception group; one holding only stops is a stop too."""
        if isinstance(exc, KeyboardInterrupt):
            return True
        if isinstance(exc, asyncio.CancelledError):
            return self.terminated
        if isinstance(exc, BaseExceptionGroup):
            return all(self._is_stop(inner) for inner in exc.exceptions)
        return False

    def _stopped(self) -> None:
        self.interrupted = True
        for item in self.items:
            if item.final:
                continue
            # Stopped before the batch started, or by a second signal (the batch did not get
            # to record them): the manifest's written-ahead record says the same.
            if item.job is not None:
                item.phase = Phase.INTERRUPTED
                item.message = "still running on the server; a re-run resumes it"
            elif item.recorded_start:
                item.phase = Phase.UNKNOWN
                item.message = "stopped after its upload began: it may have been imported"
            else:
                item.phase, item.message = Phase.INTERRUPTED, "not started"

    @contextlib.contextmanager
    def _sigterm_as_ctrl_c(self) -> Iterator[None]:
        """While the batch runs, SIGTERM (kill, timeout, docker stop, CI cancellation) stops
        it as Ctrl-C does: uploads already sent get their answer, every source is recorded,
        and a second signal stops at once.

        The signal goes to the event loop's own Ctrl-C handling when there is one; when
        SIGINT is ignored (a background job of a script), this cancels the batch itself.
        Only the main thread can install handlers; elsewhere SIGTERM keeps its default
        action, and the manifest's written-ahead records still prevent duplicates.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigterm(signum: int, frame: Any) -> None:
            first = not self.terminated
            self.terminated = True
            self._count_signal()
            # The event loop's own Ctrl-C handling, not the wrapper that counts Ctrl-C.
            handler = self._runner_sigint or signal.getsignal(signal.SIGINT)
            if callable(handler) and handler is not signal.default_int_handler:
                handler(signal.SIGINT, frame)
            elif first and self._cancel_main is not None:
                self._cancel_main()
            else:
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_sigterm)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    @contextlib.contextmanager
    def _second_ctrl_c_stops_at_once(self) -> Iterator[None]:
        """While the batch runs, the first Ctrl-C goes to the event loop's own handling (the
        batch is cancelled, uploads already sent get their answer); a second stop signal
        stops at once (:meth:`_count_signal`). Installed from inside the loop, whose runner
        put its Ctrl-C handler in place first; left alone when Ctrl-C is ignored."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        runner = signal.getsignal(signal.SIGINT)
        if not callable(runner):  # ignored (a background job of a script), or not Python's
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            self._count_signal()
            runner(signum, frame)

        self._runner_sigint = runner
        signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, runner)
            self._runner_sigint = None

    def _count_signal(self) -> None:
        """Count a stop signal; at the second, stop at once.

        A second signal means "now": not a ``KeyboardInterrupt`` raised wherever the main
        thread happens to be (inside a task, it leaves the tasks shielded to finish their
        uploads still running), but an exit on the spot, as after SIGKILL. Nothing is lost:
        every upload's start was written ahead to the manifest's journal before its request
        went out, so a re-run holds what may have been imported. Without ``--manifest`` the
        records are first saved to a new manifest file, as an interrupted run does.
        """
        self._signals += 1
        if self._signals < 2:
            return
        status = EXIT_TERMINATED if self.terminated else EXIT_INTERRUPTED
        try:
            self._stopped()
            if self.manifest.path is None:
                self._save_leftovers()
            path = self.manifest.path
            where = f" (recorded in {path})" if path else ""
            sys.stderr.write(
                "Stopped at once: uploads in flight may have been imported; a re-run with "
                f"the manifest holds them{where}.\n"
            )
            sys.stderr.flush()
        finally:
            os._exit(status)

    def _save_leftovers(self) -> None:
        # Without --manifest, records are kept only when losing them would cost something:
        # imports left running or in doubt, or an interrupted run whose re-run would
        # otherwise import again what already completed.
        wanted = self.manifest.resumable() or (self.interrupted and self.manifest.entries)
        if self.manifest.path is None and self.save_leftovers and wanted:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            self.manifest.save_as(os.path.abspath(f"carto-async-manifest-{stamp}.json"))

    def report(self) -> None:
        """The summary table (unless JSON or quiet), then next steps on stderr."""
        if not (self.display.json or self.display.quiet):
            print_summary(
                console(),
                self.items,
                elapsed=self.elapsed,
                verbose=self.display.verbose > 0,
            )
        err = console(stderr=True)
        path = self.manifest.path
        steps = next_steps(
            self.items,
            manifest=path,
            manifest_given=self.manifest_given,
            interrupted=self.interrupted,
        )
        for line in steps:
            err.print(line, markup=False)
        if (
            not self.interrupted
            and path is None
            and self.save_leftovers
            and not self.display.quiet
            and any(i.failed for i in self.items)
        ):
            err.print(
                "Tip: with --manifest FILE, a re-run retries only what did not import.",
                markup=False,
            )
