"""#8 DataFrames through COPY: rows/s and peak client memory, ours against carto-python.

Writes N rows (a text, a float, an integer and a point) and reads them back through LocalCarto
(in its own process) with:

* ``carto.dataframes.write(df)``: bulk-encoded COPY CSV in chunks, one streamed COPY;
* ``carto.dataframes.write(frames)``: the same from an iterator of 100,000-row frames built on
  the fly (the whole table never exists in the client);
* carto-python's ``CopySQLClient.copyfrom`` fed the way CARTOframes feeds it: a generator that
  reads each cell with ``df.at[...]`` and encodes it on its own (geometries with shapely's
  ``wkb.dumps(hex=True, srid=4326)``), ``|``-separated with ``__null`` for NULL;

and reads with ``carto.dataframes.read`` and ``read_chunks`` (100,000 rows at a time, each
dropped) against carto-python's ``CopySQLClient.copyto`` parsed by ``pandas.read_csv`` with the
geometries decoded cell by cell (what CARTOframes does). Each measurement runs in a fresh child
process: the data is built (for the whole-frame cases), the peak RSS reset, then the
transfer timed. Memory "flat in rows" shows as the same peak at both sizes.

    python -m benchmarks.dataframes --df-rows 250000 1000000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from benchmarks._common import REPO_ROOT, Table, child_env, median, verdict
from benchmarks._server import local_carto_process
from benchmarks.upload_memory import PeakRSS

__all__ = ["CLIENTS", "add_arguments", "main", "run"]

MIB = 2**20
CHUNK_ROWS = 100_000

CLIENTS = {
    "write": "carto_async dataframes.write(df)",
    "write-iter": "carto_async dataframes.write(iterator of frames)",
    "cp-write": "carto-python CopySQLClient.copyfrom, per-cell generator",
    "read": "carto_async dataframes.read",
    "read-chunks": "carto_async dataframes.read_chunks",
    "cp-read": "carto-python CopySQLClient.copyto + pandas.read_csv",
}
_WRITES = ("write", "write-iter", "cp-write")
_TABLES = {"write": "bench_ours", "write-iter": "bench_iter", "cp-write": "bench_cp"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("dataframes (#8)")
    g.add_argument(
        "--df-rows", type=int, nargs="+", default=[250_000, 1_000_000],
        help="rows written and read (250000 1000000)",
    )  # fmt: skip
    g.add_argument("--df-repeat", type=int, default=1, help="runs per client and size (1)")
    g.add_argument(
        "--df-chunk-rows", type=int, default=CHUNK_ROWS,
        help=f"rows per frame written from an iterator and per read_chunks frame ({CHUNK_ROWS})",
    )  # fmt: skip
    g.add_argument(
        "--df-clients", nargs="+", choices=list(CLIENTS), default=list(CLIENTS),
        help="clients to measure (all)",
    )  # fmt: skip


# -- the data ---------------------------------------------------------------------------------


def frame(start: int, stop: int) -> Any:
    """Rows ``start..stop`` as a GeoDataFrame: name, value, n and a point."""
    import geopandas  # noqa: PLC0415 - children import what they use
    import numpy as np  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    ids = np.arange(start, stop)
    return geopandas.GeoDataFrame(
        {
            "name": [f"row {i}" for i in ids],
            "value": ids * 0.5,
            "n": ids,
        },
        geometry=shapely.points((ids % 360) - 180 + 0.25, (ids % 170) - 85 + 0.5),
        crs="EPSG:4326",
    )


def frames(rows: int, chunk: int = CHUNK_ROWS) -> Iterator[Any]:
    for start in range(0, rows, chunk):
        yield frame(start, min(rows, start + chunk))


_CREATE = (
    "DROP TABLE IF EXISTS {t}; "
    "CREATE TABLE {t} (name text, value double precision, n bigint, "
    "the_geom geometry(Geometry,4326)); SELECT CDB_CartodbfyTable('{t}')"
)


def cartoframes_rows(df: Any) -> Iterator[bytes]:
    """What CARTOframes' ``_compute_copy_data`` yields: one row at a time, cell by cell."""
    from shapely import wkb  # noqa: PLC0415

    columns = ["name", "value", "n", "geometry"]
    for index in df.index:
        row = []
        for column in columns:
            val = df.at[index, column]
            if column == "geometry":
                encoded = wkb.dumps(val, hex=True, srid=4326) if val is not None else "__null"
            elif val is None or (isinstance(val, float) and val != val):
                encoded = "__null"
            else:
                encoded = str(val)
            row.append(encoded.encode())
        yield b"|".join(row) + b"\n"


