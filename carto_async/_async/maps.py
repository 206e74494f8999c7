"""The Maps API (``carto.maps``): anonymous maps, named maps, tiles and static images.

The SDK always POSTs MapConfigs and template parameters as JSON with the key in a Basic auth
header. The ``GET /map?config=`` form and its JSONP / ``lzma`` variants are browser features:
a ``<script>`` tag cannot POST across origins, so browsers pack the map into a URL. They would
put the whole MapConfig (and, with it, the key) in URLs that proxies and logs keep, cap the map
at the URL length limit, and JSONP answers every error with a 200; a POST has none of that.

Tiles and images are GETs whose bodies are streamed (:meth:`AsyncMaps.save_tile` and
:meth:`AsyncImage.save` write them to disk as they arrive); an empty vector tile (204) is an
empty tile. :meth:`AsyncMaps.tiles` fetches many tiles at once under the client's limits.

Example::

    group = await carto.maps.create(config)
    png = await carto.maps.tile(group, 0, 0, 0)
    grid = await carto.maps.grid(group, 0, 0, 0, layer=0)
    pngs = await carto.maps.tiles(group, [(1, 0, 0), (1, 1, 0)])
    await carto.maps.image(group).bbox(-10, 35, 5, 44).size(600, 400).save("map.png")
"""

from __future__ import annotations

import builtins
import functools
import os
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlencode

from carto_async._async import _concurrency
from carto_async._async.transport import Downloaded
from carto_async._core import maps as core
from carto_async._core.http import RequestSpec
from carto_async.errors import ValidationError
from carto_async.models.maps import Layergroup, MapConfig, Template, TorqueCell, UTFGrid

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto
    from carto_async._async.vizjson import AsyncVizJsonImage
    from carto_async.models.vizjson import BaseLayer, VizJson

__all__ = ["AsyncImage", "AsyncLayergroupTiles", "AsyncMaps", "AsyncNamedMaps"]

#: A tile's coordinates: (z, x, y).
TileCoords = tuple[int, int, int]
#: Where a downloaded body goes: a path, or a binary file object.
Destination = str | os.PathLike[str] | IO[bytes]


def _layergroup_id(layergroup: Layergroup | str) -> str:
    return layergroup.layergroupid if isinstance(layergroup, Layergroup) else layergroup


