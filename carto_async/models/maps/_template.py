"""Named-map templates: placeholders, auth and view, with the server's validation rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from carto_async.errors import ValidationError
from carto_async.models.maps._common import (
    _CSS_COLOR_RES,
    _NUMBER_RE,
    _PLACEHOLDER_NAME_RE,
    _TEMPLATE_NAME_RE,
    PLACEHOLDER_TYPES,
    TEMPLATE_VERSION,
    Json,
    _is_number,
    _quad,
    _raise_if,
    _tuple_of_str,
)
from carto_async.models.maps._config import MapConfig

__all__ = [
    "Placeholder",
    "Template",
    "TemplateAuth",
    "TemplateView",
    "placeholder_value_problem",
]


@attrs.frozen
class Placeholder:
    """A template parameter: its ``type`` (``number``, ``css_color``, ``sql_literal`` or
    ``sql_ident``) and the ``default`` used when instantiation does not give it."""

    type: str | None
    default: Any

    def to_json(self) -> Json:
        """The placeholder as the server takes it."""
        return {"type": self.type, "default": self.default}

    def value_problem(self, name: str, value: Any) -> str | None:
        """Why the server would refuse ``value`` for this placeholder at instantiation."""
        return placeholder_value_problem(name, str(self.type), value)


def placeholder_value_problem(name: str, type_: str, value: Any) -> str | None:
    """The server's check of one instantiation parameter (``TemplateMaps#instance``)."""
    if type_ == "number":
        if _is_number(value) or (isinstance(value, str) and _NUMBER_RE.match(value)):
            return None
        return f"Invalid number value for template parameter '{name}': {value!r}"
    if type_ == "css_color":
        if isinstance(value, str) and any(r.match(value) for r in _CSS_COLOR_RES):
            return None
        return f"Invalid css_color value for template parameter '{name}': {value!r}"
    if type_ in ("sql_literal", "sql_ident"):
        if isinstance(value, str):
            return None
        return f"Invalid {type_} value for template parameter '{name}': {value!r} is not a string"
    return f"Invalid placeholder type '{type_}'"


@attrs.frozen
class TemplateAuth:
    """Who may instantiate a named map: anyone (``open``) or holders of a ``valid_tokens`` entry."""

    method: str = "open"
    valid_tokens: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_tuple_of_str)
    )

    @classmethod
    def open(cls) -> TemplateAuth:
        """Anyone may instantiate the map."""
        return cls("open")

    @classmethod
    def token(cls, *tokens: str) -> TemplateAuth:
        """Only requests with one of ``tokens`` as ``auth_token`` may instantiate the map."""
        return cls("token", tokens)

    def to_json(self) -> Json:
        """The ``auth`` member as the server takes it."""
        if self.valid_tokens is None:
            return {"method": self.method}
        return {"method": self.method, "valid_tokens": list(self.valid_tokens)}

    def problems(self) -> list[str]:
        """The server's authentication checks."""
        if self.method == "open":
            return []
        if self.method != "token":
            return [f"Unsupported authentication method: {self.method}"]
        if self.valid_tokens is None:
            return ["Invalid 'token' authentication: missing valid_tokens"]
        if not self.valid_tokens:
            return ["Invalid 'token' authentication: no valid_tokens"]
        bad = [t for t in self.valid_tokens if not isinstance(t, str) or not t]
        if bad:
            return [f"Invalid 'token' authentication: tokens must be strings, got {bad!r}"]
        return []


def _preview(value: Mapping[Any, bool] | None) -> dict[str, bool] | None:
    return None if value is None else {str(k): v for k, v in value.items()}


def _bounds(value: Mapping[str, Any]) -> tuple[float, float, float, float]:
    return (value["west"], value["south"], value["east"], value["north"])


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (value[0], value[1])


