"""``carto-async sql --batch "QUERY" [--wait]``: run a statement as a SQL Batch job.

Without ``--wait`` the job is created and its id and resume token are printed (the job goes
on on the server). With ``--wait`` the command waits for the job and exits 0 when it is
``done``, 1 when it failed or was cancelled (saying which query failed and why), 3 when
``--timeout`` ran out first (the job goes on). Ctrl-C while waiting cancels the job.

:func:`run_batch` is the whole behaviour; :func:`batch_options` adds ``--batch``, ``--wait`` and
``--timeout`` to a click command: ``carto-async sql`` (``cli/_sql.py``) calls ``run_batch``
when ``--batch`` is given.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from carto_async._sync.client import Carto
from carto_async.cli._run import Problem
from carto_async.errors import BatchJobFailed, CartoError, JobTimeout, ValidationError
from carto_async.models.batch import BatchJobStatus

__all__ = ["EXIT_FAILED", "EXIT_TIMEOUT", "batch_options", "run_batch"]

#: The job ended ``failed``, ``cancelled`` or ``unknown``.
EXIT_FAILED = 1
#: ``--timeout`` ran out while waiting; the job goes on on the server.
EXIT_TIMEOUT = 3

F = TypeVar("F", bound=Callable[..., Any])


def batch_options(func: F) -> F:
    """``--batch``, ``--wait``, ``--timeout`` and ``--json`` (the last shared with row output)."""
    options = [
        click.option(
            "--batch",
            is_flag=True,
            help="Run QUERY as a SQL Batch job on the server (for long statements); "
            "QUERY may hold several statements separated by ';'.",
        ),
        click.option(
            "--wait",
            is_flag=True,
            help="With --batch: wait for the job to end (Ctrl-C cancels it).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="With --batch --wait: stop waiting after SECONDS (exit status 3).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _describe(status: BatchJobStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"job_id": status.job_id, "status": status.status}
    if status.kind != "simple":
        out["queries"] = [q.status for q in status.queries]
    if status.failed_reason:
        out["failed_reason"] = status.failed_reason
    return out


def _say(data: dict[str, Any], *, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else text)


def run_batch(
    carto: Carto,
    query: str,
    *,
    wait: bool = False,
    timeout: float | None = None,
    as_json: bool = False,
) -> int:
    """Create a Batch job running ``query`` (and wait for it with ``wait``); the exit status.

    Bad input (an empty query, one over the 16 KB limit) raises :class:`Problem` before
    anything is sent; a refusal of the server raises :class:`click.ClickException`.
    """
    try:
        job = carto.sql.batch(query)
    except ValidationError as exc:
        raise Problem(*exc.problems or [str(exc)]) from None
    except CartoError as exc:
        raise click.ClickException(str(exc)) from None
    created: dict[str, Any] = {"job_id": job.id, "status": job.state, "token": job.token()}
    if not wait:
        _say(
            created,
            as_json=as_json,
            text=f"Batch job {job.id} {job.state}\nresume token: {created['token']}",
        )
        return 0
    if not as_json:
        click.echo(f"Batch job {job.id} {job.state}; waiting...", err=True)
    try:
        status = job.wait(timeout=timeout)
    except BatchJobFailed as exc:
        final = job.snapshot
        data: dict[str, Any] = _describe(final) if final is not None else {"job_id": job.id}
        if exc.query_index is not None:
            data["failed_query"] = exc.query_index
        _say(data, as_json=as_json, text=str(exc))
        return EXIT_FAILED
    except JobTimeout:
        data = {"job_id": job.id, "status": job.state, "token": created["token"]}
        _say(
            data,
            as_json=as_json,
            text=f"Batch job {job.id} still {job.state} after {timeout:g}s; it goes on on the "
            f"server (resume token: {created['token']})",
        )
        return EXIT_TIMEOUT
    except KeyboardInterrupt:
        with contextlib.suppress(CartoError):
            job.cancel()
        click.echo(f"interrupted: Batch job {job.id} cancelled", err=True)
        raise
    except CartoError as exc:
        raise click.ClickException(str(exc)) from None
    _say(_describe(status), as_json=as_json, text=f"Batch job {job.id} {status.status}")
    return 0
