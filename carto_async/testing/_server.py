"""LocalCarto: a CARTO-compatible server on loopback, in a background thread or the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import anyio
import attrs
import uvicorn

from carto_async.testing._apikeys import ApiKeyStore
from carto_async.testing._arcgis import ARCGIS_PREFIX, ArcGisSettings
from carto_async.testing._batch import close_batch_queue, reset_batch_queue
from carto_async.testing._clock import Clock
from carto_async.testing._context import Context
from carto_async.testing._db import Database
from carto_async.testing._exports import Exports
from carto_async.testing._faults import Counters, Faults
from carto_async.testing._http.accesslog import install_access_log_masking
from carto_async.testing._http.app import create_app
from carto_async.testing._http.auth import Keys, new_key
from carto_async.testing._importing import Importer
from carto_async.testing._jobclock import JobClock, JobInfo, JobRecord
from carto_async.testing._sources import Sources
from carto_async.testing._sqlapi import ResultLimits
from carto_async.testing._staging import ImportFailure, LoadOptions
from carto_async.testing._syncs import Syncs
from carto_async.testing._visualizations import Visualizations
from carto_async.testing._wire import error_text

if TYPE_CHECKING:
    from carto_async import AsyncCarto, Carto

__all__ = ["LocalCarto", "SeedError", "serve"]

_START_TIMEOUT = 10.0
#: How long stop() waits for the server thread (uvicorn's graceful shutdown takes up to 2 s).
_STOP_TIMEOUT = 30.0


class _Uvicorn(uvicorn.Server):
    """A uvicorn server that wakes up as soon as it is asked to stop.

    uvicorn polls ``should_exit`` every 0.1 s; in a test suite that starts a server per test
    the wait adds up, so the tick also waits on an event that :meth:`request_stop` sets.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def request_stop(self) -> None:
        """Ask the server to shut down (from any thread)."""
        self.should_exit = True
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wakeup.set)


class SeedError(ValueError):
    """A file of ``seed_dir`` could not be imported; names the file and the import error."""

    def __init__(self, path: str, code: int, message: str) -> None:
        super().__init__(f"cannot seed LocalCarto from {path}: error {code}: {message}")
        self.path = path
        self.code = code


