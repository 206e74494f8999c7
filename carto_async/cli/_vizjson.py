"""``carto-async map static-vizjson``: a static image of a map made in CARTO, from its viz.json.

``carto-async map static-vizjson ID_OR_URL -o map.png`` draws the map as CartoDB.js's
``cartodb.Image`` does: framed by the map's bounds, or by ``--center``/``--zoom`` (which
replace them, as ``override_bbox``), or by ``--bbox``; ``--basemap`` replaces the map's basemap
by tiles (a ``{z}/{x}/{y}`` URL template) or a colour. A viz.json URL of another account is
read and drawn there without the key. Every input is checked before a request is sent.

This command is the ``--vizjson`` source of ``carto-async map static`` in a module of its own
(:data:`static_vizjson_command`), added to the ``map`` group of :mod:`carto_async.cli._maps`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import click

from carto_async import Carto, CartoError
from carto_async._core.credentials import Credentials
from carto_async.cli._import import credential_options, local_server, resolve_credentials
from carto_async.cli._output import console
from carto_async.cli._run import Problem
from carto_async.errors import ValidationError

__all__ = ["static_vizjson_command"]

#: The exit status of a request the server refused.
EXIT_REFUSED = 1


def _floats(text: str, count: int, option: str, shape: str) -> list[float]:
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise Problem(f"{option} takes {shape} in degrees, got {text!r}")
    return values


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise Problem(f"--size takes WIDTHxHEIGHT in pixels, got {text!r}")
    return int(width), int(height)


@contextlib.contextmanager
def _client(
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
) -> Iterator[Carto]:
    if local and base_url:
        raise Problem("--local and --base-url cannot go together")
    with contextlib.ExitStack() as stack:
        credentials: Credentials
        if local:
            credentials = stack.enter_context(local_server(user, api_key))
        else:
            credentials = resolve_credentials(
                user, api_key, base_url, allow_insecure_http=allow_insecure_http
            )
        yield stack.enter_context(Carto(credentials=credentials))


@click.command("static-vizjson")
@credential_options
@click.argument("source", metavar="ID_OR_URL")
@click.option(
    "--basemap", metavar="URL_TEMPLATE|COLOR", help="Tiles ({z}/{x}/{y}) or a colour instead."
)
@click.option("--bbox", metavar="W,S,E,N", help="The box to show instead of the map's bounds.")
@click.option("--center", metavar="LAT,LNG", help="The centre (replaces the map's bounds).")
@click.option("--zoom", type=click.IntRange(0, 30), help="The zoom (default: the map's).")
@click.option("--width", type=click.IntRange(1, 8192), help="Width in pixels (default 800).")
@click.option("--height", type=click.IntRange(1, 8192), help="Height in pixels (default 600).")
@click.option("--size", metavar="WxH", help="WIDTHxHEIGHT in pixels, instead of the two above.")
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), help="Default: from -o.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The image file."
)
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def static_vizjson_command(
    *,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    source: str,
    basemap: str | None,
    bbox: str | None,
    center: str | None,
    zoom: int | None,
    width: int | None,
    height: int | None,
    size: str | None,
    fmt: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Write a static image of a map made in CARTO (a visualization id or a viz.json URL)."""
    problems: list[str] = []
    if bbox is not None and (center is not None or zoom is not None):
        problems.append("give --bbox or --center/--zoom, not both")
    if size is not None and (width is not None or height is not None):
        problems.append("give --size or --width/--height, not both")
    if problems:
        raise Problem(*problems)
    w, h = _size(size) if size is not None else (width or 800, height or 600)
    fmt = fmt or ("jpg" if output.lower().endswith((".jpg", ".jpeg")) else "png")
    try:
        with _client(user, api_key, base_url, allow_insecure_http, local) as carto:
            # --center or --zoom frame the image instead of the map's bounds (override_bbox).
            override = center is not None or zoom is not None
            image = carto.maps.vizjson_image(source, basemap=basemap, override_bbox=override)
            image = image.size(w, h).format(fmt)
            if bbox is not None:
                west, south, east, north = _floats(bbox, 4, "--bbox", "WEST,SOUTH,EAST,NORTH")
                image = image.bbox(west, south, east, north)
            if center is not None:
                lat, lng = _floats(center, 2, "--center", "LAT,LNG")
                image = image.center(lat, lng)
            if zoom is not None:
                image = image.zoom(zoom)
            done = image.save(output)
    except ValidationError as exc:
        raise Problem(*(exc.problems or (str(exc),))) from None
    except CartoError as exc:
        click.echo(f"error: {exc}", err=True)
        click.get_current_context().exit(EXIT_REFUSED)
    if as_json:
        click.echo(json.dumps({"path": output, "bytes": done.size, "format": fmt}))
    else:
        console().print(f"Wrote {output} ({w}x{h} {fmt}, {done.size} bytes).", markup=False)
