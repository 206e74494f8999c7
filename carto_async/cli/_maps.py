"""``carto-async map``: static map images, and the account's named maps.

``carto-async map static --sql ... --cartocss ... --bbox W,S,E,N -o map.png`` draws an
anonymous map of a query; ``--named NAME`` draws a named map (its template's view unless a
bbox or a centre and zoom are given). ``carto-async map named create|list|get|delete`` manages
the templates (master key). Every input is checked before a request is sent; the key is
never printed.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from carto_async import Carto, CartoError
from carto_async._core.credentials import Credentials
from carto_async._sync.maps import Image
from carto_async._sync.vizjson import VizJsonImage
from carto_async.cli._import import credential_options, local_server, resolve_credentials
from carto_async.cli._output import console
from carto_async.cli._run import Problem
from carto_async.errors import ValidationError
from carto_async.models.maps import MapConfig, MapnikLayer, Template

__all__ = ["map_group", "parse_bbox", "parse_center", "parse_size"]

F = TypeVar("F", bound=Callable[..., Any])

#: The exit status of a request the server refused.
EXIT_REFUSED = 1


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``W,S,E,N`` in degrees."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise Problem(f"--bbox takes WEST,SOUTH,EAST,NORTH in degrees, got {text!r}")
    return values[0], values[1], values[2], values[3]


def parse_center(text: str) -> tuple[float, float]:
    """``LAT,LNG`` in degrees."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2:
        raise Problem(f"--center takes LAT,LNG in degrees, got {text!r}")
    return values[0], values[1]


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise Problem(f"--size takes WIDTHxHEIGHT in pixels, got {text!r}")
    return int(width), int(height)


