"""LocalCarto: a local CARTO-compatible server for tests, benchmarks and offline work.

It speaks the real wire format of the Import API, sync tables, visualizations, visualization
exports and the SQL API query endpoint (plus a fake ArcGIS REST server), stores tables in
DuckDB with its spatial extension (GEOS, PROJ, GDAL: the parts of PostGIS and of CARTO's
ogr2ogr importer), walks jobs through the real states on a :class:`Clock` tests can
advance, and injects faults (latency, 5xx, dropped connections, slow bodies, rate limits,
stuck or failing jobs) from a seed so failures are reproducible. ``seed_dir`` imports a
folder at start; ``tables()``, ``jobs()`` and ``reset()`` inspect and clean up; the
``local_carto``, ``carto`` and ``async_carto`` pytest fixtures come with it. Installed with
the ``[local]`` extra::

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
  resolve, and ``ftp://`` with 1001. Every redirect hop is held to the same rules, and more
  than 10 redirects fail with 1001. Datasources and connectors are fakes registered with
  :meth:`LocalCarto.register_datasource`; unregistered ones fail with 1012 (ArcGIS URLs 1011),
  connectors with 1501 (disabled). ArcGIS layers and services on loopback hosts (such as
  LocalCarto's own fake ArcGIS server, ``server.arcgis_url(table)``) are read for real.
* The fake ArcGIS server lives under the user's base URL
  (``/api/arcgis/rest/services/<folder>/<table>/FeatureServer/0``): every table is a one-layer
  service, any folder name works, no token is needed, ``where`` only understands ``1=1`` and
  ``cartodb_id`` ranges, and dates and booleans travel as strings.
* Keys: the Auth API (``/api/v3/api_keys``, ``/api/v3/me``) manages keys with grants, and
  the SQL API enforces them: the master key does everything; a regular key reads public
  tables and what it was granted and writes (insert/update/delete) only what it was granted,
  with no DDL and no TRUNCATE; the public user (no key, ``default_public``) reads public
  tables only. ``server.regular_api_key`` is a preset regular key with the SQL and Maps APIs
  and no table grants. A table's privacy is its import's ``privacy``, or what
  ``PUT /api/v1/viz/:id`` sets on its dataset page; a table without one (made by SQL, a
  seed, or an import without ``privacy``) is private, as on CARTO's paid plans (public when
  ``private_tables=False``, as on free ones). Which tables a statement reads comes from
  DuckDB's parser, or for UPDATE/DELETE from the table names it mentions (a column named
  like a private table counts as a read of it). ``CDB_UserTables()`` lists only what the key
  may read, but ``information_schema`` still shows every table's name. UPDATE and DELETE with
  a ``WHERE`` or ``RETURNING`` also need ``select`` (PostgreSQL asks for it per column).
* Job states come from a clock, not workers: ``enqueued`` and ``geocoding`` never appear, a
  loaded table exists before its job reports ``complete``, only fault-injected stuck imports
  go stale (6671). ``warnings`` is always null. The clock is the machine's plus whatever a
  test adds with :meth:`LocalCarto.advance`; a ``Clock(frozen=True)`` moves only then.
* Request bodies: JSON nested more than 100 levels deep is refused with 400 (the SQL API's
  error body; the Import API's 400 says why in plain text, as it does for any body it cannot
  parse, where Rails answers a bare 400).
* Rate limits may be set on any route group; CARTO's Rails APIs have none, and LocalCarto
  answers their 429 with the SQL API body. Injected 5xx bodies imitate nginx (502/503/504),
  Rails (500) or the SQL API (500).
* COPY (``/api/v2/sql/copyfrom``, ``/copyto``) takes the csv and text formats (not binary);
  geometries come out as hex EWKB in csv and as EWKT (``SRID=4326;POINT(...)``) in text, where
  PostGIS writes hex EWKB in both. There is no slow-input or size limit.
* SQL API formats: every format is served. svg, topojson and arraybuffer are written from the
  rows (TopoJSON arcs are not shared between geometries); kml, shp, spatialite and gpkg by
  GDAL (DuckDB spatial's), from rows the guarded engine computed, into a private temporary
  file streamed back. The bundled GDAL has no SpatiaLite library: ``spatialite`` is an OGR
  SQLite database with WKB geometries (what the real ``ogr2ogr`` call writes too, its
  ``SPATIALITE=yes`` not being passed as an option). A GeoPackage keeps GDAL's ``fid`` key
  beside ``cartodb_id`` (CARTO makes ``cartodb_id`` the FID). Only the first geometry column
  (``the_geom`` first) is written; a file format's query must be one statement.
* SQL API and COPY TO results stream with bounded server memory: the query runs whole first
  (its rows spooled to a private temporary file, at most ``ResultLimits.max_spool_bytes``),
  so an error in the query is always a status before the first byte, where CARTO may send a
  200 and append the error. The formats built in memory (svg, topojson, arraybuffer and the
  GDAL ones) refuse results over ``ResultLimits.max_whole_rows``/``max_whole_bytes`` with a
  400; CARTO has no such cap.
* Sync tables: the feature is on unless ``sync_tables=False``. A run's content check is the
  download's checksum only (``etag`` stays null, ``modified_at`` is when the content last
  changed). The scheduler runs when the clock is advanced and on every sync read, not on a
  cron; a due sync runs once however many intervals a jump covers. A create body that is not
  JSON gets 400 ``{"errors": ...}`` (Rails fails with 500). ``remote_visualization_id``
  (common data) and DB connectors are not supported.
* Visualizations: maps come from ``create_vis=true`` imports (one map of every table the
  import created) and ``.carto`` files; ``PUT /api/v1/viz/:id`` changes only name, privacy,
  description and tags. ``/api/v1/viz`` and ``/api/v1/tables/:id`` need the master key and
  show the keys carto-python reads, plus each map's ``layers``. Deleting a dataset drops its
  table and the maps using it.
* viz.json (``/api/v2|v3/viz/:id/viz.json``): always the anonymous-map form (each data layer
  with its SQL), never the named-map form CARTO gives maps of private tables; ``bounds``,
  ``center`` and ``zoom`` are computed from the tables' extent at each request (CARTO stores
  them when the map is made and when it is moved); no ``overlays``, ``widgets``, ``analyses``
  or legends. Base layers from remote tile servers cannot be fetched offline: images of a
  viz.json draw the data over the map's background colour (a ``plain`` basemap's colour, or
  transparent under a tiled one).
* Exports: the ``.carto`` file is LocalCarto's own zip (``<map>.carto.json`` plus one GeoJSON
  per dataset), not CARTO's format; a non-UUID export id is a 404 (Rails answers 500), and
  ``url`` is always the relative download path (never S3).
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
* The Maps API (anonymous and named maps, tiles, static images, rendered with Mapnik from
  the layers' SQL on the engine; see :mod:`carto_async.testing._windshaft`): the cache
  buster is always 0 (``last_updated`` is the epoch); a named map's data extent is that of
  its layers' queries, not of the tables they read; ``geom_column`` must be EPSG:3857
  (``srid`` is not reprojected); static images and PNG tiles draw mapnik layers and a plain
  layer's colour only (no http or torque layers); metadata tile URLs never carry the key;
  without Mapnik (the ``[render]`` extra) images and grids answer 501 naming it. Layer SQL
  runs read-only, as CARTO's database role of the key would read it (the tables the key may
  select, as the SQL API decides), never writing, whatever the key was granted.
  ``GET /map?config=`` is served, but not JSONP (``callback``) nor ``lzma``.
"""

