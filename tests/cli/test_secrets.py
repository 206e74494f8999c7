"""The API key never appears in anything the command writes, whatever the path taken."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from carto_async.testing import LocalCarto
from tests.cli.conftest import KEY, closed_port, invoke

pytestmark = pytest.mark.integration

FAST = ["--poll-interval", "0.05"]


def _assert_no_key(*texts: str) -> None:
    for text in texts:
        for form in (KEY, quote(KEY, safe=""), quote_plus(KEY)):
            assert form not in text


@pytest.mark.parametrize(
    "extra",
    [["-vv"], ["-vv", "--json"], ["--quiet"], ["-v", "--concurrency", "1"]],
    ids=["very-verbose", "json", "quiet", "verbose"],
)
def test_not_in_a_run_with_failures_from_the_environment(
    server: LocalCarto, env: dict[str, str | None], data: Path, tmp_path: Path, extra: list[str]
) -> None:
    server.faults.fail_imports(1002, predicate=lambda info: info.display_name == "parks.csv")
    manifest = tmp_path / "m.json"
    result = invoke(["import", "data", "--manifest", str(manifest), *FAST, *extra], env)
    assert result.exit_code == 1
    assert "parks.csv" in result.output
    _assert_no_key(result.output, manifest.read_text())


def test_not_in_a_run_with_the_key_on_the_command_line(server: LocalCarto, data: Path) -> None:
    args = ["import", "data", "--user", "demo", "--api-key", KEY, "--base-url", server.base_url]
    result = invoke([*args, "-vv", *FAST])
    assert result.exit_code == 0, result.output
    assert "HTTP Request: GET" in result.output  # -vv shows every request, key masked
    assert "api_key=***" in result.output
    _assert_no_key(result.output)


def test_not_in_connection_errors(data: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/user/demo"
    result = invoke(
        ["import", "data", "-vv", f"--api-key={KEY}", "--user", "demo", "--base-url", url]
    )
    assert result.exit_code == 2
    assert "cannot reach" in result.stderr
    _assert_no_key(result.output)


def test_not_in_usage_errors(data: Path) -> None:
    result = invoke(["import", "--api-key", KEY, "--bogus", KEY, "data"])
    assert result.exit_code == 2
    _assert_no_key(result.output)


def test_not_when_the_key_is_refused(server: LocalCarto, data: Path) -> None:
    wrong = KEY[::-1]
    env = {"CARTO_USER": "demo", "CARTO_API_KEY": wrong, "CARTO_BASE_URL": server.base_url}
    result = invoke(["import", "data", "-vv"], env)
    assert result.exit_code == 2
    assert "refused the API key" in result.stderr
    assert wrong not in result.output


def test_not_when_an_upload_gets_no_answer(
    server: LocalCarto, env: dict[str, str | None], data: Path
) -> None:
    server.faults.drop_connection("imports.create", after=True, count=1)
    result = invoke(["import", "data", "-vv", *FAST], env)
    assert result.exit_code == 1
    assert "unknown" in result.stdout
    _assert_no_key(result.output)
