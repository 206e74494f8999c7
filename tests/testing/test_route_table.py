"""The route table is data: the router matches requests against it, sans I/O."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http import imports, sql
from carto_async.testing._http.app import ROUTES
from carto_async.testing._http.routing import API, Route, RouteMatch, Router

ROUTER = Router(ROUTES, username="demo", host_based=True)


@pytest.mark.parametrize(
    ("method", "path", "host", "handler", "user", "params"),
    [
        ("POST", "/user/demo/api/v1/imports", None, imports.create, "demo", {}),
        ("GET", "/u/demo/api/v1/imports/", None, imports.list_unfinished, "demo", {}),
        ("GET", "/user/x/api/v1/imports/abc", None, imports.show, "x", {"id": "abc"}),
        ("GET", "/api/v1/imports/abc", "alice.localhost:1", imports.show, "alice", {"id": "abc"}),
        ("HEAD", "/user/demo/api/v2/sql", None, sql.query, "demo", {"version": "v2"}),
        ("OPTIONS", "/api/v1/sql/", "bob.example.com", sql.query, "bob", {"version": "v1"}),
    ],
)
def test_requests_resolve_to_their_route_user_and_parameters(
    method: str, path: str, host: str | None, handler: object, user: str, params: dict[str, str]
) -> None:
    match = ROUTER.resolve(method, path, host)
    assert match is not None
    assert (match.route.handler, match.user, dict(match.params)) == (handler, user, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/u/demo/api/v2/sql"),  # the SQL API has no /u/ prefix
        ("DELETE", "/user/demo/api/v1/imports"),
        ("POST", "/user/demo/api/v1/imports/abc"),
        ("GET", "/user/demo/api/v1/imports/a/b"),
        ("GET", "/"),
        ("GET", "/user/demo/other"),
    ],
)
def test_unknown_paths_and_methods_match_nothing(method: str, path: str) -> None:
    assert ROUTER.resolve(method, path, None) is None


def test_templates_and_groups_name_counters_and_faults() -> None:
    match = ROUTER.resolve("GET", "/user/demo/api/v1/imports/abc", None)
    assert match is not None
    assert (match.template, match.group, match.service) == (
        "/api/v1/imports/{id}",
        "imports.show",
        "rails",
    )
    assert len({(r.path, m) for r in ROUTES for m in r.methods}) == sum(
        len(r.methods) for r in ROUTES
    )


def test_a_new_api_is_one_more_line_in_the_table() -> None:
    async def handler(request: Request, ctx: Context, match: RouteMatch) -> Response:
        return Response(b"")

    extra = Route({"get"}, "/api/v1/widgets/{id}/poke", API.RAILS, "widgets", handler)
    router = Router((*ROUTES, extra), username="demo", host_based=False)
    match = router.resolve("GET", "/u/demo/api/v1/widgets/s1/poke", None)
    assert match is not None
    assert (match.route, dict(match.params)) == (extra, {"id": "s1"})
    bare = router.resolve("GET", "/api/v1/widgets/s1/poke", "ignored.localhost")
    assert bare is not None
    assert bare.user == "demo"
