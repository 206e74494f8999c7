"""``carto-async export``: a map and its datasets into one ``.carto`` file."""

from __future__ import annotations

import os
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from carto_async import ExportFailed
from carto_async.cli._import import credential_options
from carto_async.cli._output import console
from carto_async.cli._syncs import client_for, fail

__all__ = ["export_command"]


@click.command("export")
@click.argument("visualization_id", metavar="VIS_ID")
@credential_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The file to write (default: VIS_ID.carto).",
)
@click.option(
    "--table-id",
    "table_ids",
    multiple=True,
    metavar="ID",
    help="Export only these tables of the map (repeat the flag).",
)
@click.option("--timeout", type=float, metavar="SECONDS", help="Give up waiting after SECONDS.")
@click.option(
    "--poll-interval",
    type=float,
    metavar="SECONDS",
    help="Wait before the first status poll (then longer, up to 30 s).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress.")
def export_command(
    *,
    visualization_id: str,
    output: str | None,
    table_ids: tuple[str, ...],
    timeout: float | None,
    poll_interval: float | None,
    quiet: bool,
    **creds: Any,
) -> None:
    """Export a map (and its datasets) as a .carto file; ``carto-async import FILE`` brings
    it back. Waits for the export, then downloads it with progress."""
    path = output or f"{visualization_id}.carto"
    err = console(stderr=True, quiet=quiet)
    with client_for(poll_interval=poll_interval, **creds) as carto:
        job = carto.exports.create(visualization_id, user_tables_ids=table_ids or None)
        err.print(f"export {job.id} started", markup=False)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("exporting", total=None)

            def progress(received: int, total: int | None) -> None:
                bar.update(task, description="downloading", completed=received, total=total)

            try:
                done = job.download(path, progress=progress, timeout=timeout)
            except ExportFailed as exc:
                fail(str(exc))
    click.echo(f"{os.path.relpath(done.path or path)} ({done.size} bytes)")
