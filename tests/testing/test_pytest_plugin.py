"""The pytest plugin, run on small user test files in a pytester sandbox."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

# pytester's in-process runs restore sys.modules afterwards: a pyarrow.dataset first imported
# (by DuckDB) inside one of them is dropped, and pyarrow cannot import it a second time.
import pyarrow.dataset  # noqa: F401
import pytest

import carto_async.pytest_plugin

ROOT = Path(__file__).resolve().parents[2]
# The plugin is loaded by its pytest11 entry point, as in a user's project.
PLUGIN = ["-p", "no:cacheprovider"]

USER_TESTS = """
import pytest
from carto_async import AsyncCarto, Carto
from carto_async.testing import LocalCarto


def test_the_server_runs(local_carto):
    assert isinstance(local_carto, LocalCarto)
    assert local_carto.tables() == []


def test_the_sync_client_imports_and_queries(carto, local_carto, tmp_path):
    assert isinstance(carto, Carto)
    path = tmp_path / "stores.csv"
    path.write_text("name\\na\\nb\\n")
    carto.imports.upload(path).wait(timeout=10)
    assert carto.sql.query("select count(*) as n from stores").rows == [{"n": 2}]
    assert local_carto.tables() == ["stores"]


@pytest.mark.anyio
async def test_the_async_client(async_carto):
    assert isinstance(async_carto, AsyncCarto)
    assert (await async_carto.sql.query("select 1 as x")).rows == [{"x": 1}]


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def test_the_entry_point_names_the_plugin_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    entry = project["project"]["entry-points"]["pytest11"]
    assert entry == {"carto_async": "carto_async.pytest_plugin"}
    assert carto_async.pytest_plugin.__name__ == entry["carto_async"]


def test_fixtures_serve_a_user_test_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=3)


def test_each_test_gets_a_fresh_server_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fresh="""
        ports = []

        def test_first(local_carto):
            local_carto.db.execute("create table leftover (a int)")
            ports.append(local_carto.port)

        def test_second(local_carto):
            assert local_carto.tables() == []
            assert local_carto.port != ports[0]
        """
    )
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_reuse_shares_one_server_reset_and_reseeded_before_each_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nlocal_carto_reuse = true\n")
    seeds = pytester.mkdir("seeds")
    (seeds / "parks.csv").write_text("name\na\nb\nc\n")
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture(scope="session")
        def local_carto_options():
            return {{"seed_dir": {str(seeds)!r}, "import_processing_time": 0.01}}
        """
    )
    pytester.makepyfile(
        test_shared="""
        servers = []

        def test_first(local_carto, carto):
            servers.append(local_carto)
            carto.sql.query("delete from parks")
            local_carto.faults.error("sql", status=503)
            local_carto.db.execute("create table scratch (a int)")

        def test_second(local_carto, carto):
            assert local_carto is servers[0]
            assert local_carto.tables() == ["parks"]
            assert local_carto.faults.rules == []
            assert carto.sql.query("select count(*) as n from parks").rows == [{"n": 3}]
        """
    )
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_without_the_local_extra_the_plugin_loads_and_the_fixtures_say_what_is_missing(
    pytester: pytest.Pytester,
) -> None:
    # A subprocess where starlette cannot be imported: carto-async installed without [local].
    pytester.makeconftest(
        """
        import sys
        sys.modules["starlette"] = None
        """
    )
    pytester.makepyfile(
        test_plain="""
        def test_unrelated():
            assert True

        def test_wants_a_server(local_carto):
            pass
        """
    )
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(passed=1, errors=1)
    message = (
        "the local_carto fixtures need LocalCarto's dependencies (starlette is missing): "
        "pip install 'carto-async[local]'"
    )
    assert message in result.stdout.lines


def test_the_plugin_module_imports_nothing_of_localcarto() -> None:
    source = Path(carto_async.pytest_plugin.__file__).read_text(encoding="utf-8")
    top_level = [line for line in source.splitlines() if re.match(r"^(import|from) ", line)]
    assert top_level
    assert all("testing" not in line for line in top_level), top_level


def test_the_readme_plugin_example_passes(pytester: pytest.Pytester) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, re.MULTILINE | re.DOTALL)
    (example,) = [b for b in blocks if "def local_carto_options" in b]
    rows = "".join(f"store {i},{40 + i / 10},{-3 - i / 10}\n" for i in range(10))
    data = pytester.mkdir("data")
    for name in ("shops", "depots"):
        (data / f"{name}.csv").write_text("name,lat,lon\n" + rows)
    (pytester.path / "stores.csv").write_text("name,latitude,longitude\n" + rows)
    pytester.makepyfile(test_stores=example)
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)
