"""``carto-async sql``, ``copy-from`` and ``copy-to``: queries against LocalCarto over loopback,
COPY over a mocked wire."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest
import respx

from tests.cli.conftest import KEY, invoke

REMOTE = {"CARTO_USER": "demo", "CARTO_API_KEY": KEY, "CARTO_BASE_URL": "https://demo.carto.com"}
COPYFROM_URL = "https://demo.carto.com/api/v2/sql/copyfrom"
COPYTO_URL = "https://demo.carto.com/api/v2/sql/copyto"


def test_sql_prints_a_table(env: dict[str, str | None]) -> None:
    result = invoke(["sql", "select 1 as n, 'shop' as name"], env)
    assert result.exit_code == 0, result.stderr
    assert "name" in result.stdout
    assert "shop" in result.stdout
    assert "(1 row)" in result.stderr


def test_sql_json_lines_with_parameters(env: dict[str, str | None]) -> None:
    result = invoke(
        [
            "sql",
            "select {{n}} as n, {{who}} as who",
            "--param",
            "n:=3",
            "--param",
            "who=O'Brien",
            "--json",
        ],
        env,
    )
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"n": 3, "who": "O'Brien"}]


def test_sql_streams_a_format_into_a_file(env: dict[str, str | None], tmp_path: Path) -> None:
    out = tmp_path / "rows.csv"
    result = invoke(["sql", "select 1 as n, 'a' as s", "-o", str(out)], env)
    assert result.exit_code == 0, result.stderr
    assert out.read_text().splitlines() == ["n,s", "1,a"]


def test_sql_writes_a_format_to_stdout(env: dict[str, str | None]) -> None:
    result = invoke(["sql", "select 2 as n", "--format", "csv"], env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["n", "2"]


def test_sql_errors_exit_1_and_never_show_the_key(env: dict[str, str | None]) -> None:
    result = invoke(["sql", "select * from no_such_table"], env)
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert KEY not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "oops"], "NAME=VALUE"),
        (["--param", "n:=nope"], "not JSON"),
        (["--json", "-o", "x.csv"], "--json"),
    ],
)
def test_sql_bad_usage_exits_2_before_any_request(
    respx_mock: respx.MockRouter, args: list[str], message: str
) -> None:
    route = respx_mock.route().mock(return_value=httpx.Response(500))
    result = invoke(["sql", "select 1", *args], REMOTE)
    assert result.exit_code == 2
    assert message in result.stderr
    assert route.call_count == 0


def test_sql_with_local_runs_on_an_embedded_server() -> None:
    result = invoke(["sql", "select 40 + 2 as answer", "--local", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"answer": 42}


def test_copy_from_sends_the_file_gzipped(respx_mock: respx.MockRouter, tmp_path: Path) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(
        return_value=httpx.Response(200, json={"time": 0.5, "total_rows": 2})
    )
    data = tmp_path / "stores.csv"
    data.write_bytes(b"name,n\na,1\nb,2\n")
    result = invoke(["copy-from", str(data), "stores", "--columns", "name,n"], REMOTE)
    assert result.exit_code == 0, result.stderr
    assert "2 rows copied into stores" in result.stdout
    request = route.calls.last.request
    assert request.url.params["q"] == (
        'COPY "stores" ("name", "n") FROM STDIN WITH (FORMAT csv, HEADER true)'
    )
    assert gzip.decompress(request.content) == data.read_bytes()


def test_copy_from_refused_exits_1(respx_mock: respx.MockRouter, tmp_path: Path) -> None:
    respx_mock.post(COPYFROM_URL).mock(
        return_value=httpx.Response(400, json={"error": ["No rows copied"]})
    )
    data = tmp_path / "empty.csv"
    data.write_bytes(b"name\n")
    result = invoke(["copy-from", str(data), "stores"], REMOTE)
    assert result.exit_code == 1
    assert "No rows copied" in result.stderr


def test_copy_to_writes_the_file(respx_mock: respx.MockRouter, tmp_path: Path) -> None:
    route = respx_mock.get(COPYTO_URL).mock(
        return_value=httpx.Response(200, content=b"name,n\na,1\n")
    )
    out = tmp_path / "out.csv"
    result = invoke(["copy-to", "select * from stores", str(out)], REMOTE)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == b"name,n\na,1\n"
    assert route.calls.last.request.url.params["q"] == (
        "COPY (\nselect * from stores\n) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )


def test_copy_to_an_interrupted_copy_leaves_no_file(
    respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    respx_mock.get(COPYTO_URL).mock(
        return_value=httpx.Response(200, content=b'a,1\n{"error":["canceling statement"]}')
    )
    result = invoke(["copy-to", "COPY t TO STDOUT", str(tmp_path / "out.csv")], REMOTE)
    assert result.exit_code == 1
    assert "canceling statement" in result.stderr
    assert list(tmp_path.iterdir()) == []
