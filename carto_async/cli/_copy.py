"""``carto-async copy-from FILE TABLE`` and ``carto-async copy-to QUERY FILE``: bulk data in
and out with the SQL API's COPY endpoints, streamed, with a progress bar on stderr."""

from __future__ import annotations

import sys

import click

from carto_async.cli._import import credential_options
from carto_async.cli._run import Problem
from carto_async.cli._sql import client_for, transfer_progress
from carto_async.errors import CartoError, ValidationError

__all__ = ["copy_from_command", "copy_to_command"]

_FORMAT = click.Choice(["csv", "text"], case_sensitive=False)


@click.command("copy-from")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("table")
@credential_options
@click.option("--columns", metavar="A,B,...", help="The table columns the file's fields fill.")
@click.option("--format", "fmt", type=_FORMAT, default="csv", show_default=True)
@click.option(
    "--header/--no-header",
    default=True,
    show_default=True,
    help="Whether the CSV file's first line names the columns (skipped).",
)
@click.option("--delimiter", metavar="CHAR", help="Field separator (default , for csv).")
@click.option("--null", metavar="TEXT", help="The text that stands for NULL.")
@click.option("--no-gzip", is_flag=True, help="Send the bytes as they are (default: gzipped).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def copy_from_command(
    *,
    file: str,
    table: str,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    columns: str | None,
    fmt: str,
    header: bool,
    delimiter: str | None,
    null: str | None,
    no_gzip: bool,
    quiet: bool,
) -> None:
    """Load FILE (a CSV or text file, '-' for stdin; .gz files are sent as they are) into
    the existing TABLE with COPY FROM STDIN.

    The load is never repeated after a failure once bytes went out: check the table before
    running it again. Exit status: 0 loaded, 1 refused by the server, 2 bad usage.
    """
    names = [c.strip() for c in columns.split(",")] if columns else None
    source = sys.stdin.buffer if file == "-" else file
    with client_for(
        user=user,
        api_key=api_key,
        base_url=base_url,
        allow_insecure_http=allow_insecure_http,
        local=local,
    ) as carto:
        try:
            show = not quiet and sys.stderr.isatty()
            with transfer_progress(f"copy-from {table}", show=show) as progress:
                result = carto.sql.copy_from(
                    table,
                    iter(lambda: source.read(1 << 20), b"") if file == "-" else source,  # type: ignore[union-attr]
                    columns=names,
                    format=fmt.lower(),  # type: ignore[arg-type]
                    header=header if fmt.lower() == "csv" else None,
                    delimiter=delimiter,
                    null=null,
                    gzip=not no_gzip,
                    progress=progress,
                )
        except ValidationError as exc:
            raise Problem(*exc.problems or [str(exc)]) from None
        except CartoError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{result.total_rows} rows copied into {table} ({result.time:.2f} s)")


@click.command("copy-to")
@click.argument("query")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@credential_options
@click.option("--format", "fmt", type=_FORMAT, default="csv", show_default=True)
@click.option("--header/--no-header", default=True, show_default=True, help="CSV header line.")
@click.option("--delimiter", metavar="CHAR", help="Field separator.")
@click.option("--null", metavar="TEXT", help="The text written for NULL.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def copy_to_command(
    *,
    query: str,
    file: str,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    fmt: str,
    header: bool,
    delimiter: str | None,
    null: str | None,
    quiet: bool,
) -> None:
    """Write the rows of QUERY (or a whole COPY ... TO STDOUT statement) into FILE ('-' for
    stdout) with COPY TO STDOUT.

    FILE is written under a temporary name and renamed when complete: a failure leaves no
    partial file. Exit status: 0 written, 1 refused by the server, 2 bad usage.
    """
    is_statement = query.lstrip()[:5].lower() == "copy "
    with client_for(
        user=user,
        api_key=api_key,
        base_url=base_url,
        allow_insecure_http=allow_insecure_http,
        local=local,
    ) as carto:
        try:
            show = not quiet and file != "-" and sys.stderr.isatty()
            with transfer_progress("copy-to", show=show) as progress:
                done = carto.sql.copy_to(
                    query,
                    sys.stdout.buffer if file == "-" else file,
                    format=fmt.lower(),  # type: ignore[arg-type]
                    header=None if is_statement or fmt.lower() != "csv" else header,
                    delimiter=None if is_statement else delimiter,
                    null=None if is_statement else null,
                    progress=progress,
                )
        except ValidationError as exc:
            raise Problem(*exc.problems or [str(exc)]) from None
        except CartoError as exc:
            raise click.ClickException(str(exc)) from None
    if file != "-" and not quiet:
        click.echo(f"{done.size} bytes written to {file}", err=True)
