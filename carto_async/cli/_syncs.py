"""``carto-async sync``: create, list, show, run now and delete sync tables."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click
from rich.table import Table

from carto_async import Carto, CartoError, SyncFailed, ValidationError
from carto_async.cli._import import (
    credential_options,
    local_server,
    poll_policy,
    resolve_credentials,
)
from carto_async.cli._output import console
from carto_async.cli._run import Problem
from carto_async.models.syncs import Sync

__all__ = ["client_for", "fail", "sync_group"]

F = TypeVar("F", bound=Callable[..., Any])

#: The exit status of a request the server refused or a run that failed.
EXIT_FAILED = 1


def fail(message: str) -> NoReturn:
    """Say what went wrong on stderr and exit with status 1."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(EXIT_FAILED)


@contextlib.contextmanager
def client_for(
    *,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    poll_interval: float | None = None,
) -> Iterator[Carto]:
    """A blocking client of the account the flags name (or of an embedded LocalCarto).

    Bad input is a usage error (exit status 2); a request the server refuses exits 1 with the
    server's words.
    """
    if local and base_url:
        raise Problem("--local and --base-url cannot go together")
    with contextlib.ExitStack() as stack:
        if local:
            credentials = stack.enter_context(local_server(user, api_key))
        else:
            credentials = resolve_credentials(
                user, api_key, base_url, allow_insecure_http=allow_insecure_http
            )
        carto = stack.enter_context(
            Carto(credentials=credentials, poll=poll_policy(poll_interval, local=local))
        )
        try:
            yield carto
        except ValidationError as exc:
            raise Problem(*exc.problems) from None
        except CartoError as exc:
            fail(str(exc))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def _source(sync: Sync) -> str:
    return sync.url or sync.service_item_id or "-"


def _show(sync: Sync, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(sync.raw, sort_keys=True))
        return
    out = console()
    rows = [
        ("id", sync.id),
        ("name", sync.name or "-"),
        ("state", sync.state),
        ("source", _source(sync)),
        ("interval", f"{sync.interval} s" if sync.interval is not None else "-"),
        ("ran at", _when(sync.ran_at)),
        ("runs next at", _when(sync.run_at)),
        ("retried", str(sync.retried_times)),
    ]
    if sync.error_code is not None:
        text = sync.error
        rows.append(("error", f"{sync.error_code} {text.title if text else ''}".strip()))
    if sync.data_import is not None:
        rows.append(("first import", sync.data_import.item_queue_id))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out.print(f"{key.ljust(width)}  {value}", markup=False)


def _options(func: F) -> F:
    option = click.option("--json", "as_json", is_flag=True, help="The server's JSON on stdout.")
    return option(credential_options(func))


_wait_options = [
    click.option("--timeout", type=float, metavar="SECONDS", help="Give up waiting after SECONDS."),
    click.option(
        "--poll-interval",
        type=float,
        metavar="SECONDS",
        help="Wait before the first status poll (then longer, up to 30 s).",
    ),
]


def _waiting(func: F) -> F:
    for option in reversed(_wait_options):
        func = option(func)
    return func


@click.group("sync")
def sync_group() -> None:
    """Sync tables: tables CARTO imports again from a URL at an interval."""


@sync_group.command("create")
@click.argument("url")
@_options
@_waiting
@click.option(
    "--interval",
    type=int,
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between runs (at least 900).",
)
@click.option("--table-name", metavar="NAME", help="The table to create.")
@click.option("--arcgis", is_flag=True, help="URL is an ArcGIS Server layer or service to sync.")
@click.option("--create-vis", is_flag=True, help="Also create a map of the table.")
@click.option("--wait", is_flag=True, help="Wait for the first run to finish.")
def create_command(
    *,
    url: str,
    interval: int,
    table_name: str | None,
    arcgis: bool,
    create_vis: bool,
    wait: bool,
    timeout: float | None,
    poll_interval: float | None,
    as_json: bool,
    **creds: Any,
) -> None:
    """Create a sync table of the file at URL (http, https or ftp)."""
    with client_for(poll_interval=poll_interval, **creds) as carto:
        options: dict[str, Any] = {
            "interval": interval,
            "table_name": table_name,
            "create_vis": True if create_vis else None,
        }
        if arcgis:
            run = carto.syncs.from_arcgis(url, **options)
        else:
            run = carto.syncs.create(url, **options)
        sync = run.snapshot
        if wait:
            try:
                sync = run.wait(timeout)
            except SyncFailed as exc:
                fail(str(exc))
        assert sync is not None
        _show(sync, as_json=as_json)


@sync_group.command("list")
@_options
def list_command(*, as_json: bool, **creds: Any) -> None:
    """Every sync table of the account."""
    with client_for(**creds) as carto:
        syncs = carto.syncs.list()
    if as_json:
        for sync in syncs:
            click.echo(json.dumps(sync.raw, sort_keys=True))
        return
    table = Table("id", "name", "state", "interval", "ran at", "source", box=None)
    for sync in syncs:
        table.add_row(
            sync.id,
            sync.name or "-",
            sync.state,
            f"{sync.interval} s" if sync.interval is not None else "-",
            _when(sync.ran_at),
            _source(sync),
        )
    out = console()
    out.print(table)
    out.print(f"{len(syncs)} sync table(s)")


@sync_group.command("show")
@click.argument("sync_id", metavar="ID")
@_options
def show_command(*, sync_id: str, as_json: bool, **creds: Any) -> None:
    """One sync table."""
    with client_for(**creds) as carto:
        sync = carto.syncs.get(sync_id)
    _show(sync, as_json=as_json)


@sync_group.command("now")
@click.argument("sync_id", metavar="ID")
@_options
@_waiting
@click.option("--wait", is_flag=True, help="Wait for the run to finish.")
def now_command(
    *,
    sync_id: str,
    wait: bool,
    timeout: float | None,
    poll_interval: float | None,
    as_json: bool,
    **creds: Any,
) -> None:
    """Run a sync table now. Exit status 1 when the server did not enqueue the run (it ran
    less than 15 minutes ago, or 3 syncs run already) or the run failed."""
    with client_for(poll_interval=poll_interval, **creds) as carto:
        run = carto.syncs.sync_now(sync_id)
        if run.refusal is not None:
            message = f"not enqueued: {run.refusal.message}"
            if run.done:
                fail(message)
            click.echo(f"{message}; {'waiting for that run' if wait else 'nothing to do'}")
        elif not as_json:
            click.echo(f"sync {run.id} enqueued")
        if not wait:
            return
        try:
            sync = run.wait(timeout)
        except SyncFailed as exc:
            fail(str(exc))
        _show(sync, as_json=as_json)


@sync_group.command("delete")
@click.argument("sync_id", metavar="ID")
@credential_options
def delete_command(*, sync_id: str, **creds: Any) -> None:
    """Stop syncing a table; the table stays as a normal dataset."""
    with client_for(**creds) as carto:
        carto.syncs.delete(sync_id)
    click.echo(f"sync {sync_id} deleted; its table stays")
