"""Every service's error body becomes the right exception, in the server's words."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

import carto_async.errors
from carto_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CartoError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimitKind,
    ServerError,
    SourceChangedError,
    UnprocessableEntityError,
    ValidationError,
)
from carto_async._core.errors import error_from_response
from carto_async._core.http import Service

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def err(
    status: int, body: object, service: Service = Service.SQL, headers: dict[str, str] | None = None
) -> APIStatusError:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_response(
        status_code=status,
        content=content,
        headers=headers or {},
        service=service,
        method="GET",
        url="https://x/api",
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
def test_status_classes(status: int, cls: type[APIStatusError]) -> None:
    e = err(status, {"error": ["boom"]})
    assert type(e) is cls
    assert e.status_code == status
    assert e.message == "boom"


def test_rails_401_with_an_empty_body_says_the_master_key_is_needed() -> None:
    e = err(401, b"", Service.IMPORTS)
    assert isinstance(e, AuthenticationError)
    assert "master API key" in str(e)


def test_import_api_error_object() -> None:
    e = err(
        400,
        {"errors": {"imports": "Invalid URL, cannot connect dataset: ftp://x"}},
        Service.IMPORTS,
    )
    assert e.message == "Invalid URL, cannot connect dataset: ftp://x"


def test_import_slots_429() -> None:
    body = {
        "errors": {"imports": "We're sorry but you're already using your allowed 3 import slots"}
    }
    e = err(429, body, Service.IMPORTS)
    assert isinstance(e, RateLimitError)
    assert e.kind == "import-slots"


def test_rails_string_error_with_cause() -> None:
    e = err(400, {"errors": "Visualization not found", "errors_cause": None}, Service.RAILS)
    assert e.message == "Visualization not found"


def test_maps_errors_with_context() -> None:
    msg = (
        "You are over platform's limits: too many requests. Please contact us to know more details"
    )
    body = {
        "errors": [msg],
        "errors_with_context": [{"type": "limit", "message": msg, "subtype": "rate-limit"}],
    }
    e = err(
        429,
        body,
        Service.MAPS,
        {
            "retry-after": "3",
            "carto-rate-limit-limit": "2",
            "carto-rate-limit-remaining": "0",
            "carto-rate-limit-reset": "1",
        },
    )
    assert isinstance(e, RateLimitError)
    assert e.message == msg
    assert e.error_codes == ("limit", "rate-limit")
    assert (e.kind, e.retry_after, e.limit, e.remaining, e.reset) == ("rate-limit", 3, 2, 0, 1)


def test_html_pages_become_a_short_message() -> None:
    page = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000
    e = err(502, page)
    assert e.message == "502 Bad Gateway"


@pytest.mark.parametrize(
    "name",
    [
        "error_syntax_400.json",
        "error_invalid_format_400.json",
        "error_user_not_found_404.json",
        "error_unauthorized_401.json",
        "error_rate_limit_429.json",
        "error_statement_timeout_429.json",
        "copyfrom_error_no_rows_400.json",
        "copy_error_sql_missing_400.json",
    ],
)
def test_sql_fixture_errors_keep_the_server_words(name: str) -> None:
    body = json.loads((FIXTURES / "sql" / name).read_text())
    status = (
        int(name.rsplit("_", 1)[-1].split(".", maxsplit=1)[0]) if name[-8:-5].isdigit() else 400
    )
    e = err(status, body)
    assert e.message == body["error"][0]
    if name == "error_statement_timeout_429.json":
        assert isinstance(e, RateLimitError)
        assert e.kind == "timeout"
    if name == "error_rate_limit_429.json":
        assert isinstance(e, RateLimitError)
        assert e.kind == "rate-limit"


def test_rate_limit_kinds_are_a_closed_set() -> None:
    assert set(typing.get_args(RateLimitKind)) == {"rate-limit", "timeout", "import-slots"}
    bodies = [
        {"errors": {"imports": "you're already using your allowed 3 import slots"}},
        {"error": ["canceling statement due to statement timeout"]},
        {"error": ["You are over platform's limits"]},
    ]
    kinds = {err(429, body, Service.IMPORTS).kind for body in bodies}  # type: ignore[attr-defined]
    assert kinds == set(typing.get_args(RateLimitKind))


def test_a_source_that_changed_is_a_carto_error_in_the_tree() -> None:
    exc = SourceChangedError("a.csv changed", expected=10, actual=4)
    assert isinstance(exc, CartoError)
    assert not isinstance(exc, ValidationError)  # bytes were sent: not "nothing happened"
    assert (exc.expected, exc.actual) == (10, 4)
    assert "SourceChangedError" in (carto_async.errors.__doc__ or "")
