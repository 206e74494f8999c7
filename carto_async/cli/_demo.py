"""``carto-async demo``: sample datasets, an embedded LocalCarto, the batch import, a look at
the tables through the SQL API, and a static map (PNG) of what was imported, drawn by the Maps
API.

The import is the one ``carto-async import DIR --local`` runs (same runner, progress and
summary); two of the files fail on purpose, so the demo exits 0 when exactly those two fail
with their expected error codes and everything else imports.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import attrs
import click
from rich.table import Table
from rich.text import Text

from carto_async import Carto, CartoError
from carto_async._core.credentials import Credentials
from carto_async.cli._batch import Item, Phase
from carto_async.cli._demo_data import EXPECTED_FAILURES, write_datasets
from carto_async.cli._import import local_server
from carto_async.cli._output import console
from carto_async.cli._run import LOCAL_POLL, Display, ImportRun, Settings
from carto_async.cli._sources import expand_sources
from carto_async.cli._summary import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from carto_async.models.maps import MapConfig, MapnikLayer

if TYPE_CHECKING:
    from carto_async.testing import ImportInfo

__all__ = ["demo_command", "describe_tables", "draw_map", "unexpected"]

#: Colours of the demo map's layers, one per table (at most this many tables are drawn).
_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe_tables(carto: Carto, items: Sequence[Item]) -> Table:
    """Rows and geometry types of every table the import created, from the SQL API."""
    table = Table(title="Tables created, as the SQL API sees them", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("geometry types")
    for item in items:
        if item.phase is not Phase.COMPLETE or not item.table_name:
            continue
        try:
            # The table name comes from the server and is quoted as an identifier.
            query = (
                "select GeometryType(the_geom) as geometry_type, count(*) as n "  # noqa: S608
                f"from {_quote_ident(item.table_name)} group by 1 order by 2 desc"
            )
            result = carto.sql.query(query)
        except CartoError as exc:
            table.add_row(item.table_name, "-", Text(f"query failed: {exc}", style="red"))
            continue
        rows = sum(int(r["n"]) for r in result.rows)
        kinds = ", ".join(str(r["geometry_type"]) for r in result.rows if r["geometry_type"])
        table.add_row(item.table_name, str(rows), kinds or "none (a plain table)")
    return table


def _layer_css(colour: str) -> str:
    return (
        f"#layer {{ marker-fill: {colour}; marker-width: 7; marker-line-color: #fff; "
        f"marker-line-width: 1; line-color: {colour}; line-width: 2; polygon-fill: {colour}; "
        "polygon-opacity: 0.45; }"
    )


def draw_map(carto: Carto, items: Sequence[Item], path: str) -> str:
    """Draw every imported table with geometries (up to 8, one colour each) on one static
    map of their extent, written to ``path`` as PNG; returns what was drawn, in words."""
    tables: list[str] = []
    bounds: list[tuple[float, float, float, float]] = []
    for item in items:
        if item.phase is not Phase.COMPLETE or not item.table_name or len(tables) >= 8:
            continue
        name = _quote_ident(item.table_name)
        # The table name comes from the server and is quoted as an identifier.
        extent = carto.sql.query(
            "select min(ST_XMin(the_geom)) as w, min(ST_YMin(the_geom)) as s, "  # noqa: S608
            f"max(ST_XMax(the_geom)) as e, max(ST_YMax(the_geom)) as n from {name}"
        ).rows[0]
        if extent["w"] is None:
            continue  # a plain table: nothing to draw
        tables.append(item.table_name)
        bounds.append((extent["w"], extent["s"], extent["e"], extent["n"]))
    if not tables:
        return "no table with geometries to draw"
    west = min(b[0] for b in bounds)
    south = min(b[1] for b in bounds)
    east = max(b[2] for b in bounds)
    north = max(b[3] for b in bounds)
    pad_x, pad_y = max((east - west) * 0.05, 0.5), max((north - south) * 0.05, 0.5)
    box = (
        max(west - pad_x, -180.0),
        max(south - pad_y, -85.0),
        min(east + pad_x, 180.0),
        min(north + pad_y, 85.0),
    )
    config = MapConfig(
        layers=[
            MapnikLayer(sql=f"select * from {_quote_ident(t)}", cartocss=_layer_css(c))  # noqa: S608
            for t, c in zip(tables, _COLOURS, strict=False)
        ]
    )
    carto.maps.image(config).size(1024, 768).bbox(*box).save(path)
    return f"{len(tables)} tables ({', '.join(tables)})"


def unexpected(items: Sequence[Item], root: str) -> list[str]:
    """How the import differed from what the demo expects (empty: as expected)."""
    problems = []
    for item in items:
        relative = os.path.relpath(item.source.key, root)
        expected = EXPECTED_FAILURES.get(relative)
        if expected is None and item.phase is not Phase.COMPLETE:
            problems.append(f"{relative} was expected to import but ended {item.state}")
        elif expected is not None and (
            item.phase is not Phase.FAILURE or item.error_code != expected
        ):
            got = item.error_code if item.phase is Phase.FAILURE else item.state
            problems.append(f"{relative} was expected to fail with {expected}, got {got}")
    return problems


def _processing_time(info: ImportInfo) -> float:
    """Long enough to watch the states go by, about as long as a small file takes on CARTO
    relative to its size; the whole demo stays within seconds."""
    return 0.25 + (info.size or 0) / 80_000


@contextlib.contextmanager
def _folder(directory: str | None) -> Iterator[str]:
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        yield directory
        return
    with tempfile.TemporaryDirectory(prefix="carto-async-demo-") as tmp:
        yield tmp


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Write the sample datasets here and keep them (default: a temporary folder).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Uploads in flight at once.",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False),
    help="Where to write the static map of the imported data (default: demo-map.png in --dir, "
    "else carto-async-demo-map.png here).",
)
@click.option("-v", "--verbose", count=True, help="The server's advice on the failures.")
def demo_command(
    directory: str | None, concurrency: int, map_path: str | None, verbose: int
) -> None:
    """Import 25 sample datasets into an embedded LocalCarto and look at the result.

    No account and no network needed: everything runs on this machine.
    """
    out = console()
    with _folder(directory) as root:
        paths = write_datasets(root)
        out.print(
            f"Wrote {len(paths)} sample datasets to {root} "
            f"({len(EXPECTED_FAILURES)} of them fail on purpose).",
            markup=False,
        )
        # Shown relative to the folder: the same names on every run.
        sources = [
            attrs.evolve(s, label=os.path.relpath(s.key, root))
            for s in expand_sources([root]).sources
        ]
        with local_server(None, None, import_processing_time=_processing_time) as credentials:
            out.print(
                f"Started LocalCarto at {credentials.base_url}; importing, as "
                f"`carto-async import {root} --local` would:",
                markup=False,
            )
            run = ImportRun(
                credentials,
                sources,
                settings=Settings(concurrency=concurrency, poll=LOCAL_POLL),
                display=Display(verbose=verbose),
                save_leftovers=False,
            )
            status = run.run()
            if status == EXIT_INTERRUPTED:
                click.get_current_context().exit(status)
            out.print(_tables(credentials, run.items))
            if map_path is None:
                map_path = (
                    os.path.join(directory, "demo-map.png")
                    if directory is not None
                    else "carto-async-demo-map.png"
                )
            _map(credentials, run.items, map_path)
        problems = unexpected(run.items, root)
    for problem in problems:
        click.echo(f"unexpected: {problem}", err=True)
    if problems:
        click.get_current_context().exit(EXIT_FAILED)
    failed = ", ".join(
        f"{i.source.label} ({i.error_code} {i.title})"
        for i in run.items
        if i.phase is Phase.FAILURE
    )
    out.print(f"As expected, every dataset imported except {failed}.", markup=False)
    click.get_current_context().exit(EXIT_OK)


def _map(credentials: Credentials, items: Sequence[Item], path: str) -> None:
    out = console()
    try:
        with Carto(credentials=credentials) as carto:
            drawn = draw_map(carto, items, path)
    except CartoError as exc:
        # Without Mapnik (the [render] extra) LocalCarto cannot draw; the import stands.
        click.echo(f"no static map: {exc}", err=True)
        return
    if os.path.exists(path):
        out.print(
            f"Drew {drawn} on a static map with the Maps API: {os.path.abspath(path)}",
            markup=False,
        )
    else:
        out.print(f"No static map: {drawn}.", markup=False)


def _tables(credentials: Credentials, items: Sequence[Item]) -> Table:
    with Carto(credentials=credentials) as carto:
        return describe_tables(carto, items)
