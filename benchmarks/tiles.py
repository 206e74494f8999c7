"""#9 Tile fetching: N PNG tiles of one layergroup through the SDK, raw httpx and carto-python.

LocalCarto (in a child process) gets a table of points spread over the world and one
anonymous map of it (SQL + CartoCSS, rendered by Mapnik); every client then fetches the same
N tile coordinates (zoom ``--zoom``, walked in order) at each concurrency level:

* ``carto_async async`` / ``carto_async sync``: ``carto.maps.tiles(group, coords,
  concurrency=c)`` (streamed, concurrently under the client's limits); at concurrency 1,
  ``carto.maps.tile(...)`` in a loop;
* ``raw httpx.AsyncClient`` / ``raw httpx.Client``: GETs of the same URLs with the same
  headers (captured from an SDK call), the SDK's pool limits and timeout;
* ``carto-python + requests``: carto-python builds tile URLs only
  (``AnonymousMap.get_tile_url``); a ``requests.Session`` per thread fetches them.

Clients are compared in interleaved blocks (as in #2) so bursts of other work hit all alike.
The server renders every tile (no tile cache), so the figures are for client + server on the
shared cores; the SDK's own cost shows in the ratio to raw httpx.

    python -m benchmarks.tiles --tiles 2000 --concurrency 1 50
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx

from benchmarks import _carto_python as cp
from benchmarks._common import Table, median, quiet_warnings, ratio, verdict
from benchmarks._server import ServerProcess, local_carto_process
from carto_async import AsyncCarto, Carto
from carto_async.models.maps import Layergroup, MapConfig, MapnikLayer

__all__ = ["add_arguments", "main", "run"]

SDK_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
SDK_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64)
TABLE = "bench_tile_points"
CARTOCSS = "#layer { marker-fill: #e34a33; marker-width: 6; marker-line-width: 0; }"
GOAL = 0.10

Coords = tuple[int, int, int]
#: Raw httpx has no retries: a request on a kept-alive connection the (overloaded) server
#: closed is sent once more, and counted here.
_STALE = (httpx.ReadError, httpx.RemoteProtocolError)
RAW_RETRIES = {"async": 0, "sync": 0}
Timing = tuple[float, float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("tile fetching (#9)")
    g.add_argument("--tiles", type=int, default=2000, help="tiles per client per run (2000)")
    g.add_argument("--tile-concurrency", type=int, nargs="+", default=[1, 50], help="levels (1 50)")
    g.add_argument("--zoom", type=int, default=6, help="zoom of the tiles (6: 4096 tiles)")
    g.add_argument("--points", type=int, default=2000, help="points in the table (2000)")
    g.add_argument("--tile-block", type=int, default=100, help="tiles per interleaved block")
    g.add_argument("--tile-repeat", type=int, default=1, help="runs (1)")


def _coords(n: int, zoom: int) -> list[Coords]:
    side = 2**zoom
    return [(zoom, i % side, (i // side) % side) for i in range(n)]


def _split(items: Sequence[Coords], parts: int) -> list[list[Coords]]:
    return [list(items[i::parts]) for i in range(parts)]


def prepare(srv: ServerProcess, points: int) -> Layergroup:
    """A table of ``points`` points over the world and an anonymous map of it."""
    with Carto(srv.username, srv.api_key, srv.base_url) as carto:
        carto.sql.query(f"DROP TABLE IF EXISTS {TABLE}")
        carto.sql.query(
            f"CREATE TABLE {TABLE} AS SELECT i AS cartodb_id, "
            "ST_Transform(ST_SetSRID(ST_MakePoint(((i * 37) % 360) - 180.0 + 0.5, "
            "((i * 53) % 160) - 80.0 + 0.5), 4326), 3857) AS the_geom_webmercator "
            f"FROM generate_series(1, {points}) AS g(i)"
        )
        layer = MapnikLayer(sql=f"select * from {TABLE}", cartocss=CARTOCSS)
        return carto.maps.create(MapConfig(layers=[layer]))


def sdk_request(srv: ServerProcess, group: Layergroup) -> tuple[str, dict[str, str]]:
    """The URL template (``{z}/{x}/{y}``) and headers of an SDK tile request."""
    seen: list[httpx.Request] = []
    with (
        httpx.Client(event_hooks={"request": [seen.append]}) as http,
        Carto(srv.username, srv.api_key, srv.base_url, http_client=http) as carto,
    ):
        carto.maps.tile(group, 0, 0, 0)
    request = seen[-1]
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    url = str(request.url).replace("/0/0/0.png", "/{z}/{x}/{y}.png")
    return url, headers


def _blocks(coords: Sequence[Coords], block: int) -> list[list[Coords]]:
    return [list(coords[i : i + block]) for i in range(0, len(coords), block)]


def _rotated(names: Sequence[str], i: int) -> list[str]:
    k = i % len(names)
    return [*names[k:], *names[:k]]


def _check(body: bytes) -> None:
    if not body.startswith(b"\x89PNG"):
        raise RuntimeError("a tile is not a PNG")


# -- async ------------------------------------------------------------------------------------


async def _async_run(
    url: str, headers: dict[str, str], srv: ServerProcess, group: Layergroup,
    args: argparse.Namespace, c: int,
) -> dict[str, Timing]:  # fmt: skip
    coords = _coords(args.tiles, args.zoom)
    async with (
        httpx.AsyncClient(timeout=SDK_TIMEOUT, limits=SDK_LIMITS) as raw,
        AsyncCarto(srv.username, srv.api_key, srv.base_url) as carto,
    ):

        async def raw_one(z: int, x: int, y: int) -> None:
            try:
                r = await raw.get(url.format(z=z, x=x, y=y), headers=headers)
            except _STALE:
                # A kept-alive connection the server closed meanwhile: sent again once, as
                # the SDK's retry does for a GET (counted).
                RAW_RETRIES["async"] += 1
                r = await raw.get(url.format(z=z, x=x, y=y), headers=headers)
            r.raise_for_status()
            _check(r.content)

        async def raw_batch(batch: list[Coords]) -> None:
            if c == 1:
                for z, x, y in batch:
                    await raw_one(z, x, y)
                return

            async def worker(part: list[Coords]) -> None:
                for z, x, y in part:
                    await raw_one(z, x, y)

            async with anyio.create_task_group() as tg:
                for part in _split(batch, min(c, len(batch))):
                    tg.start_soon(worker, part)

        async def sdk_batch(batch: list[Coords]) -> None:
            if c == 1:
                for z, x, y in batch:
                    _check(await carto.maps.tile(group, z, x, y))
                return
            for body in await carto.maps.tiles(group, batch, concurrency=c):
                _check(body)

        calls: dict[str, Callable[[list[Coords]], Any]] = {
            "raw httpx.AsyncClient": raw_batch,
            "carto_async async": sdk_batch,
        }
        return await _timed_async(calls, coords, args.tile_block)


async def _timed_async(
    calls: dict[str, Callable[[list[Coords]], Any]], coords: list[Coords], block: int
) -> dict[str, Timing]:
    for call in calls.values():  # warm-up: connections open, code paths hot
        await call(coords[:10])
    totals = dict.fromkeys(calls, (0.0, 0.0))
    for i, batch in enumerate(_blocks(coords, block)):
        for name in _rotated(list(calls), i):
            cpu, start = time.process_time(), time.perf_counter()
            await calls[name](batch)
            wall_s, cpu_s = totals[name]
            totals[name] = (
                wall_s + time.perf_counter() - start,
                cpu_s + time.process_time() - cpu,
            )
    return totals


# -- sync -------------------------------------------------------------------------------------


def _sync_run(
    url: str, headers: dict[str, str], srv: ServerProcess, group: Layergroup,
    args: argparse.Namespace, c: int,
) -> dict[str, Timing]:  # fmt: skip
    coords = _coords(args.tiles, args.zoom)
    local = threading.local()
    sessions: list[Any] = []
    lock = threading.Lock()
    auth = cp.new_auth_client(srv.base_url, srv.api_key)
    sessions.append(auth.session)
    with quiet_warnings():
        import carto.maps  # noqa: PLC0415 - optional, for this figure only

        anonymous = carto.maps.AnonymousMap(auth)
        anonymous.layergroupid = group.layergroupid  # the same map, URLs built by carto-python
    key = {"api_key": srv.api_key}

    def cp_one(z: int, x: int, y: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            import requests  # noqa: PLC0415 - carto-python's own dependency

            session = local.session = requests.Session()
            with lock:
                sessions.append(session)
        # the table is private: CARTO draws a tile as the key that asks for it
        r = session.get(anonymous.get_tile_url(x, y, z), params=key, timeout=60)
        r.raise_for_status()
        _check(r.content)

    pool = ThreadPoolExecutor(max_workers=c) if c > 1 else None
    try:
        with (
            httpx.Client(timeout=SDK_TIMEOUT, limits=SDK_LIMITS) as raw,
            Carto(srv.username, srv.api_key, srv.base_url) as sdk,
        ):

            def raw_one(z: int, x: int, y: int) -> None:
                try:
                    r = raw.get(url.format(z=z, x=x, y=y), headers=headers)
                except _STALE:
                    RAW_RETRIES["sync"] += 1
                    r = raw.get(url.format(z=z, x=x, y=y), headers=headers)
                r.raise_for_status()
                _check(r.content)

            def threaded(one: Callable[[int, int, int], None]) -> Callable[[list[Coords]], None]:
                def batch_call(batch: list[Coords]) -> None:
                    def worker(part: list[Coords]) -> None:
                        for z, x, y in part:
                            one(z, x, y)

                    if pool is None:
                        worker(batch)
                        return
                    parts = _split(batch, min(c, len(batch)))
                    for f in [pool.submit(worker, part) for part in parts]:
                        f.result()

                return batch_call

            def sdk_batch(batch: list[Coords]) -> None:
                if c == 1:
                    for z, x, y in batch:
                        _check(sdk.maps.tile(group, z, x, y))
                    return
                for body in sdk.maps.tiles(group, batch, concurrency=c):
                    _check(body)

            calls: dict[str, Callable[[list[Coords]], None]] = {
                "raw httpx.Client": threaded(raw_one),
                "carto_async sync": sdk_batch,
                "carto-python + requests": threaded(cp_one),
            }
            for call in calls.values():
                call(coords[:10])
            totals = dict.fromkeys(calls, (0.0, 0.0))
            for i, batch in enumerate(_blocks(coords, args.tile_block)):
                for name in _rotated(list(calls), i):
                    cpu, start = time.process_time(), time.perf_counter()
                    calls[name](batch)
                    wall_s, cpu_s = totals[name]
                    totals[name] = (
                        wall_s + time.perf_counter() - start,
                        cpu_s + time.process_time() - cpu,
                    )
    finally:
        if pool is not None:
            pool.shutdown()
        for session in sessions:
            session.close()
    return totals


# -- the benchmark ----------------------------------------------------------------------------

ROWS = [
    ("raw httpx.AsyncClient", "async"),
    ("carto_async async", "async"),
    ("raw httpx.Client", "sync"),
    ("carto_async sync", "sync"),
    ("carto-python + requests", "sync"),
]
RAW = {"async": "raw httpx.AsyncClient", "sync": "raw httpx.Client"}


def run(args: argparse.Namespace) -> str:
    """Run every case, print the table and the goal, and return that text."""
    n = args.tiles
    timings: dict[tuple[str, int], list[Timing]] = {}
    load_before = os.getloadavg()[0]
    with local_carto_process() as srv:
        group = prepare(srv, args.points)
        url, headers = sdk_request(srv, group)
        for _ in range(args.tile_repeat):
            for c in args.tile_concurrency:
                for totals in (
                    anyio.run(_async_run, url, headers, srv, group, args, c),
                    _sync_run(url, headers, srv, group, args, c),
                ):
                    for name, timing in totals.items():
                        timings.setdefault((name, c), []).append(timing)
    load_after = os.getloadavg()[0]
    wall = {k: median([t[0] for t in ts]) for k, ts in timings.items()}
    cpu = {k: median([t[1] for t in ts]) / n for k, ts in timings.items()}
    table = Table(
        ["client", "concurrency", "tiles/s", "x raw httpx", "wall overhead",
         "client CPU us/tile"],
        title=(
            f"#9 tiles: {n} PNG tiles (zoom {args.zoom}, 256 px, {args.points} points, rendered "
            f"by Mapnik) per client, interleaved blocks of {args.tile_block}, "
            f"{args.tile_repeat} run(s); LocalCarto in a child process on the same "
            f"{os.cpu_count()} cores"
        ),
    )  # fmt: skip
    for c in args.tile_concurrency:
        for name, colour in ROWS:
            key, base = (name, c), (RAW[colour], c)
            is_raw = name == RAW[colour]
            table.add(
                [
                    name,
                    c,
                    f"{n / wall[key]:.0f}",
                    f"{ratio(wall[base], wall[key]):.2f}x",
                    "-" if is_raw else f"{(ratio(wall[key], wall[base]) - 1) * 100:+.1f}%",
                    f"{cpu[key] * 1e6:.0f}",
                ]
            )
    lines = [
        table.render(),
        "",
        f"request: GET {url.split('?')[0]} with headers {sorted(headers)} (captured from the "
        "SDK); carto-python builds the URL with AnonymousMap.get_tile_url and requests fetches "
        "it (one Session per thread)",
        f"raw httpx requests sent again after a stale kept-alive connection: "
        f"{RAW_RETRIES['async']} async, {RAW_RETRIES['sync']} sync",
        f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after",
        "",
    ]
    for colour, label in (("async", "carto_async async"), ("sync", "carto_async sync")):
        key, base = (label, 1), (RAW[colour], 1)
        if key not in wall:
            continue
        overhead = ratio(wall[key], wall[base]) - 1
        lines.append(
            f"goal: {label} at most {GOAL * 100:.0f} % slower than raw httpx at concurrency 1: "
            f"{overhead * 100:+.1f} % -> {verdict(overhead <= GOAL)}"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.tiles``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
