"""LocalCarto: a local CARTO-compatible server for tests, benchmarks and offline work.

It speaks the real wire format of the Import API and of the SQL API query endpoint, stores
tables in DuckDB with its spatial extension (GEOS, PROJ, GDAL: the parts of PostGIS and of
CARTO's ogr2ogr importer), walks import jobs through the real states on a fast clock, and injects
faults (latency, 5xx, dropped connections, slow bodies, rate limits, stuck or failing imports)
from a seed so failures are reproducible. Installed with the ``[local]`` extra::

    import httpx
    from carto_async.testing import Faults, LocalCarto, RateLimit

    faults = Faults(seed=1, rate_limits={"sql": RateLimit(6)})
    with LocalCarto(faults=faults) as server:
        httpx.get(server.base_url + "/api/v2/sql", params={"q": "select 1"})
        print(server.counters.requests)

Where LocalCarto knowingly differs from CARTO:

* One user per server. ``/u/<name>`` works on the Import API only (as in Rails); an unknown
  user gets the SQL API's 404, and 401 (empty) from the Import API.
* URL imports download from loopback hosts only, on any port (CARTO's validator allows ports
  21/80/443 only and blocks loopback); any other host fails with 1102 as if it did not
  resolve, and ``ftp://`` with 1001. Datasources and connectors are fakes registered with
  :meth:`LocalCarto.register_datasource`; unregistered ones fail with 1012 (ArcGIS URLs 1011),
  connectors with 1501 (disabled).
* Keys: the master key does everything; the regular key and the public user read every
  table and write none (CARTO grants regular keys per table and shows the public user public
  tables only).
* Job states come from a clock, not workers: ``enqueued`` and ``geocoding`` never appear, a
  loaded table exists before its job reports ``complete``, only fault-injected stuck imports
  go stale (6671), and ``visualization_id``/``table_id`` are fresh UUIDs with no map behind
  them. ``warnings`` is always null.
* Rate limits may be set on any route group; CARTO's Rails APIs have none, and LocalCarto
  answers their 429 with the SQL API body. Injected 5xx bodies imitate nginx (502/503/504),
  Rails (500) or the SQL API (500).
* Only the SQL API query endpoint is served: no Batch, COPY, Maps, sync tables or exports.
* SQL is PostgreSQL/PostGIS over DuckDB through a thin compatibility layer. A geometry's SRID
  is part of its column type (as a PostGIS type modifier), so ``ST_SetSRID`` and
  ``ST_Transform`` take literal SRIDs, and a geometry without SRID written to ``the_geom`` takes
  4326 instead of failing. ``the_geom_webmercator`` is a generated column (it follows
  ``the_geom`` and cannot be written). Geography distances are measured between the closest
  points on the spheroid. Not available: triggers, PL/pgSQL, savepoints (a failed statement
  dooms its transaction), GROUP BY a primary key for the other columns, ``SET``; DuckDB's
  reserved words (``at``...) need quotes as column names; ``varchar(n)`` keeps no length. In a
  database file reopened after a restart, ``ST_SRID`` of a stored geometry column reads 0
  (DuckDB 1.5 does not persist a column's CRS); what the SQL API returns is unchanged.
* SQL cannot reach the host: statements that read or write files, attach databases, load
  extensions or change settings are refused for every key, and the engine is locked.
"""

from carto_async.testing._faults import Counters as Counters
from carto_async.testing._faults import CountersSnapshot as CountersSnapshot
from carto_async.testing._faults import Fault as Fault
from carto_async.testing._faults import Faults as Faults
from carto_async.testing._faults import RateLimit as RateLimit
from carto_async.testing._jobs import ImportInfo as ImportInfo
from carto_async.testing._server import LocalCarto as LocalCarto
from carto_async.testing._server import serve as serve

__all__ = [
    "Counters",
    "CountersSnapshot",
    "Fault",
    "Faults",
    "ImportInfo",
    "LocalCarto",
    "RateLimit",
    "serve",
]
