"""Benchmarks: carto_async against raw httpx and carto-python, side by side, on LocalCarto.

These print figures; they assert nothing about time. ``python -m benchmarks`` runs them all
(``--only`` picks some, ``--smoke`` runs tiny sizes); each module also runs on its own:

* ``batch_import``      #1 N files imported end to end, against the floor the server allows
* ``request_overhead``  #2 ``sql.query`` requests per second against raw httpx
* ``upload_memory``     #3 peak RSS of a client uploading a big file
* ``polling``           #4 status requests per job and detection delay of ``wait_all``
* ``download_memory``   #5 peak RSS of a client streaming a big download into a file
* ``localcarto_engine`` #6 LocalCarto's engine: SQL API ``select 1`` per second, a 100,000-row
  CSV import (seconds, peak server memory)
* ``fanout``            #7 ``select 1`` at 1, 50 and 100 in flight: every client and transport
* ``dataframes``        #8 DataFrames written and read through COPY against carto-python
* ``tiles``             #9 PNG tiles per second of one layergroup against raw httpx
* ``sql_download``      #10 a big query result saved through ``sql.download`` and ``copy_to``
  against raw httpx streaming and carto-python: throughput, client CPU and memory

Results of the last full run, with the machine and the command: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

#: Name -> module, in the order ``python -m benchmarks`` runs them.
BENCHMARKS: dict[str, str] = {
    "batch": "benchmarks.batch_import",
    "overhead": "benchmarks.request_overhead",
    "memory": "benchmarks.upload_memory",
    "polling": "benchmarks.polling",
    "download": "benchmarks.download_memory",
    "engine": "benchmarks.localcarto_engine",
    "fanout": "benchmarks.fanout",
    "dataframes": "benchmarks.dataframes",
    "tiles": "benchmarks.tiles",
    "sqldownload": "benchmarks.sql_download",
}

#: Tiny sizes for a smoke run (``--smoke``, and ``tests/test_benchmarks_smoke.py``): every
#: client and code path runs once, in a few seconds; the figures mean nothing.
SMOKE_ARGS: dict[str, list[str]] = {
    "batch": [
        "--files", "4", "--rows", "5", "--slots", "2", "--processing-time", "0.05",
        "--batch-repeat", "1", "--documented-repeat", "1", "--documented-poll", "0.05",
        "--tuned-fixed-poll", "0.02", "--tuned-poll", "0.02,1.2,0.2,0.1",
        "--default-poll", "0.05,1.5,1,0.2",
    ],
    "overhead": [
        "--requests", "20", "--concurrency", "1", "4", "--warmup", "2", "--block", "10",
        "--overhead-repeat", "1",
    ],
    "memory": ["--upload-mib", "2", "--memory-repeat", "1"],
    "engine": ["--sql-requests", "20", "--sql-concurrency", "1", "--import-rows", "200",
               "--engine-repeat", "1"],
    "polling": [
        "--poll-jobs", "6", "--min-duration", "0.1", "--max-duration", "0.3",
        "--policies", "wait_all:0.05,1.5,1,0.2", "each:0.05,1.5,1,0.2",
    ],
    "download": ["--download-mib", "2", "--download-repeat", "1"],
    "fanout": [
        "--fanout-requests", "20", "--fanout-concurrency", "1", "4", "--fanout-warmup", "2",
        "--fanout-block", "10", "--fanout-repeat", "1",
    ],
    "dataframes": ["--df-rows", "300", "--df-repeat", "1"],
    "tiles": [
        "--tiles", "12", "--tile-concurrency", "1", "4", "--zoom", "2", "--points", "50",
        "--tile-block", "6",
    ],
    "sqldownload": ["--sqldl-mib", "2", "--sqldl-repeat", "1"],
}  # fmt: skip

__all__ = ["BENCHMARKS", "SMOKE_ARGS"]
