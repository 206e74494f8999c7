"""The transports' cheap path for requests without a body builds what ``build_request`` builds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carto_async._async.transport import AsyncTransport
from carto_async._core.credentials import Credentials
from carto_async._core.http import KeyPlacement, RequestSpec
from carto_async._sync.transport import Transport

KEY = "k3y-0123456789abcdef0123456789abcdef"

SPECS = [
    RequestSpec("GET", "/api/v2/sql", "sql", params={"q": "select 1"}, key=KeyPlacement.BASIC),
    RequestSpec(
        "GET",
        "/api/v2/sql",
        "sql",
        params={"q": "select 'a b&c=d', 'é', \"x\" /* ? # % + */", "format": "GeoJSON"},
        key=KeyPlacement.BASIC,
    ),
    RequestSpec("GET", "/api/v1/imports/3f1c-ab", "imports", key=KeyPlacement.QUERY),
    RequestSpec("DELETE", "/api/v1/synchronizations/1", "imports", headers={"X-A": "1"}),
    RequestSpec("POST", "/api/v1/imports", "imports", params={"url": "http://h/a b.csv"}),
    RequestSpec("PUT", "/api/v1/x", "imports", params={"n": 3, "flag": True, "none": None}),  # type: ignore[dict-item]
]


def _same(built: httpx.Request, reference: httpx.Request) -> None:
    assert built.method == reference.method
    assert str(built.url) == str(reference.url)
    assert built.headers.multi_items() == reference.headers.multi_items()
    assert built.extensions == reference.extensions
    assert built.content == reference.content == b""


def _reference(transport: Any, spec: RequestSpec) -> httpx.Request:
    params: dict[str, Any] = dict(spec.params)
    headers = dict(spec.headers)
    if spec.key is KeyPlacement.QUERY:
        params["api_key"] = KEY
    else:
        headers["Authorization"] = transport._basic
    http = transport.http
    return http.build_request(  # type: ignore[no-any-return]
        spec.method, transport.credentials.url(spec.path), params=params, headers=headers
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.method} {s.path}")
@pytest.mark.parametrize("colour", ["async", "sync"])
def test_a_bodiless_request_is_what_build_request_makes(spec: RequestSpec, colour: str) -> None:
    credentials = Credentials("demo", KEY, "https://carto.example.com/user/{user}")
    transport: Any = (
        AsyncTransport(credentials, timeout=httpx.Timeout(7.0, connect=2.0))
        if colour == "async"
        else Transport(credentials, timeout=httpx.Timeout(7.0, connect=2.0))
    )
    _same(transport._build(spec, None), _reference(transport, spec))


@pytest.mark.parametrize(
    "options",
    [
        {"cookies": {"session": "abc"}},
        {"params": {"client_param": "1"}},
        {"headers": {"User-Agent": "mine/1.0", "X-Team": "gis"}},
        {"timeout": 3.0},
    ],
)
def test_an_injected_client_keeps_its_cookies_params_headers_and_timeout(
    options: dict[str, Any],
) -> None:
    credentials = Credentials("demo", KEY, "https://carto.example.com/user/{user}")
    with httpx.Client(**options) as http:
        transport = Transport(credentials, http_client=http)
        for spec in SPECS:
            _same(transport._build(spec, None), _reference(transport, spec))
