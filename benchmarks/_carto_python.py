"""carto-python (PyPI ``carto``), driven the way its documentation and examples show.

The import loop follows carto-python's own example of importing a folder
(``examples/import_and_merge.py``): for each file, ``FileImportJob(path, auth).run()``, sleep,
then ``refresh()`` and sleep until the state is final, one file after another. The SQL call is
``SQLClient(auth).send(q)`` with its defaults (a form POST, the key as a query parameter).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import quiet_warnings

__all__ = [
    "FINAL_STATES",
    "auth_client",
    "import_one",
    "import_sequential",
    "import_thread_pool",
    "new_auth_client",
    "sql_client",
    "upload_only",
]

FINAL_STATES = ("complete", "failure")

with quiet_warnings():
    # carto imports pkg_resources (deprecated) and warns about plain-http keys.
    from carto.auth import APIKeyAuthClient
    from carto.file_import import FileImportJob
    from carto.sql import SQLClient


def new_auth_client(base_url: str, api_key: str) -> Any:
    """An ``APIKeyAuthClient`` for an on-premise style URL (``.../user/<name>/``).

    It owns a ``requests.Session``: close ``client.session`` when done.
    """
    with quiet_warnings():
        return APIKeyAuthClient(base_url=base_url.rstrip("/") + "/", api_key=api_key)


@contextmanager
def auth_client(base_url: str, api_key: str) -> Iterator[Any]:
    """:func:`new_auth_client`, its session closed after the ``with`` block."""
    client = new_auth_client(base_url, api_key)
    try:
        yield client
    finally:
        client.session.close()


def sql_client(auth: Any) -> Any:
    """``carto.sql.SQLClient`` on ``auth``."""
    return SQLClient(auth)


def _start(path: Path, auth: Any) -> Any:
    job = FileImportJob(str(path), auth)
    try:
        with quiet_warnings():
            job.run()
    finally:
        # FileImportJob opens the file and never closes it.
        if job.files:
            job.files["file"].close()
    return job


def import_one(path: Path, auth: Any, *, poll_interval: float, max_polls: int = 10_000) -> str:
    """Upload ``path``, sleep, then refresh every ``poll_interval`` s until final; the state."""
    job = _start(path, auth)
    for _ in range(max_polls):
        time.sleep(poll_interval)
        with quiet_warnings():
            job.refresh()
        if job.state in FINAL_STATES:
            return str(job.state)
    raise RuntimeError(f"import of {path.name} not final after {max_polls} polls")


def import_sequential(
    paths: Sequence[Path], base_url: str, api_key: str, *, poll_interval: float
) -> list[str]:
    """One file after another, as carto-python's documentation shows."""
    with auth_client(base_url, api_key) as auth:
        return [import_one(p, auth, poll_interval=poll_interval) for p in paths]


def import_thread_pool(
    paths: Sequence[Path],
    base_url: str,
    api_key: str,
    *,
    threads: int,
    poll_interval: float,
) -> list[str]:
    """The same loop on a pool of ``threads`` threads, one auth client (session) per thread.

    ``requests.Session`` is not documented as thread-safe, so each thread gets its own.
    """
    local = threading.local()
    clients: list[Any] = []
    lock = threading.Lock()

    def auth() -> Any:
        client = getattr(local, "auth", None)
        if client is None:
            client = local.auth = new_auth_client(base_url, api_key)
            with lock:
                clients.append(client)
        return client

    def one(path: Path) -> str:
        return import_one(path, auth(), poll_interval=poll_interval)

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(one, paths))
    finally:
        for client in clients:
            client.session.close()


def upload_only(path: Path, auth: Any) -> str:
    """Create the import (the upload) and return its id, without waiting for it."""
    job = _start(path, auth)
    return str(job.get_id())