class AsyncNamedMaps:
    """Named maps (``carto.maps.named``): templates kept on the server, instantiated with
    parameters. Creating, changing, reading and listing them needs the master key.

    Example::

        await carto.maps.named.create(template)
        group = await carto.maps.named.instantiate("stores", {"color": "#f00"}, auth_token="t")
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def create(self, template: Template | Mapping[str, Any]) -> str:
        """Store ``template``; returns its name. Every problem is reported before sending,
        and a template containing your API key is refused."""
        spec = core.named_create_request(template, secret=self._client.credentials.api_key)
        response = await self._client._transport.request(spec)
        return core.parse_template_id(response.body())

    async def update(
        self, template: Template | Mapping[str, Any], *, name: str | None = None
    ) -> str:
        """Replace the template called ``name`` (default: the template's own name)."""
        spec = core.named_update_request(
            template, name=name, secret=self._client.credentials.api_key
        )
        response = await self._client._transport.request(spec)
        return core.parse_template_id(response.body())

    async def get(self, name: str) -> Template:
        """The stored template (with the server's defaults filled in)."""
        response = await self._client._transport.request(core.named_get_request(name))
        return core.parse_template(response.body())

    async def delete(self, name: str) -> None:
        """Delete the template; a missing one raises :class:`~carto_async.NotFoundError`."""
        await self._client._transport.request(core.named_delete_request(name))

    async def list(self) -> builtins.list[str]:
        """The names of the account's templates."""
        response = await self._client._transport.request(core.named_list_request())
        return core.parse_template_ids(response.body())

    async def instantiate(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        auth_token: str | None = None,
        template: Template | None = None,
    ) -> Layergroup:
        """A map instance of the template, with ``params`` filling its placeholders (missing
        ones take their defaults). ``auth_token`` is needed for token-protected templates;
        pass the ``template`` to have parameter types checked before sending."""
        spec = core.named_instantiate_request(
            name, params, auth_token=auth_token, template=template
        )
        response = await self._client._transport.request(spec)
        return core.parse_layergroup(response.body())


class AsyncImage:
    """A static image of a map, built like CartoDB.js's ``cartodb.Image(source)``.

    The source is a MapConfig (created as an anonymous map when the URL is first needed), a
    :class:`Layergroup`, or a named map (with its params and auth token). Each setter returns
    a new image; sizes and formats are checked as they are set.

    Example::

        image = carto.maps.image(config).size(600, 400).center(40.4, -3.7).zoom(6)
        url = await image.url()
    """

    def __init__(
        self,
        maps: AsyncMaps,
        source: MapConfig | Mapping[str, Any] | Layergroup | None = None,
        *,
        named: str | None = None,
        params: Mapping[str, Any] | None = None,
        auth_token: str | None = None,
        options: core.ImageOptions | None = None,
    ) -> None:
        if (source is None) == (named is None):
            raise ValidationError("give an image either a map source or named=")
        if named is not None:
            core.check_template_name(named)
        self._maps = maps
        self._source = source
        self._named = named
        self._params = dict(params) if params is not None else None
        self._auth_token = auth_token
        self.options = options or core.ImageOptions()

    def _with(self, options: core.ImageOptions) -> AsyncImage:
        return AsyncImage(
            self._maps,
            self._source,
            named=self._named,
            params=self._params,
            auth_token=self._auth_token,
            options=options,
        )

    def size(self, width: int, height: int) -> AsyncImage:
        """The image size in pixels (at most 8192 per side; default 320 x 240)."""
        return self._with(self.options.with_size(width, height))

    def center(self, lat: float, lng: float) -> AsyncImage:
        """Centre the image on (lat, lng) in degrees."""
        return self._with(self.options.with_center(lat, lng))

    def zoom(self, zoom: int) -> AsyncImage:
        """The zoom of a centred image."""
        return self._with(self.options.with_zoom(zoom))

    def bbox(self, west: float, south: float, east: float, north: float) -> AsyncImage:
        """Show this bounding box (degrees) instead of a centre and zoom."""
        return self._with(self.options.with_bbox(west, south, east, north))

    def format(self, fmt: str) -> AsyncImage:
        """``png`` (default) or ``jpg``."""
        return self._with(self.options.with_format(fmt))

    def layers(self, layer: core.LayerFilter | None) -> AsyncImage:
        """Draw only these layers (indexes or ids)."""
        return self._with(self.options.with_layers(layer))

    async def url(self) -> str:
        """The image URL (no key in it). A MapConfig source is created as an anonymous map
        the first time, and the layergroup is reused after that."""
        if self._named is not None:
            path = self.options.named_path(self._named, self._params, self._auth_token)
            return self._maps._client.credentials.url(path)
        source = self._source
        if not isinstance(source, Layergroup):
            assert source is not None
            source = await self._maps.create(source)
            self._source = source
        path = self.options.layergroup_path(source.layergroupid)
        if self._auth_token is not None:
            path += ("&" if "?" in path else "?") + urlencode({"auth_token": self._auth_token})
        return self._maps._client.credentials.url(path)

    async def _spec(self) -> RequestSpec:
        if self._named is not None:
            path = self.options.named_path(self._named, self._params, self._auth_token)
            return core.static_request(path)
        source = self._source
        if not isinstance(source, Layergroup):
            assert source is not None
            source = await self._maps.create(source)
            self._source = source
        return core.static_request(
            self.options.layergroup_path(source.layergroupid), auth_token=self._auth_token
        )

    async def fetch(self) -> bytes:
        """The image bytes (PNG or JPEG), read as they arrive."""
        return await self._maps._fetch(await self._spec())

    async def save(self, destination: Destination) -> Downloaded:
        """Stream the image into ``destination`` (a path, written under a temporary name and
        renamed when complete, or a binary file object)."""
        return await self._maps._client._transport.download(await self._spec(), destination)


class AsyncLayergroupTiles:
    """One layergroup's tiles, grids, Torque cells, attributes and images (from
    :meth:`AsyncMaps.layergroup`); each method is the :class:`AsyncMaps` one for this group."""

    def __init__(
        self, maps: AsyncMaps, layergroup: Layergroup | str, *, auth_token: str | None = None
    ) -> None:
        self._maps = maps
        self.layergroup = layergroup
        self._auth_token = auth_token

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_layergroup_id(self.layergroup)}>"

    async def tile(
        self,
        z: int,
        x: int,
        y: int,
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
    ) -> bytes:
        """The bytes of one tile (``b""`` for an empty vector tile)."""
        return await self._maps.tile(
            self.layergroup,
            z,
            x,
            y,
            fmt=fmt,
            layer=layer,
            scale=scale,
            auth_token=self._auth_token,
        )

    async def save_tile(
        self,
        z: int,
        x: int,
        y: int,
        destination: Destination,
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
    ) -> Downloaded:
        """Stream one tile into ``destination``."""
        return await self._maps.save_tile(
            self.layergroup,
            z,
            x,
            y,
            destination,
            fmt=fmt,
            layer=layer,
            scale=scale,
            auth_token=self._auth_token,
        )

    async def grid(self, z: int, x: int, y: int, *, layer: core.LayerFilter = 0) -> UTFGrid:
        """The parsed ``grid.json`` tile of a layer."""
        return await self._maps.grid(
            self.layergroup, z, x, y, layer=layer, auth_token=self._auth_token
        )

    async def torque(
        self, z: int, x: int, y: int, *, layer: core.LayerFilter = 0
    ) -> tuple[TorqueCell, ...]:
        """The cells of a Torque layer's tile."""
        return await self._maps.torque(
            self.layergroup, z, x, y, layer=layer, auth_token=self._auth_token
        )

    async def tiles(
        self,
        coords: Sequence[TileCoords],
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
        concurrency: int | None = None,
    ) -> builtins.list[bytes]:
        """Many tiles at once, in the order of ``coords``."""
        return await self._maps.tiles(
            self.layergroup,
            coords,
            fmt=fmt,
            layer=layer,
            scale=scale,
            auth_token=self._auth_token,
            concurrency=concurrency,
        )

    async def attributes(self, layer: int, feature_id: int | str) -> dict[str, Any]:
        """The configured attribute columns of one feature."""
        return await self._maps.attributes(self.layergroup, layer, feature_id)

    def image(self) -> AsyncImage:
        """A static image builder for this layergroup (with its ``auth_token``)."""
        group = self.layergroup
        source = group if isinstance(group, Layergroup) else Layergroup(layergroupid=group)
        return AsyncImage(self._maps, source, auth_token=self._auth_token)


