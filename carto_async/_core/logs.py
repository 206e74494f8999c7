"""Keep API keys out of log records, including httpx's own request lines."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "install_redaction", "redact_log_text"]

_KEY_RE = re.compile(r"((?:api_key|map_key)=)[^&\s\"']+")
# The userinfo of any URL (``https://user:KEY@host``, ``https://KEY@host``): all of it goes.
_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]+@")


def redact_log_text(text: str) -> str:
    """``text`` with ``api_key=``/``map_key=`` values and URL userinfo masked."""
    if "_key=" in text:
        text = _KEY_RE.sub(r"\1***", text)
    if "@" in text:
        text = _USERINFO_RE.sub(r"\1***@", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks ``api_key=...``, ``map_key=...`` and URL userinfo in a record's message.

    The message is checked once formatted, so a key split between the format string and its
    arguments (``"https://u:%s@host"``) is masked too; a record that needed masking keeps the
    masked text and loses its arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format is logging's to report, not ours
            return True
        cleaned = redact_log_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()


def install_redaction() -> None:
    """Attach the filter to the loggers that may see request URLs (idempotent).

    A logger's filters do not see its children's records, so each logger is named.
    """
    for name in ("httpx", "httpcore", "carto_async", "carto_async.testing"):
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)
