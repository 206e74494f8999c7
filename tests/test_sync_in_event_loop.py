"""The blocking client works inside a running event loop (as in Jupyter) and is never async."""

from __future__ import annotations

import asyncio
import inspect

import httpx
import respx

from carto_async import Carto, PollPolicy
from tests.helpers import BASE_URL, IMPORT_ID, IMPORTS_URL, KEY, SQL_URL, created, statuses


def test_sync_calls_inside_a_running_loop_return_values_not_coroutines() -> None:
    async def notebook_cell() -> tuple[object, object]:
        # A notebook cell runs inside the kernel's loop; blocking calls must still just work.
        with respx.mock:
            respx.post(IMPORTS_URL).mock(return_value=created())
            respx.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(side_effect=statuses("complete"))
            respx.get(SQL_URL).mock(
                return_value=httpx.Response(
                    200, json={"rows": [{"n": 1}], "time": 0, "fields": {}, "total_rows": 1}
                )
            )
            with Carto("demo", KEY, BASE_URL, poll=PollPolicy(initial=0.01, jitter=0)) as carto:
                job = carto.imports.upload(b"a\n1\n", filename="a.csv")
                status = job.wait()
                result = carto.sql.query("select 1 as n")
        return status, result

    status, result = asyncio.run(notebook_cell())
    assert not inspect.isawaitable(status)
    assert not inspect.isawaitable(result)
    assert getattr(status, "state", None) == "complete"
