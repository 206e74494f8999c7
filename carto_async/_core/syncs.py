"""Sync table requests, checks and response parsing (sans-I/O; reference §5 and §6).

The Rails synchronizations controller parses the raw body as JSON (a form body is a 500), takes
the key as ``?api_key=`` (never in the body), checks the interval only on create (the SDK
checks it on update too), and answers ``PUT sync_now`` with a bare ``enqueued`` flag: the
reason a run was not enqueued is read from the sync fetched just before (:func:`refusal_of`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from carto_async._core.http import RequestSpec, Service
from carto_async._core.imports import arcgis_url_problem, url_problem
from carto_async._core.jobs import Outcome, classify, run_outcome
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import structure
from carto_async.models.syncs import DataImport, Sync, SyncNowRefusal

__all__ = [
    "MIN_INTERVAL",
    "SYNCS_PATH",
    "SYNC_NOW_SPACING",
    "SYNC_STATES",
    "check_interval",
    "check_request",
    "check_sync_id",
    "create_request",
    "delete_request",
    "get_request",
    "list_request",
    "parse_check",
    "parse_list",
    "parse_sync",
    "parse_sync_now",
    "refusal_of",
    "run_outcome_of",
    "sync_now_request",
    "update_request",
]

SYNCS_PATH = "/api/v1/synchronizations"

#: The shortest interval the server accepts on create (15 minutes), in seconds.
MIN_INTERVAL = 900
#: A manual run is refused until this many seconds after ``ran_at``.
SYNC_NOW_SPACING = 900

#: Sync states (§5.6): a sync cycles queued -> syncing -> success | failure, forever.
SYNC_STATES: Mapping[str, Outcome] = {
    "created": Outcome.PENDING,
    "queued": Outcome.PENDING,
    "syncing": Outcome.PENDING,
    "success": Outcome.SUCCESS,
    "failure": Outcome.FAILURE,
}

_ID_RE = re.compile(
    r"^[0-9a-zA-Z]{8}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{12}$"
)


def check_sync_id(sync_id: object) -> str:
    """``sync_id`` if it is shaped as a sync id (a UUID), else :class:`ValidationError`."""
    if not isinstance(sync_id, str) or not _ID_RE.match(sync_id):
        raise ValidationError(f"invalid sync id {sync_id!r}: sync ids are UUIDs")
    return sync_id


def check_interval(interval: object) -> int:
    """The interval in whole seconds, at least :data:`MIN_INTERVAL` (a timedelta is taken too)."""
    seconds: object = interval
    if isinstance(interval, timedelta):
        seconds = interval.total_seconds()
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ValidationError(f"interval must be a whole number of seconds, got {interval!r}")
    if seconds < MIN_INTERVAL:
        raise ValidationError(
            f"interval must be at least {MIN_INTERVAL} seconds (15 minutes), got {seconds}"
        )
    return seconds


def _flag(problems: list[str], name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        problems.append(f"{name} must be True or False, got {value!r}")


def create_request(
    *,
    url: str | None = None,
    interval: object = 3600,
    table_name: str | None = None,
    service_name: str | None = None,
    service_item_id: str | None = None,
    type_guessing: bool | None = None,
    quoted_fields_guessing: bool | None = None,
    content_guessing: bool | None = None,
    create_vis: bool | None = None,
) -> RequestSpec:
    """``POST /api/v1/synchronizations`` with a JSON body, after checking every argument."""
    problems: list[str] = []
    seconds: int | None = None
    try:
        seconds = check_interval(interval)
    except ValidationError as exc:
        problems.append(str(exc))
    if service_name is None:
        problem = url_problem(url)
        if problem is not None:
            problems.append(problem)
    elif not isinstance(service_item_id, str) or not service_item_id:
        problems.append(f"a {service_name} sync needs the service_item_id")
    elif service_name == "arcgis":
        problem = arcgis_url_problem(service_item_id)
        if problem is not None:
            problems.append(problem)
    if table_name is not None and (not isinstance(table_name, str) or not table_name.strip()):
        problems.append(f"table_name must be a non-empty string, got {table_name!r}")
    flags = {
        "type_guessing": type_guessing,
        "quoted_fields_guessing": quoted_fields_guessing,
        "content_guessing": content_guessing,
        "create_vis": create_vis,
    }
    for name, value in flags.items():
        _flag(problems, name, value)
    if problems:
        raise ValidationError("invalid sync table: " + "; ".join(problems), problems=problems)
    body: dict[str, Any] = {"url": url if url is not None else "", "interval": seconds}
    if service_name is not None:
        body["service_name"] = service_name
        body["service_item_id"] = service_item_id
    if table_name is not None:
        body["table_name"] = table_name
    body.update({k: v for k, v in flags.items() if v is not None})
    return RequestSpec("POST", SYNCS_PATH, Service.RAILS, json=body, creates_job=True)


def list_request() -> RequestSpec:
    """``GET /api/v1/synchronizations``."""
    return RequestSpec("GET", SYNCS_PATH, Service.RAILS)


def get_request(sync_id: str) -> RequestSpec:
    """``GET /api/v1/synchronizations/:id``."""
    return RequestSpec("GET", f"{SYNCS_PATH}/{check_sync_id(sync_id)}", Service.RAILS)


def update_request(sync_id: str, *, interval: object) -> RequestSpec:
    """``PUT /api/v1/synchronizations/:id``; the interval is checked here, as the server does
    not on update."""
    path = f"{SYNCS_PATH}/{check_sync_id(sync_id)}"
    return RequestSpec("PUT", path, Service.RAILS, json={"interval": check_interval(interval)})


def delete_request(sync_id: str) -> RequestSpec:
    """``DELETE /api/v1/synchronizations/:id`` (204; the table stays)."""
    return RequestSpec("DELETE", f"{SYNCS_PATH}/{check_sync_id(sync_id)}", Service.RAILS)


def check_request(sync_id: str) -> RequestSpec:
    """``GET /api/v1/synchronizations/:id/sync_now``: the state."""
    return RequestSpec("GET", f"{SYNCS_PATH}/{check_sync_id(sync_id)}/sync_now", Service.RAILS)


def sync_now_request(sync_id: str) -> RequestSpec:
    """``PUT /api/v1/synchronizations/:id/sync_now``.

    It may enqueue a run: never repeated after an ambiguous failure (a repeat would be
    refused as "already queued" and hide that the first one was enqueued).
    """
    path = f"{SYNCS_PATH}/{check_sync_id(sync_id)}/sync_now"
    return RequestSpec(
        "PUT", path, Service.RAILS, headers={"Content-Length": "0"}, creates_job=True
    )


def _unexpected(what: str, body: Any) -> APIError:
    return APIError(f"unexpected {what} response from the sync tables API: {str(body)[:200]}")


def parse_sync(body: Any, what: str = "sync") -> Sync:
    """A :class:`Sync` from a sync object (the create response's ``data_import`` included)."""
    if (
        not isinstance(body, Mapping)
        or not isinstance(body.get("id"), str)
        or not isinstance(body.get("state"), str)
    ):
        raise _unexpected(what, body)
    data = {k: v for k, v in body.items() if v is not None}
    nested = body.get("data_import")
    if not isinstance(nested, Mapping) and isinstance(body.get("item_queue_id"), str):
        # The ArcGIS docs show the import's fields flat at the top level.
        nested = {
            "endpoint": body.get("endpoint", "/api/v1/imports"),
            "item_queue_id": body["item_queue_id"],
        }
    data.pop("data_import", None)
    try:
        sync = structure(data, Sync)
    except Exception as exc:  # cattrs reports a wrong type as its own exception group
        raise _unexpected(what, body) from exc
    if isinstance(nested, Mapping) and isinstance(nested.get("item_queue_id"), str):
        endpoint = str(nested.get("endpoint") or "/api/v1/imports")
        sync = _with(sync, data_import=DataImport(endpoint, nested["item_queue_id"]))
    return _with(sync, raw=dict(body))


def _with(sync: Sync, **changes: Any) -> Sync:
    return attrs.evolve(sync, **changes)


def parse_list(body: Any) -> list[Sync]:
    """The syncs of ``{"synchronizations": [...], "total_entries": n}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("synchronizations"), list):
        raise _unexpected("list", body)
    return [parse_sync(item, "list") for item in body["synchronizations"]]


def parse_check(body: Any) -> str:
    """The state of ``{"state": "..."}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("state"), str):
        raise _unexpected("sync_now", body)
    return str(body["state"])


