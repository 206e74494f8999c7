"""Fixtures for LocalCarto's wire tests: a running server and plain httpx clients."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from carto_async.testing import LocalCarto

# The plugin tests run small user test files in a pytester sandbox. This conftest is loaded
# before collection starts (pytest only allows pytest_plugins in those).
pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FINAL = ("complete", "failure")


def fixture(*parts: str) -> Any:
    """A reference fixture (real CARTO payload)."""
    return json.loads(FIXTURES.joinpath(*parts).read_text())


@pytest.fixture
def server() -> Iterator[LocalCarto]:
    """A fresh LocalCarto with a fast job clock."""
    with LocalCarto(import_processing_time=0.05) as running:
        yield running


@contextlib.contextmanager
def serving(**options: Any) -> Iterator[tuple[LocalCarto, httpx.Client]]:
    """A LocalCarto with ``options`` and an httpx client on its base URL."""
    with (
        LocalCarto(**options) as running,
        httpx.Client(base_url=running.base_url, timeout=10.0) as client,
    ):
        yield running, client


@pytest.fixture
def http(server: LocalCarto) -> Iterator[httpx.Client]:
    """An httpx client on the server's user base URL (master key not included)."""
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        yield client


def wait_final(
    client: httpx.Client, import_id: str, key: str, *, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll ``GET /api/v1/imports/:id`` until the import is complete or failed."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/imports/{import_id}", params={"api_key": key})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] in FINAL:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"import {import_id} still {body['state']}")
        time.sleep(0.01)


def upload(
    client: httpx.Client, key: str, filename: str, data: bytes | str, **params: Any
) -> httpx.Response:
    """Multipart upload in the ``file`` field, options in the query string."""
    content = data.encode() if isinstance(data, str) else data
    return client.post(
        "/api/v1/imports",
        params={"api_key": key, **params},
        files={"file": (filename, content, "text/csv")},
    )


def import_file(
    client: httpx.Client, key: str, filename: str, data: bytes | str, **params: Any
) -> dict[str, Any]:
    """Upload and wait for the final state."""
    response = upload(client, key, filename, data, **params)
    assert response.status_code == 200, response.text
    return wait_final(client, response.json()["item_queue_id"], key)


def sql(client: httpx.Client, key: str | None, q: str) -> httpx.Response:
    """``GET /api/v2/sql`` with ``key`` in the query string."""
    params = {"q": q} if key is None else {"q": q, "api_key": key}
    return client.get("/api/v2/sql", params=params)


class FileServer:
    """A loopback HTTP server for URL imports: ``files[path] = (status, body, headers)``."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = files.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def add(self, path: str, body: bytes | str, status: int = 200, **headers: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.files[path] = (status, data, {k.replace("_", "-"): v for k, v in headers.items()})
        return self.url + path


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """Serves registered files over loopback HTTP (a port the real URL validator would refuse)."""
    fs = FileServer()
    fs.thread.start()
    try:
        yield fs
    finally:
        fs.httpd.shutdown()
        fs.httpd.server_close()
        fs.thread.join()
