"""A CartoCSS subset: parse a stylesheet and resolve, for one feature at one zoom, the
properties of each attachment, with CartoCSS's cascade (more specific rules win; among equals
the later one).

Supported: variables (``@red: #f00;``), ``Map { ... }``, selectors ``#id``, ``.class``, ``*``
and ``::attachment``, comma lists, nested blocks, filters ``[zoom >= 4]`` and
``[column op value]`` with ``= != > >= < <=`` and ``=~`` (a regular expression matched
against the whole value), values that are numbers, quoted strings, ``true``/``false`` and
``null``. Element selectors (``#id``, ``.class``) do not select: every block styles the layer,
as in CARTO where a layer's CartoCSS styles that layer only. Not supported: expressions and
colour functions (``lighten(...)``), ``@variable`` arithmetic, ``when`` / instance
(``a/marker-fill``) prefixes, and CartoCSS's ``[mapnik::geometry_type]``.
"""

from __future__ import annotations

import functools
import operator
import re
import types
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["CartoCSSError", "Definition", "Filter", "Stylesheet", "parse_cartocss"]

DEFAULT_ATTACHMENT = "__default__"


class CartoCSSError(ValueError):
    """The CartoCSS could not be read; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid CartoCSS: " + "; ".join(problems))
        self.problems = problems


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_FILTER_RE = re.compile(
    r"""^\s*(?P<field>"[^"]*"|'[^']*'|[A-Za-z_][\w:]*)\s*(?P<op>=~|!=|>=|<=|=|>|<)\s*(?P<value>.+?)\s*$"""
)
_NUMBER_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if _NUMBER_RE.match(text):
        number = float(text)
        return int(number) if number.is_integer() and "." not in text else number
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return text


