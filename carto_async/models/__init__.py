"""Typed models of what the CARTO APIs return (attrs classes built by one cattrs converter)."""

from carto_async.models._converter import converter as converter
from carto_async.models._converter import parse_datetime as parse_datetime
from carto_async.models.imports import CollisionStrategy as CollisionStrategy
from carto_async.models.imports import ImportErrorText as ImportErrorText
from carto_async.models.imports import ImportStatus as ImportStatus
from carto_async.models.imports import Privacy as Privacy
from carto_async.models.imports import error_text_for_code as error_text_for_code
from carto_async.models.maps import HttpLayer as HttpLayer
from carto_async.models.maps import LayerAttributes as LayerAttributes
from carto_async.models.maps import Layergroup as Layergroup
from carto_async.models.maps import MapConfig as MapConfig
from carto_async.models.maps import MapErrorContext as MapErrorContext
from carto_async.models.maps import MapnikLayer as MapnikLayer
from carto_async.models.maps import Placeholder as Placeholder
from carto_async.models.maps import PlainLayer as PlainLayer
from carto_async.models.maps import Template as Template
from carto_async.models.maps import TemplateAuth as TemplateAuth
from carto_async.models.maps import TemplateView as TemplateView
from carto_async.models.maps import TorqueLayer as TorqueLayer
from carto_async.models.sql import SQLField as SQLField
from carto_async.models.sql import SQLResult as SQLResult

__all__ = [
    "CollisionStrategy",
    "HttpLayer",
    "ImportErrorText",
    "ImportStatus",
    "LayerAttributes",
    "Layergroup",
    "MapConfig",
    "MapErrorContext",
    "MapnikLayer",
    "Placeholder",
    "PlainLayer",
    "Privacy",
    "SQLField",
    "SQLResult",
    "Template",
    "TemplateAuth",
    "TemplateView",
    "TorqueLayer",
    "converter",
    "error_text_for_code",
    "parse_datetime",
]
