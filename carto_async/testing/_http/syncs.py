"""Sync table endpoints: ``/api/v1/synchronizations[/:id[/sync_now]]`` (reference §5)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.imports import user_id_of
from carto_async.testing._http.rails import BadJson, is_master, json_body, query_params
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._importing import ImportRequest
from carto_async.testing._sources import basename_of
from carto_async.testing._staging import LoadOptions
from carto_async.testing._syncs import DEFAULT_INTERVAL, MIN_INTERVAL, Sync
from carto_async.testing._visualizations import iso_ms, iso_seconds
from carto_async.testing._wire import rails_empty, rails_json

__all__ = ["create", "destroy", "index", "present", "show", "sync_now", "sync_state", "update"]

_INTERVAL_ERROR = "Invalid interval: Sync interval must be at least 15 minutes"
# The column is a PostgreSQL integer: Rails fails on anything larger with a 500.
_MAX_INTERVAL = 2**31 - 1
_TOO_LONG = f"Invalid interval: Sync interval must be at most {_MAX_INTERVAL} seconds"


def _errors(message: str, status: int = 400) -> Response:
    return rails_json({"errors": message}, status)


def _ruby_int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    digits = ""
    for index, char in enumerate(text):
        if char.isdigit() or (index == 0 and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return value in ("true", True) if default is False else value not in ("false", False)


def present(sync: Sync, *, created: bool = False) -> dict[str, Any]:
    """A sync object: DB column order for show/list, Virtus order (and times) for create/update."""
    stamp = iso_seconds if created else iso_ms
    times = {
        "created_at": stamp(sync.created_at),
        "updated_at": stamp(sync.updated_at),
        "run_at": stamp(sync.run_at),
        "ran_at": stamp(sync.ran_at),
        "modified_at": stamp(sync.modified_at),
    }
    if created:
        return {
            "id": sync.id,
            "name": sync.name,
            "interval": sync.interval,
            "url": sync.url,
            "state": sync.state,
            "user_id": sync.user_id,
            **times,
            "etag": sync.etag,
            "checksum": sync.checksum,
            "log_id": sync.log_id,
            "error_code": sync.error_code,
            "error_message": sync.error_message,
            "retried_times": sync.retried_times,
            "service_name": sync.service_name,
            "service_item_id": sync.service_item_id,
            "type_guessing": sync.type_guessing,
            "quoted_fields_guessing": sync.quoted_fields_guessing,
            "content_guessing": sync.content_guessing,
            "visualization_id": sync.visualization_id,
            "from_external_source": sync.from_external_source,
        }
    return {
        "id": sync.id,
        "name": sync.name,
        "interval": sync.interval,
        "url": sync.url,
        "state": sync.state,
        "created_at": times["created_at"],
        "updated_at": times["updated_at"],
        "run_at": times["run_at"],
        "retried_times": sync.retried_times,
        "log_id": sync.log_id,
        "error_code": sync.error_code,
        "error_message": sync.error_message,
        "ran_at": times["ran_at"],
        "modified_at": times["modified_at"],
        "etag": sync.etag,
        "checksum": sync.checksum,
        "user_id": sync.user_id,
        "service_name": sync.service_name,
        "service_item_id": sync.service_item_id,
        "type_guessing": sync.type_guessing,
        "quoted_fields_guessing": sync.quoted_fields_guessing,
        "content_guessing": sync.content_guessing,
        "visualization_id": sync.visualization_id,
        "from_external_source": sync.from_external_source,
    }


async def _authorized(request: Request, ctx: Context, match: RouteMatch) -> bool:
    """Master key and the sync tables feature (both needed by every endpoint but the list)."""
    return ctx.sync_tables and is_master(ctx, match, request, query_params(request))


def _sync_of(ctx: Context, match: RouteMatch) -> Sync | None:
    sync = ctx.syncs.get(match.params["id"])
    return sync if sync is not None and sync.user == match.user else None


async def index(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/synchronizations``: the user's syncs (the feature flag is not checked)."""
    await drain(request)
    if not is_master(ctx, match, request, query_params(request)):
        return rails_empty(401)
    syncs = [present(s) for s in ctx.syncs.of_user(match.user)]
    return rails_json({"synchronizations": syncs, "total_entries": len(syncs)})


