"""A query's rows kept on disk between the engine and the HTTP response: :class:`RowSpool`.

The SQL API and COPY TO run a query under the engine's lock, write its rows here chunk by
chunk (never the whole result in memory), release the lock, then format and send the chunks
one at a time, however slowly the client reads. The rows are stored exactly as the engine
returns them (``fetchmany`` values, pickled): Arrow record batches would be smaller, but their
Python values differ from DuckDB's own for HUGEINT, INTERVAL, UUID, MAP and nanosecond
timestamps, and an infinite DATE does not convert at all, and the SQL API's bodies must stay
those of the materialized path byte for byte.

A result of up to :data:`MEMORY_BYTES` stays in memory (most answers: ``select 1`` makes no
file); a larger one spills to a file in a private directory (``mkdtemp``: mode 0700) that
:meth:`RowSpool.close` removes (or, failing that, the spool's collection); only this process
writes and reads it.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from typing import IO, Any

from carto_async.testing.engine._errors import QueryError

__all__ = ["DEFAULT_SPOOL_BYTES", "MEMORY_BYTES", "RowSpool", "SpoolFull"]

#: Bytes of rows a spool may hold on disk unless told otherwise (2 GiB).
DEFAULT_SPOOL_BYTES = 2 * 1024**3
#: Bytes of rows aimed at per chunk: what the formatter holds in memory at once.
CHUNK_BYTES = 1024 * 1024
#: Bytes of rows kept in memory before the spool spills to a file.
MEMORY_BYTES = 4 * 1024 * 1024
_FIRST_ROWS = 64
_MAX_ROWS = 20_000


class SpoolFull(QueryError):
    """The result is larger than the spool may hold on disk."""


class RowSpool:
    """Rows kept in pickled chunks, in memory up to ``memory_bytes`` and past that in a
    private temporary file, read back in order.

    ``max_bytes`` caps the bytes held (:class:`SpoolFull`, a :class:`QueryError`, past it);
    ``directory`` is where the private directory is made when the rows spill (the system's
    temporary folder when None). :meth:`begin` discards what was written (a later
    statement's rows replace an earlier one's); :meth:`close` removes the file, if any, and
    is idempotent.
    """

    def __init__(
        self,
        directory: str | None = None,
        *,
        max_bytes: int = DEFAULT_SPOOL_BYTES,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self.max_bytes = max_bytes
        self.memory_bytes = memory_bytes
        self._parent = directory
        #: The private directory and file, once the rows spilled (None before).
        self.directory: str | None = None
        self.path: str | None = None
        self._file: IO[bytes] | None = None
        self._memory: list[bytes] | None = []
        self._closed = False
        self._remove: weakref.finalize[Any, RowSpool] | None = None
        self.rows = 0
        self.size = 0
        self._next_rows = _FIRST_ROWS
        #: The engine's result whose rows are here (see ``Database.run_statements``).
        self.source: object = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.rows} rows, {self.size} bytes"
        return f"<RowSpool {state}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (the file, if any, is gone)."""
        return self._closed

    @property
    def spilled(self) -> bool:
        """Whether the rows went to a file (more than ``memory_bytes`` of them)."""
        return self._file is not None

    @property
    def batch_rows(self) -> int:
        """Rows to fetch for the next chunk: about :data:`CHUNK_BYTES` at the rows' size so far."""
        return self._next_rows

    def _check_open(self) -> None:
        if self._closed:
            raise QueryError("the result spool is closed")

    def _spill(self) -> IO[bytes]:
        """The file, made on the first spill with what was in memory."""
        if self._file is None:
            self.directory = tempfile.mkdtemp(prefix="localcarto-spool-", dir=self._parent)
            self.path = os.path.join(self.directory, "rows")
            handle = open(self.path, "xb+")  # noqa: SIM115 (closed by close)
            self._file = handle
            # A spool dropped without close (its request abandoned before the response
            # began) is still removed, when it is collected.
            self._remove = weakref.finalize(self, _remove, handle, self.directory)
            for data in self._memory or ():
                handle.write(data)
            self._memory = None
        return self._file

    def begin(self) -> None:
        """Start a new result: what was written before is dropped."""
        self._check_open()
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
        else:
            self._memory = []
        self.rows = 0
        self.size = 0
        self.source = None

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append one chunk of rows."""
        if not rows:
            return
        data = pickle.dumps(list(rows), protocol=pickle.HIGHEST_PROTOCOL)
        if self.size + len(data) > self.max_bytes:
            raise SpoolFull(
                f"the result is larger than the {self.max_bytes} bytes this server may hold"
                " for one response; ask for fewer rows (LIMIT, page and rows_per_page)"
            )
        self._check_open()
        try:
            if self._file is None and self.size + len(data) <= self.memory_bytes:
                assert self._memory is not None
                self._memory.append(data)
            else:
                self._spill().write(data)
        except OSError as exc:  # a full disk, say: the request fails, the server goes on
            raise SpoolFull(f"could not keep the result on disk: {exc.strerror}") from None
        self.size += len(data)
        self.rows += len(rows)
        per_row = max(1, len(data) // len(rows))
        self._next_rows = max(1, min(_MAX_ROWS, CHUNK_BYTES // per_row))

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        """The chunks written since :meth:`begin`, in order (one in memory at a time)."""
        self._check_open()
        if self._file is None:
            for data in list(self._memory or ()):
                yield pickle.loads(data)  # noqa: S301 - written by write() above
            return
        handle = self._file
        handle.flush()
        position = 0
        while position < self.size:
            handle.seek(position)
            # The file is this process's own, in a 0700 directory: nothing else wrote it.
            chunk: list[tuple[Any, ...]] = pickle.load(handle)  # noqa: S301
            position = handle.tell()
            yield chunk

    def close(self) -> None:
        """Remove the file and its directory (if the rows spilled)."""
        self._closed = True
        self._memory = None
        self._file = None
        if self._remove is not None:
            self._remove()


def _remove(handle: IO[bytes], directory: str) -> None:
    handle.close()
    shutil.rmtree(directory, ignore_errors=True)
