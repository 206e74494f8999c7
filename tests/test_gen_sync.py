"""The sync generator: one generic rename, exceptions that must be used, prose that reads right,
and generated tests that keep their marks."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from pathlib import Path

import pytest

import tests.async_tests
from carto_async._tools import gen_sync

ROOT = Path(__file__).resolve().parents[1]


def _convert(text: str, tmp_path: Path, used: Counter[str] | None = None) -> str:
    source = tmp_path / "example.py"
    source.write_text(text)
    return gen_sync._convert(
        source, "carto_async/_async/example.py", Counter() if used is None else used
    )


def test_the_generic_rule_renames_any_async_class(tmp_path: Path) -> None:
    used: Counter[str] = Counter()
    out = _convert(
        '"""Uses AsyncExportJob and _AsyncHelper."""\n\n'
        "class AsyncExportJob:\n    pass\n\n\nclass _AsyncHelper(AsyncExportJob):\n    pass\n",
        tmp_path,
        used,
    )
    assert "class ExportJob:" in out
    assert "class _Helper(ExportJob):" in out
    assert '"""Uses ExportJob and _Helper."""' in out
    assert used["generic Async*"] == 3


def test_exceptions_win_over_the_generic_rule(tmp_path: Path) -> None:
    out = _convert(
        "import httpx\n\n\nclass S(httpx.AsyncByteStream):\n"
        "    async def aclose(self) -> None:\n        pass\n",
        tmp_path,
    )
    assert "class S(httpx.SyncByteStream):" in out
    assert "def close(self) -> None:" in out


def test_prose_reads_right_once_generated(tmp_path: Path) -> None:
    out = _convert(
        '"""``AsyncCarto``: the async client. Use it as an async context manager.\n\n'
        "    status = await job.wait()\n"
        '"""\n',
        tmp_path,
    )
    assert "the blocking client" in out
    assert "Use it as a context manager" in out
    assert "an context" not in out
    assert "status = job.wait()" in out


def test_awaiting_a_bare_job_in_prose_is_refused() -> None:
    problems = gen_sync._lint('"""\n    status = await job\n"""\n', "x.py")
    assert problems == [
        "x.py:2: awaits a bare object; the sync twin would read 'x = job': write 'await job.wait()'"
    ]
    assert gen_sync._lint("status = await job.wait()  # fine\n", "x.py") == []
    assert gen_sync.lint_sources() == []


def test_a_rule_that_nothing_uses_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    used = Counter({"generic Async*": 1})
    used.update(f"token {n}" for n in gen_sync.EXCEPTIONS)
    used.update(f"text {p.pattern}" for p, _ in gen_sync.TEXT_RULES)
    assert gen_sync.unused_rules(used) == []
    monkeypatch.setitem(gen_sync.EXCEPTIONS, "AsyncNeverWritten", "NeverWritten")
    assert gen_sync.unused_rules(used) == ["token AsyncNeverWritten"]


@pytest.mark.slow
def test_the_generated_tree_is_current_and_every_rule_is_used(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert gen_sync.main(["--check"]) == 0
    assert "no source used" not in capsys.readouterr().err


def _marks(module: object) -> set[str]:
    marks = getattr(module, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    return {m.name for m in marks} - {"anyio"}


@pytest.mark.parametrize(
    "name",
    [
        m.name
        for m in pkgutil.iter_modules(tests.async_tests.__path__)
        # test_aiohttp_backend runs an asyncio-only transport: it has no sync twin.
        if m.name.startswith("test_") and m.name != "test_aiohttp_backend"
    ],
)
def test_generated_tests_keep_their_marks(name: str) -> None:
    async_module = importlib.import_module(f"tests.async_tests.{name}")
    sync_module = importlib.import_module(f"tests.sync_tests.{name}")
    assert _marks(sync_module) == _marks(async_module)


def test_socket_tests_are_marked_integration_in_both_suites() -> None:
    for suite in ("async_tests", "sync_tests"):
        for name in ("test_integration", "test_resilience", "test_streams_integration"):
            module = importlib.import_module(f"tests.{suite}.{name}")
            assert "integration" in _marks(module), f"{suite}.{name}"