def parse_sync_now(body: Any) -> bool:
    """Whether ``PUT sync_now`` enqueued a run."""
    if not isinstance(body, Mapping) or not isinstance(body.get("enqueued"), bool):
        raise _unexpected("sync_now", body)
    return bool(body["enqueued"])


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def refusal_of(before: Sync, now: datetime) -> SyncNowRefusal:
    """Why the server refused a manual run of ``before`` (the sync read just before asking).

    The server's rule (§5.5): the state must be success or failure (or a queue older than 15
    minutes), ``ran_at`` older than 15 minutes, and the user below 3 concurrent syncs. ``now``
    is the server's time when known (the response's ``Date``).
    """
    stale_queue = (
        before.state == "queued"
        and before.updated_at is not None
        and (now - _utc(before.updated_at)).total_seconds() >= SYNC_NOW_SPACING
    )
    if before.state in ("created", "queued", "syncing") and not stale_queue:
        return SyncNowRefusal.BUSY
    if before.ran_at is not None and (now - _utc(before.ran_at)).total_seconds() < SYNC_NOW_SPACING:
        return SyncNowRefusal.RAN_RECENTLY
    return SyncNowRefusal.CONCURRENCY


def run_outcome_of(
    sync: Sync,
    *,
    triggered_at: datetime | None,
    started: bool,
    refusal: SyncNowRefusal | None = None,
) -> Outcome:
    """Where the run a handle follows stands, given the sync as last seen.

    A manual run the server refused (other than "already running") is a failure at once. A run
    known to have started (the create or ``sync_now`` response, or a ``queued``/``syncing``
    state seen since) ends with the next final state. Otherwise only a ``ran_at`` later than
    ``triggered_at`` says the run happened: a ``success`` left by an earlier run is pending.
    """
    if refusal is not None and refusal is not SyncNowRefusal.BUSY:
        return Outcome.FAILURE
    if started:
        return classify(SYNC_STATES, sync.state)
    if triggered_at is None:
        return Outcome.PENDING
    return run_outcome(SYNC_STATES, sync.state, sync.ran_at, triggered_at)
