"""Sync table models: a synchronization, the first import it starts, and why a manual run was
not enqueued (reference §5)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from carto_async.models.imports import ImportErrorText, error_text_for_code

__all__ = ["DataImport", "Sync", "SyncNowRefusal"]


@attrs.frozen
class DataImport:
    """The import a sync's creation started: follow it with ``carto.imports.job(item_queue_id)``."""

    endpoint: str
    item_queue_id: str


@attrs.frozen
class Sync:
    """One sync table as ``/api/v1/synchronizations`` describes it (§5.1).

    ``state`` is ``created``, ``queued``, ``syncing``, ``success`` or ``failure``; ``ran_at`` is
    when it last ran and ``run_at`` when it runs next; ``interval`` is in seconds. A failed run
    has ``error_code`` and ``error_message`` and counts ``retried_times`` (the server retries
    up to 10 times). ``data_import`` is only present in the create response. ``raw`` keeps the
    whole payload.
    """

    id: str
    state: str
    name: str | None = None
    interval: int | None = None
    url: str | None = None
    user_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    run_at: datetime | None = None
    ran_at: datetime | None = None
    modified_at: datetime | None = None
    etag: str | None = None
    checksum: str | None = None
    log_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    retried_times: int = 0
    service_name: str | None = None
    service_item_id: str | None = None
    type_guessing: bool | None = None
    quoted_fields_guessing: bool | None = None
    content_guessing: bool | None = None
    visualization_id: str | None = None
    from_external_source: bool | None = None
    data_import: DataImport | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def error(self) -> ImportErrorText | None:
        """The title (and advice) of ``error_code``; the server's message when it has one."""
        text = error_text_for_code(self.error_code)
        if self.error_message and (text is None or text.title != self.error_message):
            base = text or ImportErrorText(self.error_message)
            return ImportErrorText(self.error_message, base.what_about, base.source)
        return text


class SyncNowRefusal(StrEnum):
    """Why ``PUT sync_now`` did not enqueue a run (the server answers only ``false``; the SDK
    reads the reason from the sync it fetched just before)."""

    RAN_RECENTLY = "ran_recently"  # it ran less than 15 minutes ago
    BUSY = "busy"  # already queued or syncing (the handle follows that run)
    CONCURRENCY = "concurrency"  # the user already runs 3 syncs at once (or another limit)

    @property
    def message(self) -> str:
        """The reason in words."""
        return _REFUSALS[self]


_REFUSALS = {
    SyncNowRefusal.RAN_RECENTLY: "the table ran less than 15 minutes ago",
    SyncNowRefusal.BUSY: "the table is already queued or syncing",
    SyncNowRefusal.CONCURRENCY: "the account already runs its 3 concurrent syncs",
}
