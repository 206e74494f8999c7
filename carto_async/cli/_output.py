"""Where the command writes, and how: key redaction, consoles and small formatters.

Every byte the command writes to stdout or stderr goes through :class:`RedactingStream`, which
masks the API key wherever it appears. The SDK already keeps the key out of its messages, URLs
and log records; this is the second lock on the same door, so that a message from a layer that
forgot (a third-party log line, a traceback) still cannot print it.
"""

from __future__ import annotations

import contextlib
import html
import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from rich.console import Console

from carto_async._core.credentials import redact

__all__ = [
    "RedactingStream",
    "add_secret",
    "console",
    "format_duration",
    "redacted_output",
    "strip_html",
]

# Keys shorter than this would mask ordinary words ("demo") in every line; no real key is
# that short, and LocalCarto's keys are long too.
_MIN_SECRET_LENGTH = 6

_secrets: set[str] = set()


def add_secret(secret: str | None) -> None:
    """Mask ``secret`` in everything written from now on (while output is redacted)."""
    if secret and len(secret) >= _MIN_SECRET_LENGTH:
        _secrets.add(secret)


class RedactingStream:
    """A text stream that writes to ``inner`` with every known secret masked as ``***``."""

    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        shown = text
        for secret in _secrets:
            shown = redact(shown, secret)
        self._inner.write(shown)
        return len(text)  # what the caller asked to write, as a real stream reports

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        # flush, isatty, fileno, encoding...: whatever rich and click ask of a real stream.
        return getattr(self._inner, name)


@contextlib.contextmanager
def redacted_output(secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Mask ``secrets`` (and any added later) in ``sys.stdout`` and ``sys.stderr``."""
    saved = set(_secrets)
    for secret in secrets:
        add_secret(secret)
    out, err = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(out)
    sys.stderr = RedactingStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
        _secrets.clear()
        _secrets.update(saved)


def console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A rich console on the current ``sys.stdout``/``sys.stderr`` (read at call time, so
    that a redirection or click's test runner is honoured)."""
    stream = sys.stderr if stderr else sys.stdout
    # Tables stay readable when the output is a file or a pipe, instead of 80 columns.
    width = None if stream.isatty() else 160
    return Console(file=stream, quiet=quiet, width=width, highlight=False, soft_wrap=True)


_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")


def strip_html(text: str | None) -> str:
    """The server's advice text without its HTML tags and entities, on one line."""
    if not text:
        return ""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", text))).strip()


def format_duration(seconds: float | None) -> str:
    """``0.8s``, ``12s``, ``3m05s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
