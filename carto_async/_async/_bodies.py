"""Streamed request bodies: from a path, a binary file object, bytes, or an iterator of bytes.

Every body that is not a small JSON or form document goes through here: the multipart body of
an upload (:func:`multipart_body`) and the raw body of a COPY FROM (:func:`raw_body`). A body
is read in chunks (memory stays flat whatever the size), can be gzipped on the fly
(``Content-Encoding: gzip``, sent chunked), reports progress, and is replayable (a retry sends
it again) when its source can be re-read: a path, a seekable file object, bytes, or an iterable
that is not an iterator. A one-shot iterator is never retried once its first byte went out.

A file that grows or shrinks while it is sent raises :class:`SourceChangedError` before the
request is complete, so the server never sees a truncated or padded body.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import IO, Any, cast

import httpx

from carto_async._async import _concurrency as cc
from carto_async._core.http import CHUNK_SIZE, body_headers
from carto_async._core.imports import describe_local_file
from carto_async._core.multipart import MultipartPlan, plan_multipart
from carto_async.errors import SourceChangedError, ValidationError

__all__ = [
    "AsyncBody",
    "BodySource",
    "ProgressCallback",
    "describe_source",
    "multipart_body",
    "raw_body",
]

#: ``progress(bytes_done, total_bytes_or_None)``, called as bytes go out (or come in).
ProgressCallback = Callable[[int, int | None], None]

#: What a streamed body can come from.
BodySource = (
    str
    | os.PathLike[str]
    | IO[bytes]
    | bytes
    | bytearray
    | memoryview
    | Iterable[bytes]
    | AsyncIterable[bytes]
)


_END = object()


class _Source:
    """A checked body source: where its bytes come from, how many, and what it is called."""

    def __init__(
        self,
        *,
        path: str | None = None,
        fileobj: IO[bytes] | None = None,
        chunks: AsyncIterable[bytes] | Iterable[bytes] | None = None,
        size: int | None = None,
        name: str = "",
        label: str = "",
        is_async: bool = False,
    ) -> None:
        self.is_async = is_async
        self.path = path
        self.fileobj = fileobj
        self.chunks = chunks
        self.size = size
        self.name = name
        self.label = label or name
        self.start = fileobj.tell() if fileobj is not None else 0
        # An iterator can be read once; an iterable that is not its own iterator, again.
        self.replayable = chunks is None or not isinstance(chunks, AsyncIterator | Iterator)


def _is_text(fileobj: object) -> bool:
    return isinstance(fileobj, io.TextIOBase)


def describe_source(source: BodySource, *, what: str = "the body", verb: str = "send") -> _Source:
    """Check ``source`` before anything is sent (:class:`ValidationError` if unusable)."""
    if isinstance(source, str | os.PathLike):
        local = describe_local_file(source)
        return _Source(path=local.path, size=local.size, name=local.filename, label=local.path)
    if isinstance(source, bytes | bytearray | memoryview):
        data = io.BytesIO(bytes(source))
        return _Source(fileobj=data, size=len(data.getbuffer()))
    if hasattr(source, "read"):
        fileobj: IO[bytes] = source  # type: ignore[assignment]
        if _is_text(fileobj) or not isinstance(fileobj.read(0), bytes):
            raise ValidationError(f"the file object of {what} must be opened in binary mode ('rb')")
        if not (hasattr(fileobj, "seekable") and fileobj.seekable()):
            raise ValidationError(
                f"the file object of {what} must be seekable; pass an iterator of bytes for "
                "one-shot data"
            )
        start = fileobj.tell()
        size = fileobj.seek(0, os.SEEK_END) - start
        fileobj.seek(start)
        name = os.path.basename(str(getattr(fileobj, "name", "") or ""))
        return _Source(fileobj=fileobj, size=size, name=name)
    if hasattr(source, "__aiter__"):
        return _Source(chunks=source, is_async=True)
    if isinstance(source, Iterable):
        return _Source(chunks=source)
    raise ValidationError(
        f"cannot {verb} a {type(source).__name__}: give a path, a binary file object, "
        "bytes or an iterator of bytes"
    )


class AsyncBody:
    """A request body streamed from one source, framed by ``head``/``tail``, maybe gzipped.

    ``headers`` are its content headers; ``replayable`` is false for one-shot sources, whose
    request cannot be repeated once ``started``; ``fully_sent`` turns true when its last byte
    was handed to the connection (the server may then act on it).
    """

    def __init__(
        self,
        source: _Source,
        *,
        content_type: str | None = None,
        head: bytes = b"",
        tail: bytes = b"",
        gzip: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.source = source
        self.head = head
        self.tail = tail
        self.gzip = gzip
        self.progress = progress
        length = None if source.size is None else len(head) + source.size + len(tail)
        self.headers: Mapping[str, str] = body_headers(
            content_type=content_type, length=length, gzip=gzip
        )
        self.replayable = source.replayable
        self.started = False
        self.fully_sent = False

    @property
    def label(self) -> str:
        """What the body comes from, to name it in messages (a path, or a file name)."""
        return self.source.label

    def stream(self) -> AsyncBodyStream:
        """A fresh pass over the body; the transport closes it when the request ends."""
        return AsyncBodyStream(self)


class AsyncBodyStream(httpx.AsyncByteStream):
    """One pass over a body: the head, the source in chunks, the tail.

    A class rather than a generator, so that a request cancelled half-way leaves nothing for
    the garbage collector to finalise; the transport calls ``aclose()``, which closes the file
    this pass opened (a caller's file object stays open).
    """

    def __init__(self, body: AsyncBody) -> None:
        self._body = body
        self._phase = 0
        self._file: IO[bytes] | None = None
        self._aiter: AsyncIterator[bytes] | None = None
        self._iter: Iterator[bytes] | None = None
        self._sent = 0
        self._zip = zlib.compressobj(wbits=31) if body.gzip else None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        body = self._body
        while True:
            if self._phase == 0:
                body.started = True
                self._phase = 1
                self._report()
                out = self._pack(body.head)
            elif self._phase == 1:
                chunk = await self._next_chunk()
                if chunk is None:
                    self._phase = 2
                    await self.aclose()
                    continue
                self._sent += len(chunk)
                self._report()
                out = await self._pack_big(chunk)
            elif self._phase == 2:
                self._phase = 3
                out = self._pack(body.tail)
                if self._zip is not None:
                    out += self._zip.flush()
            else:
                body.fully_sent = True
                raise StopAsyncIteration
            if out:
                return out

    def _pack(self, data: bytes) -> bytes:
        return self._zip.compress(data) if self._zip is not None and data else data

    async def _pack_big(self, data: bytes) -> bytes:
        if self._zip is None:
            return data
        return await cc.blocking(self._zip.compress, data)

    def _report(self) -> None:
        if self._body.progress is not None:
            self._body.progress(self._sent, self._body.source.size)

    async def _next_chunk(self) -> bytes | None:
        source = self._body.source
        if source.chunks is not None:
            return await self._next_from_iterator(source.chunks)
        if self._file is None:
            if source.path is not None:
                self._file = await cc.open_binary(source.path)
            else:
                assert source.fileobj is not None
                self._file = source.fileobj
                await cc.blocking(self._file.seek, source.start)
        assert source.size is not None
        left = source.size - self._sent
        if left <= 0:
            # The declared size went out: one more byte means the file grew meanwhile.
            if await cc.read_chunk(self._file, 1):
                self._changed("grew", source.size + 1)
            return None
        chunk = await cc.read_chunk(self._file, min(CHUNK_SIZE, left))
        if not chunk:
            self._changed("shrank", self._sent)
        return chunk

    async def _next_from_iterator(
        self, chunks: AsyncIterable[bytes] | Iterable[bytes]
    ) -> bytes | None:
        while True:
            chunk: object
            if self._body.source.is_async:
                if self._aiter is None:
                    self._aiter = cast(Any, chunks).__aiter__()
                try:
                    chunk = await self._aiter.__anext__()
                except StopAsyncIteration:
                    return None
            else:
                # A plain iterator may block (a generator reading a file): a worker thread.
                if self._iter is None:
                    self._iter = iter(cast(Any, chunks))
                chunk = await cc.blocking(next, self._iter, _END)
                if chunk is _END:
                    return None
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise ValidationError(f"a byte stream yielded a {type(chunk).__name__}, not bytes")
            if chunk:
                return bytes(chunk)

    def _changed(self, how: str, actual: int) -> None:
        source = self._body.source
        assert source.size is not None
        what = source.label or "the body's source"
        if how == "grew":
            detail = f"it grew past the {source.size} bytes it had when the upload began"
        else:
            detail = f"it shrank from {source.size} to {actual} bytes during the upload"
        raise SourceChangedError(
            f"{what} changed while it was being sent: {detail}; the request was cut short, "
            "so nothing was created. Upload a file that is not being written to.",
            expected=source.size,
            actual=actual,
        )

    async def aclose(self) -> None:
        if self._file is not None and self._body.source.path is not None:
            self._file.close()  # only the file this pass opened; a caller's stays open
        self._file = None


def multipart_body(
    source: BodySource,
    *,
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    field: str = "file",
) -> tuple[str, AsyncBody]:
    """The ``multipart/form-data`` body of a file upload, and the file name it carries.

    A path or a named file object gives its own name; bytes and iterators need ``filename``
    (its extension tells the importer the file type). The name is checked here
    (:func:`~carto_async._core.multipart.check_filename`), before anything is sent.
    """
    checked = describe_source(source, what="the upload", verb="upload")
    name = filename or checked.name
    if not name:
        if checked.path is None and checked.fileobj is not None and hasattr(source, "read"):
            raise ValidationError("this file object has no name: pass filename=")
        kind = "bytes" if checked.chunks is None else "a byte stream"
        raise ValidationError(
            f"uploading {kind} needs filename= (its extension tells the importer the file type)"
        )
    if not checked.label or checked.path is None:
        checked.label = name
    plan: MultipartPlan = plan_multipart(name, checked.size, field=field)
    body = AsyncBody(
        checked, content_type=plan.content_type, head=plan.head, tail=plan.tail, progress=progress
    )
    return name, body


def raw_body(
    source: BodySource,
    *,
    content_type: str | None = None,
    gzip: bool = False,
    progress: ProgressCallback | None = None,
) -> AsyncBody:
    """A body that is the source's bytes as they are (COPY FROM), gzipped if asked."""
    return AsyncBody(
        describe_source(source), content_type=content_type, gzip=gzip, progress=progress
    )