async def show(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/synchronizations/:id``."""
    await drain(request)
    if not await _authorized(request, ctx, match):
        return rails_empty(401)
    ctx.syncs.tick()
    sync = _sync_of(ctx, match)
    return rails_empty(404) if sync is None else rails_json(present(sync))


async def sync_state(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET .../sync_now``: ``{"state": ...}``."""
    await drain(request)
    if not await _authorized(request, ctx, match):
        return rails_empty(401)
    ctx.syncs.tick()
    sync = _sync_of(ctx, match)
    return rails_empty(404) if sync is None else rails_json({"state": sync.state})


async def sync_now(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``PUT .../sync_now``: ``{"enqueued": bool, "synchronization_id": id}``."""
    await drain(request)
    if not await _authorized(request, ctx, match):
        return rails_empty(401)
    sync = _sync_of(ctx, match)
    if sync is None:
        return rails_empty(404)
    enqueued, _why = ctx.syncs.sync_now(sync)
    return rails_json({"enqueued": enqueued, "synchronization_id": sync.id})


async def destroy(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``DELETE /api/v1/synchronizations/:id``: 204; the table stays."""
    await drain(request)
    if not await _authorized(request, ctx, match):
        return rails_empty(401)
    sync = _sync_of(ctx, match)
    if sync is None:
        return rails_empty(404)
    ctx.syncs.delete(sync)
    return Response(b"", status_code=204)


async def update(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``PUT /api/v1/synchronizations/:id``: JSON attributes (the interval is not checked)."""
    try:
        body = await json_body(request)
    except BadJson as exc:
        return _errors(str(exc))
    if not await _authorized(request, ctx, match):
        return rails_empty(401)
    sync = _sync_of(ctx, match)
    if sync is None:
        return rails_empty(404)
    interval = _ruby_int(body["interval"]) if "interval" in body else None
    if interval is not None and interval > _MAX_INTERVAL:
        return _errors(_TOO_LONG)
    ctx.syncs.update(sync, interval=interval)
    return rails_json(present(sync, created=True))


async def create(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``POST /api/v1/synchronizations``: JSON body; 200 with the sync and its first import."""
    query = query_params(request)
    try:
        body = await json_body(request)
    except BadJson as exc:
        return _errors(str(exc))
    params = {**body, **query}
    if not (ctx.sync_tables and is_master(ctx, match, request, params)):
        return rails_empty(401)
    interval = _ruby_int(params["interval"]) if "interval" in params else DEFAULT_INTERVAL
    if interval < MIN_INTERVAL:
        return _errors(_INTERVAL_ERROR)
    if interval > _MAX_INTERVAL:
        return _errors(_TOO_LONG)
    request_ = _import_request(ctx, params)
    name = str(params["table_name"]) if params.get("table_name") else None
    sync = ctx.syncs.create(
        match.user, user_id_of(match.user), request_, interval=interval, name=name
    )
    # The server checks the URL only after storing the sync, so a bad URL leaves it behind.
    url = params.get("url")
    if request_.kind == "url" and isinstance(url, str) and url and not _valid_url(url):
        return _errors(f"Invalid URL, cannot connect dataset: {url}")
    job = ctx.syncs.start_first(sync)
    data = {"data_import": {"endpoint": "/api/v1/imports", "item_queue_id": job.id}}
    data.update(present(sync, created=True))
    return rails_json(data)


def _valid_url(url: str) -> bool:
    from carto_async.testing._http.imports import _check_url, _Invalid  # noqa: PLC0415 - the Import API's own rule

    try:
        _check_url(url)
    except _Invalid:
        return False
    return True


def _import_request(ctx: Context, params: dict[str, Any]) -> ImportRequest:
    options = LoadOptions(
        type_guessing=_flag(params.get("type_guessing"), True),
        quoted_fields_guessing=_flag(params.get("quoted_fields_guessing"), True),
        content_guessing=_flag(params.get("content_guessing"), False),
        max_file_size=ctx.max_file_size,
        max_rows=ctx.max_rows,
        max_columns=ctx.max_columns,
    )
    flags = {
        "type_guessing": options.type_guessing,
        "quoted_fields_guessing": options.quoted_fields_guessing,
        "content_guessing": options.content_guessing,
        "create_visualization": _flag(params.get("create_vis"), False),
    }
    common: dict[str, Any] = {
        "options": options,
        "flags": flags,
        "user_defined_limits": json.dumps({"twitter_credits_limit": 0}, separators=(",", ":")),
        "params": {k: v for k, v in params.items() if k != "api_key"},
        "target_table": str(params["table_name"]) if params.get("table_name") else None,
    }
    service_name, item = params.get("service_name"), params.get("service_item_id")
    if service_name and item and isinstance(item, str):
        return ImportRequest(
            "datasource",
            "datasource",
            basename_of(item),
            str(service_name),
            service_item_id=item,
            **common,
        )
    if params.get("connector"):
        return ImportRequest("connector", "datasource", "", "connector", **common)
    url = params.get("url")
    if isinstance(url, str) and url.strip():
        return ImportRequest(
            "url", "url", basename_of(url), "public_url", url=url.strip(), **common
        )
    return ImportRequest("nothing", "url", "", "public_url", **common)
