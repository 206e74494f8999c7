"""LocalCarto: a local CARTO-compatible server for tests, benchmarks and offline work.

It speaks the real wire format of the Import API and the SQL API query endpoint, stores
tables in SQLite, walks import jobs through the real states on a fast clock, and injects
faults (latency, 5xx, dropped connections, slow bodies, rate limits, stuck imports) from a
seed so failures are reproducible. Installed with the ``[local]`` extra::

    from carto_async.testing import Faults, LocalCarto, RateLimit

    faults = Faults(seed=1, rate_limits={"sql": RateLimit(6)})
    with LocalCarto(faults=faults) as server:
        httpx.get(server.base_url + "/api/v2/sql", params={"q": "select 1"})
        print(server.counters.requests)
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
