"""Draw layers with Mapnik: CartoCSS translated to Mapnik styles, features fed from memory.

CartoCSS filters and the cascade are resolved per feature in Python (what the ``carto``
compiler does ahead of time for Mapnik): each feature carries, per attachment, the number of
its resolved style, and each style becomes one Mapnik rule with real Mapnik symbolizers.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

import attrs

from carto_async.testing.render._cartocss import (
    DEFAULT_ATTACHMENT,
    CartoCSSError,
    Stylesheet,
    parse_cartocss,
)
from carto_async.testing.render._tiles import Bbox, zoom_for_resolution
from carto_async.testing.render._wkb import WKBError, to_2d_wkb

__all__ = [
    "IMAGE_FORMATS",
    "SUPPORTED_PROPERTIES",
    "RenderLayer",
    "RendererUnavailable",
    "cartocss_problems",
    "load_mapnik",
    "render_grid",
    "render_image",
]

#: Output formats: ``png`` is 8-bit paletted as Windshaft's, ``png32`` full colour, JPEG
#: quality 85.
IMAGE_FORMATS: dict[str, str] = {
    # zlib level 1: five times faster to encode than the default, same pixels (CARTO's bytes
    # differ anyway: its PNGs come from its own build of Mapnik).
    "png": "png8:m=h:z=1",
    "png32": "png32:z=1",
    "jpg": "jpeg85",
    "jpeg": "jpeg85",
}

_COLOR = "color"
_NUMBER = "number"
_BOOL = "bool"
_KEYWORD = "keyword"
_DASHES = "dashes"

# CartoCSS property -> (symbolizer, Mapnik attribute, kind of value).
_PROPERTIES: dict[str, tuple[str, str, str]] = {
    "marker-fill": ("MarkersSymbolizer", "fill", _COLOR),
    "marker-fill-opacity": ("MarkersSymbolizer", "fill-opacity", _NUMBER),
    "marker-opacity": ("MarkersSymbolizer", "opacity", _NUMBER),
    "marker-width": ("MarkersSymbolizer", "width", _NUMBER),
    "marker-height": ("MarkersSymbolizer", "height", _NUMBER),
    "marker-line-color": ("MarkersSymbolizer", "stroke", _COLOR),
    "marker-line-width": ("MarkersSymbolizer", "stroke-width", _NUMBER),
    "marker-line-opacity": ("MarkersSymbolizer", "stroke-opacity", _NUMBER),
    "marker-allow-overlap": ("MarkersSymbolizer", "allow-overlap", _BOOL),
    "marker-ignore-placement": ("MarkersSymbolizer", "ignore-placement", _BOOL),
    "marker-placement": ("MarkersSymbolizer", "placement", _KEYWORD),
    "marker-type": ("MarkersSymbolizer", "marker-type", _KEYWORD),
    "marker-comp-op": ("MarkersSymbolizer", "comp-op", _KEYWORD),
    "line-color": ("LineSymbolizer", "stroke", _COLOR),
    "line-width": ("LineSymbolizer", "stroke-width", _NUMBER),
    "line-opacity": ("LineSymbolizer", "stroke-opacity", _NUMBER),
    "line-join": ("LineSymbolizer", "stroke-linejoin", _KEYWORD),
    "line-cap": ("LineSymbolizer", "stroke-linecap", _KEYWORD),
    "line-dasharray": ("LineSymbolizer", "stroke-dasharray", _DASHES),
    "line-offset": ("LineSymbolizer", "offset", _NUMBER),
    "line-comp-op": ("LineSymbolizer", "comp-op", _KEYWORD),
    "polygon-fill": ("PolygonSymbolizer", "fill", _COLOR),
    "polygon-opacity": ("PolygonSymbolizer", "fill-opacity", _NUMBER),
    "polygon-gamma": ("PolygonSymbolizer", "gamma", _NUMBER),
    "polygon-comp-op": ("PolygonSymbolizer", "comp-op", _KEYWORD),
}
_MAP_PROPERTIES = {"background-color": _COLOR, "buffer-size": _NUMBER}
#: The CartoCSS properties the renderer draws; others are ignored (text, patterns, files...).
SUPPORTED_PROPERTIES = frozenset(_PROPERTIES) | frozenset(_MAP_PROPERTIES)

_KEYWORD_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_DASHES_RE = re.compile(r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$")
_NUMBER_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)$")
_TRANSPARENT = "rgba(0,0,0,0)"


class RendererUnavailable(RuntimeError):
    """Mapnik is not installed: PNG tiles and static images need the ``render`` extra."""


def load_mapnik() -> Any:
    """The ``mapnik`` module, imported on first use (it is large and optional)."""
    try:
        return importlib.import_module("mapnik")
    except ImportError as exc:
        raise RendererUnavailable(
            "rendering PNG tiles and static images needs Mapnik: "
            'pip install "carto-async[render]" (no wheel for Windows)'
        ) from exc


@attrs.frozen
class RenderLayer:
    """One layer to draw: its ``cartocss`` and ``features`` as (geometry in EPSG:3857 as WKB or
    EWKB, bytes or hex text; attributes) rows. ``interactivity`` names the columns a UTFGrid
    carries."""

    cartocss: str
    features: Sequence[tuple[bytes | bytearray | memoryview | str | None, Mapping[str, Any]]]
    interactivity: Sequence[str] = ()


def _value_problem(name: str, kind: str, value: str, mapnik: Any) -> str | None:
    text = value.strip()
    if kind == _COLOR:
        try:
            mapnik.Color(text)
        except (RuntimeError, ValueError, TypeError):  # what the binding raises for bad colours
            return f"{name}: invalid colour {value!r}"
        return None
    if kind == _NUMBER:
        return None if _NUMBER_RE.match(text) else f"{name}: expected a number, got {value!r}"
    if kind == _BOOL:
        return None if text in ("true", "false") else f"{name}: expected true or false"
    if kind == _KEYWORD:
        return None if _KEYWORD_RE.match(text) else f"{name}: invalid keyword {value!r}"
    return None if _DASHES_RE.match(text) else f"{name}: expected numbers like 4,2"


def cartocss_problems(cartocss: str) -> list[str]:
    """Everything wrong with ``cartocss`` that would stop a render (syntax and values of the
    supported properties); unsupported properties are not problems, they are ignored."""
    return list(_problems_cached(cartocss)) if isinstance(cartocss, str) else _problems(cartocss)


@functools.lru_cache(maxsize=256)
def _problems_cached(cartocss: str) -> tuple[str, ...]:
    return tuple(_problems(cartocss))


def _problems(cartocss: str) -> list[str]:
    try:
        sheet = parse_cartocss(cartocss)
    except CartoCSSError as exc:
        return list(exc.problems)
    mapnik = load_mapnik()
    problems: list[str] = []
    for name, value in sheet.map_properties.items():
        kind = _MAP_PROPERTIES.get(name)
        if kind is not None and (problem := _value_problem(name, kind, value, mapnik)):
            problems.append(problem)
    for definition in sheet.definitions:
        for name, value, _ in definition.properties:
            spec = _PROPERTIES.get(name)
            if spec is not None and (problem := _value_problem(name, spec[2], value, mapnik)):
                problems.append(problem)
    return problems


def _symbolizers(properties: Mapping[str, str]) -> str:
    attrs_by_symbolizer: dict[str, dict[str, str]] = {}
    for name, value in properties.items():
        spec = _PROPERTIES.get(name)
        if spec is None:
            continue
        symbolizer, attribute, _ = spec
        attrs_by_symbolizer.setdefault(symbolizer, {})[attribute] = value.strip()
    markers = attrs_by_symbolizer.get("MarkersSymbolizer")
    if markers is not None:
        if "width" in markers and "height" not in markers:
            markers["height"] = markers["width"]
        markers.setdefault("marker-type", "ellipse")
    parts = []
    for symbolizer, values in attrs_by_symbolizer.items():
        rendered = " ".join(f"{k}={quoteattr(v)}" for k, v in values.items())
        parts.append(f"<{symbolizer} {rendered}/>")
    return "".join(parts)


@attrs.define
class _Built:
    xml: str
    datasources: list[Any]
    grid_fields: list[list[str]]
    layer_styles: list[list[str]]
    map_properties: dict[str, str]


def _feature_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _checked_sheet(cartocss: str, index: int) -> Stylesheet:
    problems = cartocss_problems(cartocss)
    if problems:
        raise CartoCSSError([f"layer {index}: {p}" for p in problems])
    return parse_cartocss(cartocss)


@attrs.define
class _LayerStyles:
    """The distinct resolved styles of one layer's attachments, numbered as features use them.

    Features that agree on the columns the filters read get the same styles, so the cascade
    is resolved once per distinct combination, not once per feature.
    """

    sheet: Stylesheet
    zoom: int
    attachments: list[str]
    styles_of: dict[str, list[dict[str, str]]] = attrs.field(init=False)
    _numbers: dict[str, dict[tuple[tuple[str, str], ...], int]] = attrs.field(init=False)
    _by_key: dict[tuple[Any, ...], list[int]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.styles_of = {a: [] for a in self.attachments}
        self._numbers = {a: {} for a in self.attachments}

    def numbers(self, attributes: Mapping[str, Any]) -> list[int]:
        """The style number of each attachment for a feature (-1: not drawn)."""
        key = tuple(attributes.get(f) for f in self.sheet.filter_fields)
        try:
            cached = self._by_key.get(key)
        except TypeError:  # unhashable values: resolve this feature on its own
            return self._resolve(attributes)
        if cached is None:
            cached = self._by_key[key] = self._resolve(attributes)
        return cached

    def _resolve(self, attributes: Mapping[str, Any]) -> list[int]:
        resolved = self.sheet.resolve(attributes, self.zoom)
        out = []
        for attachment in self.attachments:
            props = resolved.get(attachment)
            if not props:
                out.append(-1)
                continue
            frozen = tuple(props.items())
            known = self._numbers[attachment]
            if frozen not in known:
                known[frozen] = len(known)
                self.styles_of[attachment].append(props)
            out.append(known[frozen])
        return out


def _datasource(
    layer: RenderLayer, index: int, styles: _LayerStyles, fields: list[str], mapnik: Any
) -> Any:
    keys = [f"__s{ai}" for ai in range(len(styles.attachments))]
    context = mapnik.Context()
    for key in [*keys, *fields]:
        context.push(key)
    datasource = mapnik.MemoryDatasource()
    for row, (geometry, attributes) in enumerate(layer.features):
        if geometry is None:
            continue
        try:
            wkb = to_2d_wkb(geometry)
        except WKBError as exc:
            raise CartoCSSError([f"layer {index}, feature {row}: {exc}"]) from None
        fid = attributes.get("cartodb_id")
        feature = mapnik.Feature(context, fid if isinstance(fid, int) else row + 1)
        for key, number in zip(keys, styles.numbers(attributes), strict=True):
            feature[key] = number
        for field in fields:
            value = _feature_value(attributes.get(field))
            if value is not None:
                feature[field] = value
        feature.geometry = mapnik.Geometry.from_wkb(wkb)
        datasource.add_feature(feature)
    return datasource


def _build(layers: Sequence[RenderLayer], zoom: int, background: str | None, mapnik: Any) -> _Built:
    sheets = [_checked_sheet(layer.cartocss, i) for i, layer in enumerate(layers)]
    map_props: dict[str, str] = {}
    for sheet in sheets:
        map_props.update(sheet.map_properties)
    styles_xml: list[str] = []
    datasources: list[Any] = []
    grid_fields: list[list[str]] = []
    layer_styles: list[list[str]] = []
    for li, (layer, sheet) in enumerate(zip(layers, sheets, strict=True)):
        styles = _LayerStyles(sheet, zoom, list(sheet.attachments) or [DEFAULT_ATTACHMENT])
        fields = [str(c) for c in layer.interactivity]
        datasources.append(_datasource(layer, li, styles, fields, mapnik))
        names = []
        for ai, attachment in enumerate(styles.attachments):
            name = f"l{li}a{ai}"
            rules = "".join(
                f"<Rule><Filter>[__s{ai}] = {k}</Filter>{_symbolizers(props)}</Rule>"
                for k, props in enumerate(styles.styles_of[attachment])
            )
            styles_xml.append(f'<Style name="{name}" filter-mode="first">{rules}</Style>')
            names.append(name)
        grid_fields.append(fields)
        layer_styles.append(names)
    color = background or map_props.get("background-color", "").strip() or _TRANSPARENT
    xml = (
        f'<Map srs="epsg:3857" background-color={quoteattr(color)}>'
        + "".join(styles_xml)
        + "</Map>"
    )
    return _Built(xml, datasources, grid_fields, layer_styles, map_props)


def _map(
    layers: Sequence[RenderLayer],
    bbox: Bbox,
    width: int,
    height: int,
    *,
    zoom: int | None,
    background: str | None,
    buffer_size: int,
) -> tuple[Any, Any, _Built]:
    mapnik = load_mapnik()
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    minx, miny, maxx, maxy = bbox
    if not (maxx > minx and maxy > miny):
        raise ValueError(f"empty bounding box {bbox!r}")
    if zoom is None:
        zoom = zoom_for_resolution((maxx - minx) / width)
    built = _build(layers, zoom, background, mapnik)
    m = mapnik.Map(width, height)
    mapnik.load_map_from_string(m, built.xml)
    buffer = built.map_properties.get("buffer-size")
    m.buffer_size = int(float(buffer)) if buffer else buffer_size
    for li, datasource in enumerate(built.datasources):
        layer = mapnik.Layer(f"layer{li}", "epsg:3857")
        layer.datasource = datasource
        for name in built.layer_styles[li]:
            layer.styles.append(name)
        m.layers.append(layer)
    m.zoom_to_box(mapnik.Box2d(minx, miny, maxx, maxy))
    return mapnik, m, built


def render_image(
    layers: RenderLayer | Sequence[RenderLayer],
    bbox: Bbox,
    width: int = 256,
    height: int = 256,
    *,
    scale: float = 1.0,
    zoom: int | None = None,
    fmt: str = "png",
    background: str | None = None,
    buffer_size: int = 64,
) -> bytes:
    """Draw ``layers`` over ``bbox`` (EPSG:3857) into a ``width*scale`` x ``height*scale``
    image, encoded as ``png`` (8-bit), ``png32`` or ``jpg``.

    ``zoom`` drives ``[zoom]`` filters (default: the zoom nearest the box's resolution);
    ``scale`` is the retina factor (widths and sizes grow with it). ``background`` overrides
    the CartoCSS ``Map { background-color }``; JPEG, which has no transparency, is drawn on
    white when neither gives one. Raises :class:`CartoCSSError` for a style that cannot be
    drawn and :class:`RendererUnavailable` without Mapnik.
    """
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}: one of {', '.join(IMAGE_FORMATS)}")
    group = [layers] if isinstance(layers, RenderLayer) else list(layers)
    if fmt in ("jpg", "jpeg") and background is None:
        has_background = any(
            "background-color" in parse_cartocss(layer.cartocss).map_properties for layer in group
        )
        background = None if has_background else "#ffffff"
    w, h = round(width * scale), round(height * scale)
    if zoom is None:
        zoom = zoom_for_resolution((bbox[2] - bbox[0]) / width)
    mapnik, m, _ = _map(
        group, bbox, w, h, zoom=zoom, background=background, buffer_size=buffer_size
    )
    image = mapnik.Image(w, h)
    mapnik.render(m, image, scale)
    return bytes(image.to_string(IMAGE_FORMATS[fmt]))


def render_grid(
    layer: RenderLayer,
    bbox: Bbox,
    width: int = 256,
    height: int = 256,
    *,
    zoom: int | None = None,
    resolution: int = 4,
    buffer_size: int = 64,
) -> dict[str, Any]:
    """The UTFGrid of one layer (``{"grid": [...], "keys": [...], "data": {...}}``): one
    character per ``resolution`` pixels, keyed by feature id (``cartodb_id`` when the row has
    one), with the layer's ``interactivity`` columns as data. Only drawn features appear."""
    _, m, built = _map(
        [layer], bbox, width, height, zoom=zoom, background=None, buffer_size=buffer_size
    )
    mapnik = load_mapnik()
    grid = mapnik.Grid(width, height, key="__id__")
    mapnik.render_layer(m, grid, layer=0, fields=built.grid_fields[0])
    encoded = grid.encode("utf", resolution=resolution)
    return {
        "grid": list(encoded["grid"]),
        "keys": list(encoded["keys"]),
        "data": dict(encoded["data"]),
    }
