"""Visualization exports over a mocked wire (respx): states, downloads and errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from carto_async import (
    AsyncCarto,
    ExportFailed,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
    ValidationError,
)
from tests.helpers import BASE_URL, KEY, fixture

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

EXPORTS_URL = f"{BASE_URL}/api/v3/visualization_exports"
EXPORT_ID = "b94c26f3-fa16-4f13-b672-45ebbd5a9c95"
VIS_ID = "ace62506-brc8-6570-2p91-8vf3af3ftc44"
TABLE_ID = "0c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c"
PAYLOAD = b"PK\x03\x04" + b"carto" * 5000


def export_body(state: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = fixture("visualization_exports", "create_pending.json")
    body.update(state=state, **extra)
    return body


async def test_create_posts_json_and_waits_through_the_export_states(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(EXPORTS_URL).mock(
        return_value=httpx.Response(
            201, json=fixture("visualization_exports", "create_pending.json")
        )
    )
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        side_effect=[
            httpx.Response(200, json=export_body("exporting")),
            httpx.Response(200, json=export_body("uploading")),
            httpx.Response(200, json=fixture("visualization_exports", "show_complete.json")),
        ]
    )
    job = await carto.exports.create(VIS_ID, user_tables_ids=[TABLE_ID])
    request = route.calls.last.request
    assert json.loads(request.content) == {"visualization_id": VIS_ID, "user_tables_ids": TABLE_ID}
    assert request.url.params["api_key"] == KEY
    assert job.id == EXPORT_ID
    assert job.state == "pending"
    export = await job.wait(timeout=5)
    assert export.state == "complete"
    assert export.url == "/uploads/6a2b6fbd86e2c750160a/ace62506-brc8-6570-2p91-8vf3af3ftc44.carto"


async def test_a_relative_url_is_downloaded_from_the_account_with_the_key(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(
            200,
            json=export_body("complete", url=f"/api/v3/visualization_exports/{EXPORT_ID}/download"),
        )
    )
    download = respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}/download").mock(
        return_value=httpx.Response(
            200, content=PAYLOAD, headers={"Content-Type": "application/zip"}
        )
    )
    seen: list[tuple[int, int | None]] = []
    target = tmp_path / "map.carto"
    result = await carto.exports.job(EXPORT_ID).download(
        target, progress=lambda got, total: seen.append((got, total))
    )
    assert target.read_bytes() == PAYLOAD
    assert result.size == len(PAYLOAD)
    assert download.calls.last.request.url.params["api_key"] == KEY
    assert seen[-1][0] == len(PAYLOAD)


async def test_an_s3_url_never_gets_the_key(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    s3 = "https://bucket.s3.amazonaws.com/exports/map.carto?X-Amz-Signature=abc%2Fdef&X-Amz-Expires=60"
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(200, json=export_body("complete", url=s3))
    )
    download = respx_mock.get(url__startswith="https://bucket.s3.amazonaws.com/").mock(
        return_value=httpx.Response(200, content=PAYLOAD)
    )
    out = io.BytesIO()
    await carto.exports.job(EXPORT_ID).download(out)
    assert out.getvalue() == PAYLOAD
    request = download.calls.last.request
    assert "api_key" not in request.url.params
    assert KEY not in str(request.url)
    assert "authorization" not in request.headers
    # The presigned query string is sent exactly as signed.
    assert str(request.url) == s3


async def test_an_absolute_url_on_the_account_gets_the_key(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    url = f"{BASE_URL}/api/v3/visualization_exports/{EXPORT_ID}/download"
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(200, json=export_body("complete", url=url))
    )
    download = respx_mock.get(url).mock(return_value=httpx.Response(200, content=PAYLOAD))
    await carto.exports.job(EXPORT_ID).download(io.BytesIO())
    assert download.calls.last.request.url.params["api_key"] == KEY


async def test_a_failed_export_raises_export_failed_and_downloads_nothing(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(200, json=export_body("failure"))
    )
    with pytest.raises(ExportFailed, match="failure") as info:
        await carto.exports.job(EXPORT_ID).download(tmp_path / "map.carto")
    assert info.value.job_id == EXPORT_ID
    assert info.value.state == "failure"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            404,
            {"errors": f"Visualization not found: {VIS_ID}", "errors_cause": None},
            NotFoundError,
        ),
        (403, {"errors": 'Errors: ["not viewable"]', "errors_cause": None}, PermissionDeniedError),
        (
            422,
            {
                "errors": 'Errors: ["Visualization Only derived visualizations can be exported"]',
                "errors_cause": None,
            },
            UnprocessableEntityError,
        ),
    ],
)
async def test_create_errors_in_the_servers_words(
    carto: AsyncCarto,
    respx_mock: respx.MockRouter,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
) -> None:
    respx_mock.post(EXPORTS_URL).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(
        error, match=str(body["errors"]).replace("[", r"\[").replace("]", r"\]")
    ) as info:
        await carto.exports.create(VIS_ID)
    assert KEY not in str(info.value)


async def test_bad_ids_and_destinations_fail_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.post(EXPORTS_URL)
    with pytest.raises(ValidationError, match="visualization id"):
        await carto.exports.create("../../x")
    with pytest.raises(ValidationError, match="user table id"):
        await carto.exports.create(VIS_ID, user_tables_ids="a,b")
    assert not route.called
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(
            200, json=fixture("visualization_exports", "show_complete.json")
        )
    )
    with pytest.raises(ValidationError, match="no directory"):
        await carto.exports.job(EXPORT_ID).download(tmp_path / "missing" / "map.carto")


async def test_an_export_token_resumes(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.post(EXPORTS_URL).mock(
        return_value=httpx.Response(
            201, json=fixture("visualization_exports", "create_pending.json")
        )
    )
    job = await carto.exports.create(VIS_ID)
    again = carto.exports.resume(job.token())
    assert again.id == job.id
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(
            200, json=fixture("visualization_exports", "show_complete.json")
        )
    )
    assert (await again.wait(timeout=5)).state == "complete"
    with pytest.raises(ValidationError, match="cannot be cancelled"):
        await job.cancel()


async def test_an_s3_refusal_names_no_key(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    s3 = "https://bucket.s3.amazonaws.com/exports/map.carto?X-Amz-Signature=abc"
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        return_value=httpx.Response(200, json=export_body("complete", url=s3))
    )
    respx_mock.get(url__startswith="https://bucket.s3.amazonaws.com/").mock(
        return_value=httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
    )
    with pytest.raises(PermissionDeniedError) as info:
        await carto.exports.job(EXPORT_ID).download(io.BytesIO())
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.request)
