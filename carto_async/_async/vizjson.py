"""viz.json: the maps users made in CARTO, read as data and drawn as images.

:func:`fetch_vizjson` reads a visualization's viz.json (by id, or by URL: a URL off the account
never gets the key) into a :class:`~carto_async.models.vizjson.VizJson`;
:class:`AsyncVizJsonImage` is CartoDB.js's ``cartodb.Image(vizjson, options)``: the map's
layers posted as an anonymous map to the viz.json's own Maps API, and a static image of it,
framed by the map's bounds unless told otherwise.

Example::

    vis = await carto.visualizations.vizjson(vis_id)
    png = await carto.maps.image(vis).size(600, 400).fetch()
    image = carto.maps.image(vis_id, basemap="#202020", override_bbox=True)
    await image.center(40.4, -3.7).zoom(6).save("madrid.png")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

import attrs

from carto_async._async.transport import Downloaded
from carto_async._core import maps as maps_core
from carto_async._core import vizjson as core
from carto_async.errors import ValidationError
from carto_async.models.maps import Layergroup
from carto_async.models.vizjson import BaseLayer, VizJson

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncVizJsonImage", "fetch_vizjson"]

#: Where a downloaded image goes: a path, or a binary file object.
Destination = str | os.PathLike[str] | IO[bytes]


async def fetch_vizjson(client: AsyncCarto, id_or_url: str, *, version: int = 3) -> VizJson:
    """The viz.json of a visualization: its id (``version`` 3 or 2 of the document) or a
    viz.json URL. The key goes only to the account's own URLs."""
    credentials = client.credentials
    spec = core.vizjson_request(
        id_or_url, credentials.base_url, version=version, with_key=bool(credentials.api_key)
    )
    response = await client._transport.request(spec)
    return core.parse_vizjson(response.body())


@attrs.define
class _Shared:
    """What every copy of one image shares: the viz.json and the layergroup, made once."""

    source: VizJson | str
    vizjson: VizJson | None = None
    layergroup: Layergroup | None = None
    endpoint: core.MapsEndpoint | None = None


