"""Static type checks of the public API, checked by ``mypy --strict`` (pyproject's ``files``).

The ``check_*`` functions are never called: mypy proves each ``assert_type`` and that each
``# type: ignore[...]`` line is an error (``warn_unused_ignores`` fails the run otherwise).
The one test only makes sure this module imports.
"""

from __future__ import annotations

import io
from typing import assert_type

from carto_async import (
    AsyncCarto,
    AsyncImportJob,
    AsyncStreamedResponse,
    Carto,
    CollisionStrategy,
    ImportJob,
    ImportStatus,
    Privacy,
    RateLimitError,
    RateLimitKind,
    SourceChangedError,
    StreamedResponse,
)
from carto_async._async.transport import Downloaded
from carto_async._core.http import RequestSpec, Service

SPEC = RequestSpec("GET", "/files/x.carto", Service.RAILS)


async def check_async_imports(carto: AsyncCarto) -> None:
    job = await carto.imports.upload("a.csv", privacy=Privacy.PUBLIC, type_guessing=False)
    assert_type(job, AsyncImportJob)
    assert_type(await job.wait(), ImportStatus)
    await carto.imports.from_url("https://x/a.csv", collision_strategy=CollisionStrategy.SKIP)
    await carto.imports.upload(b"a\n", filename="a.csv", privacy="public")
    await carto.imports.upload("a.csv", type_guessing="no")  # type: ignore[arg-type]
    await carto.imports.upload("a.csv", privcy="public")  # type: ignore[call-arg]
    await carto.imports.from_query("select 1", table_name="t", create_vis=True)


def check_sync_imports(carto: Carto) -> None:
    job = carto.imports.upload(io.BytesIO(b"a\n"), filename="a.csv", content_guessing=True)
    assert_type(job, ImportJob)
    assert_type(job.wait(), ImportStatus)
    carto.imports.copy_table("t", privacy=1)  # type: ignore[arg-type]


async def check_async_streams(carto: AsyncCarto) -> None:
    async with carto._transport.stream(SPEC) as response:
        assert_type(response, AsyncStreamedResponse)
        assert_type(response.total, int | None)
        async for chunk in response:
            assert_type(chunk, bytes)
    done = await carto._transport.download(SPEC, "x.carto", progress=lambda n, t: None)
    assert_type(done, Downloaded)
    assert_type(done.size, int)


def check_sync_streams(carto: Carto) -> None:
    with carto._transport.stream(SPEC) as response:
        assert_type(response, StreamedResponse)
        for chunk in response:
            assert_type(chunk, bytes)
    carto._transport.download(SPEC, io.BytesIO())


def check_errors(exc: RateLimitError, changed: SourceChangedError) -> None:
    assert_type(exc.kind, RateLimitKind)
    assert_type(changed.expected, int)
    RateLimitError("x", status_code=429, kind="slow")  # type: ignore[arg-type]


def test_this_module_imports() -> None:
    assert callable(check_errors)
