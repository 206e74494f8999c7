"""SQL Batch API handlers (reference §9.2): ``POST /api/v2/sql/job``, ``GET`` / ``DELETE
/api/v2/sql/job/:id`` and the internal ``GET /api/v2/jobs-wip``.

As CartoDB-SQL-API's job controller: the master key is required (403 ``permission denied``
otherwise, 401 ``Unauthorized`` for an unknown key), then the serialized body must stay within
16384 characters, then ``query`` must have one of the three job forms. Unknown or expired ids
are a 400 ``Job with id <id> not found``; cancelling a finished job is a 400.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._batch import CannotCancel, InvalidJob, QueueFull, batch_queue
from carto_async.testing._context import Context
from carto_async.testing._http.auth import KeyKind, sql_key
from carto_async.testing._http.bodies import BadBody, drain, express_params, load_json
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._wire import CORS_HEADERS, express_json, sql_error, user_not_found

__all__ = ["cancel", "create", "show", "work_in_progress"]

#: ``MAX_LIMIT_QUERY_SIZE_IN_KB``: the limit on ``JSON.stringify(req.body).length``.
MAX_PAYLOAD = 16 * 1024
#: Bodies beyond this are not even parsed (Express's body parsers have limits of their own).
_MAX_READ = 1024 * 1024
_TOO_LARGE = (
    "Your payload is too large: {size} bytes. Max size allowed is 16384 bytes (16kb). Are you "
    "trying to import data?. Please, check out import api "
    "http://docs.cartodb.com/cartodb-platform/import-api/"
)


def _payload_size(body: Any) -> int:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-16-le")) // 2


async def _read_body(request: Request) -> tuple[dict[str, Any], int]:
    """The body's parameters (JSON kept as it is) and its serialized length."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_READ:
            await drain(request)
            raise BadBody(_TOO_LARGE.format(size=size))
        chunks.append(chunk)
    raw = b"".join(chunks)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body: dict[str, Any] = {}
    if media == "application/json" and raw.strip():
        data = load_json(raw)
        body = data if isinstance(data, dict) else {}
    elif media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        # qs's extended syntax: query[]=a&query[]=b (or query[0]=...) is a list.
        listed = [
            v for k, v in pairs if k == "query[]" or (k.startswith("query[") and k[6:-1].isdigit())
        ]
        body = dict(express_params([(k, v) for k, v in pairs if not k.startswith("query[")]))
        if listed:
            body["query"] = listed
    return body, _payload_size(body)


def _authorize(
    request: Request, ctx: Context, match: RouteMatch, body: dict[str, Any]
) -> Response | None:
    """``None`` when the request carries the master key of the URL's user, else the error."""
    if match.user != ctx.username:
        return user_not_found(match.user, CORS_HEADERS)
    query = express_params(request.query_params.multi_items())
    strings = {k: v for k, v in body.items() if isinstance(v, str)}
    basic_user, key = sql_key(request.headers.get("authorization"), query, strings)
    if basic_user is not None and basic_user != match.user:
        return sql_error("permission denied", 403, CORS_HEADERS)
    kind = ctx.keys.kind(key)
    if kind is None:
        return sql_error("Unauthorized", 401, CORS_HEADERS)
    if kind is not KeyKind.MASTER:
        return sql_error("permission denied", 403, CORS_HEADERS)
    return None


def _job(data: dict[str, Any], status: int) -> Response:
    return express_json(data, status, CORS_HEADERS)


def _not_found(job_id: str) -> Response:
    return sql_error(f"Job with id {job_id} not found", 400, CORS_HEADERS)


async def create(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``POST /api/v2/sql/job``: queue a job (201 with its JSON)."""
    try:
        body, size = await _read_body(request)
    except BadBody as exc:
        return sql_error(str(exc), 400, CORS_HEADERS)
    denied = _authorize(request, ctx, match, body)
    if denied is not None:
        return denied
    if size > MAX_PAYLOAD:
        return sql_error(_TOO_LARGE.format(size=size), 400, CORS_HEADERS)
    query = body.get("query")
    if query is None:
        query = express_params(request.query_params.multi_items()).get("query")
    try:
        data = batch_queue(ctx).create(match.user, query)
    except InvalidJob:
        return sql_error("You must indicate a valid SQL", 400, CORS_HEADERS)
    except QueueFull as exc:
        return sql_error(str(exc), 400, CORS_HEADERS)
    return _job(data, 201)


async def show(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v2/sql/job/:id``."""
    await drain(request)
    denied = _authorize(request, ctx, match, {})
    if denied is not None:
        return denied
    job_id = match.params["id"]
    data = batch_queue(ctx).get(job_id)
    if data is None or data["user"] != match.user:
        return _not_found(job_id)
    return _job(data, 200)


async def cancel(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``DELETE /api/v2/sql/job/:id``: cancel a pending or running job."""
    await drain(request)
    denied = _authorize(request, ctx, match, {})
    if denied is not None:
        return denied
    job_id = match.params["id"]
    queue = batch_queue(ctx)
    current = queue.get(job_id)
    if current is None or current["user"] != match.user:
        return _not_found(job_id)
    try:
        data = queue.cancel(job_id)
    except CannotCancel as exc:
        return sql_error(str(exc), 400, CORS_HEADERS)
    if data is None:
        return _not_found(job_id)
    return _job(data, 200)


async def work_in_progress(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v2/jobs-wip``: every user's unfinished job ids (no key needed)."""
    await drain(request)
    return _job(batch_queue(ctx).work_in_progress(), 200)