class LocalCarto:
    """A local CARTO: Import API and SQL API over real HTTP, backed by DuckDB + spatial.

    ``with LocalCarto() as server`` (or ``async with``) serves on ``127.0.0.1`` at an ephemeral
    port from a background thread and stops it, with its sockets and threads, on exit. Clients
    use ``server.base_url`` (``http://127.0.0.1:PORT/user/demo``) with ``server.api_key`` (the
    master key), or the ready-made SDK clients::

        with LocalCarto(import_processing_time=0.2) as server:
            with server.client() as carto:
                job = carto.imports.upload("stores.csv")
                job.wait()
                print(carto.sql.query("select count(*) from stores").rows)

    Options (all keyword-only):

    * ``username`` (``"demo"``) and ``api_key`` (the master key; random if not given). A
      ``regular_api_key`` (grants: the SQL and Maps APIs, no tables) and the
      ``default_public`` key exist too; ``/api/v3/api_keys`` creates more, with grants
      (``server.key_store``).
    * ``db``: a DuckDB database file (created if missing; tables persist across restarts), an
      open :class:`Database`, or ``None`` for an in-memory database.
    * ``seed_dir``: a folder whose files are imported at start (and again by :meth:`reset`),
      each into a table named after it, replacing a table of that name; a file that fails
      raises :class:`SeedError`. Hidden files and sub-folders are skipped.
    * ``clock``: the :class:`Clock` jobs, stale thresholds and rate limits read; a
      ``Clock(frozen=True)`` moves only with :meth:`advance`. Default: a running clock.
    * ``import_processing_time``: seconds an import takes to walk its states, or a callable
      taking a :class:`JobInfo`; the final state also waits for the data load to finish.
    * ``import_slots``: imports in progress per user before creates answer 429 (CARTO: 3).
    * ``max_file_size``, ``max_rows``, ``max_columns``: import limits (failures 6666, 6668,
      2004), CARTO's defaults.
    * ``stale_import_after`` (300 s) and ``stale_list_after`` (3600 s): when a stuck import is
      failed with 6671 by ``GET /imports/:id`` and by ``GET /imports``.
    * ``faults``: a :class:`Faults`; adjustable while the server runs (``server.faults``).
    * ``host_based``: take the user of ``/api/...`` paths from the ``Host`` header
      (``demo.localhost``), as CARTO does; ``False`` serves them for ``username``.
    * ``private_tables``: whether the account may create private datasets.
    * ``sql_results``: a :class:`ResultLimits`: where SQL API and COPY TO results wait on disk
      while they stream (the server's private temporary folder by default), at most how many
      bytes (2 GiB), and how big a result the formats built in memory (svg, topojson,
      arraybuffer, GDAL) accept.
    * ``sql_statement_timeout``: seconds before a query fails with the SQL API's 429 timeout
      error (CARTO plans: 5 to 25 s); ``None`` for no limit.
    * ``sync_tables``: whether the account has the sync tables feature (without it the sync
      endpoints answer 401 with an empty body, as CARTO does).
    * ``sync_processing_time`` and ``export_processing_time``: seconds a sync run or an export
      takes to walk its states (or a callable taking a :class:`JobInfo`). A sync's first run
      is an import and takes ``import_processing_time``.
    * ``keep_alive``: seconds an idle keep-alive connection stays open (75, nginx's default,
      which fronts CARTO). Keep it above the clients' own idle expiry (httpx: 5 s, aiohttp:
      15 s): a server that closes first races the client that reuses the connection, and a
      create request lost in that race is an ambiguous failure the SDK will not repeat.
    * ``host``, ``port`` (0: ephemeral), ``log_level`` (uvicorn's), ``workers`` (load threads).
    """

    def __init__(
        self,
        *,
        username: str = "demo",
        api_key: str | None = None,
        db: str | os.PathLike[str] | Database | None = None,
        seed_dir: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        import_processing_time: float | Callable[[JobInfo], float] = 0.05,
        import_slots: int = 3,
        max_file_size: int = 157_286_400,
        max_rows: int = 500_000,
        max_columns: int = 250,
        stale_import_after: float = 300.0,
        stale_list_after: float = 3600.0,
        faults: Faults | None = None,
        host_based: bool = True,
        private_tables: bool = True,
        sql_statement_timeout: float | None = None,
        sql_results: ResultLimits | None = None,
        sync_tables: bool = True,
        sync_processing_time: float | Callable[[JobInfo], float] = 0.05,
        export_processing_time: float | Callable[[JobInfo], float] = 0.05,
        keep_alive: float = 75.0,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        workers: int = 4,
    ) -> None:
        if not username or "/" in username or "." in username:
            raise ValueError(f"invalid username {username!r}")
        if not keep_alive > 0:
            raise ValueError(f"keep_alive must be positive, got {keep_alive!r}")
        self.username = username
        self.host = host
        self.keep_alive = keep_alive
        self._port = port
        self._log_level = log_level
        self._keys = Keys.create(username, api_key or new_key(), table_exists=self._has_table)
        self._owns_db = not isinstance(db, Database)
        self._db_path = None if db is None or isinstance(db, Database) else os.fspath(db)
        self._db: Database | None = db if isinstance(db, Database) else None
        self._tmp: str | None = None
        self._seed_dir = None if seed_dir is None else os.fspath(seed_dir)
        if self._seed_dir is not None and not os.path.isdir(self._seed_dir):
            raise ValueError(f"seed_dir is not a folder: {self._seed_dir}")
        self.clock = clock if clock is not None else Clock()
        self.counters = Counters()
        self.sources = Sources()
        self._import_options: dict[str, Any] = {
            "processing_time": import_processing_time,
            "slots": import_slots,
            "stale_after": stale_import_after,
            "stale_list_after": stale_list_after,
        }
        self._workers = workers
        self._limits = (max_file_size, max_rows, max_columns)
        self._faults = faults if faults is not None else Faults()
        self._faults.clock = self.clock.monotonic
        self._host_based = host_based
        self._private_tables = private_tables
        self._sql_timeout = sql_statement_timeout
        self._sql_results = sql_results if sql_results is not None else ResultLimits()
        self._sync_tables = sync_tables
        self._sync_time = sync_processing_time
        self._export_time = export_processing_time
        self.arcgis = ArcGisSettings()
        self._ctx: Context | None = None
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def _has_table(self, schema: str, name: str) -> bool:
        # What a key may be granted: the account's tables (in CARTO's ``public`` schema).
        return schema == "public" and self._db is not None and self._db.table_exists(name)

    def __repr__(self) -> str:
        where = self.base_url if self._socket is not None else "stopped"
        return f"<LocalCarto {where}>"

    # -- public surface --------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The master key: everything, including the Import API (regenerating it through
        the Auth API changes it)."""
        return self._keys.master

    @property
    def regular_api_key(self) -> str:
        """A preset regular key (SQL and Maps APIs, no table grants): it reads public
        tables only, writes nothing until granted, and the Import API refuses it (401)."""
        return self._keys.regular

    @property
    def key_store(self) -> ApiKeyStore:
        """The Auth API's keys (``/api/v3/api_keys``), for inspection and for granting
        tables to keys in tests without going through HTTP."""
        return self._keys.store

    @property
    def default_public_key(self) -> str:
        """The ``default_public`` key: same as no key (reads public tables only)."""
        return self._keys.public

    @property
    def port(self) -> int:
        """The port served on (known once started)."""
        if self._socket is None:
            raise RuntimeError("LocalCarto is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The user's base URL, on-premise style: ``http://127.0.0.1:PORT/user/<username>``."""
        return f"{self.root_url}/user/{self.username}"

    @property
    def host_based_url(self) -> str:
        """``http://<username>.localhost:PORT``; needs a resolver that maps ``*.localhost``."""
        return f"http://{self.username}.localhost:{self.port}"

    @property
    def db(self) -> Database:
        """The database the imports load into and the SQL API queries."""
        if self._db is None:
            raise RuntimeError("LocalCarto is not running")
        return self._db

    @property
    def faults(self) -> Faults:
        """The fault configuration; change it while the server runs to inject faults."""
        return self._faults

    def _running(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("LocalCarto is not running")
        return self._ctx

    def jobs(self, kind: str | None = None) -> list[JobRecord]:
        """The server's jobs (of ``kind``: ``"import"``, ...), oldest first, for inspection.

        Each has its ``id``, ``kind``, ``info`` (a :class:`JobInfo`), creation time, processing
        time and, once done, its ``end()``; ``server.job_state(job)`` is what a client sees now.
        """
        ctx = self._running()
        return [j for j in ctx.jobs.all() if kind is None or j.kind.name == kind]

    def job_state(self, job: JobRecord) -> str:
        """The state a client would see for ``job`` now."""
        return self._running().jobs.state(job)

    def wait_for_work(self, job: JobRecord, timeout: float | None = 30.0) -> None:
        """Block until ``job``'s work (its data load) has run, whatever the clock says.

        On a frozen clock this separates the two things a final state waits for: advance the
        clock, then wait for the work, and the next read is final.
        """
        self._running().jobs.wait_for_work(job, timeout)

    def tables(self) -> list[str]:
        """The user's tables, sorted by name."""
        return self.db.list_tables()

    @property
    def visualizations(self) -> Visualizations:
        """The maps and dataset pages (``/api/v1/viz``), for inspection."""
        return self._running().visualizations

    def arcgis_url(self, table: str, *, folder: str = "localcarto", layer: int | None = 0) -> str:
        """The fake ArcGIS URL serving ``table``: its layer, or with ``layer=None`` its service.

        ``server.arcgis`` (an :class:`ArcGisSettings`) changes what the fake server reports.
        """
        service = f"{self.base_url}{ARCGIS_PREFIX}/{folder}/{table}/FeatureServer"
        return service + "/" if layer is None else f"{service}/{layer}"

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward: jobs, stale thresholds and rate limits see it."""
        self.clock.advance(seconds)

    def reset(self) -> None:
        """Back to a fresh server without restarting: for a server shared by many tests.

        Forgets every job (waiting for loads under way), drops every table, clears faults,
        rate limits, registered datasources and counters, then imports ``seed_dir`` again.
        Keys, port and clock stay (a clock never goes back).
        """
        ctx = self._running()
        ctx.jobs.reset()
        reset_batch_queue(ctx)
        ctx.syncs.clear()
        ctx.exports.clear()
        ctx.visualizations.clear()
        for table in self.db.list_tables():
            self.db.drop_table(table)
        self._faults.clear()
        self.sources.clear()
        self.counters.reset()
        self._seed()

    def register_datasource(
        self,
        service_name: str,
        item_id: str,
        filename: str,
        data: bytes | str,
        *,
        error_code: int | None = None,
    ) -> None:
        """Make imports with ``service_name`` and ``service_item_id=item_id`` load ``data``.

        ``filename`` names the file the connector would have fetched (its extension tells the
        file type). With ``error_code`` the import fails with it instead (e.g. 1013 for an
        ArcGIS server older than 10.1). ArcGIS layers register with ``service_name="arcgis"``
        and the layer URL as ``item_id``.
        """
        self.sources.register(service_name, item_id, filename, data, error_code=error_code)

    def client(self, **options: Any) -> Carto:
        """A :class:`carto_async.Carto` for this server's user and master key."""
        from carto_async import Carto  # noqa: PLC0415 - the SDK is optional for a bare server

        return Carto(
            username=self.username, api_key=self.api_key, base_url=self.base_url, **options
        )

    def async_client(self, **options: Any) -> AsyncCarto:
        """A :class:`carto_async.AsyncCarto` for this server's user and master key."""
        from carto_async import AsyncCarto  # noqa: PLC0415 - the SDK is optional for a bare server

        return AsyncCarto(
            username=self.username, api_key=self.api_key, base_url=self.base_url, **options
        )

    # -- lifecycle -------------------------------------------------------------------------

    def _seed(self) -> None:
        if self._seed_dir is None:
            return
        _, max_rows, max_columns = self._limits
        # A seed is the server's starting data, not an upload: no size limit, and a restart
        # on a persistent database replaces the tables instead of adding copies.
        options = LoadOptions(
            collision_strategy="overwrite",
            max_file_size=2**62,
            max_rows=max_rows,
            max_columns=max_columns,
        )
        importer = self._running().importer
        for entry in sorted(os.scandir(self._seed_dir), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                importer.load_now(entry.name, entry.path, options)
            except ImportFailure as exc:
                raise SeedError(entry.path, exc.code, exc.message) from None

    def _prepare(self) -> _Uvicorn:
        self._tmp = tempfile.mkdtemp(prefix="localcarto-")
        if self._db is None:
            self._db = Database(self._db_path)
        max_file_size, max_rows, max_columns = self._limits
        jobs = JobClock(
            clock=self.clock, faults=self._faults, counters=self.counters, workers=self._workers
        )
        visualizations = Visualizations(
            self._db,
            self.clock,
            default_privacy="private" if self._private_tables else "public",
        )
        importer = Importer(
            jobs=jobs,
            db=self._db,
            sources=self.sources,
            download_dir=self._tmp,
            visualizations=visualizations,
            **self._import_options,
        )
        syncs = Syncs(
            jobs=jobs,
            importer=importer,
            db=self._db,
            visualizations=visualizations,
            processing_time=self._sync_time,
            error_title=lambda code: (error_text(code) or {}).get("title", "Unknown error"),
        )
        exports = Exports(
            jobs=jobs,
            db=self._db,
            directory=self._tmp,
            username=self.username,
            processing_time=self._export_time,
        )
        self.clock.add_listener(syncs.tick)
        self._ctx = Context(
            username=self.username,
            keys=self._keys,
            db=self._db,
            clock=self.clock,
            jobs=jobs,
            importer=importer,
            counters=self.counters,
            faults=self._faults,
            sql_pool=ThreadPoolExecutor(max_workers=4, thread_name_prefix="localcarto-sql"),
            upload_dir=self._tmp,
            host_based=self._host_based,
            max_file_size=max_file_size,
            max_rows=max_rows,
            max_columns=max_columns,
            private_tables=self._private_tables,
            sql_timeout=self._sql_timeout,
            visualizations=visualizations,
            syncs=syncs,
            exports=exports,
            arcgis=self.arcgis,
            sync_tables=self._sync_tables,
            # Spools go in the server's own private folder unless told otherwise: removed
            # with it at stop, even those of responses cut short by the stop.
            sql_results=(
                self._sql_results
                if self._sql_results.spool_dir is not None
                else attrs.evolve(self._sql_results, spool_dir=self._tmp)
            ),
        )
        self._seed()
        app = create_app(self._ctx)
        install_access_log_masking()
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level=self._log_level,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
            # uvicorn annotates it int; it only reaches loop.call_later, which takes seconds.
            timeout_keep_alive=cast(int, self.keep_alive),
        )
        return _Uvicorn(config)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
        # IPPROTO_TCP, and without it every response waits 40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
            # Listen now: connections made before uvicorn's loop starts wait in the backlog.
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return sock

    def start(self) -> Self:
        """Start serving from a background thread; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("LocalCarto is already running")
        try:
            self._server = self._prepare()
            self._socket = self._bind()
            server, sock = self._server, self._socket
            self._thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="LocalCarto", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + _START_TIMEOUT
            while not server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("LocalCarto failed to start")
                time.sleep(0.002)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and release the port, threads, temporary files and (own) database."""
        server, thread = self._server, self._thread
        if server is not None:
            server.request_stop()
        if thread is not None:
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                # Say so rather than hang the caller (a test suite, a CI run) for ever; the
                # engine and files stay as they are for the thread still using them.
                raise RuntimeError(
                    f"LocalCarto's server thread did not stop within {_STOP_TIMEOUT:g} s: "
                    "a request handler is blocking its event loop"
                )
        self._release()

    def _release(self) -> None:
        if self._socket is not None:
            self._socket.close()
        if self._ctx is not None:
            self.clock.remove_listener(self._ctx.syncs.tick)
            self._ctx.jobs.close()
            close_batch_queue(self._ctx)
            self._ctx.sql_pool.shutdown(wait=True, cancel_futures=True)
        if self._db is not None and self._owns_db:
            self._db.close()
            self._db = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._server = self._thread = self._socket = self._ctx = None
        self._tmp = None

    def serve_forever(self, ready: Callable[[LocalCarto], None] | None = None) -> None:
        """Serve in the calling (main) thread until Ctrl-C or SIGTERM, then clean up.

        ``ready`` is called with the server once the port accepts connections.
        """
        if self._thread is not None:
            raise RuntimeError("LocalCarto is already running")
        try:
            self._server = self._prepare()
            self._socket = self._bind()
            if ready is not None:
                ready(self)
            # uvicorn re-raises the captured Ctrl-C after its graceful shutdown.
            with contextlib.suppress(KeyboardInterrupt):
                self._server.run(sockets=[self._socket])
        finally:
            self._release()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)


def serve(
    port: int = 8765,
    host: str = "127.0.0.1",
    *,
    username: str = "demo",
    api_key: str | None = None,
    db: str | os.PathLike[str] | None = None,
    seed_dir: str | os.PathLike[str] | None = None,
    faults: Faults | None = None,
    ready: Callable[[LocalCarto], None] | None = None,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Run LocalCarto in the foreground until Ctrl-C (``carto-async local-server``).

    ``ready`` is called with the server once its socket is bound, e.g. to print the base URL
    and keys; ``options`` are the other :class:`LocalCarto` options. The access log masks
    ``api_key``/``map_key`` values.

    >>> serve(port=8765, username="demo", api_key="secret", db="demo.duckdb")  # doctest: +SKIP
    """
    server = LocalCarto(
        username=username,
        api_key=api_key,
        db=db,
        seed_dir=seed_dir,
        faults=faults,
        host=host,
        port=port,
        log_level=log_level,
        **options,
    )
    server.serve_forever(ready=ready)
