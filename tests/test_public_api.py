"""The public surface: __all__, the sync twin of every async method, no coroutine leaks."""

from __future__ import annotations

import inspect

import pytest

import carto_async
from carto_async._async.api_keys import AsyncApiKeys
from carto_async._async.client import AsyncCarto
from carto_async._async.imports import AsyncImportJob, AsyncImports
from carto_async._async.jobs import AsyncJob, AsyncJobs
from carto_async._async.sql import AsyncSQL
from carto_async._sync.api_keys import ApiKeys
from carto_async._sync.client import Carto
from carto_async._sync.imports import ImportJob, Imports
from carto_async._sync.jobs import Job, Jobs
from carto_async._sync.sql import SQL

PAIRS = [
    (AsyncApiKeys, ApiKeys),
    (AsyncCarto, Carto),
    (AsyncImports, Imports),
    (AsyncImportJob, ImportJob),
    (AsyncJob, Job),
    (AsyncJobs, Jobs),
    (AsyncSQL, SQL),
]
ASYNC_ONLY = {"__await__", "__aenter__", "__aexit__", "aclose"}
RENAMED = {"__aenter__": "__enter__", "__aexit__": "__exit__", "aclose": "close"}


def test_all_is_complete_and_sorted() -> None:
    public = {
        n
        for n in dir(carto_async)
        if not n.startswith("_") and not inspect.ismodule(getattr(carto_async, n))
    }
    assert set(carto_async.__all__) - {"__version__"} == public
    assert carto_async.__all__ == sorted(carto_async.__all__, key=lambda n: (n.startswith("_"), n))


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


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
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
