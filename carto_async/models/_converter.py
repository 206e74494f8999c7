"""The one cattrs converter every model goes through, and lenient ISO-8601 parsing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import cattrs

__all__ = ["converter", "parse_datetime", "structure"]

T = TypeVar("T")

_ISO_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?P<frac>\.\d+)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_datetime(value: str | datetime) -> datetime:
    """Parse the timestamp forms CARTO emits: with or without milliseconds, ``Z``, ``±hh:mm``,
    ``±hhmm`` or no offset (taken as UTC)."""
    if isinstance(value, datetime):
        return value
    text = value.strip()
    match = _ISO_RE.match(text)
    if match is None:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    time_part = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    frac = (match["frac"] or "")[:7].ljust(7, "0")[1:] if match["frac"] else "000000"
    parsed = datetime.fromisoformat(f"{match['date']}T{time_part}.{frac}")
    tz = match["tz"]
    if tz is None or tz == "Z":
        return parsed.replace(tzinfo=UTC)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return parsed.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


converter = cattrs.Converter(forbid_extra_keys=False)
converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
converter.register_unstructure_hook(datetime, lambda v: v.isoformat())


def structure(data: Mapping[str, Any], cls: type[T]) -> T:
    """Build ``cls`` from a payload; unknown keys are kept in its ``raw`` field when it has one."""
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    known = {k: v for k, v in data.items() if k in fields and k != "raw"}
    obj = converter.structure(known, cls)
    if "raw" in fields:
        obj = attrs.evolve(obj, raw=dict(data))  # type: ignore[misc]
    return obj
