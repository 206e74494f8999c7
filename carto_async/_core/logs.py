"""Keep API keys out of log records, including httpx's own request lines."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "install_redaction"]

_KEY_RE = re.compile(r"((?:api_key|map_key)=)[^&\s\"']+")


class RedactingFilter(logging.Filter):
    """Masks ``api_key=...`` and ``map_key=...`` in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and ("api_key=" in record.msg or "map_key=" in record.msg):
            record.msg = _KEY_RE.sub(r"\1***", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            cleaned = tuple(
                _KEY_RE.sub(r"\1***", str(a))
                if ("api_key=" in str(a) or "map_key=" in str(a))
                else a
                for a in args
            )
            if cleaned != args:
                record.args = cleaned
        return True


_FILTER = RedactingFilter()


def install_redaction() -> None:
    """Attach the filter to the loggers that may see request URLs (idempotent)."""
    for name in ("httpx", "httpcore", "carto_async"):
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)