from carto_async.testing._arcgis import ArcGisSettings as ArcGisSettings
from carto_async.testing._clock import Clock as Clock
from carto_async.testing._faults import Counters as Counters
from carto_async.testing._faults import CountersSnapshot as CountersSnapshot
from carto_async.testing._faults import Fault as Fault
from carto_async.testing._faults import Faults as Faults
from carto_async.testing._faults import RateLimit as RateLimit
from carto_async.testing._jobclock import ImportInfo as ImportInfo
from carto_async.testing._jobclock import JobEnd as JobEnd
from carto_async.testing._jobclock import JobInfo as JobInfo
from carto_async.testing._jobclock import JobKind as JobKind
from carto_async.testing._jobclock import JobRecord as JobRecord
from carto_async.testing._server import LocalCarto as LocalCarto
from carto_async.testing._server import SeedError as SeedError
from carto_async.testing._server import serve as serve
from carto_async.testing._sqlapi import ResultLimits as ResultLimits

__all__ = [
    "ArcGisSettings",
    "Clock",
    "Counters",
    "CountersSnapshot",
    "Fault",
    "Faults",
    "ImportInfo",
    "JobEnd",
    "JobInfo",
    "JobKind",
    "JobRecord",
    "LocalCarto",
    "RateLimit",
    "ResultLimits",
    "SeedError",
    "serve",
]
