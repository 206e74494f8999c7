"""Import API endpoints: ``POST /api/v1/imports``, ``GET /api/v1/imports[/:id]`` (reference §4)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from carto_async._core.credentials import is_loopback_host
from carto_async.testing._context import Context
from carto_async.testing._http.auth import rails_basic_credentials
from carto_async.testing._http.bodies import (
    BadBody,
    ImportBody,
    drain,
    rails_params,
    read_import_body,
)
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._importing import FINAL_STATES, ImportRequest
from carto_async.testing._jobclock import JobEnd, JobRecord
from carto_async.testing._sources import basename_of
from carto_async.testing._staging import LoadOptions
from carto_async.testing._wire import (
    error_text,
    http_code_message,
    rails_empty,
    rails_json,
    rails_jsonp,
)

__all__ = ["create", "list_unfinished", "present", "show", "user_id_of"]

_UUID_RE = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)
_PRIVACY = ("private", "public", "link")
_URL_SCHEMES = {"http": 80, "https": 443, "ftp": 21}
_URL_PORTS = frozenset(_URL_SCHEMES.values())


class _Invalid(Exception):
    """A create request the server refuses with 400 ``{"errors":{"imports":<message>}}``."""


def user_id_of(username: str) -> str:
    """A stable UUID for ``username``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"localcarto:{username}"))


def _present(value: Any) -> bool:
    # Ruby's Object#present?: nil, false, empty and whitespace-only strings are blank.
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict):
        return bool(value)
    return True