class AsyncMaps:
    """Maps from your data: anonymous layergroups from a MapConfig, named maps, and the URLs
    of their tiles and static images.

    Example::

        config = MapConfig(layers=[MapnikLayer(sql="select * from stores",
                                               cartocss="#l { marker-fill: #f00; }")])
        group = await carto.maps.create(config)
        url = carto.maps.tile_url(group, 3, 4, 2)
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client
        self.named = AsyncNamedMaps(client)

    async def create(self, config: MapConfig | Mapping[str, Any]) -> Layergroup:
        """Create an anonymous map (a layergroup); the same config gives the same layergroup.

        The key goes in a header, never into the body. Anonymous layergroups expire 2 hours
        after their last use: then their tiles raise an error saying to create them again.
        """
        spec = core.create_request(config, secret=self._client.credentials.api_key)
        response = await self._client._transport.request(spec)
        return core.parse_layergroup(response.body())

    async def attributes(
        self, layergroup: Layergroup | str, layer: int, feature_id: int | str
    ) -> dict[str, Any]:
        """The configured ``attributes`` columns of one feature of a layer."""
        spec = core.attributes_request(_layergroup_id(layergroup), layer, feature_id)
        response = await self._client._transport.request(spec)
        body = response.body()
        return dict(body) if isinstance(body, Mapping) else {}

    async def _fetch(self, spec: RequestSpec) -> bytes:
        chunks: builtins.list[bytes] = []
        async with self._client._transport.stream(spec) as response:
            async for chunk in response:
                chunks.append(chunk)
            status = response.status_code
        return core.tile_content(status, b"".join(chunks))

    async def tile(
        self,
        layergroup: Layergroup | str,
        z: int,
        x: int,
        y: int,
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
        auth_token: str | None = None,
    ) -> bytes:
        """The bytes of one tile (``png``, ``png32``, ``mvt``, ``grid.json``,
        ``torque.json``), streamed; an empty vector tile (204) is ``b""``. ``layer`` picks
        layers (an index, ids, ``"all"``); ``scale`` asks for retina PNGs; ``auth_token`` is
        for instances of token-protected named maps. Everything is checked before sending."""
        spec = core.tile_request(
            _layergroup_id(layergroup),
            z,
            x,
            y,
            fmt=fmt,
            layer=layer,
            scale=scale,
            auth_token=auth_token,
        )
        return await self._fetch(spec)

    async def save_tile(
        self,
        layergroup: Layergroup | str,
        z: int,
        x: int,
        y: int,
        destination: Destination,
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
        auth_token: str | None = None,
    ) -> Downloaded:
        """Stream one tile into ``destination`` (a path or a binary file object); a path
        only takes its name once the tile is complete."""
        spec = core.tile_request(
            _layergroup_id(layergroup),
            z,
            x,
            y,
            fmt=fmt,
            layer=layer,
            scale=scale,
            auth_token=auth_token,
        )
        return await self._client._transport.download(spec, destination)

    async def grid(
        self,
        layergroup: Layergroup | str,
        z: int,
        x: int,
        y: int,
        *,
        layer: core.LayerFilter = 0,
        auth_token: str | None = None,
    ) -> UTFGrid:
        """The ``grid.json`` tile of a layer, parsed: ``grid.data_at(px, py)`` gives the
        interactivity columns of the feature under a pixel."""
        spec = core.tile_request(
            _layergroup_id(layergroup),
            z,
            x,
            y,
            fmt="grid.json",
            layer=layer,
            auth_token=auth_token,
        )
        response = await self._client._transport.request(spec)
        return core.parse_grid(response.body())

    async def torque(
        self,
        layergroup: Layergroup | str,
        z: int,
        x: int,
        y: int,
        *,
        layer: core.LayerFilter = 0,
        auth_token: str | None = None,
    ) -> tuple[TorqueCell, ...]:
        """The cells of a Torque layer's ``torque.json`` tile."""
        spec = core.tile_request(
            _layergroup_id(layergroup),
            z,
            x,
            y,
            fmt="torque.json",
            layer=layer,
            auth_token=auth_token,
        )
        response = await self._client._transport.request(spec)
        return core.parse_torque(response.body())

    async def tiles(
        self,
        layergroup: Layergroup | str,
        coords: Sequence[TileCoords],
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
        auth_token: str | None = None,
        concurrency: int | None = None,
    ) -> builtins.list[bytes]:
        """Many tiles of one layergroup, fetched concurrently; the bytes come back in the
        order of ``coords`` ((z, x, y) each). At most ``concurrency`` requests run at once
        (default: as many as the client's connection limits let through). Every coordinate
        is checked before anything is sent; the first failure is raised once all are done."""
        group = _layergroup_id(layergroup)
        specs = [
            core.tile_request(
                group, z, x, y, fmt=fmt, layer=layer, scale=scale, auth_token=auth_token
            )
            for z, x, y in coords
        ]
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ValidationError(f"concurrency must be a positive integer, got {concurrency!r}")
        results = await _concurrency.gather(
            [functools.partial(self._fetch, spec) for spec in specs], limit=concurrency
        )
        tiles: builtins.list[bytes] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            tiles.append(result)
        return tiles

    def layergroup(
        self, layergroup: Layergroup | str, *, auth_token: str | None = None
    ) -> AsyncLayergroupTiles:
        """The tiles, grids and attributes of one layergroup, without naming it each time::

        tiles = carto.maps.layergroup(group)
        png = await tiles.tile(3, 4, 2)
        """
        return AsyncLayergroupTiles(self, layergroup, auth_token=auth_token)

    def tile_url(
        self,
        layergroup: Layergroup | str,
        z: int,
        x: int,
        y: int,
        *,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        scale: int = 1,
        use_cdn: bool = True,
    ) -> str:
        """The URL of one tile (``png``, ``png32``, ``mvt``, ``grid.json``, ``torque.json``),
        on the layergroup's CDN when it named one. The URL carries no key."""
        path = core.tile_path(
            _layergroup_id(layergroup), z, x, y, fmt=fmt, layer=layer, scale=scale
        )
        cdn = layergroup.cdn_url if isinstance(layergroup, Layergroup) and use_cdn else None
        credentials = self._client.credentials
        return core.tile_url(
            credentials.base_url,
            credentials.username,
            path,
            cdn=cdn,
            https=credentials.base_url.startswith("https:"),
            subdomain_seed=x + y,
        )

    def static_url(
        self,
        layergroup: Layergroup | str,
        *,
        width: int,
        height: int,
        zoom: int | None = None,
        center: tuple[float, float] | None = None,
        bbox: Sequence[float] | None = None,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
    ) -> str:
        """The URL of a static image of a layergroup: by ``center`` (lat, lng) with ``zoom``,
        or by ``bbox`` (west, south, east, north in degrees). Sizes are checked against the
        server's 8192 px limit. The URL carries no key."""
        group = _layergroup_id(layergroup)
        if (bbox is None) == (center is None):
            raise ValidationError("give either center= (with zoom=) or bbox=")
        if center is not None:
            if zoom is None:
                raise ValidationError("a static image by center needs zoom=")
            path = core.static_center_path(
                group,
                zoom=zoom,
                lat=center[0],
                lng=center[1],
                width=width,
                height=height,
                fmt=fmt,
                layer=layer,
            )
        else:
            assert bbox is not None
            path = core.static_bbox_path(
                group, bbox=bbox, width=width, height=height, fmt=fmt, layer=layer
            )
        return self._client.credentials.url(path)

    def image(
        self,
        source: MapConfig | Mapping[str, Any] | Layergroup,
        *,
        auth_token: str | None = None,
    ) -> AsyncImage:
        """A static image builder for a MapConfig or a layergroup (see :class:`AsyncImage`);
        ``auth_token`` for an instance of a token-protected named map."""
        return AsyncImage(self, source, auth_token=auth_token)

    def named_image(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        auth_token: str | None = None,
    ) -> AsyncImage:
        """A static image builder for a named map, with its params and auth token."""
        return AsyncImage(self, named=name, params=params, auth_token=auth_token)

    def named_static_url(
        self,
        name: str,
        *,
        width: int,
        height: int,
        zoom: int | None = None,
        center: tuple[float, float] | None = None,
        bbox: Sequence[float] | None = None,
        fmt: str = "png",
        layer: core.LayerFilter | None = None,
        params: Mapping[str, Any] | None = None,
        auth_token: str | None = None,
    ) -> str:
        """The URL of a static image of a named map: ``zoom`` with ``center``, else ``bbox``,
        else the template's ``view``, else the extent of its data."""
        path = core.static_named_path(
            name,
            width=width,
            height=height,
            fmt=fmt,
            zoom=zoom,
            center=center,
            bbox=bbox,
            layer=layer,
            params=params,
            auth_token=auth_token,
        )
        return self._client.credentials.url(path)

    def vizjson_image(
        self,
        source: VizJson | str,
        *,
        basemap: BaseLayer | Mapping[str, Any] | str | None = None,
        override_bbox: bool = False,
        no_cdn: bool = False,
    ) -> AsyncVizJsonImage:
        """A static image of a map made in CARTO, from its viz.json (a :class:`VizJson`, a
        visualization id or a viz.json URL), as CartoDB.js's ``cartodb.Image(vizjson,
        options)``: framed by the map's bounds; ``basemap`` replaces its basemap (a tile URL
        template, a colour, or a viz.json layer); ``override_bbox`` frames by ``.center()``
        and ``.zoom()`` instead; ``no_cdn`` keeps ``url()`` off the CDN. See
        :class:`AsyncVizJsonImage`."""
        # Imported here: the viz.json module is a room of its own that builds on this one.
        from carto_async._async.vizjson import AsyncVizJsonImage  # noqa: PLC0415

        return AsyncVizJsonImage(
            self._client, source, basemap=basemap, override_bbox=override_bbox, no_cdn=no_cdn
        )
