"""The generated sync Maps API mirrors the async one, method for method."""

from __future__ import annotations

import inspect

import pytest

from carto_async import AsyncCarto, Carto
from carto_async._async.maps import AsyncImage, AsyncMaps, AsyncNamedMaps
from carto_async._sync.maps import Image, Maps, NamedMaps


def _methods(cls: type) -> dict[str, object]:
    return {
        name: value
        for name, value in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"), [(AsyncMaps, Maps), (AsyncNamedMaps, NamedMaps), (AsyncImage, Image)]
)
def test_every_async_maps_method_has_a_blocking_twin(async_cls: type, sync_cls: type) -> None:
    async_methods = _methods(async_cls)
    sync_methods = _methods(sync_cls)
    assert set(async_methods) == set(sync_methods)
    assert {"create", "update", "get", "delete", "list", "instantiate"} <= set(
        _methods(AsyncNamedMaps)
    )
    for name, method in async_methods.items():
        twin = sync_methods[name]
        params = [
            (p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()
        ]  # type: ignore[arg-type]
        twin_params = [
            (p.name, p.kind, p.default) for p in inspect.signature(twin).parameters.values()
        ]  # type: ignore[arg-type]
        assert params == twin_params, name
        assert not inspect.iscoroutinefunction(twin), name


def test_both_clients_have_maps() -> None:
    with Carto("demo", "key") as carto:
        assert isinstance(carto.maps, Maps)
        assert isinstance(carto.maps.named, NamedMaps)
    assert "maps" in inspect.getsource(AsyncCarto.__init__)
