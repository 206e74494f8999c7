"""Typed models of what the CARTO APIs return (attrs classes built by one cattrs converter)."""

from carto_async.models._converter import converter as converter
from carto_async.models._converter import parse_datetime as parse_datetime
from carto_async.models.imports import CollisionStrategy as CollisionStrategy
from carto_async.models.imports import ImportErrorText as ImportErrorText
from carto_async.models.imports import ImportStatus as ImportStatus
from carto_async.models.imports import Privacy as Privacy
from carto_async.models.imports import error_text_for_code as error_text_for_code
from carto_async.models.sql import SQLField as SQLField
from carto_async.models.sql import SQLResult as SQLResult

__all__ = [
    "CollisionStrategy",
    "ImportErrorText",
    "ImportStatus",
    "Privacy",
    "SQLField",
    "SQLResult",
    "converter",
    "error_text_for_code",
    "parse_datetime",
]
