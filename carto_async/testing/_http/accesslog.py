"""The access log without keys: uvicorn logs request lines with their query strings.

``serve()`` runs where people look at its output and paste it into issues, and CARTO clients
put the key in the query string (``?api_key=...``). This filter masks the value of every
``api_key``/``map_key`` parameter, however its name is percent-encoded, before any handler
formats the record.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

__all__ = ["KeyMaskingFilter", "install_access_log_masking", "mask_keys"]

_KEY_NAMES = frozenset({"api_key", "map_key"})
_PAIR_RE = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;?#\s]*)=(?P<value>[^&;#\s\"]*)")
MASK = "***"


def mask_keys(text: str) -> str:
    """``text`` with the value of each key parameter of a URL or query string masked.

    >>> mask_keys('GET /api/v2/sql?q=select+1&api_key=secret HTTP/1.1')
    'GET /api/v2/sql?q=select+1&api_key=*** HTTP/1.1'
    """
    if "=" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if unquote_plus(match["name"]).strip().lower() not in _KEY_NAMES:
            return match.group(0)
        return f"{match['lead']}{match['name']}={MASK}"

    # A bare query string has no "?" in front of its first pair.
    masked = _PAIR_RE.sub(replace, text if text[:1] in "?&;/" or " " in text else "?" + text)
    return masked if masked[:1] == text[:1] else masked[1:]


class KeyMaskingFilter(logging.Filter):
    """Masks key parameters in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_keys(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            cleaned = tuple(mask_keys(a) if isinstance(a, str) else a for a in args)
            if cleaned != args:
                record.args = cleaned
        return True


_FILTER = KeyMaskingFilter()
#: The loggers that see request lines: uvicorn's access log and its error log (which names
#: the request of an exception).
_LOGGERS = ("uvicorn.access", "uvicorn.error", "carto_async.testing")


def install_access_log_masking() -> None:
    """Attach the filter to the loggers that may see request URLs (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
