"""LocalCarto's Maps API (a Windshaft-cartodb subset that really renders), as a room of its
own: the handlers take plain inputs and answer :class:`MapsResponse` values, so any HTTP layer
can route to them.

* Layergroups (``POST /api/v1/map``) live 2 h after their last use on an injectable clock;
  ids are Windshaft's (``token:cachebuster``, ``user@hash@token:cachebuster`` for named-map
  instances).
* Named templates per user with the server's validation (first problem, in its words), the
  per-user limit (409), placeholders substituted by type, token auth and the 403/404 rules.
* Tiles from the layers' SQL run on the engine through an injected ``query(sql)``: PNG with
  Mapnik (the ``render`` extra), UTFGrid, MVT (written with the ``mapbox-vector-tile``
  package from the same rows; 204 when empty), Torque, attributes, and static images by
  center, bbox and of named maps with the server's precedence.
* Errors: ``{"errors": [...], "errors_with_context": [...]}`` with the server's statuses.
* Keys as the authorize middleware reads them: an unknown key is 401, a key without the Maps
  API grant 403 ``Forbidden``; the layers' SQL runs as the caller's key (its ``reader``: the
  tables it may select) for anonymous maps and for the tiles, attributes and static images
  of a layergroup, and as the owner for named maps behind their template's auth (a refused
  table is PostgreSQL's ``permission denied for table <name>``, 403, as the layer's error).

Where it knowingly differs from CARTO: the cache buster is always 0 (``last_updated`` is
the epoch); a named map's data extent is that of its layers' queries, not of the tables they
read; layers' ``geom_column`` must be EPSG:3857 (``srid`` is not reprojected); static images
and PNG tiles draw mapnik layers and a plain layer's colour only (no http/torque layers);
metadata tile URLs never carry the key; a missing Mapnik is a 501 naming the ``render``
extra.

Wiring: one catch-all route for ``/api/v1/map...`` and ``/user/<name>/api/v1/map...`` that
calls :func:`split_path`, works out the caller (:class:`MapsCaller`: user, key kind, the
engine as the key reads it) and calls :func:`dispatch`; ``None`` from it is a 404.
:data:`ROUTES` lists every route as data.

Example::

    maps = Windshaft(query, clock=fake_clock)
    created = maps.create_map("demo", "master", {"version": "1.8.0", "layers": [...]})
    token = created.json()["layergroupid"]
    png = maps.tile("demo", "public", layergroup_id=token, z=0, x=0, y=0, fmt="png").body
"""

from carto_async.testing._windshaft._data import LayerQuery as LayerQuery
from carto_async.testing._windshaft._data import Row as Row
from carto_async.testing._windshaft._errors import MapsError as MapsError
from carto_async.testing._windshaft._errors import status_from_message as status_from_message
from carto_async.testing._windshaft._inputs import IMAGE_SIZE_LIMIT as IMAGE_SIZE_LIMIT
from carto_async.testing._windshaft._inputs import KeyKindName as KeyKindName
from carto_async.testing._windshaft._inputs import MapsResponse as MapsResponse
from carto_async.testing._windshaft._routes import ROUTES as ROUTES
from carto_async.testing._windshaft._routes import MapsCaller as MapsCaller
from carto_async.testing._windshaft._routes import MapsRoute as MapsRoute
from carto_async.testing._windshaft._routes import dispatch as dispatch
from carto_async.testing._windshaft._routes import split_path as split_path
from carto_async.testing._windshaft._service import Windshaft as Windshaft
from carto_async.testing._windshaft._store import (
    DEFAULT_MAX_USER_TEMPLATES as DEFAULT_MAX_USER_TEMPLATES,
)
from carto_async.testing._windshaft._store import LAYERGROUP_TTL as LAYERGROUP_TTL
from carto_async.testing._windshaft._store import Clock as Clock

__all__ = [
    "DEFAULT_MAX_USER_TEMPLATES",
    "IMAGE_SIZE_LIMIT",
    "LAYERGROUP_TTL",
    "ROUTES",
    "Clock",
    "KeyKindName",
    "LayerQuery",
    "MapsCaller",
    "MapsError",
    "MapsResponse",
    "MapsRoute",
    "Row",
    "Windshaft",
    "dispatch",
    "split_path",
    "status_from_message",
]