def _params(items: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise Problem(f"--param takes NAME=VALUE, got {item!r}")
        try:
            params[name] = json.loads(value)  # numbers stay numbers
        except ValueError:
            params[name] = value
    return params


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


def _refused(exc: CartoError) -> None:
    click.echo(f"error: {exc}", err=True)
    click.get_current_context().exit(EXIT_REFUSED)


@click.group("map")
def map_group() -> None:
    """Static map images and named maps (the Maps API)."""


@map_group.command("static")
@credential_options
@click.option("--sql", metavar="SQL", help="The layer's query (an anonymous map).")
@click.option(
    "--cartocss",
    metavar="CSS",
    default="#layer { marker-fill: #f60; marker-width: 8; line-color: #f60; "
    "polygon-fill: #f60; polygon-opacity: 0.6; }",
    show_default=False,
    help="The layer's CartoCSS (default: orange markers, lines and fills).",
)
@click.option("--named", metavar="NAME", help="Draw this named map instead of --sql.")
@click.option(
    "--vizjson",
    metavar="ID_OR_URL",
    help="Draw a map made in CARTO from its viz.json (a visualization id or a viz.json URL), "
    "framed by the map's bounds unless --bbox or --center/--zoom are given.",
)
@click.option(
    "--basemap",
    metavar="URL_TEMPLATE|COLOR",
    help="With --vizjson: replace the map's basemap by tiles ({z}/{x}/{y}) or a colour.",
)
@click.option(
    "--param", "params", multiple=True, metavar="NAME=VALUE", help="A named map's parameter."
)
@click.option("--auth-token", metavar="TOKEN", help="A token-protected named map's token.")
@click.option("--bbox", metavar="W,S,E,N", help="The box to show, in degrees.")
@click.option("--center", metavar="LAT,LNG", help="The centre, with --zoom.")
@click.option("--zoom", type=click.IntRange(0, 30), help="The zoom, with --center.")
@click.option("--size", default="800x600", show_default=True, help="WIDTHxHEIGHT in pixels.")
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), help="Default: from -o.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The image file."
)
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON.")
def static_command(
    *,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    sql: str | None,
    cartocss: str,
    named: str | None,
    vizjson: str | None,
    basemap: str | None,
    params: tuple[str, ...],
    auth_token: str | None,
    bbox: str | None,
    center: str | None,
    zoom: int | None,
    size: str,
    fmt: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Write a static image of a query (--sql), a named map (--named) or a map made in CARTO
    (--vizjson)."""
    problems: list[str] = []
    if sum(source is not None for source in (sql, named, vizjson)) != 1:
        problems.append("give either --sql (with --cartocss), --named or --vizjson")
    if basemap is not None and vizjson is None:
        problems.append("--basemap is for --vizjson maps")
    if (center is None) != (zoom is None):
        problems.append("--center and --zoom go together")
    if bbox is not None and center is not None:
        problems.append("give --bbox or --center/--zoom, not both")
    if sql is not None and bbox is None and center is None:
        problems.append("a map of --sql needs --bbox, or --center with --zoom")
    if named is None and (params or auth_token):
        problems.append("--param and --auth-token are for --named maps")
    if problems:
        raise Problem(*problems)
    width, height = parse_size(size)
    fmt = fmt or ("jpg" if output.lower().endswith((".jpg", ".jpeg")) else "png")
    try:
        with _client(user, api_key, base_url, allow_insecure_http, local) as carto:
            image: Image | VizJsonImage
            if vizjson is not None:
                # --center/--zoom replace the map's bounds, as CartoDB.js's override_bbox.
                image = carto.maps.vizjson_image(
                    vizjson, basemap=basemap, override_bbox=center is not None
                )
            elif named is not None:
                image = carto.maps.named_image(named, _params(params), auth_token=auth_token)
            else:
                assert sql is not None
                layer = MapnikLayer(sql=sql, cartocss=cartocss)
                image = carto.maps.image(MapConfig(layers=[layer]))
            image = image.size(width, height).format(fmt)
            if bbox is not None:
                image = image.bbox(*parse_bbox(bbox))
            if center is not None and zoom is not None:
                image = image.center(*parse_center(center)).zoom(zoom)
            done = image.save(output)
    except ValidationError as exc:
        raise Problem(*(exc.problems or (str(exc),))) from None
    except CartoError as exc:
        _refused(exc)
        return
    if as_json:
        click.echo(json.dumps({"path": output, "bytes": done.size, "format": fmt}))
    else:
        console().print(
            f"Wrote {output} ({width}x{height} {fmt}, {done.size} bytes).", markup=False
        )


@map_group.group("named")
def named_group() -> None:
    """Named maps: templates kept on the server (master key)."""


def _named_command(name: str, help_text: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        func = click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")(func)
        func = credential_options(func)
        return named_group.command(name, help=help_text)(func)  # type: ignore[return-value]

    return decorate


def _read_template(path: str) -> Template:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise Problem(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise Problem(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Problem(f"{path} is not a template (a JSON object)")
    try:
        template = Template.from_json(document)
        template.validate()
    except ValidationError as exc:
        raise Problem(*(exc.problems or (str(exc),))) from None
    return template


@_named_command("create", "Create a named map from a template file (JSON; - for stdin).")
@click.argument("template_file", metavar="TEMPLATE.json")
@click.option("--update", is_flag=True, help="Replace the template of the same name.")
def named_create(
    *,
    template_file: str,
    update: bool,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    as_json: bool,
) -> None:
    template = _read_template(template_file)
    try:
        with _client(user, api_key, base_url, allow_insecure_http, local) as carto:
            name = (
                carto.maps.named.update(template) if update else carto.maps.named.create(template)
            )
    except ValidationError as exc:
        raise Problem(*(exc.problems or (str(exc),))) from None
    except CartoError as exc:
        _refused(exc)
        return
    if as_json:
        click.echo(json.dumps({"template_id": name}))
    else:
        console().print(f"{'Updated' if update else 'Created'} named map {name}.", markup=False)


@_named_command("list", "The names of the account's named maps.")
def named_list(
    *,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    as_json: bool,
) -> None:
    try:
        with _client(user, api_key, base_url, allow_insecure_http, local) as carto:
            names = carto.maps.named.list()
    except CartoError as exc:
        _refused(exc)
        return
    if as_json:
        click.echo(json.dumps(names))
    else:
        for name in names:
            click.echo(name)


@_named_command("get", "Show a named map's template (JSON).")
@click.argument("name")
def named_get(
    *,
    name: str,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    as_json: bool,
) -> None:
    try:
        with _client(user, api_key, base_url, allow_insecure_http, local) as carto:
            template = carto.maps.named.get(name)
    except ValidationError as exc:
        raise Problem(*(exc.problems or (str(exc),))) from None
    except CartoError as exc:
        _refused(exc)
        return
    click.echo(json.dumps(template.to_json(), indent=None if as_json else 2))


@_named_command("delete", "Delete a named map.")
@click.argument("name")
def named_delete(
    *,
    name: str,
    user: str | None,
    api_key: str | None,
    base_url: str | None,
    allow_insecure_http: bool,
    local: bool,
    as_json: bool,
) -> None:
    try:
        with _client(user, api_key, base_url, allow_insecure_http, local) as carto:
            carto.maps.named.delete(name)
    except ValidationError as exc:
        raise Problem(*(exc.problems or (str(exc),))) from None
    except CartoError as exc:
        _refused(exc)
        return
    if as_json:
        click.echo(json.dumps({"deleted": name}))
    else:
        console().print(f"Deleted named map {name}.", markup=False)
