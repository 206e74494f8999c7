"""The state a LocalCarto app serves from, shared by its endpoints."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import attrs

from carto_async.testing._sqlapi import ResultLimits

if TYPE_CHECKING:
    from carto_async.testing._arcgis import ArcGisSettings
    from carto_async.testing._batch import BatchQueue
    from carto_async.testing._clock import Clock
    from carto_async.testing._db import Database
    from carto_async.testing._exports import Exports
    from carto_async.testing._faults import Counters, Faults
    from carto_async.testing._http.auth import Keys
    from carto_async.testing._importing import Importer
    from carto_async.testing._jobclock import JobClock
    from carto_async.testing._syncs import Syncs
    from carto_async.testing._visualizations import Visualizations
    from carto_async.testing._windshaft import Windshaft

__all__ = ["Context"]


@attrs.define
class Context:
    """Everything the endpoints need: user, keys, data, jobs, time, faults, counters, limits."""

    username: str
    keys: Keys
    db: Database
    clock: Clock
    jobs: JobClock
    importer: Importer
    counters: Counters
    faults: Faults
    sql_pool: ThreadPoolExecutor
    upload_dir: str
    host_based: bool
    max_file_size: int
    max_rows: int
    max_columns: int
    private_tables: bool
    sql_timeout: float | None
    # Sync tables, maps and exports (issue 11).
    visualizations: Visualizations
    syncs: Syncs
    exports: Exports
    arcgis: ArcGisSettings
    sync_tables: bool
    #: The Maps API's room, made on first use (``carto_async.testing._http.maps``).
    maps: Windshaft | None = None
    #: The SQL API's Batch queue, made on first use (``carto_async.testing._batch``).
    batch: BatchQueue | None = None
    #: How much of one SQL API or COPY TO result the server may hold (spool, caps).
    sql_results: ResultLimits = attrs.Factory(ResultLimits)
