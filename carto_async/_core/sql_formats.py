"""SQL API format bodies read as they arrive (sans-I/O; reference §9.1).

A query in a JSON format (``json``, ``geojson``, ``topojson``) that fails after its rows began
streaming keeps HTTP 200 and gets an ``"error":[...]`` member appended to the document.
:class:`JsonErrorDetector` finds it in the last bytes of the body while the body streams
through untouched (into a file, say) and raises at the end. :class:`GeoJSONFeatureReader`
hands out the features of a ``format=geojson`` body one by one, and :class:`CsvRowReader` the
rows of a ``format=csv`` body, each holding at most one incomplete feature or record.

Every reader has the same two methods: ``feed(chunk)`` returns what ``chunk`` completed,
``close()`` what is left, or raises when the body was cut short or carried an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Mapping
from typing import Any

from carto_async.errors import APIError

__all__ = [
    "FORMAT_EXTENSIONS",
    "JSON_FORMATS",
    "CsvRowReader",
    "GeoJSONFeatureReader",
    "JsonErrorDetector",
    "interrupted_error",
]

#: The formats whose bodies are JSON documents (an error may be appended to them).
JSON_FORMATS = frozenset({"json", "geojson", "topojson"})

#: The file extension the server names each format's file with.
FORMAT_EXTENSIONS: Mapping[str, str] = {
    "json": "json",
    "geojson": "geojson",
    "topojson": "topojson",
    "csv": "csv",
    "svg": "svg",
    "kml": "kml",
    "shp": "zip",
    "spatialite": "sqlite",
    "gpkg": "gpkg",
    "arraybuffer": "arraybuffer",
}

#: How many trailing bytes are kept to look for an appended error.
TAIL_BYTES = 64 * 1024

_ERROR_KEY_RE = re.compile(r',\s*"error"\s*:\s*')


def interrupted_error(errors: Any, *, received: int | None = None) -> APIError:
    """The error for an ``error`` member that came with HTTP 200."""
    message = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
    where = f" after {received} bytes" if received is not None else ""
    return APIError(f"the query failed after it began returning rows{where}: {message}")


def _appended_error(tail: str) -> list[Any] | None:
    """The ``error`` list appended at the end of a JSON document's ``tail``, if any.

    The member must be one of the document's own: after it only ``}`` or other members
    (``notices``...) follow. A row or property that happens to be called ``error`` is
    followed by the rest of its row, so it is never taken for the server's error.
    """
    decoder = json.JSONDecoder()
    for match in reversed(list(_ERROR_KEY_RE.finditer(tail))):
        try:
            value, end = decoder.raw_decode(tail, match.end())
        except ValueError:
            continue
        if not isinstance(value, list):
            continue
        rest = tail[end:].strip()
        if rest == "}":
            return value
        if rest.startswith(","):
            try:
                json.loads("{" + rest[1:])
            except ValueError:
                continue
            return value
    return None


class JsonErrorDetector:
    """Passes a JSON-format body through and raises at the end if an error was appended.

    Example::

        detector = JsonErrorDetector()
        for chunk in body:
            out.write(detector.feed(chunk))
        out.write(detector.close())  # raises APIError for an appended error
    """

    def __init__(self, *, tail_bytes: int = TAIL_BYTES) -> None:
        self._tail = b""
        self._keep = tail_bytes
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> bytes:
        """``chunk`` itself (nothing is held back); its end is remembered."""
        self.bytes_seen += len(chunk)
        self._tail = (self._tail + chunk)[-self._keep :]
        return chunk

    def close(self) -> bytes:
        """Nothing more to pass on; raises :class:`APIError` if the body carried an error."""
        tail, self._tail = self._tail.decode("utf-8", "replace"), b""
        errors = _appended_error(tail)
        if errors is not None:
            raise interrupted_error(errors, received=self.bytes_seen)
        return b""


_TOKEN_RE = re.compile(r'[{}\[\]"]')
_STRING_END_RE = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)


class GeoJSONFeatureReader:
    """The features of a ``FeatureCollection`` body, parsed as each one completes.

    Holds at most one incomplete feature. ``close()`` raises :class:`APIError` when the
    server appended an error, or when the body ended before the collection did.

    Example::

        reader = GeoJSONFeatureReader()
        for chunk in body:
            for feature in reader.feed(chunk):
                print(feature["properties"])
        reader.close()
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._depth = 0
        self._features_depth: int | None = None
        self._features_done = False
        self._last_key: str | None = None
        self._start: int | None = None
        self._after: list[str] = []
        self.features_read = 0
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The features ``chunk`` completed."""
        self.bytes_seen += len(chunk)
        return self._scan(self._decoder.decode(chunk))

    def close(self) -> list[dict[str, Any]]:
        """The last features; raises if the body carried an error or was cut short."""
        out = self._scan(self._decoder.decode(b"", final=True))
        rest = "".join(self._after).strip()
        if not self._features_done or not rest.endswith("}"):
            if self.bytes_seen == 0:
                raise APIError("the GeoJSON body was empty")
            raise APIError(
                f"the GeoJSON body ended before the FeatureCollection did "
                f"(after {self.bytes_seen} bytes, {self.features_read} features)"
            )
        errors = _appended_error(rest) if rest else None
        if errors is not None:
            raise interrupted_error(errors, received=self.bytes_seen)
        return out

    def _scan(self, text: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._features_done:
            self._after.append(text)
            self._trim_after()
            return out
        buf = self._buf + text
        pos = self._pos
        while True:
            match = _TOKEN_RE.search(buf, pos)
            if match is None:
                pos = len(buf)
                break
            char = match.group()
            index = match.start()
            if char == '"':
                end = _STRING_END_RE.match(buf, index + 1)
                if end is None:
                    pos = index  # an incomplete string: rescan it with the next chunk
                    break
                if self._depth == 1:
                    self._last_key = buf[index + 1 : end.end() - 1]
                pos = end.end()
                continue
            pos = index + 1
            if char in "{[":
                if (
                    char == "["
                    and self._depth == 1
                    and self._features_depth is None
                    and self._last_key == "features"
                ):
                    self._features_depth = 2
                elif char == "{" and self._depth == 2 and self._features_depth == 2:
                    self._start = index
                self._depth += 1
                continue
            self._depth -= 1
            if self._depth < 0:
                raise APIError("the GeoJSON body is not a FeatureCollection")
            if char == "}" and self._depth == 2 and self._start is not None:
                out.append(self._feature(buf[self._start : pos]))
                self._start = None
            elif char == "]" and self._depth == 1 and self._features_depth == 2:
                self._features_done = True
                self._after.append(buf[pos:])
                self._trim_after()
                self._buf, self._pos = "", 0
                return out
        # Keep only what an incomplete feature (or token) still needs.
        keep = self._start if self._start is not None else min(pos, len(buf))
        self._buf = buf[keep:]
        self._pos = pos - keep
        if self._start is not None:
            self._start = 0
        return out

    def _trim_after(self) -> None:
        joined = "".join(self._after)
        self._after = [joined[-TAIL_BYTES:]]

    def _feature(self, text: str) -> dict[str, Any]:
        try:
            feature = json.loads(text)
        except ValueError as exc:
            raise APIError(f"a GeoJSON feature could not be parsed: {exc}") from None
        if not isinstance(feature, dict):
            raise APIError("a GeoJSON feature is not an object")
        self.features_read += 1
        return feature


def _record_end(data: bytes, parity: int) -> tuple[int, int]:
    """The index just past the last newline of ``data`` outside quotes (0 if none), and the
    quote parity at the end of ``data``, given the ``parity`` at its start."""
    last = 0
    pos = 0
    while True:
        newline = data.find(b"\n", pos)
        if newline < 0:
            parity ^= data.count(b'"', pos) & 1
            return last, parity
        parity ^= data.count(b'"', pos, newline) & 1
        if parity == 0:
            last = newline + 1
        pos = newline + 1


class CsvRowReader:
    """The rows of a ``format=csv`` body as dicts keyed by its header, parsed as they complete.

    Values are the strings of the file (an empty field is ``""``). Holds at most one
    incomplete record.

    Example::

        reader = CsvRowReader()
        for chunk in body:
            for row in reader.feed(chunk):
                print(row["name"])
        reader.close()
    """

    def __init__(self) -> None:
        self._pending = b""
        self._parity = 0
        self.header: list[str] | None = None
        self.rows_read = 0

    def feed(self, chunk: bytes) -> list[dict[str, str]]:
        """The rows ``chunk`` completed."""
        data = self._pending + chunk
        # Quotes in the held part were counted already: scan only the new bytes.
        offset = len(self._pending)
        end, parity = _record_end(data[offset:], self._parity)
        if end == 0:
            self._pending, self._parity = data, parity
            return []
        end += offset
        # The parity at ``end`` is even (a record ends there); recount the rest.
        self._pending = data[end:]
        self._parity = self._pending.count(b'"') & 1
        return self._rows(data[:end])

    def close(self) -> list[dict[str, str]]:
        """The last row (a file may not end with a newline); raises if cut inside quotes."""
        tail, self._pending = self._pending, b""
        if not tail.strip():
            return []
        if tail.count(b'"') % 2:
            raise APIError("the CSV body ended inside a quoted field")
        return self._rows(tail)

    def _rows(self, data: bytes) -> list[dict[str, str]]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise APIError(f"the CSV body is not UTF-8: {exc}") from None
        records = list(csv.reader(io.StringIO(text, newline="")))
        if self.header is None and records:
            self.header = records.pop(0)
        header = self.header or []
        out = []
        for record in records:
            if not record:
                continue
            if len(record) != len(header):
                raise APIError(
                    f"a CSV row has {len(record)} fields where the header has {len(header)}"
                )
            out.append(dict(zip(header, record, strict=True)))
        self.rows_read += len(out)
        return out
