"""Every example in README.md runs, against a LocalCarto, as written.

* Each ```python block is executed on its own, with ``CARTO_USER``, ``CARTO_API_KEY`` and
  ``CARTO_BASE_URL`` pointing at LocalCarto (as the README tells readers to do with
  ``carto-async local-server``), in a folder holding the files the examples name.
* In ```sh blocks, every line starting with ``carto-async`` runs through click's test runner
  with the same environment, except ``local-server`` (it serves until Ctrl-C; its own test
  starts it) and ``demo`` (tests/cli/test_demo_and_server.py runs it). ``export`` lines are
  what the environment above already does.
* The Quickstart block is exactly the two commands of ``.ci/run`` and the demo; it is not run
  here (it creates a virtualenv and installs nox), CI runs the second one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from carto_async.cli import cli
from carto_async.testing import LocalCarto

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK_RE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

QUICKSTART = [
    "python3 -m venv .venv && .venv/bin/pip install -e '.[local,render]'"
    " && .venv/bin/carto-async demo",
    "python3 -m pip install nox && python3 -m nox",
]
NOT_RUN_HERE = {"local-server", "demo"}
#: Commands the README says fail on purpose, with their exit status.
EXPECTED_STATUS = {"carto-async import empty.csv stores.csv --manifest retry.json -v": 1}


def _sections(language: str) -> list[tuple[str, str]]:
    """``(section title, code)`` of every block in ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK_RE.finditer(text):
        if match.group(1) == language:
            headings = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)
            found.append((headings[-1] if headings else "top", match.group(2)))
    return found


def _blocks(language: str) -> list[str]:
    return [code for _, code in _sections(language)]


def _commands() -> list[str]:
    lines = [line.strip() for block in _blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line.startswith("carto-async ")]


def _python_examples() -> list[object]:
    return [pytest.param(code, id=title) for title, code in _sections("python")]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalCarto]:
    with LocalCarto(import_processing_time=0.05) as running:
        yield running


@pytest.fixture
def workdir(server: LocalCarto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files the examples name, and the environment they read."""
    rows = "".join(f"store {i},{40 + i / 10},{-3 - i / 10}\n" for i in range(10))
    (tmp_path / "stores.csv").write_text("name,latitude,longitude\n" + rows)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "data").mkdir()
    for name in ("shops", "depots"):
        (tmp_path / "data" / f"{name}.csv").write_text("name,lat,lon\n" + rows)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "zones.geojson").write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"zone":1},'
        '"geometry":{"type":"Point","coordinates":[-3.7,40.4]}}]}'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CARTO_USER", server.username)
    monkeypatch.setenv("CARTO_API_KEY", server.api_key)
    monkeypatch.setenv("CARTO_BASE_URL", server.base_url)
    return tmp_path


def test_the_quickstart_is_exactly_the_two_commands() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1]
    first_block = _BLOCK_RE.search(quickstart)
    assert first_block is not None
    assert first_block.group(2).splitlines() == QUICKSTART
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python3 -m pip install --quiet --disable-pip-version-check nox" in ci
    assert "python3 -m nox" in ci


def test_every_shell_line_is_run_or_explained() -> None:
    for block in _blocks("sh"):
        for line in filter(None, (raw.strip() for raw in block.splitlines())):
            command = shlex.split(line)
            assert (
                line in QUICKSTART
                or command[0] == "export"
                or (
                    command[0] == "carto-async"
                    and command[1]
                    in {"import", "sql", "copy-from", "copy-to", "map", *NOT_RUN_HERE}
                )
            ), line


def _needs_spatial_engine() -> None:
    # Maps run their layers' SQL (ST_AsBinary, &&) on LocalCarto's DuckDB + spatial engine.
    pytest.importorskip("carto_async.testing.engine", reason="needs LocalCarto's engine")


@pytest.mark.parametrize("code", _python_examples())
def test_python_example_runs(code: str, workdir: Path) -> None:
    if "carto.maps." in code:
        _needs_spatial_engine()
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("line", _commands())
def test_cli_example_runs(line: str, workdir: Path) -> None:
    args = shlex.split(line)[1:]
    if args[0] == "map":
        _needs_spatial_engine()
    if args[0] in NOT_RUN_HERE:
        pytest.skip(f"carto-async {args[0]} is run by its own test")
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == EXPECTED_STATUS.get(line, 0), result.output
