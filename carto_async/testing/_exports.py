"""Visualization exports on the job clock (reference §7): each one writes a real ``.carto`` file.

An export walks ``pending``, ``exporting``, ``uploading`` and ends ``complete`` (its ``url`` the
relative ``/api/v3/visualization_exports/<id>/download``, served with the key) or ``failure``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from typing import TYPE_CHECKING

import attrs

from carto_async.testing._cartofile import write_carto
from carto_async.testing._jobclock import EXPORT, JobEnd, JobRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from carto_async.testing._db import Database
    from carto_async.testing._jobclock import JobClock, JobInfo
    from carto_async.testing._visualizations import Visualization

__all__ = ["Export", "Exports", "download_path"]


def download_path(export_id: str) -> str:
    """The relative URL a complete export's file is served at."""
    return f"/api/v3/visualization_exports/{export_id}/download"


@attrs.define(eq=False)
class Export:
    """One export: its job, the map it exports, whose it is and where its file is."""

    job: JobRecord
    visualization_id: str
    user_id: str | None
    path: str

    @property
    def id(self) -> str:
        """The export's id (its job's)."""
        return self.job.id


class Exports:
    """The exports of one server; files live in the server's temporary folder."""

    def __init__(
        self,
        *,
        jobs: JobClock,
        db: Database,
        directory: str,
        username: str,
        processing_time: float | Callable[[JobInfo], float],
    ) -> None:
        self.jobs = jobs
        self.db = db
        self.directory = directory
        self.username = username
        self.processing_time = processing_time
        self._lock = threading.Lock()
        self._exports: dict[str, Export] = {}

    def create(
        self, user: str, user_id: str | None, vis: Visualization, tables: list[str]
    ) -> Export:
        """Start exporting ``vis`` with the rows of ``tables``."""
        path = os.path.join(self.directory, f"export-{uuid.uuid4()}.carto")
        job = self.jobs.start(
            EXPORT,
            user,
            display_name=vis.name,
            duration=self.processing_time,
            work=functools.partial(self._work, vis, tables, path),
            params={"visualization_id": vis.id},
        )
        export = Export(job, vis.id, user_id, path)
        with self._lock:
            self._exports[job.id] = export
        return export

    def get(self, export_id: str) -> Export | None:
        """The export with ``export_id``."""
        with self._lock:
            return self._exports.get(export_id)

    def state(self, export: Export) -> str:
        """What a client sees now."""
        return self.jobs.state(export.job)

    def updated_at(self, export: Export) -> float:
        """When the export last changed state, as far as a client can tell."""
        job = self.jobs.state(export.job)
        if job in EXPORT.final_states:
            return export.job.created_at + export.job.duration
        return export.job.created_at

    def clear(self) -> None:
        """Forget every export and remove its file."""
        with self._lock:
            exports = list(self._exports.values())
            self._exports.clear()
        for export in exports:
            with contextlib.suppress(OSError):
                os.unlink(export.path)

    def _work(self, vis: Visualization, tables: list[str], path: str) -> JobEnd:
        missing = [t for t in tables if not self.db.table_exists(t)]
        if missing:
            return JobEnd(EXPORT.failed, None, {"missing": missing})
        write_carto(self.db, vis, tables, path, username=self.username)
        return JobEnd(EXPORT.succeeded, result={"path": path})
