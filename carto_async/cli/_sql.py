"""``carto-async sql``: run a query; rows as a table or JSON lines, or a format into a file.

Rows go to stdout (a table, or one JSON object per row with ``--json``); ``--format`` with
``-o FILE`` streams the server's file (GeoPackage, Shapefile zip, CSV...) into FILE with a
progress bar on stderr, and without ``-o`` writes it to stdout. Batch jobs (``--batch``) plug in
here as one more option handled before the query runs.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from carto_async._core.credentials import Credentials
from carto_async._core.sql import VALID_FORMATS
from carto_async._sync.client import Carto
from carto_async.cli._batch_sql import batch_options, run_batch
from carto_async.cli._import import credential_options, local_server, resolve_credentials
from carto_async.cli._run import Problem
from carto_async.errors import CartoError, ValidationError

__all__ = ["client_for", "parse_params", "sql_command", "transfer_progress"]


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``k=v`` pairs as template parameters: ``k=v`` is the string ``v``; ``k:=v`` is ``v``
    read as JSON (``n:=3``, ``ok:=true``, ``ids:=[1,2]``, ``x:=null``)."""
    params: dict[str, Any] = {}
    problems = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or name == ":":
            problems.append(f"--param takes NAME=VALUE or NAME:=JSON, not {pair!r}")
            continue
        if name.endswith(":"):
            try:
                params[name[:-1]] = json.loads(value)
            except ValueError:
                problems.append(f"--param {name[:-1]}: {value!r} is not JSON")
        else:
            params[name] = value
    if problems:
        raise Problem(*problems)
    return params


@contextlib.contextmanager
def client_for(
    *,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
) -> Iterator[Carto]:
    """A blocking client of the account the flags (or the environment) name, or of an
    embedded LocalCarto with ``--local``."""
    with contextlib.ExitStack() as stack:
        credentials: Credentials
        if local:
            if base_url:
                raise Problem("--local and --base-url cannot go together")
            credentials = stack.enter_context(local_server(user, api_key))
        else:
            credentials = resolve_credentials(
                user, api_key, base_url, allow_insecure_http=allow_insecure_http
            )
        yield stack.enter_context(Carto(credentials=credentials))


@contextlib.contextmanager
def transfer_progress(
    description: str, *, show: bool
) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress callback drawing a bar on stderr (``None`` when not shown)."""
    if not show:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(description, total=None)

    def update(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_rows(rows: Sequence[Mapping[str, Any]], names: Sequence[str], *, as_json: bool) -> None:
    """Rows on stdout: JSON lines, or a table."""
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False, default=str))
        return
    if not names:
        return  # a statement without columns (create, insert...): only the count is shown
    table = Table(*names, show_lines=False)
    for row in rows:
        table.add_row(*(_cell(row.get(n)) for n in names))
    Console(soft_wrap=False).print(table)


@click.command("sql")
@click.argument("query")
@credential_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(VALID_FORMATS, case_sensitive=False),
    help="Ask the server for this format and write its file (to -o FILE, else stdout).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the result into FILE (its extension gives the format when --format is not "
    "given); written under a temporary name, renamed when complete.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Fill {{NAME}} in the query with a quoted literal; NAME:=JSON for numbers, "
    "booleans, null and lists. Repeatable.",
)
@batch_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def sql_command(
    *,
    query: str,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    fmt: str | None,
    output: str | None,
    params: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    batch: bool,
    wait: bool,
    timeout: float | None,
) -> None:
    """Run QUERY with the SQL API (as a Batch job on the server with --batch).

    Rows are shown as a table (JSON lines with --json); with --format or -o the server's
    file in that format is streamed into FILE or to stdout.

    Exit status: 0 on success, 1 when the server refused the query (or the Batch job failed or
    was cancelled), 2 for bad usage, 3 when --timeout ran out waiting for a Batch job.
    """
    if not batch and (wait or timeout is not None):
        raise Problem("--wait and --timeout go with --batch")
    if batch and (wait is False) and timeout is not None:
        raise Problem("--timeout goes with --wait")
    if batch and (fmt or output or params):
        raise Problem("--batch runs QUERY on the server: it cannot go with --format, -o or --param")
    if batch:
        with client_for(
            user=user,
            api_key=api_key,
            base_url=base_url,
            allow_insecure_http=allow_insecure_http,
            local=local,
        ) as carto:
            code = run_batch(carto, query, wait=wait, timeout=timeout, as_json=as_json)
        if code:
            raise SystemExit(code)
        return
    values = parse_params(params) if params else None
    if as_json and (fmt or output):
        raise Problem("--json shows rows; it cannot go with --format or -o")
    with client_for(
        user=user,
        api_key=api_key,
        base_url=base_url,
        allow_insecure_http=allow_insecure_http,
        local=local,
    ) as carto:
        try:
            if fmt or output:
                show = not quiet and output is not None and sys.stderr.isatty()
                with transfer_progress("download", show=show) as progress:
                    carto.sql.download(
                        query,
                        output if output is not None else sys.stdout.buffer,
                        format=fmt.lower() if fmt else None,
                        params=values,
                        progress=progress,
                    )
                return
            result = carto.sql.query(query, params=values)
        except ValidationError as exc:
            raise Problem(*exc.problems or [str(exc)]) from None
        except CartoError as exc:
            raise click.ClickException(str(exc)) from None
    names = list(result.fields) or (list(result.rows[0]) if result.rows else [])
    print_rows(result.rows, names, as_json=as_json)
    if not as_json and not quiet:
        click.echo(f"({result.total_rows} row{'s' if result.total_rows != 1 else ''})", err=True)