def _ruby_to_i(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value)
    match = re.match(r"\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else 0


def _authorized(ctx: Context, match: RouteMatch, basic: tuple[str, str] | None, key: Any) -> bool:
    # Warden's auth_api strategy: the Basic header when it parses, else the api_key param;
    # the user must be the request's user and, for these endpoints, the key the master key.
    if match.user != ctx.username:
        return False
    if basic is not None:
        user, token = basic
        return user == match.user and ctx.keys.is_master(token)
    return ctx.keys.is_master(key)


def _bad_body(exc: BadBody) -> Response:
    # Rails answers an unparsable body with a bare 400; the reason, in plain text, is what a
    # developer needs when it happens.
    return Response(str(exc).encode(), status_code=400, media_type="text/plain; charset=utf-8")


async def _rails_params(request: Request, ctx: Context) -> dict[str, Any]:
    """Query and body parameters of a GET; :class:`BadBody` when the body cannot be parsed."""
    query = rails_params(request.query_params.multi_items())
    body = await read_import_body(
        request, directory=ctx.upload_dir, store_limit=0, raw_filename=None
    )
    body.discard()
    return {**body.params, **query}


async def show(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/imports/:id``: the import's state, or 404 with an empty body."""
    try:
        params = await _rails_params(request, ctx)
    except BadBody as exc:
        return _bad_body(exc)
    basic = rails_basic_credentials(request.headers.get("authorization"))
    if not _authorized(ctx, match, basic, params.get("api_key")):
        return rails_empty(401)
    import_id = match.params["id"]
    job = ctx.importer.get(import_id.lower()) if _UUID_RE.match(import_id) else None
    if job is None:
        return rails_empty(404)
    state, end = ctx.importer.read(job)
    return rails_json(present(job, state, end))


async def list_unfinished(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/imports``: ids of the user's unfinished imports of the last 24 hours."""
    try:
        params = await _rails_params(request, ctx)
    except BadBody as exc:
        return _bad_body(exc)
    basic = rails_basic_credentials(request.headers.get("authorization"))
    if not _authorized(ctx, match, basic, params.get("api_key")):
        return rails_empty(401)
    return rails_json({"imports": ctx.importer.unfinished(match.user), "success": True})


async def create(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``POST /api/v1/imports``: validate, store the upload, create the job."""
    query = rails_params(request.query_params.multi_items())
    basic = rails_basic_credentials(request.headers.get("authorization"))
    # Rails merges the query string over the body, so a key in the header or the query string
    # decides before the body is read; a bad one never costs an upload.
    decided = basic is not None or _present(query.get("api_key"))
    if decided and not _authorized(ctx, match, basic, query.get("api_key")):
        await drain(request)
        return rails_empty(401)
    raw_filename = query.get("filename") if isinstance(query.get("filename"), str) else None
    try:
        body = await read_import_body(
            request,
            directory=ctx.upload_dir,
            store_limit=ctx.max_file_size + 1,
            raw_filename=raw_filename,
        )
    except BadBody as exc:
        return _bad_body(exc)
    params = {**body.params, **query}
    consumed = False
    try:
        if not decided and not _authorized(ctx, match, None, params.get("api_key")):
            return rails_empty(401)
        # From here to the job's creation nothing awaits, so the slot check and the creation
        # are atomic on the event loop, like the server's Redis counter.
        response, consumed = _create(ctx, match, params, body)
        return response
    finally:
        if not consumed:
            body.discard()


def _create(
    ctx: Context, match: RouteMatch, params: dict[str, Any], body: ImportBody
) -> tuple[Response, bool]:
    callback = params.get("callback")
    slots = ctx.importer.slots
    if ctx.importer.in_progress(match.user) >= slots:
        message = f"We're sorry but you're already using your allowed {slots} import slots"
        return rails_jsonp({"errors": {"imports": message}}, 429, callback), False
    try:
        request = _request(ctx, params, body)
    except _Invalid as exc:
        return rails_jsonp({"errors": {"imports": str(exc)}}, 400, callback), False
    job = ctx.importer.create(match.user, request)
    return rails_jsonp({"item_queue_id": job.id, "success": True}, 200, callback), True


def _check_url(url: str) -> None:
    # Carto::UrlValidator: http/https/ftp on ports 21/80/443 only. LocalCarto also accepts
    # loopback hosts on any port, so tests can import from a local HTTP server.
    invalid = _Invalid(f"Invalid URL, cannot connect dataset: {url}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise invalid from None
    if parts.scheme not in _URL_SCHEMES or not parts.hostname:
        raise invalid
    if is_loopback_host(parts.hostname):
        return
    if (port or _URL_SCHEMES[parts.scheme]) not in _URL_PORTS:
        raise invalid


def _privacy(value: Any, ctx: Context) -> str | None:
    if not _present(value):
        return None
    privacy = str(value).lower()
    if privacy not in _PRIVACY:
        raise _Invalid(
            f"Unknown value '{value}' for 'privacy'. Allowed values are: private, public and link"
        )
    if privacy != "public" and not ctx.private_tables:
        raise _Invalid(
            "Your account type (FREE) does not allow to create private datasets. "
            "Check https://carto.com/pricing for more info."
        )
    return privacy


def _request(ctx: Context, params: dict[str, Any], body: ImportBody) -> ImportRequest:
    """The job described by the request, raising :class:`_Invalid` as the controller does."""
    limits = params.get("user_defined_limits")
    limits = dict(limits) if isinstance(limits, dict) else {}
    credits_limit = limits.get("twitter_credits_limit")
    limits["twitter_credits_limit"] = _ruby_to_i(credits_limit) if _present(credits_limit) else 0
    item_id = params.get("service_item_id")
    if item_id is not None and not isinstance(item_id, str):
        raise _Invalid("service_item_id field should be empty or a string")
    _privacy(params.get("privacy"), ctx)
    url = params.get("url") if _present(params.get("url")) else None
    if url is not None:
        url = str(url)
        _check_url(url)
    elif _present(params.get("remote_visualization_id")):
        raise _Invalid("Illegal external load")
    collision = params.get("collision_strategy")
    if collision is not None and collision not in ("skip", "overwrite"):
        raise _Invalid("collision_strategy Invalid collision strategy")
    flags = {
        "type_guessing": params.get("type_guessing") not in ("false", False),
        "quoted_fields_guessing": params.get("quoted_fields_guessing") not in ("false", False),
        "content_guessing": params.get("content_guessing") in ("true", True),
        "create_visualization": params.get("create_vis") in ("true", True),
    }
    options = LoadOptions(
        type_guessing=flags["type_guessing"],
        quoted_fields_guessing=flags["quoted_fields_guessing"],
        content_guessing=flags["content_guessing"],
        collision_strategy=collision,
        max_file_size=ctx.max_file_size,
        max_rows=ctx.max_rows,
        max_columns=ctx.max_columns,
    )
    table_name = str(params["table_name"]) if _present(params.get("table_name")) else None
    service_name = str(params.get("service_name") or "public_url")
    common: dict[str, Any] = {
        "options": options,
        "flags": flags,
        "user_defined_limits": json.dumps(limits, separators=(",", ":")),
        "params": {k: v for k, v in params.items() if k != "api_key"},
        "target_table": table_name,
        "service_item_id": item_id if _present(item_id) else None,
    }
    upload = None
    if url is None:
        upload = body.uploads.get("filename") or body.uploads.get("file") or body.uploads.get("")
    # DataImport#dispatch: a query or a table copy wins over any data source.
    if _present(params.get("sql")):
        return ImportRequest("query", "query", "", service_name, sql=str(params["sql"]), **common)
    if _present(params.get("table_copy")):
        source = str(params["table_copy"])
        return ImportRequest("copy", "query", "", service_name, source_table=source, **common)
    if url is not None:
        return ImportRequest("url", "url", basename_of(url), service_name, url=url, **common)
    if upload is not None:
        return ImportRequest("file", "file", upload.filename, service_name, upload=upload, **common)
    if _present(params.get("connector")):
        return ImportRequest("connector", "datasource", "", "connector", **common)
    if service_name != "public_url":
        display = basename_of(item_id) if isinstance(item_id, str) and item_id else ""
        return ImportRequest("datasource", "datasource", display, service_name, **common)
    if isinstance(item_id, str) and _present(item_id):
        return ImportRequest(
            "url", "url", basename_of(item_id), service_name, url=item_id.strip(), **common
        )
    if table_name is not None:
        # The documented table duplication: table_name alone copies that table into a new
        # one named after it (the collision rules make it <name>_1, ...).
        return ImportRequest("copy", "query", "", service_name, source_table=table_name, **common)
    return ImportRequest("nothing", "file", "", service_name, **common)


def present(job: JobRecord, state: str, end: JobEnd | None) -> dict[str, Any]:
    """The body of ``GET /api/v1/imports/:id``, keys in the server's order (reference §4.2)."""
    asked: ImportRequest = job.payload
    result = end.result if end is not None else {}
    complete = state == "complete"
    error_code = end.error_code if end is not None else None
    if state == "failure" and error_code is None:
        error_code = 99999
    # The map an import made (create_vis=true, or the map of a .carto file).
    visualization_id = result.get("visualization_id") if complete else None
    table_name = (
        asked.target_table if asked.kind in ("query", "copy") else asked.params.get("table_name")
    )
    if complete and end is not None:
        table_name = result.get("table_name")
    data: dict[str, Any] = {
        "id": job.id,
        "user_id": user_id_of(job.user),
        "table_id": result.get("table_id") if complete else None,
        "data_type": asked.data_type,
        "table_name": table_name if _present(table_name) else None,
        "state": state,
        "error_code": error_code,
        "queue_id": job.id,
        "tables_created_count": result.get("tables_created_count") if end is not None else None,
        "synchronization_id": job.extra.get("synchronization_id"),
        "type_guessing": asked.flags["type_guessing"],
        "quoted_fields_guessing": asked.flags["quoted_fields_guessing"],
        "content_guessing": asked.flags["content_guessing"],
        "create_visualization": asked.flags["create_visualization"],
        "visualization_id": visualization_id,
        "user_defined_limits": asked.user_defined_limits,
        "get_error_text": error_text(error_code),
        "display_name": job.info.display_name,
    }
    if state in FINAL_STATES:
        data["success"] = complete
    data["original_url"] = asked.url if asked.kind == "url" else None
    data["warnings"] = None
    data["is_raster"] = False
    code = result.get("http_response_code")
    if code is not None and not code.startswith("2"):
        data["http_response_code"] = code
        data["http_response_code_message"] = http_code_message(code)
    if complete:
        data["any_table_raster"] = False
        data["derived_visualization_id"] = visualization_id
    return data
