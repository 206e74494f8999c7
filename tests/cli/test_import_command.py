"""``carto-async import`` against LocalCarto over real sockets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, closed_port, invoke

pytestmark = pytest.mark.integration

FAST = ["--poll-interval", "0.05"]


def test_a_mixed_batch_exits_1_and_the_summary_shows_each_outcome(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    (data / "empty.csv").write_bytes(b"")
    server.faults.fail_imports(2003, predicate=lambda info: info.display_name == "trees.csv")
    result = invoke(["import", "data", *FAST], env)
    assert result.exit_code == 1, result.output
    lines = {
        line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("data")
    }
    assert "complete" in lines["data/stores.csv"]
    assert " stores " in lines["data/stores.csv"]
    assert "complete" in lines["data/parks.csv"]
    assert "failure" in lines["data/trees.csv"]
    assert "2003 Malformed CSV" in lines["data/trees.csv"]
    assert "failure" in lines["data/empty.csv"]
    assert "1005 Empty file" in lines["data/empty.csv"]
    assert "2 imported, 2 failed" in result.stdout
    assert server.counters.jobs_created == 4


def test_every_success_exits_0(server: LocalCarto, env: dict[str, str | None], data: Path) -> None:
    result = invoke(["import", "data/stores.csv", "data/parks.csv", *FAST], env)
    assert result.exit_code == 0, result.output
    assert "2 imported" in result.stdout


def test_json_prints_one_object_per_source_and_nothing_else_on_stdout(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    server.faults.fail_imports(1002, predicate=lambda info: info.display_name == "parks.csv")
    result = invoke(["import", "data", "--json", *FAST], env)
    assert result.exit_code == 1
    results = {r["source"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(results) == {"data/parks.csv", "data/stores.csv", "data/trees.csv"}
    stores = results["data/stores.csv"]
    assert stores["ok"] is True
    assert stores["state"] == "complete"
    assert stores["table_name"] == "stores"
    assert stores["duration"] > 0
    parks = results["data/parks.csv"]
    assert parks["ok"] is False
    assert parks["state"] == "failure"
    assert parks["error_code"] == 1002
    assert parks["title"] == "Unsupported/Unrecognized file type"
    assert "<" not in parks["what_about"]


def test_import_options_reach_the_server(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    invoke(["import", "data/stores.csv", *FAST], env)
    result = invoke(
        ["import", "data/stores.csv", "--collision-strategy", "skip", "--json", *FAST], env
    )
    (outcome,) = map(json.loads, result.stdout.splitlines())
    assert outcome["state"] == "complete"
    assert outcome["warning"] == "1022: All tables were skipped"


def test_verbose_adds_the_servers_advice_without_html(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    server.faults.fail_imports(1002, predicate=lambda info: info.display_name == "parks.csv")
    result = invoke(["import", "data/parks.csv", "-v", *FAST], env)
    assert "Advice from the server:" in result.stdout
    advice = result.stdout.split("Advice from the server:")[1]
    assert "Should we support this filetype?" in advice
    assert "<" not in advice


def test_quiet_prints_only_what_did_not_import(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    server.faults.fail_imports(1002, predicate=lambda info: info.display_name == "parks.csv")
    result = invoke(["import", "data", "--quiet", *FAST], env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        result.stderr.strip()
        == "failure: data/parks.csv: error 1002: Unsupported/Unrecognized file type"
    )


def test_plain_progress_lines_count_done_and_failed(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    result = invoke(["import", "data", *FAST], env)
    progress = result.stderr.splitlines()
    assert any(line.startswith("data/stores.csv: uploaded ") for line in progress)
    assert progress[-1].startswith("[3/3 done, 0 failed] complete: ")


# -- bad input: a clear message, exit status 2, nothing uploaded ---------------------------


def test_a_missing_path_is_reported_before_any_upload(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    result = invoke(["import", "data/stores.csv", "data/nope.csv"], env)
    assert result.exit_code == 2
    assert "error: data/nope.csv: no such file or directory" in result.stderr
    assert server.counters.requests == {}


def test_an_unsupported_extension_is_reported_with_the_supported_list(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    (data / "notes.xyz").write_text("?")
    result = invoke(["import", "data/notes.xyz"], env)
    assert result.exit_code == 2
    assert "error: data/notes.xyz: unsupported file type" in result.stderr
    assert "supported file types: .csv .tsv" in result.stderr
    assert server.counters.requests == {}


def test_no_credentials_is_reported(data: Path) -> None:
    result = invoke(["import", "data"])
    assert result.exit_code == 2
    assert "no CARTO credentials" in result.stderr
    assert "CARTO_USER" in result.stderr


def test_an_unreachable_base_url_is_reported_before_any_upload(data: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/user/demo"
    result = invoke(["import", "data", "--user", "demo", "--api-key", KEY, "--base-url", url])
    assert result.exit_code == 2
    assert f"error: cannot reach {url}" in result.stderr


def test_a_refused_key_is_reported_before_any_upload(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    result = invoke(["import", "data"], {**env, "CARTO_API_KEY": server.regular_api_key})
    assert result.exit_code == 2
    assert "refused the API key" in result.stderr
    assert server.counters.jobs_created == 0


def test_local_and_manifest_do_not_go_together(data: Path) -> None:
    result = invoke(["import", "data", "--local", "--manifest", "m.json"])
    assert result.exit_code == 2
    assert "--manifest cannot be used with --local" in result.stderr


def test_local_imports_into_an_embedded_server(data: Path) -> None:
    result = invoke(["import", "data", "--local", "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["state"] for line in result.stdout.splitlines()] == ["complete"] * 3
