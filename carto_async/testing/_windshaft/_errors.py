"""Maps API errors as Windshaft-cartodb answers them (reference §8.6).

Every failure is a :class:`MapsError` carrying the server's message, an explicit status when
the server sets one, and the context it exposes (``type``, ``subtype``, ``layer``). The body is
``{"errors": [...], "errors_with_context": [...]}``; without an explicit status the status is
derived from the message text, as the server's error middleware does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MapsError", "error_body", "status_from_message"]

_COLUMN_MISSING_RE = re.compile(r"Postgis Plugin.*[\s|\n].*column.*does not exist")
_FUNCTION_MISSING_RE = re.compile(r"function .* does not exist")


def status_from_message(message: str) -> int:
    """The status the server derives from an error message that has none set."""
    # The server reads ``'' + err``, i.e. "Error: <message>": " role " matches a leading
    # "role ...".
    message = "Error: " + message
    if "permission denied" in message or "authentication failed" in message:
        return 403
    if _COLUMN_MISSING_RE.search(message):
        return 400
    if "does not exist" in message:
        if " role " in message:
            return 403
        if _FUNCTION_MISSING_RE.search(message):
            return 400
        return 404
    return 400


class MapsError(Exception):
    """One Maps API error: the server's ``message``, its ``status`` (explicit, else derived
    from the message), and the context members the server exposes."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        subtype: str | None = None,
        layer: Mapping[str, Any] | None = None,
        more: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else status_from_message(message)
        self.type = type
        self.subtype = subtype
        self.layer = dict(layer) if layer is not None else None
        # Further messages reported with the first (the server sends one per error).
        self.more = tuple(more)

    def context(self, message: str | None = None) -> dict[str, Any]:
        """The ``errors_with_context`` entry of this error."""
        out: dict[str, Any] = {"type": self.type or "unknown", "message": message or self.message}
        if self.subtype is not None:
            out["subtype"] = self.subtype
        if self.layer is not None:
            out["layer"] = self.layer
        return out

    def body(self) -> dict[str, Any]:
        """The JSON body the server answers with."""
        messages = [self.message, *self.more]
        return {
            "errors": messages,
            "errors_with_context": [self.context(m) for m in messages],
        }


def error_body(error: MapsError) -> bytes:
    """The error's body, encoded as the server sends it."""
    return json.dumps(error.body(), separators=(",", ":")).encode()
