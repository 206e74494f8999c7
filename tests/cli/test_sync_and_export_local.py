"""``carto-async sync`` and ``carto-async export`` against LocalCarto over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, invoke
from tests.testing.conftest import FileServer

pytestmark = pytest.mark.integration

FAST = ["--poll-interval", "0.02"]
CSV = "name,lat,lon\nalpha,10,20\nbeta,30,40\n"


@pytest.fixture
def files() -> Iterator[FileServer]:
    fs = FileServer()
    fs.thread.start()
    try:
        yield fs
    finally:
        fs.httpd.shutdown()
        fs.httpd.server_close()
        fs.thread.join()


def test_sync_create_list_now_and_delete(
    server: LocalCarto, env: dict[str, str | None], files: FileServer
) -> None:
    url = files.add("/stores.csv", CSV)
    result = invoke(["sync", "create", url, "--interval", "3600", "--wait", "--json", *FAST], env)
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["state"] == "success"
    sync_id = created["id"]
    assert "stores" in server.tables()

    result = invoke(["sync", "list"], env)
    assert result.exit_code == 0, result.output
    assert sync_id in result.stdout

    result = invoke(["sync", "show", sync_id], env)
    assert "success" in result.stdout

    result = invoke(["sync", "now", sync_id], env)
    assert result.exit_code == 1
    assert "less than 15 minutes ago" in result.stderr

    result = invoke(["sync", "delete", sync_id], env)
    assert result.exit_code == 0, result.output
    assert "stores" in server.tables()
    assert KEY not in result.output


def test_export_writes_a_carto_file_that_imports_back(
    server: LocalCarto, env: dict[str, str | None], tmp_path: Path
) -> None:
    with server.client() as carto:
        status = carto.imports.upload(CSV.encode(), filename="stores.csv", create_vis=True).wait(
            timeout=30
        )
    assert status.visualization_id is not None
    out = tmp_path / "map.carto"
    result = invoke(["export", status.visualization_id, "-o", str(out), *FAST], env)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"PK"
    assert "bytes)" in result.stdout
    result = invoke(["import", str(out), *FAST], env)
    assert result.exit_code == 0, result.output
    assert "stores_1" in server.tables()
    assert KEY not in result.output