# -- the child: one measurement ---------------------------------------------------------------


def _measure_child(
    client: str, base_url: str, key: str, rows: int, chunk: int = CHUNK_ROWS
) -> dict[str, Any]:
    import warnings  # noqa: PLC0415

    # Every import before the measurement: only the transfer is timed and measured.
    import geopandas  # noqa: F401, PLC0415
    import pandas  # noqa: F401, PLC0415
    import pyarrow.csv  # noqa: F401, PLC0415
    import shapely  # noqa: PLC0415
    from carto.auth import APIKeyAuthClient  # noqa: PLC0415
    from carto.sql import CopySQLClient  # noqa: PLC0415

    from carto_async import Carto  # noqa: PLC0415

    peak = PeakRSS()
    done: dict[str, Any] = {}
    with Carto("demo", key, base_url) as carto:
        assert carto.dataframes is not None  # imports the DataFrames layer now
        if client in ("write", "write-iter", "cp-write"):
            table = _TABLES[client]
            carto.sql.query(_CREATE.format(t=table))
            data = frame(0, rows) if client != "write-iter" else None
        if client == "cp-write":
            warnings.simplefilter("ignore")
            from carto.auth import APIKeyAuthClient  # noqa: PLC0415
            from carto.sql import CopySQLClient  # noqa: PLC0415

            auth = APIKeyAuthClient(base_url + "/", key)
            copy = CopySQLClient(auth)
            query = (
                f"COPY {table} (name, value, n, the_geom) FROM stdin "
                "WITH (FORMAT csv, DELIMITER '|', NULL '__null')"
            )
            peak.start()
            start, cpu = time.perf_counter(), time.process_time()
            result = copy.copyfrom(query, cartoframes_rows(data))
            done["rows"] = result["total_rows"]
        elif client == "cp-read":
            warnings.simplefilter("ignore")
            import pandas as pd  # noqa: PLC0415
            import shapely  # noqa: PLC0415
            from carto.auth import APIKeyAuthClient  # noqa: PLC0415
            from carto.sql import CopySQLClient  # noqa: PLC0415

            auth = APIKeyAuthClient(base_url + "/", key)
            copy = CopySQLClient(auth)
            peak.start()
            start, cpu = time.perf_counter(), time.process_time()
            response = copy.copyto(
                "COPY (select * from bench_ours) TO stdout WITH (FORMAT csv, HEADER true)"
            )
            df = pd.read_csv(io.BytesIO(response.content))
            df["the_geom"] = df["the_geom"].apply(
                lambda h: shapely.from_wkb(h) if isinstance(h, str) else None
            )
            done["rows"] = len(df)
        elif client == "write":
            peak.start()
            start, cpu = time.perf_counter(), time.process_time()
            done["rows"] = carto.dataframes.write(data, table, if_exists="replace")
        elif client == "write-iter":
            peak.start()
            start, cpu = time.perf_counter(), time.process_time()
            done["rows"] = carto.dataframes.write(frames(rows, chunk), table, if_exists="replace")
        elif client == "read":
            peak.start()
            start, cpu = time.perf_counter(), time.process_time()
            done["rows"] = len(carto.dataframes.read("select * from bench_ours"))
        elif client == "read-chunks":
            peak.start()
            start, cpu = time.perf_counter(), time.process_time()
            count = 0
            for df in carto.dataframes.read_chunks("select * from bench_ours", rows=chunk):
                count += len(df)
            done["rows"] = count
        else:
            raise ValueError(f"unknown client {client!r}")
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        above = peak.stop()
    if done["rows"] != rows:
        raise RuntimeError(f"{client} moved {done['rows']} rows, expected {rows}")
    return {
        "client": client,
        "seconds": seconds,
        "cpu": cpu_seconds,
        "above": above,
        "method": peak.method,
    }


