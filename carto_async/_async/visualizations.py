"""Maps and datasets as the Rails visualization API shows them (``carto.visualizations``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carto_async._async.vizjson import fetch_vizjson
from carto_async._core import visualizations as core
from carto_async._core.http import RequestSpec
from carto_async.errors import NotFoundError
from carto_async.models.visualizations import Table, Visualization, VisualizationType
from carto_async.models.vizjson import VizJson

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto
    from carto_async._async.transport import Response

__all__ = ["AsyncVisualizations"]


class AsyncVisualizations:
    """Visualizations (``/api/v1/viz``) and tables (``/api/v1/tables``).

    Example::

        maps = await carto.visualizations.list(type="derived")
        table = await carto.visualizations.table(table_id)
        print(table.table_visualization.id)
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def _send(self, spec: RequestSpec, what: str) -> Response:
        try:
            return await self._client._transport.request(spec)
        except NotFoundError as exc:
            if exc.body is None or exc.message == "Not found":
                exc.message = f"no {what}"
                exc.args = (exc.message,)
            raise

    async def list(
        self,
        *,
        type: VisualizationType | str | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> list[Visualization]:
        """The account's visualizations, filtered by ``type`` (``"derived"``: maps,
        ``"table"``: datasets; several comma-separated), one page at a time."""
        kind = type.value if isinstance(type, VisualizationType) else type
        spec = core.list_request(type=kind, page=page, per_page=per_page)
        return core.parse_list((await self._send(spec, "visualizations")).body())

    async def get(self, visualization_id: str) -> Visualization:
        """One visualization (``NotFoundError`` for an unknown id)."""
        spec = core.get_request(visualization_id)
        response = await self._send(spec, f"visualization with id {visualization_id}")
        return core.parse_visualization(response.body())

    async def delete(self, visualization_id: str) -> None:
        """Delete a map (a dataset's table visualization deletes the table too, on CARTO)."""
        spec = core.delete_request(visualization_id)
        await self._send(spec, f"visualization with id {visualization_id}")

    async def vizjson(self, id_or_url: str, *, version: int = 3) -> VizJson:
        """The viz.json of a map (its id, or a viz.json URL: one off the account never gets
        the key): its layers as data, and ``to_mapconfig()``; draw it with
        ``carto.maps.vizjson_image(...)``. ``version`` 2 asks for the older document."""
        return await fetch_vizjson(self._client, id_or_url, version=version)

    async def table(self, table_id: str) -> Table:
        """A dataset by table id, with its ``table_visualization``."""
        response = await self._send(core.table_request(table_id), f"table with id {table_id}")
        return core.parse_table(response.body())