@attrs.frozen(kw_only=True)
class TemplateView:
    """The default view of a named map's static image: ``center`` (lat, lng) with ``zoom``, or
    ``bounds`` (west, south, east, north); ``preview_layers`` maps a layer index or id to
    whether it shows."""

    center: tuple[float, float] | None = attrs.field(default=None, converter=_pair)
    zoom: int | None = None
    bounds: tuple[float, float, float, float] | None = attrs.field(default=None, converter=_quad)
    preview_layers: Mapping[str, bool] | None = attrs.field(default=None, converter=_preview)

    def to_json(self) -> Json:
        """The ``view`` member as the server takes it."""
        view: Json = {}
        if self.zoom is not None:
            view["zoom"] = self.zoom
        if self.center is not None:
            view["center"] = {"lng": self.center[1], "lat": self.center[0]}
        if self.bounds is not None:
            west, south, east, north = self.bounds
            view["bounds"] = {"west": west, "south": south, "east": east, "north": north}
        if self.preview_layers is not None:
            view["preview_layers"] = dict(self.preview_layers)
        return view

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateView:
        """Read a ``view`` member."""
        center = data.get("center")
        bounds = data.get("bounds")
        return cls(
            zoom=data.get("zoom"),
            center=(center.get("lat"), center.get("lng")) if isinstance(center, Mapping) else None,
            bounds=(_bounds(bounds) if isinstance(bounds, Mapping) else None),
            preview_layers=data.get("preview_layers"),
        )

    def problems(self) -> list[str]:
        """Values no map could show."""
        out: list[str] = []
        if self.zoom is not None and (not isinstance(self.zoom, int) or not 0 <= self.zoom <= 30):
            out.append(f"view: zoom must be an integer from 0 to 30, got {self.zoom!r}")
        if self.center is not None:
            lat, lng = self.center
            if not (_is_number(lat) and _is_number(lng) and -90 <= lat <= 90):
                out.append(f"view: center must be (lat, lng) in degrees, got {self.center!r}")
        if self.bounds is not None:
            if len(self.bounds) != 4 or not all(_is_number(v) for v in self.bounds):
                out.append("view: bounds must be four numbers: west, south, east, north")
            elif self.bounds[1] > self.bounds[3]:
                out.append(f"view: bounds south {self.bounds[1]} is above north {self.bounds[3]}")
        shown: Any
        for key, shown in (self.preview_layers or {}).items():
            if not isinstance(shown, bool):
                out.append(f"view: preview_layers[{key!r}] must be True or False, got {shown!r}")
        return out


def _placeholders(value: Mapping[str, Any]) -> dict[str, Placeholder]:
    out: dict[str, Placeholder] = {}
    for name, item in value.items():
        if isinstance(item, Placeholder):
            out[name] = item
        elif isinstance(item, Mapping):
            out[name] = Placeholder(item.get("type"), item.get("default"))
        else:
            out[name] = Placeholder(None, item)
    return out


