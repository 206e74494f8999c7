"""PostgreSQL values in LocalCarto's SQLite: timestamps, and the SQL functions behind casts.

Timestamps are stored as ISO-8601 text in UTC (``2020-01-02T03:04:05Z``): :func:`parse_timestamp`
reads what users and files write, :func:`format_timestamp` writes the stored form.

:func:`register_functions` adds the SQLite functions that translated SQL calls where SQLite has
no native cast (``x::boolean`` becomes ``_pg_bool(x)``, see ``_pgsql``), the lenient date and
timestamp conversions of the importer (``_carto_date``, ``_carto_timestamptz``) and PostgreSQL
built-ins SQLite lacks (``concat``, ``greatest``, ``least``, ``now``). A cast that fails raises
PostgreSQL's message (``invalid input syntax for type boolean: "x"``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from carto_async.testing import _geometry
from carto_async.testing._geofunctions import as_geometry, sql_function

__all__ = ["format_timestamp", "parse_timestamp", "register_functions"]

# --------------------------------------------------------------------------- timestamps

_TS_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.I,
)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Read an ISO-8601-ish date or timestamp (naive values are UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    stamp: dt.datetime | None
    try:
        stamp = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        stamp = _parse_timestamp_loosely(value)
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def _parse_timestamp_loosely(value: str) -> dt.datetime | None:
    # Forms fromisoformat refuses: single-digit months/days/hours, offsets like +5.
    match = _TS_RE.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    tz = dt.UTC
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = dt.timezone(sign * offset)
    try:
        return dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None


def format_timestamp(stamp: dt.datetime) -> str:
    """Storage form of a ``TIMESTAMPTZ`` value: ``2020-01-02T03:04:05Z`` (UTC)."""
    s = stamp.astimezone(dt.UTC) if stamp.tzinfo is not None else stamp
    text = f"{s.year:04d}-{s.month:02d}-{s.day:02d}T{s.hour:02d}:{s.minute:02d}:{s.second:02d}"
    if s.microsecond:
        text += f".{s.microsecond:06d}".rstrip("0")
    return text + "Z"


def _cast_timestamp(kind: str) -> Callable[[Any], str | None]:
    pg_names = {"timestamptz": "timestamp with time zone", "timestamp": "timestamp"}

    def cast(value: Any) -> str | None:
        if value is None:
            return None
        stamp = parse_timestamp(value if isinstance(value, str) else str(value))
        if stamp is None:
            name = pg_names.get(kind, kind)
            raise ValueError(f'invalid input syntax for type {name}: "{value}"')
        if kind == "date":
            return stamp.strftime("%Y-%m-%d")
        return format_timestamp(stamp)

    return cast


def _lenient(cast: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def fn(value: Any) -> str | None:
        try:
            return cast(value)
        except ValueError:
            return None

    return fn


_TRUE = frozenset(("t", "true", "y", "yes", "on", "1"))
_FALSE = frozenset(("f", "false", "n", "no", "off", "0"))


def _cast_bool(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(bool(value))
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise ValueError(f'invalid input syntax for type boolean: "{value}"')


def _cast_json(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    try:
        json.loads(text)
    except ValueError:
        raise ValueError("invalid input syntax for type json") from None
    return text


def _cast_geography(value: Any) -> str | None:
    return None if value is None else _geometry.to_hex(as_geometry(value))


def _now() -> str:
    return format_timestamp(dt.datetime.now(dt.UTC))


def _concat(*args: Any) -> str:
    return "".join(str(a) for a in args if a is not None)


# --------------------------------------------------------------------------- registration


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the cast functions and the PostgreSQL built-ins on ``conn``."""
    functions: dict[str, tuple[int, Callable[..., Any]]] = {
        "_pg_bool": (1, _cast_bool),
        "_pg_date": (1, _cast_timestamp("date")),
        "_pg_timestamp": (1, _cast_timestamp("timestamp")),
        "_pg_timestamptz": (1, _cast_timestamp("timestamptz")),
        "_pg_json": (1, _cast_json),
        "_pg_jsonb": (1, _cast_json),
        "_pg_geography": (1, _cast_geography),
        "_carto_date": (1, _lenient(_cast_timestamp("date"))),
        "_carto_timestamptz": (1, _lenient(_cast_timestamp("timestamptz"))),
        "concat": (-1, _concat),
        "greatest": (-1, lambda *a: max((v for v in a if v is not None), default=None)),
        "least": (-1, lambda *a: min((v for v in a if v is not None), default=None)),
    }
    for name, (nargs, func) in functions.items():
        conn.create_function(name, nargs, sql_function(func), deterministic=True)
    conn.create_function("now", 0, _now)
