"""Seeding a LocalCarto from a folder, inspecting it and resetting it between tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from carto_async.testing import Clock, LocalCarto, SeedError
from tests.testing.conftest import sql, upload, wait_final

ROOT = Path(__file__).resolve().parents[2]
GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"zone": 1},
            "geometry": {"type": "Point", "coordinates": [-3.7, 40.4]},
        }
    ],
}


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "shops.csv").write_text("name,lat,lon\na,40.1,-3.1\nb,40.2,-3.2\n")
    (folder / "zones.geojson").write_text(json.dumps(GEOJSON))
    (folder / ".hidden.csv").write_text("x\n1\n")
    (folder / "nested").mkdir()
    (folder / "nested" / "deep.csv").write_text("x\n1\n")
    return folder


def _count(http: httpx.Client, key: str, table: str) -> int:
    response = sql(http, key, f"select count(*) as n from {table}")
    assert response.status_code == 200, response.text
    return int(response.json()["rows"][0]["n"])


def test_every_file_of_the_seed_folder_is_a_table_at_start(seeds: Path) -> None:
    with LocalCarto(seed_dir=seeds) as server, httpx.Client(base_url=server.base_url) as http:
        assert server.tables() == ["shops", "zones"]
        assert _count(http, server.api_key, "shops") == 2
        geometry = sql(http, server.api_key, "select st_astext(the_geom) as g from zones")
        assert geometry.json()["rows"] == [{"g": "POINT(-3.7 40.4)"}]
        # Seeds are the starting data, not jobs or requests.
        assert server.jobs() == []
        assert server.counters.jobs_created == 0


def test_reset_brings_back_a_fresh_seeded_server(seeds: Path) -> None:
    with (
        LocalCarto(seed_dir=seeds, clock=Clock(frozen=True)) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        key = server.api_key
        sql(http, key, "delete from shops")
        extra = upload(http, key, "extra.csv", "a\n1\n").json()["item_queue_id"]
        server.advance(1.0)
        wait_final(http, extra, key)
        pending = upload(http, key, "pending.csv", "a\n1\n").json()["item_queue_id"]
        server.faults.error("sql", status=503)
        server.register_datasource("gdrive", "1", "drive.csv", "a\n1\n")
        assert {"extra", "shops", "zones"} <= set(server.tables())
        assert len(server.jobs("import")) == 2
        port = server.port

        server.reset()

        assert (server.port, server.api_key) == (port, key)
        assert server.tables() == ["shops", "zones"]
        assert server.jobs() == []
        assert server.counters.snapshot().requests == {}
        assert server.faults.rules == []
        assert _count(http, key, "shops") == 2
        missing = http.get(f"/api/v1/imports/{pending}", params={"api_key": key})
        assert missing.status_code == 404
        body = http.post(
            "/api/v1/imports",
            params={"api_key": key},
            json={"service_name": "gdrive", "service_item_id": "1"},
        ).json()
        server.advance(1.0)
        assert wait_final(http, body["item_queue_id"], key)["error_code"] == 1012


def test_jobs_and_job_state_inspect_what_clients_see(tmp_path: Path) -> None:
    with (
        LocalCarto(clock=Clock(frozen=True), import_processing_time=5.0) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        import_id = upload(http, server.api_key, "a.csv", "a\n1\n").json()["item_queue_id"]
        (job,) = server.jobs()
        assert (job.id, job.kind.name, job.info.display_name) == (import_id, "import", "a.csv")
        assert server.jobs("sync") == []
        assert server.job_state(job) == "pending"
        server.advance(5.0)
        server.wait_for_work(job)
        assert server.job_state(job) == "complete"
        end = job.end()
        assert end is not None
        assert end.result["table_name"] == "a"


def test_a_persistent_database_is_seeded_again_without_copies(seeds: Path, tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    for _ in range(2):
        with LocalCarto(db=db, seed_dir=seeds) as server:
            assert server.tables() == ["shops", "zones"]
            assert server.db.row_count("shops") == 2


def test_a_seed_file_that_cannot_be_imported_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "good.csv").write_text("a\n1\n")
    (tmp_path / "empty.csv").write_text("")
    before = {t.name for t in threading.enumerate()}
    server = LocalCarto(seed_dir=tmp_path)
    with pytest.raises(SeedError, match=r"empty\.csv: error 1005") as caught:
        server.start()
    assert caught.value.code == 1005
    assert "stopped" in repr(server)
    assert {t.name for t in threading.enumerate()} == before


def test_seed_dir_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed_dir is not a folder"):
        LocalCarto(seed_dir=tmp_path / "missing")


def test_inspection_needs_a_running_server() -> None:
    server = LocalCarto()
    for call in (server.jobs, server.reset, server.tables):
        with pytest.raises(RuntimeError, match="not running"):
            call()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_local_server_command_takes_a_seed_dir(seeds: Path) -> None:
    command = [sys.executable, "-m", "carto_async.cli", "local-server", "--port", "0"]
    with subprocess.Popen(
        [*command, "--api-key", "k", "--seed-dir", str(seeds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            base_url = first.split(" at ")[1].split()[0]
            with httpx.Client(base_url=base_url) as http:
                assert _count(http, "k", "shops") == 2
                assert _count(http, "k", "zones") == 1
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
