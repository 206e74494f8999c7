"""Import API models: the status of an import, its error text, and the option enums."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import attrs

from carto_async._core.jobs import FINAL_IMPORT_STATES
from carto_async.data import import_error_codes

__all__ = [
    "FINAL_IMPORT_STATES",
    "CollisionStrategy",
    "ImportErrorText",
    "ImportStatus",
    "Privacy",
    "error_text_for_code",
]


class Privacy(StrEnum):
    """Privacy of the dataset an import creates."""

    PUBLIC = "public"
    PRIVATE = "private"
    LINK = "link"


class CollisionStrategy(StrEnum):
    """What to do when the table an import would create exists already."""

    SKIP = "skip"  # leave the existing table; all skipped -> complete with warning 1022
    OVERWRITE = "overwrite"  # replace the existing table


@attrs.frozen
class ImportErrorText:
    """What an import error code means: the server's ``get_error_text``."""

    title: str
    what_about: str = ""
    source: str = ""


def error_text_for_code(code: int | None) -> ImportErrorText | None:
    """The title, advice and source of an import error code, from the server's own table.

    Codes the server's table lacks (1010 "Not a file", the sync-only 9999) still get a title.
    """
    if code is None:
        return None
    entry = import_error_codes().get(str(code))
    if entry is not None:
        return ImportErrorText(entry["title"], entry.get("what_about", ""), entry.get("source", ""))
    if code == 1010:
        return ImportErrorText(
            "Not a file", "The source is not a file that can be imported.", "user"
        )
    if code == 9999:
        return ImportErrorText(
            "Synchronization error", "The sync failed for an unknown reason.", "cartodb"
        )
    return ImportErrorText(f"Import error {code}", "", "")


@attrs.frozen
class ImportStatus:
    """One import as ``GET /api/v1/imports/:id`` describes it.

    ``success`` is only present once the import is final; ``error_code`` may be set on a
    ``complete`` import (1022: every table was skipped). ``raw`` keeps the whole payload.
    """

    id: str
    state: str
    user_id: str | None = None
    table_id: str | None = None
    data_type: str | None = None
    table_name: str | None = None
    error_code: int | None = None
    queue_id: str | None = None
    tables_created_count: int | None = None
    synchronization_id: str | None = None
    type_guessing: bool | None = None
    quoted_fields_guessing: bool | None = None
    content_guessing: bool | None = None
    create_visualization: bool | None = None
    visualization_id: str | None = None
    user_defined_limits: str | None = None
    get_error_text: ImportErrorText | None = None
    display_name: str | None = None
    success: bool | None = None
    original_url: str | None = None
    warnings: dict[str, Any] | None = None
    is_raster: bool | None = None
    http_response_code: str | None = None
    http_response_code_message: str | None = None
    any_table_raster: bool | None = None
    derived_visualization_id: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def done(self) -> bool:
        """True once the import reached a final state."""
        return self.state in FINAL_IMPORT_STATES

    @property
    def succeeded(self) -> bool:
        """True for ``complete`` (a 1022 "all tables skipped" complete included)."""
        return self.state == "complete"

    @property
    def failed(self) -> bool:
        """True for ``failure`` and ``stuck``."""
        return self.state in ("failure", "stuck")

    @property
    def warning(self) -> ImportErrorText | None:
        """The warning of a successful import that carries an error code (1022)."""
        if self.succeeded and self.error_code is not None:
            return self.error
        return None

    @property
    def error(self) -> ImportErrorText | None:
        """The error text: the server's ``get_error_text``, or the SDK's copy of the table."""
        if self.get_error_text is not None:
            return self.get_error_text
        return error_text_for_code(self.error_code)

    @property
    def limits(self) -> dict[str, Any]:
        """``user_defined_limits``, which the server sends as a JSON string, parsed."""
        if not self.user_defined_limits:
            return {}
        try:
            value = json.loads(self.user_defined_limits)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
