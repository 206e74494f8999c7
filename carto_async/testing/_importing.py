"""Import jobs: what a validated ``POST /api/v1/imports`` asks for, and the work that loads it.

The Import API handlers (``_http/imports.py``) turn a request into an :class:`ImportRequest`;
:class:`Importer` starts it on the server's job clock as an ``IMPORT`` job whose work fetches
the data (upload, URL, datasource, query or table copy) and loads it into the database. The
state walk, slots and faults are the job clock's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from carto_async._core.credentials import is_loopback_host
from carto_async.testing._arcgis import fetch_arcgis
from carto_async.testing._cartofile import is_carto_file, load_carto
from carto_async.testing._jobclock import IMPORT, JobClock, JobEnd, JobInfo, JobRecord
from carto_async.testing._loader import LoadResult, copy_table, load_file, table_from_query
from carto_async.testing._sources import Fetched, Sources, SourceUnavailable, download
from carto_async.testing._staging import ImportFailure, LoadOptions

if TYPE_CHECKING:
    from carto_async.testing._db import Database
    from carto_async.testing._http.bodies import Upload
    from carto_async.testing._visualizations import Visualizations

__all__ = ["FINAL_STATES", "ImportRequest", "Importer"]

#: What the server's ``success`` key and its final-state test treat as final (``stuck`` is a
#: constant of the real server that is converted to ``failure`` before anyone sees it).
FINAL_STATES = frozenset({*IMPORT.final_states, "stuck"})
_DAY = 24 * 3600.0
STUCK_CODE = 6671


@attrs.frozen
class ImportRequest:
    """What to load for one import (a validated create request)."""

    kind: str  # file | url | query | copy | datasource | connector | nothing
    data_type: str
    display_name: str
    service_name: str
    options: LoadOptions
    flags: Mapping[str, bool]
    user_defined_limits: str
    params: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    upload: Upload | None = None
    url: str | None = None
    sql: str | None = None
    source_table: str | None = None
    target_table: str | None = None
    service_item_id: str | None = None


class Importer:
    """The Import API's jobs on the server's job clock: slots, listing, staleness, loading."""

    def __init__(
        self,
        *,
        jobs: JobClock,
        db: Database,
        sources: Sources,
        processing_time: float | Callable[[JobInfo], float],
        slots: int,
        stale_after: float,
        stale_list_after: float,
        download_dir: str,
        visualizations: Visualizations | None = None,
    ) -> None:
        self.jobs = jobs
        self.visualizations = visualizations
        self.db = db
        self.sources = sources
        self.processing_time = processing_time
        self.slots = slots
        self.stale_after = stale_after
        self.stale_list_after = stale_list_after
        self._download_dir = download_dir

    def in_progress(self, user: str) -> int:
        """How many of ``user``'s imports hold a slot (are not in a final state)."""
        return len(self.jobs.unfinished(IMPORT, user))

    def create(self, user: str, request: ImportRequest) -> JobRecord:
        """Start the import job; its work loads the data in the job clock's pool."""
        return self.jobs.start(
            IMPORT,
            user,
            display_name=request.display_name,
            duration=self.processing_time,
            work=functools.partial(self._load, request),
            discard=functools.partial(_discard_upload, request),
            payload=request,
            data_type=request.data_type,
            service_name=request.service_name,
            size=request.upload.size if request.upload is not None else None,
            params=request.params,
        )

    def get(self, job_id: str) -> JobRecord | None:
        """The import with ``job_id``."""
        return self.jobs.get(job_id, IMPORT)

    def read(self, job: JobRecord) -> tuple[str, JobEnd | None]:
        """State and end for ``GET /imports/:id``, flipping a stale stuck job to 6671."""
        return self.jobs.read(job, stale_after=self.stale_after, stale_code=STUCK_CODE)

    def unfinished(self, user: str) -> list[str]:
        """``GET /imports``: ids of the user's unfinished imports of the last 24 h, newest first.

        Stuck ones older than the list threshold are failed with 6671 and left out, as the
        real server does with imports older than an hour that no worker runs.
        """
        now = self.jobs.clock.time()
        listed: list[JobRecord] = []
        for job in self.jobs.unfinished(IMPORT, user):
            if now - job.created_at > _DAY:
                continue
            if job.stuck and now - job.created_at > self.stale_list_after:
                self.jobs.fail(job, STUCK_CODE)
                continue
            listed.append(job)
        listed.sort(key=lambda j: j.created_at, reverse=True)
        return [j.id for j in listed]

    # -- the work (pool threads) -----------------------------------------------------------

    def _load(self, request: ImportRequest) -> JobEnd:
        try:
            end = self._load_unsafe(request)
            self._record_privacy(request, end)
            return end
        except ImportFailure as exc:
            return JobEnd.failed(IMPORT, exc.code)
        except SourceUnavailable as exc:
            return JobEnd.failed(IMPORT, exc.code, http_response_code=exc.http_response_code)

    def _record_privacy(self, request: ImportRequest, end: JobEnd) -> None:
        # The import's ``privacy`` (validated by the controller) becomes its tables'; without
        # one a new table gets the account's default.
        privacy = request.params.get("privacy")
        store = self.visualizations
        if store is None or not isinstance(privacy, str) or not privacy.strip():
            return
        for name in (end.result or {}).get("table_names") or ():
            store.set_privacy(name, privacy.strip().lower())

    def _load_unsafe(self, request: ImportRequest) -> JobEnd:
        options = request.options
        create_vis = request.flags.get("create_visualization", False)
        if request.kind == "query":
            assert request.sql is not None
            result = table_from_query(self.db, request.sql, request.target_table, options)
            return self.complete(result, create_vis=create_vis)
        if request.kind == "copy":
            assert request.source_table is not None
            result = copy_table(self.db, request.source_table, request.target_table, options)
            return self.complete(result, create_vis=create_vis)
        if request.kind == "file":
            upload = request.upload
            assert upload is not None
            return self.load_path(
                upload.filename, upload.path, upload.size, options, create_vis=create_vis
            )
        if request.kind in ("url", "datasource"):
            got = self.fetch(request)
            try:
                return self.load_path(
                    got.filename, got.path, got.size, options, create_vis=create_vis
                )
            finally:
                _unlink(got.path)
        if request.kind == "connector":
            return JobEnd.failed(IMPORT, 1501)
        return JobEnd.failed(IMPORT, 99999)

    def fetch(self, request: ImportRequest) -> Fetched:
        """Download the data of a URL or datasource import (:class:`SourceUnavailable` if not)."""
        if request.kind == "url":
            assert request.url is not None
            return download(request.url, self._download_dir, request.options.max_file_size + 1)
        item = request.service_item_id or ""
        try:
            return self.sources.fetch(request.service_name, item, self._download_dir)
        except SourceUnavailable:
            # An unregistered ArcGIS layer on a loopback server (LocalCarto's own fake ArcGIS
            # server, or a test's) is read for real, as the connector would.
            host = urlsplit(item.strip()).hostname or ""
            if request.service_name != "arcgis" or not is_loopback_host(host):
                raise
        return fetch_arcgis(item.strip(), self._download_dir)

    def load_path(
        self, filename: str, path: str, size: int, options: LoadOptions, *, create_vis: bool = False
    ) -> JobEnd:
        """Load a fetched file: a ``.carto`` recreates its map, anything else goes to the loader."""
        # The real runner checks the size before unpacking anything.
        if size > options.max_file_size:
            return JobEnd.failed(IMPORT, 6666)
        if is_carto_file(filename) and self.visualizations is not None:
            loaded = load_carto(
                path,
                directory=self._download_dir,
                load=lambda name, data: load_file(self.db, name, data, options).table_names,
                visualizations=self.visualizations,
                max_size=options.max_file_size,
            )
            result = LoadResult(loaded.table_names, loaded.rows, skipped=False)
            return self.complete(result, visualization_id=loaded.visualization_id)
        return self.complete(load_file(self.db, filename, path, options), create_vis=create_vis)

    def complete(
        self, result: LoadResult, *, create_vis: bool = False, visualization_id: str | None = None
    ) -> JobEnd:
        """The end of a load: table ids from the visualization store, and the map if asked."""
        if result.skipped:
            return JobEnd(IMPORT.succeeded, 1022, {"tables_created_count": 0})
        first = result.table_names[0] if result.table_names else None
        table_id = str(uuid.uuid4())
        store = self.visualizations
        if store is not None and first is not None:
            record = store.table(first)
            table_id = record.id if record is not None else table_id
            if create_vis and visualization_id is None:
                visualization_id = store.create_map(first, result.table_names).id
        ended: dict[str, Any] = {
            "table_name": first,
            "tables_created_count": len(result.table_names),
            "table_id": table_id,
            "table_names": list(result.table_names),
        }
        if visualization_id is not None:
            ended["visualization_id"] = visualization_id
        return JobEnd(IMPORT.succeeded, result=ended)

    def load_now(self, filename: str, path: str, options: LoadOptions) -> LoadResult:
        """Load a file at once, outside any job (seeding a server at start)."""
        return load_file(self.db, filename, path, options)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _discard_upload(request: ImportRequest) -> None:
    if request.upload is not None:
        _unlink(request.upload.path)
