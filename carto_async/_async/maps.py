"""The Maps API (``carto.maps``): anonymous maps, named maps, tile and image URLs.

The SDK always POSTs MapConfigs and template parameters as JSON with the key in a Basic auth
header. The ``GET /map?config=`` form and its JSONP / ``lzma`` variants are for browsers that
cannot POST across origins; they would put the whole map and the key in a URL.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from carto_async._core import maps as core
from carto_async.errors import ValidationError
from carto_async.models.maps import Layergroup, MapConfig, Template

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto
    from carto_async._async.vizjson import AsyncVizJsonImage
    from carto_async.models.vizjson import BaseLayer, VizJson

__all__ = ["AsyncImage", "AsyncMaps", "AsyncNamedMaps"]


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
        return self._maps._client.credentials.url(self.options.layergroup_path(source.layergroupid))


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

    def image(self, source: MapConfig | Mapping[str, Any] | Layergroup) -> AsyncImage:
        """A static image builder for a MapConfig or a layergroup (see :class:`AsyncImage`)."""
        return AsyncImage(self, source)

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