class AsyncVizJsonImage:
    """A static image of a viz.json, as CartoDB.js's ``cartodb.Image(vizjson, options)``.

    ``basemap`` replaces the map's basemap (a tile URL template, a colour, or a viz.json
    layer); ``override_bbox`` frames by ``.center()``/``.zoom()`` (else the map's centre and
    zoom) instead of the map's bounds; ``no_cdn`` keeps :meth:`url` on the Maps API host
    rather than the CDN the server names. Each setter returns a new image; the viz.json and
    the anonymous map are fetched once and shared by the copies.

    Example::

        image = carto.maps.image(vis_id).size(800, 600)
        await image.save("map.png")
    """

    def __init__(
        self,
        client: AsyncCarto,
        source: VizJson | str,
        *,
        basemap: BaseLayer | Mapping[str, Any] | str | None = None,
        override_bbox: bool = False,
        no_cdn: bool = False,
        options: maps_core.ImageOptions | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        if not isinstance(source, VizJson | str):
            raise ValidationError(
                f"a viz.json image takes a VizJson, an id or a URL, got {type(source).__name__}"
            )
        self._client = client
        self._basemap = core.basemap_layer(basemap) if basemap is not None else None
        self._override_bbox = bool(override_bbox)
        self._no_cdn = bool(no_cdn)
        self.options = options or maps_core.ImageOptions()
        self._shared = _shared or _Shared(
            source, vizjson=source if isinstance(source, VizJson) else None
        )

    def __repr__(self) -> str:
        source = self._shared.source
        shown = source.id if isinstance(source, VizJson) else source
        return f"<{type(self).__name__} {shown!r}>"

    def _with(self, options: maps_core.ImageOptions) -> AsyncVizJsonImage:
        return AsyncVizJsonImage(
            self._client,
            self._shared.source,
            basemap=self._basemap,
            override_bbox=self._override_bbox,
            no_cdn=self._no_cdn,
            options=options,
            _shared=self._shared,
        )

    def size(self, width: int, height: int) -> AsyncVizJsonImage:
        """The image size in pixels (at most 8192 per side; default 320 x 240)."""
        return self._with(self.options.with_size(width, height))

    def center(self, lat: float, lng: float) -> AsyncVizJsonImage:
        """Centre the image on (lat, lng) in degrees (this replaces the map's bounds)."""
        return self._with(self.options.with_center(lat, lng))

    def zoom(self, zoom: int) -> AsyncVizJsonImage:
        """The zoom of a centred image (with the map's bounds, only under ``override_bbox``)."""
        return self._with(self.options.with_zoom(zoom))

    def bbox(self, west: float, south: float, east: float, north: float) -> AsyncVizJsonImage:
        """Show this bounding box (degrees) instead of the map's bounds."""
        return self._with(self.options.with_bbox(west, south, east, north))

    def format(self, fmt: str) -> AsyncVizJsonImage:
        """``png`` (default) or ``jpg``."""
        return self._with(self.options.with_format(fmt))

    def layers(self, layer: maps_core.LayerFilter | None) -> AsyncVizJsonImage:
        """Draw only these layers of the image's map (index 0 is the basemap)."""
        return self._with(self.options.with_layers(layer))

    async def vizjson(self) -> VizJson:
        """The viz.json (fetched the first time it is needed)."""
        shared = self._shared
        if shared.vizjson is None:
            assert isinstance(shared.source, str)
            shared.vizjson = await fetch_vizjson(self._client, shared.source)
        return shared.vizjson

    async def _layergroup(self) -> tuple[Layergroup, core.MapsEndpoint]:
        shared = self._shared
        vizjson = await self.vizjson()
        if shared.layergroup is None or shared.endpoint is None:
            fetched_from = shared.source if isinstance(shared.source, str) else None
            endpoint = core.maps_endpoint(
                vizjson, self._client.credentials.base_url, fetched_from=fetched_from
            )
            config = core.image_mapconfig(vizjson, self._basemap)
            spec = maps_core.create_request(config, secret=self._client.credentials.api_key)
            response = await self._client._transport.request(core.on_endpoint(spec, endpoint))
            shared.layergroup = maps_core.parse_layergroup(response.body())
            shared.endpoint = endpoint
        return shared.layergroup, shared.endpoint

    async def framing(self) -> maps_core.ImageOptions:
        """The options the image is drawn with once the map's own framing is filled in."""
        return core.frame(self.options, await self.vizjson(), override_bbox=self._override_bbox)

    async def _path(self) -> tuple[str, Layergroup, core.MapsEndpoint]:
        options = await self.framing()
        layergroup, endpoint = await self._layergroup()
        return options.layergroup_path(layergroup.layergroupid), layergroup, endpoint

    async def url(self) -> str:
        """The image URL (no key in it): on the CDN the server named, unless ``no_cdn``."""
        path, layergroup, endpoint = await self._path()
        credentials = self._client.credentials
        if layergroup.cdn_url is not None and not self._no_cdn:
            user = (await self.vizjson()).user_name or credentials.username
            return maps_core.tile_url(
                endpoint.root,
                user,
                path,
                cdn=layergroup.cdn_url,
                https=endpoint.root.startswith("https:"),
            )
        return endpoint.root + path

    async def fetch(self) -> bytes:
        """The image bytes (PNG or JPEG), read as they arrive."""
        path, _, endpoint = await self._path()
        spec = core.on_endpoint(core.static_image_request(path), endpoint)
        chunks: list[bytes] = []
        async with self._client._transport.stream(spec) as response:
            async for chunk in response:
                chunks.append(chunk)
        return b"".join(chunks)

    async def save(self, destination: Destination) -> Downloaded:
        """Stream the image into ``destination`` (a path, written under a temporary name and
        renamed when complete, or a binary file object)."""
        path, _, endpoint = await self._path()
        spec = core.on_endpoint(core.static_image_request(path), endpoint)
        return await self._client._transport.download(spec, destination)
