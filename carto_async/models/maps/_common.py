"""Shared pieces of the Maps models: constants, JSON helpers, problem reporting."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeAlias

from carto_async.errors import ValidationError

__all__ = [
    "CARTOCSS_VERSION",
    "MAPCONFIG_VERSION",
    "PLACEHOLDER_TYPES",
    "TEMPLATE_VERSION",
]

#: The MapConfig version the builder writes (the newest the server accepts).
MAPCONFIG_VERSION = "1.8.0"
#: The CartoCSS version written when a layer does not say.
CARTOCSS_VERSION = "2.1.1"
#: The only template version the server accepts.
TEMPLATE_VERSION = "0.0.1"
#: Placeholder types the server substitutes (``TemplateMaps#instance``).
PLACEHOLDER_TYPES = ("number", "css_color", "sql_literal", "sql_ident")

# The server's patterns (Windshaft-cartodb lib/backends/template-maps.js).
_TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9][0-9a-z_-]*$", re.IGNORECASE)
_PLACEHOLDER_NAME_RE = re.compile(r"^[a-z][0-9a-z_]*$", re.IGNORECASE)
# As on the server: "12", "-3", ".5e3" pass but the string "1.5" does not (JSON numbers do).
_NUMBER_RE = re.compile(r"^([-+]?[\d\.]?\d+([eE][+-]?\d+)?)$")
_CSS_COLOR_RES = (re.compile(r"^[a-zA-Z]+$"), re.compile(r"^#[0-9a-fA-F]{3,6}$"))
_SUPPORTED_MAPCONFIG = ((1, 0, 0), (1, 8, 0))

Json: TypeAlias = dict[str, Any]


def _drop_none(items: Mapping[str, Any]) -> Json:
    return {k: v for k, v in items.items() if v is not None}


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _quad(value: Any) -> tuple[float, float, float, float] | None:
    return None if value is None else tuple(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_str(problems: list[str], where: str, name: str, value: Any, *, required: bool) -> None:
    if value is None:
        if required:
            problems.append(f"{where}: missing `{name}`")
    elif not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{where}: `{name}` must be a non-empty string, got {value!r}")


def _raise_if(problems: list[str], what: str) -> None:
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ValidationError(f"invalid {what} ({count}):\n{lines}", problems=problems)