@attrs.frozen(kw_only=True)
class Template:
    """A named map: a MapConfig (``layergroup``) with ``placeholders`` substituted at
    instantiation (``<%= name %>`` in SQL, CartoCSS and buffer sizes), who may instantiate it
    (``auth``) and its default static ``view``.

    The SDK never writes your API key into a template: the server stores templates verbatim
    and returns them to anyone with the master key.
    """

    name: str
    layergroup: MapConfig
    placeholders: Mapping[str, Placeholder] = attrs.field(factory=dict, converter=_placeholders)
    auth: TemplateAuth = attrs.field(factory=TemplateAuth)
    view: TemplateView | None = None
    version: str = TEMPLATE_VERSION
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def to_json(self) -> Json:
        """The template as the server takes it."""
        template: Json = {
            "version": self.version,
            "name": self.name,
            "auth": self.auth.to_json(),
            "placeholders": {k: p.to_json() for k, p in self.placeholders.items()},
            "layergroup": self.layergroup.to_json(),
        }
        if self.view is not None:
            template["view"] = self.view.to_json()
        template.update(self.extra)
        return template

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Template:
        """Read a template (the ``template`` member of ``GET /api/v1/map/named/NAME``, or the
        body you would POST). Structural problems are all reported at once."""
        if isinstance(data, Mapping) and isinstance(data.get("template"), Mapping):
            data = data["template"]
        if not isinstance(data, Mapping):
            raise ValidationError(f"a template must be an object, got {type(data).__name__}")
        problems: list[str] = []
        layergroup: MapConfig | None = None
        raw_group = data.get("layergroup")
        if not isinstance(raw_group, Mapping):
            problems.append("Missing layergroup")
        else:
            try:
                layergroup = MapConfig.from_json(raw_group)
            except ValidationError as exc:
                problems.extend(exc.problems)
        auth = data.get("auth") or {"method": "open"}
        placeholders = data.get("placeholders") or {}
        view = data.get("view")
        if not isinstance(auth, Mapping):
            problems.append(f"`auth` must be an object, got {auth!r}")
        if not isinstance(placeholders, Mapping):
            problems.append(f"`placeholders` must be an object, got {placeholders!r}")
        if view is not None and not isinstance(view, Mapping):
            problems.append(f"`view` must be an object, got {view!r}")
        _raise_if(problems, "template")
        assert layergroup is not None
        known = ("version", "name", "auth", "placeholders", "layergroup", "view", "auth_id")
        return cls(
            name=data.get("name"),  # type: ignore[arg-type]
            version=data.get("version"),  # type: ignore[arg-type]
            layergroup=layergroup,
            placeholders=placeholders,
            auth=TemplateAuth(str(auth.get("method")), auth.get("valid_tokens")),
            view=TemplateView.from_json(view) if view is not None else None,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def problems(self) -> list[str]:
        """Everything the server would reject (at creation or at instantiation with the
        defaults), all at once, in the server's words where it has them."""
        out: list[str] = []
        if self.version != TEMPLATE_VERSION:
            out.append(f"Unsupported template version {self.version}")
        if not self.name:
            out.append("Missing template name")
        elif not isinstance(self.name, str) or not _TEMPLATE_NAME_RE.match(self.name):
            out.append(
                f"Invalid characters in template name '{self.name}' "
                "(use letters, digits, '_' and '-'; start with a letter or digit)"
            )
        layergroup: Any = self.layergroup
        if not isinstance(layergroup, MapConfig):
            out.append("Missing layergroup")
        elif not self.layergroup.layers:
            out.append("Missing or empty layers array from layergroup config")
        else:
            out.extend(
                p
                for p in self.layergroup.problems(placeholders_allowed=True)
                if p != "the map has no layers"
            )
        for name, placeholder in self.placeholders.items():
            if not isinstance(name, str) or not _PLACEHOLDER_NAME_RE.match(name):
                out.append(
                    f"Invalid characters in placeholder name '{name}' "
                    "(use letters, digits and '_'; start with a letter)"
                )
            if placeholder.default is None:
                out.append(f"Missing default for placeholder '{name}'")
            if placeholder.type is None:  # from a JSON body without it
                out.append(f"Missing type for placeholder '{name}'")
            elif placeholder.type not in PLACEHOLDER_TYPES:
                out.append(
                    f"Invalid placeholder type '{placeholder.type}' for placeholder '{name}' "
                    f"(one of {', '.join(PLACEHOLDER_TYPES)})"
                )
            elif placeholder.default is not None:
                problem = placeholder.value_problem(name, placeholder.default)
                if problem is not None:
                    out.append(f"default: {problem}")
        out.extend(self.auth.problems())
        if self.view is not None:
            out.extend(self.view.problems())
        return out

    def validate(self) -> Template:
        """Raise one :class:`ValidationError` listing every problem; return self when valid."""
        _raise_if(self.problems(), f"named map template {self.name!r}")
        return self

    def params_problems(self, params: Mapping[str, Any]) -> list[str]:
        """What the server would refuse in instantiation ``params`` (unknown names are ignored
        by the server, so they are ignored here too)."""
        out: list[str] = []
        for name, value in params.items():
            placeholder = self.placeholders.get(name)
            if placeholder is not None and placeholder.type in PLACEHOLDER_TYPES:
                problem = placeholder.value_problem(name, value)
                if problem is not None:
                    out.append(problem)
        return out

    def instantiate(self, params: Mapping[str, Any] | None = None) -> MapConfig:
        """The MapConfig the server renders for ``params`` (``TemplateMaps#instance``): each
        placeholder takes its param or its default, escaped by type (``sql_literal`` doubles
        ``'``, ``sql_ident`` doubles ``"``; ``number`` and ``css_color`` are checked), then
        replaces ``<%= name %>`` in every layer's SQL and CartoCSS and in buffer sizes;
        ``params["styles"][i]`` replaces layer ``i``'s CartoCSS. Raises one
        :class:`ValidationError` listing every refused value, in the server's words."""
        params = dict(params or {})
        values: dict[str, str] = {}
        problems: list[str] = []
        for name, placeholder in self.placeholders.items():
            value = params.get(name, placeholder.default)
            problem = placeholder.value_problem(name, value)
            if problem is not None:
                problems.append(problem)
                continue
            if placeholder.type == "sql_literal":
                values[name] = str(value).replace("'", "''")
            elif placeholder.type == "sql_ident":
                values[name] = str(value).replace('"', '""')
            else:
                values[name] = _js_string(value)
        _raise_if(problems, f"parameters for named map {self.name!r}")
        styles = params.get("styles")
        document = self.layergroup.to_json()
        for index, layer in enumerate(document["layers"]):
            options = layer["options"]
            override = _style_override(styles, index)
            if override is not None:
                options["cartocss"] = override
            elif isinstance(options.get("cartocss"), str):
                options["cartocss"] = _substitute(options["cartocss"], values)
            if isinstance(options.get("sql"), str):
                options["sql"] = _substitute(options["sql"], values)
        buffersize = document.get("buffersize")
        if isinstance(buffersize, Mapping):
            document["buffersize"] = {
                fmt: _parse_int(_substitute(str(size), values)) for fmt, size in buffersize.items()
            }
        return MapConfig.from_json(document)


def _js_string(value: Any) -> str:
    # JavaScript's String(): 10.0 -> "10".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _substitute(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        pattern = re.compile(r"<%=\s*" + re.escape(name) + r"\s*%>")
        text = pattern.sub(value.replace("\\", "\\\\"), text)
    return text


def _style_override(styles: Any, index: int) -> str | None:
    if isinstance(styles, list) and index < len(styles) and styles[index]:
        return str(styles[index])
    if isinstance(styles, Mapping):
        value = styles.get(str(index), styles.get(index))
        return str(value) if value else None
    return None


def _parse_int(text: str) -> int | str:
    # JavaScript's parseInt: the leading integer; the server would store NaN otherwise.
    match = re.match(r"\s*([-+]?\d+)", text)
    return int(match.group(1)) if match else text
