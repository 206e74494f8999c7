"""SQL from the SQL API cannot touch the host, nor write without rights, nor run for ever.

A hostile catalogue is sent over loopback with the master key, the regular key and no key:
every statement is refused with CARTO's status and PostgreSQL's words, and nothing is read,
written or changed on the machine.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carto_async.testing import LocalCarto
from carto_async.testing._db import Database, QueryError
from carto_async.testing._staging import ImportFailure
from tests.testing.conftest_data import load


@pytest.fixture(scope="module")
def running() -> Iterator[LocalCarto]:
    with LocalCarto() as server:
        server.db.execute("CREATE TABLE secrets (a int)")
        yield server


def _hostile(tmp: Path) -> dict[str, tuple[int, str]]:
    """Statement -> (status, message start) that CARTO would answer."""
    target = tmp / "written.csv"
    victim = tmp / "victim.csv"
    victim.write_text("a\n1\n", encoding="ascii")
    return {
        f"COPY secrets TO '{target}'": (400, "must be superuser"),
        f"COPY secrets FROM '{victim}'": (400, "must be superuser"),
        f"SELECT * FROM read_csv('{victim}')": (403, "permission denied for function read_csv"),
        "SELECT * FROM read_csv_auto('/etc/passwd')": (403, "permission denied for function"),
        "SELECT * FROM ST_Read('/etc/passwd')": (403, "permission denied for function st_read"),
        f"SELECT * FROM ST_Read_Meta('{victim}')": (403, "permission denied for function"),
        f"SELECT * FROM '{victim}'": (400, "syntax error at or near"),
        "SELECT * FROM query('SELECT 1')": (403, "permission denied for function query"),
        "SELECT getenv('HOME')": (403, "permission denied for function getenv"),
        "SELECT current_setting('home_directory')": (403, "permission denied for function"),
        f"ATTACH '{tmp / 'other.db'}' AS other": (400, 'syntax error at or near "ATTACH"'),
        "DETACH other": (400, 'syntax error at or near "DETACH"'),
        "INSTALL httpfs": (400, 'syntax error at or near "INSTALL"'),
        "LOAD spatial": (400, 'syntax error at or near "LOAD"'),
        "SET enable_external_access = true": (403, "permission denied to set parameter"),
        "RESET lock_configuration": (403, "permission denied to set parameter"),
        "PRAGMA database_list": (400, 'syntax error at or near "PRAGMA"'),
        "SELECT * FROM duckdb_settings()": (403, "permission denied for function"),
        "SELECT path FROM duckdb_databases()": (403, "permission denied for function"),
        "SELECT * FROM pragma_database_list()": (403, "permission denied for function"),
        f"EXPORT DATABASE '{tmp / 'dump'}'": (400, 'syntax error at or near "EXPORT"'),
        "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')": (400, "syntax error at or near"),
        "CREATE MACRO evil(p) AS TABLE SELECT * FROM read_text(p)": (400, "syntax error"),
        "SELECT * FROM _carto.columns": (403, "permission denied for function _carto"),
        "CHECKPOINT": (400, 'syntax error at or near "CHECKPOINT"'),
        "SELECT name, setting FROM pg_settings": (403, "permission denied for view pg_settings"),
        "SELECT * FROM pg_catalog.pg_settings": (403, "permission denied for view pg_settings"),
    }


@pytest.mark.parametrize("who", ["master", "regular", "public"])
def test_a_hostile_catalogue_is_refused_for_every_key(
    running: LocalCarto, tmp_path: Path, who: str
) -> None:
    key = {
        "master": running.api_key,
        "regular": running.regular_api_key,
        "public": None,
    }[who]
    catalogue = _hostile(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with httpx.Client(base_url=running.base_url, timeout=10.0) as client:
        for sql, (status, words) in catalogue.items():
            params = {"q": sql, **({"api_key": key} if key else {})}
            response = client.get("/api/v2/sql", params=params)
            assert response.status_code == status, (sql, response.text)
            message = response.json()["error"][0]
            assert message.startswith(words), (sql, message)
            assert str(tmp_path) not in message or str(tmp_path) in sql  # only what was sent
        # the engine still works, and no file appeared or changed
        ok = client.get("/api/v2/sql", params={"q": "SELECT 1 AS one", "api_key": key or ""})
        assert ok.json()["rows"] == [{"one": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["victim.csv"]


def test_the_engine_itself_is_locked(tmp_path: Path) -> None:
    """Below the guard, DuckDB refuses files and setting changes too (the second wall)."""
    db = Database()
    try:
        for sql in (
            f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
            "SELECT * FROM read_csv('/etc/passwd')",
            f"ATTACH '{tmp_path / 'x.db'}'",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
        ):
            with pytest.raises(QueryError):
                db.execute_native(sql)
        assert list(tmp_path.iterdir()) == []
    finally:
        db.close()


@pytest.mark.parametrize("who", ["regular", "public"])
def test_the_regular_key_and_the_public_user_cannot_write(running: LocalCarto, who: str) -> None:
    key = running.regular_api_key if who == "regular" else ""
    # PostgreSQL's "must be owner" is a 400 for CARTO (no "permission denied" in it)
    cases = {
        "INSERT INTO secrets VALUES (1)": "permission denied for table secrets",
        "UPDATE secrets SET a = 2": "permission denied for table secrets",
        "DELETE FROM secrets": "permission denied for table secrets",
        "TRUNCATE secrets": "permission denied for table secrets",
        "DROP TABLE secrets": "must be owner of table secrets",
        "CREATE TABLE mine (a int)": "permission denied for schema public",
        "CREATE TABLE mine AS SELECT 1": "permission denied for schema public",
        "ALTER TABLE secrets ADD COLUMN b int": "permission denied for table secrets",
        "WITH x AS (SELECT 1) INSERT INTO secrets SELECT 1": "permission denied for table secrets",
        "SELECT 1; DELETE FROM secrets": "permission denied for table secrets",
    }
    with httpx.Client(base_url=running.base_url, timeout=10.0) as client:
        for sql, message in cases.items():
            params = {"q": sql, **({"api_key": key} if key else {})}
            response = client.get("/api/v2/sql", params=params)
            expected = 400 if message.startswith("must be owner") else 403
            assert response.status_code == expected, (sql, response.text)
            assert response.json()["error"] == [message]
    assert running.db.table_exists("secrets")
    assert not running.db.table_exists("mine")


def test_a_runaway_query_is_stopped_with_429() -> None:
    with (
        LocalCarto(sql_statement_timeout=0.2) as server,
        httpx.Client(base_url=server.base_url, timeout=30.0) as client,
    ):
        slow = "SELECT count(*) FROM range(10000000000) a"
        response = client.get("/api/v2/sql", params={"q": slow, "api_key": server.api_key})
        assert response.status_code == 429
        assert response.json()["context"] == "limit"
        assert response.json()["detail"] == "datasource"
        again = client.get("/api/v2/sql", params={"q": "SELECT 2 AS two"})
        assert again.json()["rows"] == [{"two": 2}]


# -- hostile files -----------------------------------------------------------------------------


def test_one_endless_line_in_a_small_zip_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    line = b"a," + b"x" * (140 * 2**20) + b"\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("bomb.csv", b"name,value\n" + line)
    payload = buffer.getvalue()
    del line
    assert len(payload) < 200 * 1024  # ~139 kB holding 140 MB
    db = Database()
    try:
        tracemalloc.start()
        try:
            with pytest.raises(ImportFailure) as caught:
                load(db, tmp_path, "bomb.zip", payload)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        db.close()
    assert caught.value.code == 2003
    assert "longer than" in caught.value.message
    assert peak < 100 * 2**20  # the 140 MB line is never held whole


def test_a_zip_member_larger_than_it_claims_is_cut_at_the_size_limit(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", b"a\n" + b"1\n" * 600_000)
    db = Database()
    try:
        with pytest.raises(ImportFailure) as caught:
            load(db, tmp_path, "big.zip", buffer.getvalue(), max_file_size=1_000_000)
    finally:
        db.close()
    assert caught.value.code == 6666


def test_importing_the_package_leaves_the_csv_field_limit_alone(tmp_path: Path) -> None:
    code = (
        "import csv; before = csv.field_size_limit();"
        "import carto_async.testing, carto_async.testing._loader;"
        "print(before, csv.field_size_limit())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == out[1] == "131072"
    # and an import restores it when done
    db = Database()
    try:
        before = csv.field_size_limit()
        load(db, tmp_path, "big_field.csv", "a,b\n" + "x" * 200_000 + ",1\n")
        assert csv.field_size_limit() == before
        assert db.row_count("big_field") == 1
    finally:
        db.close()


def test_the_api_key_never_reaches_an_error_body(running: LocalCarto) -> None:
    with httpx.Client(base_url=running.base_url, timeout=10.0) as client:
        bad = client.get(
            "/api/v2/sql", params={"q": "SELECT nope FROM secrets", "api_key": running.api_key}
        )
    assert bad.status_code == 400
    assert running.api_key not in bad.text
    assert json.loads(bad.text)["error"] == ['column "nope" does not exist']