@attrs.frozen
class Filter:
    """One ``[field op value]`` condition; ``field`` ``zoom`` compares the render zoom."""

    field: str
    op: str
    value: Any

    def matches(self, attributes: Mapping[str, Any], zoom: int) -> bool:
        """True when the feature (at ``zoom``) meets the condition."""
        actual = zoom if self.field == "zoom" else attributes.get(self.field)
        if self.op == "=~":
            return actual is not None and re.fullmatch(str(self.value), str(actual)) is not None
        expected = self.value
        if self.op in ("=", "!="):
            equal = _equal(actual, expected)
            return equal if self.op == "=" else not equal
        if actual is None or expected is None:
            return False
        if isinstance(expected, int | float) and not isinstance(expected, bool):
            actual = _as_number(actual)
            if actual is None:
                return False
        elif isinstance(actual, int | float):
            return False
        try:
            return bool(_OPS[self.op](actual, expected))
        except TypeError:
            return False


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _equal(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(actual) == bool(expected) and type(actual) is type(expected)
    if isinstance(expected, int | float):
        number = _as_number(actual)
        return number is not None and number == float(expected)
    return str(actual) == str(expected)


@attrs.frozen
class Definition:
    """Properties under one selector: its filters, attachment and specificity."""

    filters: tuple[Filter, ...]
    attachment: str
    properties: tuple[tuple[str, str, int], ...]  # (name, value, declaration order)
    specificity: tuple[int, int, int, int]

    def matches(self, attributes: Mapping[str, Any], zoom: int) -> bool:
        """True when every filter holds for the feature."""
        return all(f.matches(attributes, zoom) for f in self.filters)


@attrs.frozen(slots=False)  # slots off so that filter_fields can be cached on the instance
class Stylesheet:
    """A parsed stylesheet: ``map_properties`` (the ``Map`` block), the definitions, the
    attachments in drawing order, and the properties the renderer ignored."""

    map_properties: Mapping[str, str]
    definitions: tuple[Definition, ...]
    attachments: tuple[str, ...]

    @functools.cached_property
    def filter_fields(self) -> tuple[str, ...]:
        """The attribute columns the filters read: features that agree on them share a style."""
        fields = {f.field for d in self.definitions for f in d.filters if f.field != "zoom"}
        return tuple(sorted(fields))

    def resolve(self, attributes: Mapping[str, Any], zoom: int) -> dict[str, dict[str, str]]:
        """The cascaded properties of each attachment for one feature at ``zoom``."""
        out: dict[str, dict[str, tuple[str, tuple[tuple[int, ...], int]]]] = {}
        for definition in self.definitions:
            if not definition.matches(attributes, zoom):
                continue
            props = out.setdefault(definition.attachment, {})
            for name, value, order in definition.properties:
                rank = (definition.specificity, order)
                current = props.get(name)
                if current is None or rank >= current[1]:
                    props[name] = (value, rank)
        return {
            att: {name: value for name, (value, _) in sorted(props.items(), key=_by_order)}
            for att, props in out.items()
        }


def _by_order(item: tuple[str, tuple[str, tuple[tuple[int, ...], int]]]) -> int:
    return item[1][1][1]


# --- parsing ---------------------------------------------------------------------------------


def _strip_comments(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = i + 1
            while end < n and text[end] != ch:
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _closing_bracket(text: str) -> int:
    """The index of the ``]`` closing the filter ``text`` starts with (quotes skipped), or -1."""
    quote: str | None = None
    for index, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "]":
            return index
    return -1


# (filters, attachment, specificity as (ids, classes, filters), is the Map block)
_Context = tuple[tuple[Filter, ...], str, tuple[int, int, int], bool]


@attrs.define
class _Parser:
    text: str
    pos: int = 0
    order: int = 0
    variables: dict[str, str] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list)
    definitions: list[Definition] = attrs.field(factory=list)
    map_properties: dict[str, str] = attrs.field(factory=dict)
    attachments: list[str] = attrs.field(factory=list)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def read_until(self, stops: str) -> tuple[str, str]:
        start = self.pos
        quote: str | None = None
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch in stops:
                self.pos += 1
                return self.text[start : self.pos - 1], ch
            self.pos += 1
        return self.text[start:], ""

    def substitute(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.variables:
                self.problems.append(f"undefined variable @{name}")
                return match.group(0)
            return self.variables[name]

        return re.sub(r"@([A-Za-z_][\w-]*)", replace, value)

    def block(self, contexts: list[_Context]) -> None:
        """Read declarations and nested rulesets until the closing brace."""
        properties: list[tuple[str, str, int]] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                if contexts:
                    self.problems.append("missing '}' at the end of the stylesheet")
                break
            if self.text[self.pos] == "}":
                self.pos += 1
                if not contexts:
                    self.problems.append("unexpected '}'")
                    continue
                break
            chunk, stop = self.read_until(";{}")
            chunk = chunk.strip()
            if stop == "{":
                self.ruleset(chunk, contexts)
                continue
            if stop == "}":
                self.pos -= 1
            if not chunk:
                continue
            name, colon, value = chunk.partition(":")
            name = name.strip()
            if not colon or not name or not value.strip():
                self.problems.append(f"cannot read {chunk!r}")
                continue
            value = value.strip()
            if name.startswith("@") and not contexts:
                self.variables[name[1:]] = self.substitute(value)
                continue
            if not contexts:
                self.problems.append(f"property {name!r} outside any selector")
                continue
            self.order += 1
            properties.append((name, self.substitute(value), self.order))
        for filters, attachment, specificity, is_map in contexts:
            if is_map:
                self.map_properties.update({name: value for name, value, _ in properties})
                continue
            if attachment not in self.attachments:
                self.attachments.append(attachment)
            if properties:
                self.definitions.append(
                    Definition(filters, attachment, tuple(properties), (*specificity, self.order))
                )

    def ruleset(self, selectors: str, parents: list[_Context]) -> None:
        contexts: list[_Context] = []
        for raw in selectors.split(","):
            parsed = self.selector(raw.strip())
            if parsed is None:
                continue
            filters, attachment, specificity, is_map = parsed
            for p_filters, p_attachment, p_spec, p_map in parents or [((), "", (0, 0, 0), False)]:
                spec = (
                    p_spec[0] + specificity[0],
                    p_spec[1] + specificity[1],
                    p_spec[2] + specificity[2],
                )
                contexts.append(
                    (
                        p_filters + filters,
                        attachment or p_attachment or DEFAULT_ATTACHMENT,
                        spec,
                        is_map or p_map,
                    )
                )
        if not contexts:
            # A selector that could not be read: still consume its block (its problem is
            # recorded) so that the rest of the stylesheet is checked too.
            contexts = [((), DEFAULT_ATTACHMENT, (0, 0, 0), False)]
        self.block(contexts)

    def selector(self, text: str) -> _Context | None:
        filters: list[Filter] = []
        ids = classes = 0
        attachment = ""
        is_map = False
        rest = text
        while rest:
            rest = rest.lstrip()
            if not rest:
                break
            if rest.startswith("["):
                end = _closing_bracket(rest)
                if end < 0:
                    self.problems.append(f"unclosed filter in {text!r}")
                    return None
                parsed = self.filter(rest[1:end])
                if parsed is None:
                    return None
                filters.append(parsed)
                rest = rest[end + 1 :]
                continue
            if rest.startswith("::"):
                match = re.match(r"::([\w-]+)", rest)
                if match is None:
                    self.problems.append(f"bad attachment in {text!r}")
                    return None
                attachment = match.group(1)
                rest = rest[match.end() :]
                continue
            match = re.match(r"(#|\.)?([\w-]+)|\*", rest)
            if match is None:
                self.problems.append(f"cannot read selector {text!r}")
                return None
            if match.group(0) == "Map":
                is_map = True
            elif match.group(1) == "#":
                ids += 1
            elif match.group(1) == ".":
                classes += 1
            rest = rest[match.end() :]
        return tuple(filters), attachment, (ids, classes, len(filters)), is_map

    def filter(self, text: str) -> Filter | None:
        match = _FILTER_RE.match(self.substitute(text))
        if match is None:
            self.problems.append(f"cannot read filter [{text}]")
            return None
        field = match["field"]
        if field[0] in "'\"":
            field = field[1:-1]
        value = _literal(match["value"])
        if field == "zoom" and not isinstance(value, int):
            self.problems.append(f"zoom filters compare with a whole number: [{text}]")
            return None
        if match["op"] == "=~":
            try:
                re.compile(str(value))
            except re.error as exc:
                self.problems.append(f"bad regular expression in [{text}]: {exc}")
                return None
        return Filter(field, match["op"], value)


def parse_cartocss(text: str) -> Stylesheet:
    """Parse ``text``; raises :class:`CartoCSSError` listing every problem.

    Stylesheets are cached: every tile of a layer shares its CartoCSS.
    """
    if not isinstance(text, str):
        raise CartoCSSError([f"CartoCSS must be a string, got {type(text).__name__}"])
    sheet, problems = _parse_cached(text)
    if problems:
        raise CartoCSSError(list(problems))
    assert sheet is not None
    return sheet


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str) -> tuple[Stylesheet | None, tuple[str, ...]]:
    parser = _Parser(_strip_comments(text))
    parser.block([])
    if parser.problems:
        return None, tuple(parser.problems)
    sheet = Stylesheet(
        map_properties=types.MappingProxyType(dict(parser.map_properties)),
        definitions=tuple(parser.definitions),
        attachments=tuple(parser.attachments),
    )
    return sheet, ()
