"""``carto-async sync`` and ``carto-async export`` over a mocked wire (respx)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.cli.conftest import KEY, invoke
from tests.helpers import fixture

BASE = "https://demo.carto.com"
SYNCS_URL = f"{BASE}/api/v1/synchronizations"
SYNC_ID = "abcd1234-a5b6-c7d8-1a2b-efgh5678abcd"
EXPORTS_URL = f"{BASE}/api/v3/visualization_exports"
EXPORT_ID = "b94c26f3-fa16-4f13-b672-45ebbd5a9c95"
VIS_ID = "ace62506-brc8-6570-2p91-8vf3af3ftc44"
ENV: dict[str, str | None] = {"CARTO_USER": "demo", "CARTO_API_KEY": KEY, "CARTO_BASE_URL": BASE}


def sync_body(state: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = fixture("synchronizations", "create_url.json")
    body.pop("data_import")
    body.update(state=state, **extra)
    return body


def test_sync_create_sends_the_interval_and_shows_the_sync(respx_mock: respx.MockRouter) -> None:
    created = fixture("synchronizations", "create_url.json")
    created["state"] = "queued"
    route = respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created))
    result = invoke(["sync", "create", "https://example.com/a.csv", "--interval", "3600"], ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(route.calls.last.request.content)["interval"] == 3600
    assert SYNC_ID in result.stdout
    assert "queued" in result.stdout
    assert "1234abcd-1234-1a2b-3c4d-4321dcba5678" in result.stdout  # the first import
    assert KEY not in result.output


def test_sync_create_with_a_short_interval_is_a_usage_error(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(SYNCS_URL)
    result = invoke(["sync", "create", "https://example.com/a.csv", "--interval", "60"], ENV)
    assert result.exit_code == 2
    assert "at least 900 seconds" in result.stderr
    assert not route.called


def test_sync_create_wait_follows_the_first_run(respx_mock: respx.MockRouter) -> None:
    created = fixture("synchronizations", "create_url.json")
    created["state"] = "queued"
    respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created))
    respx_mock.get(f"{SYNCS_URL}/{SYNC_ID}").mock(
        side_effect=[
            httpx.Response(200, json=sync_body("syncing")),
            httpx.Response(200, json=sync_body("success")),
        ]
    )
    result = invoke(
        [
            "sync",
            "create",
            "https://example.com/a.csv",
            "--wait",
            "--poll-interval",
            "0.01",
            "--json",
        ],
        ENV,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "success"


def test_sync_list_show_and_delete(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(SYNCS_URL).mock(
        return_value=httpx.Response(200, json=fixture("synchronizations", "list.json"))
    )
    result = invoke(["sync", "list"], ENV)
    assert result.exit_code == 0, result.output
    assert "barrios_5" in result.stdout
    assert "1 sync table(s)" in result.stdout
    result = invoke(["sync", "list", "--json"], ENV)
    assert json.loads(result.stdout.splitlines()[0])["name"] == "barrios_5"

    respx_mock.get(f"{SYNCS_URL}/{SYNC_ID}").mock(
        return_value=httpx.Response(200, json=sync_body("failure", error_code=1012))
    )
    result = invoke(["sync", "show", SYNC_ID], ENV)
    assert result.exit_code == 0, result.output
    assert "failure" in result.stdout
    assert "1012" in result.stdout

    delete = respx_mock.delete(f"{SYNCS_URL}/{SYNC_ID}").mock(return_value=httpx.Response(204))
    result = invoke(["sync", "delete", SYNC_ID], ENV)
    assert result.exit_code == 0, result.output
    assert delete.called
    assert "its table stays" in result.stdout


def test_an_unknown_sync_exits_1_with_a_clear_message(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{SYNCS_URL}/{SYNC_ID}").mock(return_value=httpx.Response(404))
    result = invoke(["sync", "show", SYNC_ID], ENV)
    assert result.exit_code == 1
    assert f"no sync table with id {SYNC_ID}" in result.stderr
    assert KEY not in result.output


def test_sync_now_enqueued_and_waited(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{SYNCS_URL}/{SYNC_ID}").mock(
        side_effect=[
            httpx.Response(200, json=sync_body("success")),
            httpx.Response(200, json=sync_body("syncing")),
            httpx.Response(200, json=sync_body("success")),
        ]
    )
    respx_mock.put(f"{SYNCS_URL}/{SYNC_ID}/sync_now").mock(
        return_value=httpx.Response(200, json={"enqueued": True, "synchronization_id": SYNC_ID})
    )
    result = invoke(["sync", "now", SYNC_ID, "--wait", "--poll-interval", "0.01"], ENV)
    assert result.exit_code == 0, result.output
    assert "enqueued" in result.stdout
    assert "success" in result.stdout


def test_sync_now_refused_exits_1_saying_why(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{SYNCS_URL}/{SYNC_ID}").mock(
        return_value=httpx.Response(
            200, json=sync_body("success", ran_at="2030-01-01T11:59:00+00:00")
        )
    )
    respx_mock.put(f"{SYNCS_URL}/{SYNC_ID}/sync_now").mock(
        return_value=httpx.Response(
            200,
            json={"enqueued": False, "synchronization_id": SYNC_ID},
            headers={"Date": "Tue, 01 Jan 2030 12:00:00 GMT"},
        )
    )
    result = invoke(["sync", "now", SYNC_ID], ENV)
    assert result.exit_code == 1
    assert "less than 15 minutes ago" in result.stderr


def test_export_waits_and_downloads_with_the_key_only_on_the_account(
    respx_mock: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    create = respx_mock.post(EXPORTS_URL).mock(
        return_value=httpx.Response(
            201, json=fixture("visualization_exports", "create_pending.json")
        )
    )
    complete = fixture("visualization_exports", "show_complete.json")
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(
        side_effect=[
            httpx.Response(200, json={**complete, "state": "exporting", "url": None}),
            httpx.Response(200, json=complete),
        ]
    )
    download = respx_mock.get(f"{BASE}{complete['url']}").mock(
        return_value=httpx.Response(200, content=b"PK\x03\x04zip")
    )
    result = invoke(["export", VIS_ID, "-o", "map.carto", "--poll-interval", "0.01"], ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(create.calls.last.request.content) == {"visualization_id": VIS_ID}
    assert download.calls.last.request.url.params["api_key"] == KEY
    assert (tmp_path / "map.carto").read_bytes() == b"PK\x03\x04zip"
    assert "map.carto (7 bytes)" in result.stdout
    assert KEY not in result.output


def test_a_failed_export_exits_1(respx_mock: respx.MockRouter, tmp_path: Path) -> None:
    respx_mock.post(EXPORTS_URL).mock(
        return_value=httpx.Response(
            201, json=fixture("visualization_exports", "create_pending.json")
        )
    )
    failed = {**fixture("visualization_exports", "create_pending.json"), "state": "failure"}
    respx_mock.get(f"{EXPORTS_URL}/{EXPORT_ID}").mock(return_value=httpx.Response(200, json=failed))
    out = tmp_path / "map.carto"
    result = invoke(["export", VIS_ID, "-o", str(out), "--poll-interval", "0.01"], ENV)
    assert result.exit_code == 1
    assert "failure" in result.stderr
    assert not out.exists()


def test_export_of_a_dataset_says_the_servers_words(respx_mock: respx.MockRouter) -> None:
    message = 'Errors: ["Visualization Only derived visualizations can be exported"]'
    respx_mock.post(EXPORTS_URL).mock(
        return_value=httpx.Response(422, json={"errors": message, "errors_cause": None})
    )
    result = invoke(["export", VIS_ID], ENV)
    assert result.exit_code == 1
    assert "Only derived visualizations can be exported" in result.stderr
