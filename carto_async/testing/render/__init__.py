"""LocalCarto's renderer: CartoCSS layers drawn by Mapnik into PNG/JPEG images and UTFGrids.

The Maps handlers query a layer's features (geometry as WKB in EPSG:3857, plus attributes),
then call :func:`render_image` or :func:`render_grid` with the tile's box from
:func:`tile_bbox` (or, for static images, the box :func:`static_view` picks with the server's
precedence); Torque layers go through :func:`torque_settings`, :func:`torque_steps` and
:func:`torque_tile`, which aggregate points as Windshaft's torque renderer does (no Mapnik
needed). Mapnik, the renderer CARTO's Windshaft uses, is imported on first use; without it the
image and grid functions raise :class:`RendererUnavailable`, naming the ``render`` extra.

Example::

    from carto_async.testing.render import RenderLayer, render_image, tile_bbox

    layer = RenderLayer("#l { marker-fill: red; marker-width: 10; }", [(wkb, {"cartodb_id": 1})])
    png = render_image(layer, tile_bbox(3, 4, 2), 256, 256, zoom=3)

CartoCSS the renderer draws (everything else is ignored, not an error):

* markers: ``marker-fill``, ``-fill-opacity``, ``-opacity``, ``-width``, ``-height``,
  ``-line-color``, ``-line-width``, ``-line-opacity``, ``-allow-overlap``,
  ``-ignore-placement``, ``-placement``, ``-type`` (``ellipse``, ``arrow``), ``-comp-op``;
* lines: ``line-color``, ``-width``, ``-opacity``, ``-join``, ``-cap``, ``-dasharray``,
  ``-offset``, ``-comp-op``;
* polygons: ``polygon-fill``, ``-opacity``, ``-gamma``, ``-comp-op``;
* ``Map { background-color; buffer-size }``; variables; ``::attachments``; nested blocks;
  zoom filters (``[zoom >= 4]``) and value filters (``[kind = 'shop']``, ``[n > 3]``,
  ``[name =~ '^A.*']``) with CartoCSS's cascade.

Not supported: text and shield labels (``text-*``, ``shield-*``), patterns and images
(``*-pattern-file``, ``marker-file``, ``point-*``: LocalCarto never reads files named by a
style), ``building-*``, ``raster-*``, Torque properties (``-torque-*``), colour functions
(``lighten()``, ...), expressions in values, and ``[mapnik::geometry_type]`` filters.
"""

from carto_async.testing.render._cartocss import CartoCSSError as CartoCSSError
from carto_async.testing.render._cartocss import Stylesheet as Stylesheet
from carto_async.testing.render._cartocss import parse_cartocss as parse_cartocss
from carto_async.testing.render._mapnik import IMAGE_FORMATS as IMAGE_FORMATS
from carto_async.testing.render._mapnik import SUPPORTED_PROPERTIES as SUPPORTED_PROPERTIES
from carto_async.testing.render._mapnik import RendererUnavailable as RendererUnavailable
from carto_async.testing.render._mapnik import RenderLayer as RenderLayer
from carto_async.testing.render._mapnik import cartocss_problems as cartocss_problems
from carto_async.testing.render._mapnik import load_mapnik as load_mapnik
from carto_async.testing.render._mapnik import render_grid as render_grid
from carto_async.testing.render._mapnik import render_image as render_image
from carto_async.testing.render._static import StaticView as StaticView
from carto_async.testing.render._static import static_view as static_view
from carto_async.testing.render._static import visible_layers as visible_layers
from carto_async.testing.render._tiles import Bbox as Bbox
from carto_async.testing.render._tiles import bbox_around as bbox_around
from carto_async.testing.render._tiles import lnglat_bbox_to_mercator as lnglat_bbox_to_mercator
from carto_async.testing.render._tiles import lnglat_to_mercator as lnglat_to_mercator
from carto_async.testing.render._tiles import tile_bbox as tile_bbox
from carto_async.testing.render._tiles import wrap_tile_x as wrap_tile_x
from carto_async.testing.render._tiles import zoom_for_resolution as zoom_for_resolution
from carto_async.testing.render._torque import TorqueSettings as TorqueSettings
from carto_async.testing.render._torque import TorqueSteps as TorqueSteps
from carto_async.testing.render._torque import torque_settings as torque_settings
from carto_async.testing.render._torque import torque_steps as torque_steps
from carto_async.testing.render._torque import torque_tile as torque_tile
from carto_async.testing.render._wkb import WKBError as WKBError
from carto_async.testing.render._wkb import to_2d_wkb as to_2d_wkb

__all__ = [
    "IMAGE_FORMATS",
    "SUPPORTED_PROPERTIES",
    "Bbox",
    "CartoCSSError",
    "RenderLayer",
    "RendererUnavailable",
    "StaticView",
    "Stylesheet",
    "TorqueSettings",
    "TorqueSteps",
    "WKBError",
    "bbox_around",
    "cartocss_problems",
    "lnglat_bbox_to_mercator",
    "lnglat_to_mercator",
    "load_mapnik",
    "parse_cartocss",
    "render_grid",
    "render_image",
    "static_view",
    "tile_bbox",
    "to_2d_wkb",
    "torque_settings",
    "torque_steps",
    "torque_tile",
    "visible_layers",
    "wrap_tile_x",
    "zoom_for_resolution",
]