def _run_child(client: str, base_url: str, key: str, rows: int, chunk: int) -> dict[str, Any]:
    args = {"client": client, "base_url": base_url, "key": key, "rows": rows, "chunk": chunk}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.dataframes", "--child", json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_env(),
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} child failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the parent -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    """Measure every client at every size, print the table and the goals, return that text."""
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    # Writes first: the reads read what "write" wrote, at the same size.
    order = [c for c in CLIENTS if c in args.df_clients]
    if any(c.startswith("read") or c == "cp-read" for c in order) and "write" not in order:
        order.insert(0, "write")
    with local_carto_process() as server:
        for _ in range(args.df_repeat):
            for rows in args.df_rows:
                for client in order:
                    got = _run_child(
                        client, server.base_url, server.api_key, rows, args.df_chunk_rows
                    )
                    results.setdefault((client, rows), []).append(got)
    table = Table(
        [
            "client",
            "rows",
            "runs",
            "seconds",
            "rows/s",
            "client CPU s",
            "rows/client CPU s",
            "peak above baseline",
        ],
        title=(
            "#8 DataFrames through COPY on LocalCarto (server in its own process): wall time "
            f"of the transfer and peak client RSS above its baseline, medians of "
            f"{args.df_repeat} run(s)"
        ),
    )
    rate: dict[tuple[str, int], float] = {}
    cpu_rate: dict[tuple[str, int], float] = {}
    peaks: dict[str, list[float]] = {}
    methods: set[str] = set()
    for (client, rows), rs in results.items():
        secs = median([r["seconds"] for r in rs])
        cpu = median([r["cpu"] for r in rs])
        cpu_rate[(client, rows)] = rows / max(cpu, 1e-9)
        above = median([r["above"] for r in rs])
        methods.update(r["method"] for r in rs)
        rate[(client, rows)] = rows / secs
        peaks.setdefault(client, []).append(above)
        table.add(
            [CLIENTS[client], f"{rows:,}", len(rs), f"{secs:.2f}", f"{rows / secs:,.0f}",
             f"{cpu:.2f}", f"{rows / max(cpu, 1e-9):,.0f}", f"{above / MIB:.1f} MiB"]
        )  # fmt: skip
    lines = [table.render(), "", f"peak measured with {', '.join(sorted(methods))}", ""]
    for rows in args.df_rows:
        ours, theirs = rate.get(("write", rows)), rate.get(("cp-write", rows))
        if ours and theirs:
            lines.append(
                f"goal: write >= 5x carto-python's rows/s at {rows:,} rows: "
                f"{ours / theirs:.1f}x -> {verdict(ours / theirs >= 5)}"
            )
        ours, theirs = cpu_rate.get(("write", rows)), cpu_rate.get(("cp-write", rows))
        if ours and theirs:
            lines.append(
                f"write at {rows:,} rows, client CPU only (reported): {ours / theirs:.1f}x "
                "carto-python's rows per CPU second"
            )
        ours, theirs = rate.get(("read", rows)), rate.get(("cp-read", rows))
        if ours and theirs:
            lines.append(f"read at {rows:,} rows (reported): {ours / theirs:.1f}x carto-python")
    if len(args.df_rows) > 1:
        for client in ("write-iter", "read-chunks"):
            if client in peaks and len(peaks[client]) > 1:
                small, big = peaks[client][0], peaks[client][-1]
                flat = big <= small * 1.5 + 32 * MIB
                lines.append(
                    f"goal: {CLIENTS[client]} memory flat in rows: {small / MIB:.1f} MiB at "
                    f"{args.df_rows[0]:,} rows, {big / MIB:.1f} MiB at {args.df_rows[-1]:,} "
                    f"-> {verdict(flat)}"
                )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.dataframes`` (``--child <json>`` measures one transfer)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        spec = json.loads(argv[1])
        got = _measure_child(
            spec["client"], spec["base_url"], spec["key"], spec["rows"], spec["chunk"]
        )
        print(json.dumps(got), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
