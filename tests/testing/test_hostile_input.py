"""LocalCarto facing hostile input over HTTP: deep JSON, keys in logs (issue 13)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from carto_async.testing import LocalCarto
from carto_async.testing._http.accesslog import mask_keys
from carto_async.testing._http.bodies import MAX_JSON_DEPTH

ROOT = Path(__file__).resolve().parents[2]


def _nested(depth: int) -> bytes:
    return b'{"q": "select 1 as a", "x": ' + b"[" * depth + b"]" * depth + b"}"


# -- deeply nested JSON --------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_deeply_nested_json_to_the_sql_api_is_a_400_with_a_clear_message(
    server: LocalCarto, http: httpx.Client, depth: int
) -> None:
    response = http.post(
        "/api/v2/sql", content=_nested(depth), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": [f"Invalid JSON body: nested more than {MAX_JSON_DEPTH} levels deep"]
    }
    # The connection and the server survived.
    assert http.get("/api/v2/sql", params={"q": "select 1 as a"}).json()["rows"] == [{"a": 1}]


def test_json_nested_within_the_limit_is_accepted(server: LocalCarto, http: httpx.Client) -> None:
    response = http.post(
        "/api/v2/sql",
        content=_nested(MAX_JSON_DEPTH - 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["rows"] == [{"a": 1}]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_deeply_nested_json_to_the_import_api_is_a_400_and_creates_nothing(
    server: LocalCarto, http: httpx.Client, method: str
) -> None:
    body = b'{"sql": "select 1", "user_defined_limits": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = http.request(
        method,
        "/api/v1/imports",
        params={"api_key": server.api_key},
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.text == f"Invalid JSON body: nested more than {MAX_JSON_DEPTH} levels deep"
    assert server.counters.jobs_created == 0
    listing = http.get("/api/v1/imports", params={"api_key": server.api_key})
    assert listing.json() == {"imports": [], "success": True}


# -- keys never reach the logs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("/api/v2/sql?q=select+1&api_key=s3cr3t", "/api/v2/sql?q=select+1&api_key=***"),
        ("/api/v2/sql?map_key=s3cr3t", "/api/v2/sql?map_key=***"),
        ("/api/v1/imports?api%5Fkey=s3cr3t&x=1", "/api/v1/imports?api%5Fkey=***&x=1"),
        ("/a?API_KEY=s3cr3t;b=2", "/a?API_KEY=***;b=2"),
        ("api_key=s3cr3t&q=1", "api_key=***&q=1"),
        ("/api/v2/sql?q=select+1", "/api/v2/sql?q=select+1"),
        ("127.0.0.1:50000", "127.0.0.1:50000"),
    ],
)
def test_mask_keys_masks_every_spelling_of_the_key_parameters(line: str, masked: str) -> None:
    assert mask_keys(line) == masked


def test_the_access_log_masks_keys(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with LocalCarto(api_key="s3cr3t-key", log_level="info") as server:
        params = {"q": "select 1", "api_key": "s3cr3t-key"}
        assert httpx.get(server.base_url + "/api/v2/sql", params=params).status_code == 200
        # A percent-encoded name is still the key to the server; the log masks it too.
        encoded = httpx.get(server.base_url + "/api/v1/imports?api%5Fkey=s3cr3t-key")
        assert encoded.status_code == 200
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) == 2
    assert all("api_key=***" in line or "api%5Fkey=***" in line for line in access)
    assert "s3cr3t-key" not in caplog.text


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_serve_never_logs_the_key() -> None:
    script = (
        "import logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from carto_async.testing import serve\n"
        "serve(port=0, api_key='s3cr3t-key', log_level='info',"
        " ready=lambda server: print(server.base_url, flush=True))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            ok = httpx.get(base_url + "/api/v1/imports", params={"api_key": "s3cr3t-key"})
            assert ok.status_code == 200
            bad = httpx.get(base_url + "/api/v2/sql", params={"q": "x", "map_key": "s3cr3t-key"})
            assert bad.status_code == 400
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "/api/v1/imports?api_key=*** HTTP/1.1" in stderr
    assert "map_key=***" in stderr
    assert "s3cr3t-key" not in stderr


def test_no_repr_of_the_server_or_its_state_shows_a_key() -> None:
    with LocalCarto(api_key="s3cr3t-key") as server:
        ctx = server._running()
        shown = " ".join(repr(x) for x in (server, ctx, ctx.keys, ctx.importer, server.clock))
    assert "s3cr3t-key" not in shown
    assert server.regular_api_key not in shown
