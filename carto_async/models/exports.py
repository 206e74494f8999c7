"""Visualization export models (reference §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

__all__ = ["VisualizationExport"]


@attrs.frozen
class VisualizationExport:
    """One export of a map to a ``.carto`` file, as ``/api/v3/visualization_exports`` shows it.

    ``state`` is ``pending``, ``exporting``, ``uploading``, ``complete`` or ``failure``; ``url``
    (once complete) is a path on the account (``/api/v3/visualization_exports/<id>/download``)
    or an absolute presigned URL of another host (S3). ``raw`` keeps the whole payload.
    """

    id: str
    state: str
    visualization_id: str | None = None
    user_id: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
