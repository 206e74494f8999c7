"""Streaming both ways over a mocked wire: response bodies as they arrive, downloads written
atomically, request bodies from every source (gzip, progress, replay, a file that changes)."""

from __future__ import annotations

import gzip
import io
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import respx

from carto_async import (
    APIConnectionError,
    AsyncCarto,
    CartoError,
    NotFoundError,
    ServerError,
    SourceChangedError,
    ValidationError,
)
from carto_async._async._bodies import raw_body
from carto_async._core.http import KeyPlacement, RequestSpec, Service
from tests.helpers import BASE_URL, IMPORT_ID, IMPORTS_URL, KEY, created

pytestmark = pytest.mark.anyio

EXPORT_URL = f"{BASE_URL}/files/export.carto"
GET = RequestSpec("GET", "/files/export.carto", Service.RAILS)
COPY = RequestSpec("POST", "/api/v2/sql/copyfrom", Service.SQL, key=KeyPlacement.BASIC)
COPY_URL = f"{BASE_URL}/api/v2/sql/copyfrom"
BODY = bytes(range(256)) * 4096  # 1 MiB


class Boom(Exception):
    pass


async def chunks_then(parts: list[bytes], error: Exception | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if error is not None:
        raise error


def pieces(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def read_into(carto: AsyncCarto, received: list[bytes]) -> None:
    async with carto._transport.stream(GET) as response:
        async for chunk in response:
            received.append(chunk)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# -- responses --------------------------------------------------------------------------------


async def test_a_streamed_body_arrives_in_chunks_with_its_length(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(
            200,
            content=chunks_then(pieces(BODY)),
            headers={"Content-Length": str(len(BODY)), "Carto-Rate-Limit-Limit": "7"},
        )
    )
    got = []
    async with carto._transport.stream(GET) as response:
        assert response.status_code == 200
        assert response.total == len(BODY)
        assert response.rate_limit is not None
        assert response.rate_limit.limit == 7
        async for chunk in response:
            got.append(chunk)
        assert response.received == len(BODY)
    assert b"".join(got) == BODY
    assert len(got) > 1
    assert KEY not in repr(response)


async def test_a_failure_before_the_first_byte_is_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(EXPORT_URL).mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(200, content=chunks_then([], httpx.ReadError("reset"))),
            httpx.Response(503),
            httpx.Response(200, content=chunks_then(pieces(BODY))),
        ]
    )
    async with carto._transport.stream(GET, max_retries=3) as response:
        data = b"".join([chunk async for chunk in response])
    assert data == BODY
    assert route.call_count == 4


async def test_a_failure_after_the_first_byte_raises_and_is_not_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(
            200, content=chunks_then([b"abc", b"def"], httpx.ReadError(f"reset {KEY}"))
        )
    )
    received: list[bytes] = []
    with pytest.raises(APIConnectionError) as info:
        await read_into(carto, received)
    assert received == [b"abc", b"def"]
    assert "after 6 bytes of the body" in str(info.value)
    assert info.value.request_sent
    assert KEY not in str(info.value)
    assert route.call_count == 1


async def test_an_error_status_raises_with_its_message(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(404, json={"errors": "Visualization export not found"})
    )
    with pytest.raises(NotFoundError, match="export not found"):
        await read_into(carto, [])


