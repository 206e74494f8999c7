"""``carto-async sql --batch``: create a Batch job, or wait for it, against LocalCarto."""

from __future__ import annotations

import json

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, invoke


def test_batch_without_wait_prints_the_id_and_a_token(
    server: LocalCarto, env: dict[str, str | None]
) -> None:
    result = invoke(["sql", "--batch", "CREATE TABLE cli_b (n int)", "--json"], env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "pending"
    assert json.loads(data["token"])["kind"] == "batch"
    assert KEY not in result.stdout
    assert KEY not in result.stderr
    with server.client() as carto:
        assert carto.sql.batch_jobs.job(data["job_id"]).wait(timeout=30).status == "done"
    assert server.db.table_exists("cli_b")


def test_batch_wait_reports_done(server: LocalCarto, env: dict[str, str | None]) -> None:
    result = invoke(
        ["sql", "--batch", "CREATE TABLE cli_w (n int); INSERT INTO cli_w VALUES (1)", "--wait"],
        env,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith("done")
    assert "waiting" in result.stderr
    assert server.db.row_count("cli_w") == 1


def test_batch_wait_reports_a_failure_with_its_reason(
    server: LocalCarto, env: dict[str, str | None]
) -> None:
    result = invoke(["sql", "--batch", "SELECT * FROM no_such_table", "--wait", "--json"], env)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failed"
    assert data["failed_reason"] == 'relation "no_such_table" does not exist'


def test_batch_wait_timeout_leaves_the_job_running(
    server: LocalCarto, env: dict[str, str | None]
) -> None:
    server.faults.stuck_jobs("batch", count=1)
    result = invoke(["sql", "--batch", "SELECT 1", "--wait", "--timeout", "0.3"], env)
    assert result.exit_code == 3
    assert "goes on on the server" in result.stdout


def test_bad_usage_fails_before_sending(server: LocalCarto, env: dict[str, str | None]) -> None:
    too_big = invoke(["sql", "--batch", "SELECT '" + "x" * 17_000 + "'"], env)
    assert too_big.exit_code == 2
    assert "16 KB" in too_big.stderr
    no_batch = invoke(["sql", "SELECT 1"], env)
    assert no_batch.exit_code == 2
    timeout_alone = invoke(["sql", "--batch", "SELECT 1", "--timeout", "3"], env)
    assert timeout_alone.exit_code == 2
    assert server.counters.jobs_by_kind.get("batch") is None


def test_refusals_of_the_server_are_reported(server: LocalCarto) -> None:
    env = {
        "CARTO_USER": server.username,
        "CARTO_API_KEY": server.regular_api_key,
        "CARTO_BASE_URL": server.base_url,
    }
    result = invoke(["sql", "--batch", "SELECT 1"], env)
    assert result.exit_code == 1
    assert "permission denied" in result.stderr
    assert server.regular_api_key not in result.stderr


def test_local_server_mode(tmp_path: object) -> None:
    result = invoke(["sql", "--batch", "SELECT 1", "--wait", "--local", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "done"
