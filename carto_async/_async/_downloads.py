"""Where a streamed response body goes: a path (written atomically) or a binary file object.

A path is written under a temporary name in the same directory (so the final rename stays on
one file system and is atomic) and takes its final name only once the whole body arrived. On
any error, cancellation included, the temporary file is removed and the final name is left as
it was. Chunks are gathered up to :data:`WRITE_SIZE` before each write, so memory stays flat
and the event loop hands few writes to worker threads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterable
from typing import IO

from carto_async._async import _concurrency as cc
from carto_async._async._bodies import ProgressCallback, _is_text
from carto_async.errors import ValidationError

__all__ = ["WRITE_SIZE", "DownloadTarget"]

#: Bytes gathered before one write to the destination.
WRITE_SIZE = 1024 * 1024


class DownloadTarget:
    """A checked download destination: ``path`` (final name) or ``fileobj``."""

    def __init__(self, destination: str | os.PathLike[str] | IO[bytes]) -> None:
        self.path: str | None = None
        self.fileobj: IO[bytes] | None = None
        if isinstance(destination, str | os.PathLike):
            path = os.path.abspath(os.fspath(destination))
            directory = os.path.dirname(path)
            if os.path.isdir(path):
                raise ValidationError(f"cannot download into {path}: it is a directory")
            if not os.path.isdir(directory):
                raise ValidationError(f"cannot download into {path}: no directory {directory}")
            if not os.access(directory, os.W_OK | os.X_OK):
                raise ValidationError(f"cannot download into {path}: {directory} is not writable")
            self.path = path
        elif hasattr(destination, "write"):
            if _is_text(destination):
                raise ValidationError("the download's file object must be opened in binary mode")
            self.fileobj = destination
        else:
            raise ValidationError(
                f"cannot download into a {type(destination).__name__}: give a path or a binary "
                "file object"
            )

    async def write(
        self,
        chunks: AsyncIterable[bytes],
        total: int | None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Write every chunk; return how many bytes were written."""
        if self.fileobj is not None:
            return await _copy(chunks, self.fileobj, total, progress)
        assert self.path is not None
        directory, name = os.path.split(self.path)
        fd, temp = await cc.blocking(_mkstemp, directory, name)
        try:
            with os.fdopen(fd, "wb") as out:
                size = await _copy(chunks, out, total, progress)
            await cc.blocking(os.replace, temp, self.path)
        except BaseException:
            # Synchronous on purpose: it must run even in a cancelled scope.
            _remove(temp)
            raise
        return size


def _mkstemp(directory: str, name: str) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _copy(
    chunks: AsyncIterable[bytes],
    out: IO[bytes],
    total: int | None,
    progress: ProgressCallback | None,
) -> int:
    size = 0
    pending = bytearray()
    if progress is not None:
        progress(0, total)
    async for chunk in chunks:
        pending += chunk
        size += len(chunk)
        if len(pending) >= WRITE_SIZE:
            await cc.blocking(out.write, pending)
            pending.clear()
        if progress is not None:
            progress(size, total)
    if pending:
        await cc.blocking(out.write, pending)
    await cc.blocking(out.flush)
    return size
