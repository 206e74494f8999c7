"""The state a LocalCarto app serves from, shared by its endpoints."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from carto_async.testing._auth import Keys
    from carto_async.testing._db import Database
    from carto_async.testing._faults import Counters, Faults
    from carto_async.testing._jobs import ImportJobs

__all__ = ["Context", "RouteMatch", "resolve"]

ROUTE_SCOPE_KEY = "carto_async.route"

# The Windshaft/SQL API default: the user is the first label of the Host.
_USER_FROM_HOST_RE = re.compile(r"^([^.]+)\.")
_USER_PREFIX_RE = re.compile(r"^/(user|u)/([^/]+)(/api/.*)$")
_IMPORT_ID_RE = re.compile(r"^/api/v1/imports/([^/]+)$")
_SQL_RE = re.compile(r"^/api/([^/]+)/sql$")


@attrs.define
class Context:
    """Everything the endpoints need: user, keys, data, jobs, faults, counters, limits."""

    username: str
    keys: Keys
    db: Database
    jobs: ImportJobs
    counters: Counters
    faults: Faults
    sql_pool: ThreadPoolExecutor
    upload_dir: str
    host_based: bool
    max_file_size: int
    max_rows: int
    max_columns: int
    private_tables: bool
    sql_timeout: float | None


@attrs.frozen
class RouteMatch:
    """A request's route: its user, service, template (for counters) and group (for faults)."""

    user: str
    service: str  # "rails" or "sql"
    template: str
    group: str
    handler: str
    import_id: str | None = None


def _host_user(host: str | None) -> str:
    if not host:
        return ""
    hostname = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
    match = _USER_FROM_HOST_RE.match(hostname)
    return match.group(1) if match else ""


def resolve(
    method: str, path: str, host: str | None, ctx_user: str, host_based: bool
) -> RouteMatch | None:
    """Match a request to a route, or ``None`` (404).

    Paths are ``/user/<name>/api/...`` (every service), ``/u/<name>/api/...`` (Rails only) or
    ``/api/...`` with the user taken from the ``Host`` (or, with ``host_based=False``, the
    server's user). A trailing slash is ignored, as Rails and Express do.
    """
    prefix = _USER_PREFIX_RE.match(path)
    if prefix is not None:
        kind, user, api_path = prefix.groups()
    elif path.startswith("/api/"):
        kind, api_path = "", path
        user = _host_user(host) if host_based else ctx_user
    else:
        return None
    if len(api_path) > 1 and api_path.endswith("/"):
        api_path = api_path[:-1]
    if api_path == "/api/v1/imports":
        if method == "POST":
            return RouteMatch(user, "rails", "/api/v1/imports", "imports.create", "imports_create")
        if method == "GET":
            return RouteMatch(user, "rails", "/api/v1/imports", "imports.list", "imports_list")
        return None
    if (match := _IMPORT_ID_RE.match(api_path)) is not None:
        if method != "GET":
            return None
        return RouteMatch(
            user, "rails", "/api/v1/imports/{id}", "imports.show", "imports_show", match.group(1)
        )
    if kind != "u" and _SQL_RE.match(api_path) and method in ("GET", "POST", "OPTIONS", "HEAD"):
        return RouteMatch(user, "sql", "/api/{version}/sql", "sql.query", "sql_query")
    return None
