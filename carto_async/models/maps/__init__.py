"""Maps API models: the MapConfig builder, named-map templates, layergroups and error context.

A :class:`MapConfig` is what ``POST /api/v1/map`` takes (Windshaft's MapConfig, versions 1.0.0 to
1.8.0); a :class:`Template` is a named map (``POST /api/v1/map/named``). Both serialise to the
exact JSON the server takes (``to_json()``) and read it back (``from_json()``), keeping options
they do not name so that nothing is lost in a round trip.

Validation follows the server's own rules (reference §8.2, Windshaft's ``MapConfig``) and reports
every problem at once: ``problems()`` lists them, ``validate()`` raises one
:class:`~carto_async.errors.ValidationError` carrying the whole list.

Example::

    config = MapConfig(layers=[MapnikLayer(
        sql="select * from stores",
        cartocss="#layer { marker-fill: #f00; marker-width: 8; }",
        interactivity=("cartodb_id", "name"),
    )])
    template = Template(
        name="stores",
        layergroup=config,
        placeholders={"color": Placeholder("css_color", "#f00")},
        auth=TemplateAuth.token("s3cret"),
    )
"""

from carto_async.models.maps._common import CARTOCSS_VERSION as CARTOCSS_VERSION
from carto_async.models.maps._common import MAPCONFIG_VERSION as MAPCONFIG_VERSION
from carto_async.models.maps._common import PLACEHOLDER_TYPES as PLACEHOLDER_TYPES
from carto_async.models.maps._common import TEMPLATE_VERSION as TEMPLATE_VERSION
from carto_async.models.maps._config import MapConfig as MapConfig
from carto_async.models.maps._layers import HttpLayer as HttpLayer
from carto_async.models.maps._layers import Layer as Layer
from carto_async.models.maps._layers import LayerAttributes as LayerAttributes
from carto_async.models.maps._layers import MapnikLayer as MapnikLayer
from carto_async.models.maps._layers import PlainLayer as PlainLayer
from carto_async.models.maps._layers import TorqueLayer as TorqueLayer
from carto_async.models.maps._layers import layer_from_json as layer_from_json
from carto_async.models.maps._responses import CdnUrl as CdnUrl
from carto_async.models.maps._responses import Layergroup as Layergroup
from carto_async.models.maps._responses import LayerMetadata as LayerMetadata
from carto_async.models.maps._responses import MapErrorContext as MapErrorContext
from carto_async.models.maps._responses import MapErrorLayer as MapErrorLayer
from carto_async.models.maps._responses import TorqueCell as TorqueCell
from carto_async.models.maps._responses import UTFGrid as UTFGrid
from carto_async.models.maps._template import Placeholder as Placeholder
from carto_async.models.maps._template import Template as Template
from carto_async.models.maps._template import TemplateAuth as TemplateAuth
from carto_async.models.maps._template import TemplateView as TemplateView
from carto_async.models.maps._template import placeholder_value_problem as placeholder_value_problem

__all__ = [
    "CARTOCSS_VERSION",
    "MAPCONFIG_VERSION",
    "PLACEHOLDER_TYPES",
    "TEMPLATE_VERSION",
    "CdnUrl",
    "HttpLayer",
    "Layer",
    "LayerAttributes",
    "LayerMetadata",
    "Layergroup",
    "MapConfig",
    "MapErrorContext",
    "MapErrorLayer",
    "MapnikLayer",
    "Placeholder",
    "PlainLayer",
    "Template",
    "TemplateAuth",
    "TemplateView",
    "TorqueCell",
    "TorqueLayer",
    "UTFGrid",
    "layer_from_json",
    "placeholder_value_problem",
]
