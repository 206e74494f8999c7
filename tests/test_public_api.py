"""The public surface: __all__, the sync twin of every async method, no coroutine leaks."""

from __future__ import annotations

import enum
import importlib
import inspect
import pickle
import pkgutil
import re

import pytest

import carto_async
import carto_async._async
from carto_async._async.imports import AsyncImportJob
from carto_async._sync.imports import ImportJob


def _pairs() -> list[tuple[type, type]]:
    """Every public ``Async*`` class of ``carto_async/_async`` and its generated twin."""
    out = []
    for info in pkgutil.iter_modules(carto_async._async.__path__):
        if info.name in ("_concurrency", "_aiohttp"):
            continue  # a hand-written twin; an asyncio-only transport with no twin
        module = importlib.import_module(f"carto_async._async.{info.name}")
        twin_module = importlib.import_module(f"carto_async._sync.{info.name}")
        for name, cls in vars(module).items():
            match = re.fullmatch(r"(_?)Async(\w+)", name)
            if match and isinstance(cls, type) and name in getattr(module, "__all__", ()):
                out.append((cls, getattr(twin_module, match[1] + match[2])))
    return out


PAIRS = _pairs()
ASYNC_ONLY = {"__await__", "__aenter__", "__aexit__", "aclose"}
RENAMED = {"__aenter__": "__enter__", "__aexit__": "__exit__", "aclose": "close"}


def test_all_is_complete_and_sorted() -> None:
    public = {
        n
        for n in dir(carto_async)
        if not n.startswith("_") and not inspect.ismodule(getattr(carto_async, n))
    }
    assert set(carto_async.__all__) - {"__version__"} == public
    # ruff's RUF022 order: CONSTANT_CASE, then CamelCase, then the rest.
    assert carto_async.__all__ == sorted(
        carto_async.__all__, key=lambda n: (not n.isupper(), not n[:1].isupper(), n)
    )


def _public_methods(cls: type) -> dict[str, object]:
    out = {}
    for name, value in inspect.getmembers(cls):
        if name.startswith("_") and name not in ASYNC_ONLY | set(RENAMED.values()):
            continue
        if inspect.isfunction(value):
            out[name] = value
    return out


def _normalise(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_the_pairs_are_discovered() -> None:
    names = {(a.__name__, s.__name__) for a, s in PAIRS}
    assert {("AsyncCarto", "Carto"), ("AsyncImportJob", "ImportJob"), ("AsyncSQL", "SQL")} <= names
    assert len(PAIRS) >= 6


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
def test_every_async_method_has_a_sync_twin_with_the_same_signature(
    async_cls: type, sync_cls: type
) -> None:
    sync_methods = _public_methods(sync_cls)
    for name, method in _public_methods(async_cls).items():
        if name == "__await__":
            continue
        twin = sync_methods.get(RENAMED.get(name, name))
        assert twin is not None, f"{sync_cls.__name__} lacks {name}"
        assert _normalise(inspect.signature(method)) == _normalise(  # type: ignore[arg-type]
            inspect.signature(twin)
        ), name  # type: ignore[arg-type]
        assert not inspect.iscoroutinefunction(twin), f"{sync_cls.__name__}.{name} is async"
        assert not inspect.isasyncgenfunction(twin), f"{sync_cls.__name__}.{name} is async"


def test_sync_jobs_are_not_awaitable() -> None:
    assert not hasattr(ImportJob, "__await__")
    assert hasattr(AsyncImportJob, "__await__")


def test_exceptions_report_the_public_module() -> None:
    assert repr(carto_async.ImportFailed("x")).startswith("ImportFailed(")
    assert carto_async.ImportFailed.__module__ == "carto_async"


@pytest.mark.parametrize("name", [n for n in carto_async.__all__ if n != "__version__"])
def test_every_public_name_reports_the_public_module(name: str) -> None:
    obj = getattr(carto_async, name)
    if not isinstance(obj, type):
        return  # type aliases (UploadSource, ProgressCallback) have no module of their own
    assert obj.__module__ == "carto_async", name
    if not issubclass(obj, enum.Enum):  # an Enum class's repr is "<enum 'Privacy'>"
        assert repr(obj) == f"<class 'carto_async.{name}'>"


def test_public_objects_pickle_by_their_public_name() -> None:
    assert pickle.loads(pickle.dumps(carto_async.Privacy.PUBLIC)) is carto_async.Privacy.PUBLIC
    policy = carto_async.PollPolicy(initial=2)
    assert pickle.loads(pickle.dumps(policy)) == policy
    assert b"carto_async._core" not in pickle.dumps(policy)


def test_resource_classes_and_upload_source_are_exported() -> None:
    for name in ("AsyncImports", "Imports", "AsyncSQL", "SQL", "AsyncJobs", "Jobs"):
        assert name in carto_async.__all__
    assert "UploadSource" in carto_async.__all__
    assert bytes in carto_async.UploadSource.__args__  # type: ignore[attr-defined]


def test_the_version_lives_in_its_own_module() -> None:
    from carto_async import _version  # noqa: PLC0415

    assert carto_async.__version__ == _version.__version__
    # The transport takes it from there, not from the package being imported.
    source = inspect.getsource(importlib.import_module("carto_async._async.transport"))
    assert "from carto_async import __version__" not in source
