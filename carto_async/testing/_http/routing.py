"""Routes as data: which handler serves a request, for which user, counted and faulted how.

A :class:`Route` names its methods, its path template (what the counters show), the API it
belongs to (which decides the user prefixes it answers on and what its error bodies look like),
its fault group and its handler. :class:`Router` matches a request against a table of them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from carto_async.testing._context import Context

__all__ = ["API", "Handler", "Route", "RouteMatch", "Router"]

ROUTE_SCOPE_KEY = "carto_async.route"

# The Windshaft/SQL API default: the user is the first label of the Host.
_USER_FROM_HOST_RE = re.compile(r"^([^.]+)\.")
_USER_PREFIX_RE = re.compile(r"^/(user|u)/([^/]+)(/api/.*)$")
_PARAM_RE = re.compile(r"\{(\w+)\}")


class API(enum.Enum):
    """Which CARTO service a route imitates: it decides prefixes and error bodies."""

    #: The Rails APIs (imports, syncs, exports, API keys): ``/u/<name>`` works too.
    RAILS = "rails"
    #: The Node SQL API: ``/user/<name>`` or host-based only; CORS on every answer.
    SQL = "sql"

    @property
    def takes_u_prefix(self) -> bool:
        """Whether ``/u/<name>/api/...`` reaches this API (Rails routes only)."""
        return self is API.RAILS


#: An endpoint: the request, the server's state and the match (user, path parameters).
Handler = Callable[["Request", "Context", "RouteMatch"], Awaitable["Response"]]


def _methods(methods: Iterable[str]) -> frozenset[str]:
    return frozenset(m.upper() for m in methods)


@attrs.frozen
class Route:
    """One endpoint: methods, path template, API, fault group and handler.

    ``path`` is the part after ``/api``'s user prefix, with ``{name}`` for a path segment
    (``"/api/v1/imports/{id}"``); it is also the template the request counters use.
    """

    methods: frozenset[str] = attrs.field(converter=_methods)
    path: str
    api: API
    group: str
    handler: Handler = attrs.field(repr=False)
    _pattern: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        parts = _PARAM_RE.split(self.path)
        # split() alternates literal text and parameter names.
        regex = "".join(
            f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
            for index, part in enumerate(parts)
        )
        object.__setattr__(self, "_pattern", re.compile(f"^{regex}$"))

    def match(self, api_path: str) -> dict[str, str] | None:
        """The path parameters when ``api_path`` fits this route's template."""
        found = self._pattern.match(api_path)
        return found.groupdict() if found is not None else None


@attrs.frozen
class RouteMatch:
    """A request's route, the user it addresses and its path parameters."""

    route: Route
    user: str
    params: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def template(self) -> str:
        """The route's path template (the request counters' key)."""
        return self.route.path

    @property
    def group(self) -> str:
        """The route's fault group."""
        return self.route.group

    @property
    def service(self) -> str:
        """``"rails"`` or ``"sql"``: which service's error bodies to imitate."""
        return self.route.api.value


def _host_user(host: str | None) -> str:
    if not host:
        return ""
    hostname = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
    match = _USER_FROM_HOST_RE.match(hostname)
    return match.group(1) if match else ""


class Router:
    """Matches requests against a route table.

    Paths are ``/user/<name>/api/...`` (every API), ``/u/<name>/api/...`` (Rails only) or
    ``/api/...`` with the user taken from the ``Host`` (or, with ``host_based=False``, the
    server's user). A trailing slash is ignored, as Rails and Express do. A path no route
    has, or a method the path's routes do not take, matches nothing (404).
    """

    def __init__(self, routes: Iterable[Route], *, username: str, host_based: bool) -> None:
        self.routes = tuple(routes)
        self.username = username
        self.host_based = host_based

    def resolve(self, method: str, path: str, host: str | None) -> RouteMatch | None:
        """The route serving ``method path`` on ``host``, or ``None``."""
        prefix = _USER_PREFIX_RE.match(path)
        if prefix is not None:
            kind, user, api_path = prefix.groups()
        elif path.startswith("/api/"):
            kind, api_path = "", path
            user = _host_user(host) if self.host_based else self.username
        else:
            return None
        if len(api_path) > 1 and api_path.endswith("/"):
            api_path = api_path[:-1]
        for route in self.routes:
            if method not in route.methods or (kind == "u" and not route.api.takes_u_prefix):
                continue
            params = route.match(api_path)
            if params is not None:
                return RouteMatch(route, user, params)
        return None