async def test_the_request_slot_is_given_back_when_the_block_ends_early(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(EXPORT_URL).mock(
        side_effect=lambda request: httpx.Response(200, content=chunks_then(pieces(BODY)))
    )
    async with AsyncCarto("demo", KEY, BASE_URL, max_concurrent_requests=1) as carto:
        for _ in range(3):  # with one slot, a leaked slot would hang the second round
            async with carto._transport.stream(GET) as response:
                async for _chunk in response:
                    break


async def test_a_compressed_body_is_decoded_and_has_no_known_total(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    packed = gzip.compress(BODY)
    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(
            200,
            content=packed,
            headers={"Content-Encoding": "gzip", "Content-Length": str(len(packed))},
        )
    )
    async with carto._transport.stream(GET) as response:
        assert response.total is None
        assert b"".join([chunk async for chunk in response]) == BODY


# -- downloads --------------------------------------------------------------------------------


async def test_a_download_is_written_under_a_temporary_name_then_renamed(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    target = tmp_path / "export.carto"
    seen: list[tuple[int, int | None, bool]] = []

    def progress(done: int, total: int | None) -> None:
        seen.append((done, total, target.exists()))

    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(
            200,
            content=chunks_then(pieces(BODY)),
            headers={"Content-Length": str(len(BODY)), "Content-Disposition": "attachment"},
        )
    )
    done = await carto._transport.download(GET, target, progress=progress)
    assert target.read_bytes() == BODY
    assert (done.size, done.path, done.status_code) == (len(BODY), str(target), 200)
    assert done.headers["content-disposition"] == "attachment"
    assert seen[0] == (0, len(BODY), False)
    assert seen[-1] == (len(BODY), len(BODY), False)  # the final name appears only after
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    assert leftovers(tmp_path) == []


async def test_a_broken_download_never_takes_the_final_name(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    target = tmp_path / "export.carto"
    target.write_bytes(b"the previous export")
    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(
            200, content=chunks_then(pieces(BODY)[:3], httpx.RemoteProtocolError("cut"))
        )
    )
    with pytest.raises(APIConnectionError):
        await carto._transport.download(GET, target)
    assert target.read_bytes() == b"the previous export"
    assert leftovers(tmp_path) == []


async def test_an_error_in_the_progress_callback_removes_the_temporary_file(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    def progress(done: int, total: int | None) -> None:
        if done > 100_000:
            raise Boom

    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(200, content=chunks_then(pieces(BODY)))
    )
    with pytest.raises(Boom):
        await carto._transport.download(GET, tmp_path / "x.bin", progress=progress)
    assert list(tmp_path.iterdir()) == []


async def test_a_download_into_a_binary_file_object(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(EXPORT_URL).mock(
        return_value=httpx.Response(200, content=chunks_then(pieces(BODY)))
    )
    out = io.BytesIO()
    done = await carto._transport.download(GET, out)
    assert out.getvalue() == BODY
    assert (done.size, done.path) == (len(BODY), None)


async def test_bad_download_destinations_fail_before_any_request(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.get(EXPORT_URL).mock(return_value=httpx.Response(200, content=b"x"))
    with pytest.raises(ValidationError, match="no directory"):
        await carto._transport.download(GET, tmp_path / "missing" / "x.bin")
    with pytest.raises(ValidationError, match="is a directory"):
        await carto._transport.download(GET, tmp_path)
    with pytest.raises(ValidationError, match="binary mode"):
        await carto._transport.download(GET, io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cannot download into a int"):
        await carto._transport.download(GET, 5)  # type: ignore[arg-type]
    assert route.call_count == 0


# -- request bodies ---------------------------------------------------------------------------


def sync_pieces(data: bytes) -> Iterator[bytes]:
    yield from pieces(data)


@pytest.mark.parametrize("kind", ["path", "file", "bytes", "list", "iterator", "async"])
async def test_a_raw_body_from_every_kind_of_source(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(BODY)
    sources: dict[str, object] = {
        "path": path,
        "file": io.BytesIO(BODY),
        "bytes": BODY,
        "list": pieces(BODY),
        "iterator": sync_pieces(BODY),
        "async": chunks_then(pieces(BODY)),
    }
    route = respx_mock.post(COPY_URL).mock(return_value=httpx.Response(200, json={"total_rows": 1}))
    seen: list[tuple[int, int | None]] = []
    body = raw_body(
        sources[kind],  # type: ignore[arg-type]
        content_type="text/csv",
        progress=lambda done, total: seen.append((done, total)),
    )
    await carto._transport.request(COPY, body=body)
    request = route.calls[0].request
    assert request.content == BODY
    assert request.headers["content-type"] == "text/csv"
    known = kind in ("path", "file", "bytes")
    assert request.headers.get("content-length") == (str(len(BODY)) if known else None)
    assert seen[-1] == (len(BODY), len(BODY) if known else None)
    assert body.fully_sent
    assert request.headers["authorization"].startswith("Basic ")


async def test_a_gzipped_body_is_sent_chunked_and_compressed(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPY_URL).mock(return_value=httpx.Response(200, json={}))
    await carto._transport.request(COPY, body=raw_body(BODY, gzip=True))
    request = route.calls[0].request
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in request.headers
    assert len(request.content) < len(BODY)
    assert gzip.decompress(request.content) == BODY


async def test_a_rereadable_body_is_sent_again_on_retry(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPY_URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )
    await carto._transport.request(COPY, body=raw_body(pieces(BODY), gzip=True))
    assert route.call_count == 2
    assert route.calls[0].request.content == route.calls[1].request.content
    assert gzip.decompress(route.calls[1].request.content) == BODY


async def test_a_one_shot_body_is_not_sent_twice(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPY_URL).mock(return_value=httpx.Response(503))
    with pytest.raises(ServerError) as info:
        await carto._transport.request(COPY, body=raw_body(sync_pieces(BODY)))
    assert route.call_count == 1
    assert info.value.status_code == 503


async def test_a_stream_yielding_text_is_a_clear_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(COPY_URL).mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(ValidationError, match="yielded a str, not bytes"):
        await carto._transport.request(COPY, body=raw_body(["a,b\n"]))  # type: ignore[list-item]


@pytest.mark.parametrize("change", ["grow", "shrink"])
async def test_a_file_that_changes_size_during_an_upload_is_a_carto_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path, change: str
) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 200_000)  # 800 kB: several chunks
    size = path.stat().st_size

    def progress(done: int, total: int | None) -> None:
        if done and path.stat().st_size == size:
            if change == "grow":
                with path.open("ab") as f:
                    f.write(b"3,4\n" * 1000)
            else:
                os.truncate(path, size // 2)

    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    with pytest.raises(SourceChangedError) as info:
        await carto.imports.upload(path, progress=progress)
    assert isinstance(info.value, CartoError)
    assert ("grew past" if change == "grow" else "shrank from") in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.expected == size
    assert info.value.__context__ is None
    assert route.call_count <= 1


async def test_an_upload_stopped_after_its_last_byte_warns_that_an_import_may_exist(
    carto: AsyncCarto, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    class Interrupted(BaseException):  # what a cancellation or Ctrl-C looks like from here
        pass

    def answer(request: httpx.Request) -> httpx.Response:
        raise Interrupted

    respx_mock.post(IMPORTS_URL).mock(side_effect=answer)
    with caplog.at_level(logging.WARNING), pytest.raises(Interrupted) as info:
        await carto.imports.upload(b"a\n1\n", filename="sent.csv")
    notes = getattr(info.value, "__notes__", [])
    assert any("may have created an import" in n and "sent.csv" in n for n in notes)
    assert "sent.csv" in caplog.text
    assert carto.imports.unknown_outcomes == ["sent.csv"]


async def test_an_upload_stopped_before_its_last_byte_has_a_known_outcome(
    carto: AsyncCarto, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    class Interrupted(BaseException):
        pass

    def stop(done: int, total: int | None) -> None:
        raise Interrupted

    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    with caplog.at_level(logging.WARNING), pytest.raises(Interrupted):
        await carto.imports.upload(b"a\n1\n", filename="unsent.csv", progress=stop)
    assert carto.imports.unknown_outcomes == []
    assert "unsent.csv" not in caplog.text
    assert route.call_count == 0


async def test_uploads_still_create_their_import(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(IMPORTS_URL).mock(return_value=created())
    job = await carto.imports.upload(io.BytesIO(b"a\n1\n"), filename="a.csv")
    assert job.id == IMPORT_ID
    assert carto.imports.unknown_outcomes == []


# async-only:start
async def test_a_cancelled_upload_whose_bytes_went_out_is_reported(
    carto: AsyncCarto, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    sent = anyio.Event()
    notes: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        sent.set()  # the whole body was read: the server has the file
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    async def upload() -> None:
        try:
            await carto.imports.upload(b"a\n1\n", filename="late.csv")
        except anyio.get_cancelled_exc_class() as exc:
            notes.extend(getattr(exc, "__notes__", []))
            raise

    respx_mock.post(IMPORTS_URL).mock(side_effect=answer)
    with caplog.at_level(logging.WARNING):
        async with anyio.create_task_group() as tg:
            tg.start_soon(upload)
            await sent.wait()
            tg.cancel_scope.cancel()
    assert carto.imports.unknown_outcomes == ["late.csv"]
    assert "late.csv" in caplog.text
    assert any("may have created an import" in n for n in notes)


# async-only:end
