"""Visualizations and tables over a mocked wire (respx)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from carto_async import AsyncCarto, NotFoundError, ValidationError
from carto_async.models.visualizations import VisualizationType
from tests.helpers import BASE_URL, KEY

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

VIZ_URL = f"{BASE_URL}/api/v1/viz"
VIS_ID = "9a0f4384-afe3-412a-8b09-136b7d9a4013"
TABLE_ID = "0c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c"


def vis_body(vis_type: str = "derived", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": VIS_ID,
        "name": "Stores map",
        "type": vis_type,
        "privacy": "PUBLIC",
        "tags": None,
        "description": None,
        "map_id": "m1",
        "created_at": "2016-05-20T07:01:38.123Z",
        "updated_at": "2016-05-20T07:01:38.123Z",
        "layers": [{"kind": "carto"}],
        "related_tables": [{"id": TABLE_ID, "name": "stores", "privacy": "public", "row_count": 3}],
    }
    body.update(extra)
    return body


async def test_list_filters_by_type_and_pages(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(VIZ_URL).mock(
        return_value=httpx.Response(200, json={"visualizations": [vis_body()], "total_entries": 1})
    )
    maps = await carto.visualizations.list(type=VisualizationType.DERIVED, page=2, per_page=5)
    params = route.calls.last.request.url.params
    assert params["type"] == "derived"
    assert params["page"] == "2"
    assert params["per_page"] == "5"
    assert params["api_key"] == KEY
    assert [m.name for m in maps] == ["Stores map"]
    assert maps[0].table_names == ["stores"]
    assert maps[0].tags == []
    assert maps[0].raw["layers"] == [{"kind": "carto"}]
    await carto.visualizations.list(type="derived,table")
    assert route.calls.last.request.url.params["types"] == "derived,table"
    with pytest.raises(ValidationError, match="page"):
        await carto.visualizations.list(page=0)


async def test_get_delete_and_table(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{VIZ_URL}/{VIS_ID}").mock(return_value=httpx.Response(200, json=vis_body()))
    vis = await carto.visualizations.get(VIS_ID)
    assert vis.id == VIS_ID
    assert vis.type == "derived"
    assert vis.privacy == "PUBLIC"
    delete = respx_mock.delete(f"{VIZ_URL}/{VIS_ID}").mock(return_value=httpx.Response(204))
    await carto.visualizations.delete(VIS_ID)
    assert delete.called
    respx_mock.get(f"{BASE_URL}/api/v1/tables/{TABLE_ID}").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": TABLE_ID,
                "name": "stores",
                "privacy": "PUBLIC",
                "row_count": 3,
                "table_visualization": vis_body("table", name="stores"),
            },
        )
    )
    table = await carto.visualizations.table(TABLE_ID)
    assert table.name == "stores"
    assert table.row_count == 3
    assert table.table_visualization is not None
    assert table.table_visualization.type == "table"


async def test_unknown_ids_and_bad_ids(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{VIZ_URL}/{VIS_ID}").mock(return_value=httpx.Response(404))
    with pytest.raises(NotFoundError, match=f"no visualization with id {VIS_ID}"):
        await carto.visualizations.get(VIS_ID)
    with pytest.raises(ValidationError):
        await carto.visualizations.delete("x/../y")
    with pytest.raises(ValidationError):
        await carto.visualizations.table("")
