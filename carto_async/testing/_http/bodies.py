"""Request parameters from query strings and bodies, with uploads streamed to disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Any
from urllib.parse import parse_qsl

import attrs
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = [
    "MAX_JSON_DEPTH",
    "BadBody",
    "ImportBody",
    "Upload",
    "drain",
    "express_params",
    "load_json",
    "rails_params",
    "read_import_body",
    "read_sql_body",
]

# Form and JSON bodies are parameters, not data; a body past this is refused.
_MAX_PARAMS_BODY = 16 * 1024 * 1024
#: Deepest JSON nesting accepted. Parameters are at most a few levels deep; a deeper body is
#: an attack on the parser (Python's recursive decoder raises RecursionError near 1,000).
MAX_JSON_DEPTH = 100
_NESTED_KEY_RE = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")


class BadBody(Exception):
    """A body the server cannot parse (the real services answer 400 or 500)."""


@attrs.frozen
class Upload:
    """A file received in a request, on disk.

    ``size`` counts every byte received; at most ``store_limit`` of them were kept, so a file
    larger than the import size limit never fills the disk.
    """

    filename: str
    path: str
    size: int


@attrs.define
class ImportBody:
    """Parameters and files of a ``POST /api/v1/imports`` body."""

    params: dict[str, Any] = attrs.Factory(dict)
    uploads: dict[str, Upload] = attrs.Factory(dict)

    def discard(self) -> None:
        """Delete the uploaded files."""
        for upload in self.uploads.values():
            with contextlib.suppress(OSError):
                os.unlink(upload.path)
        self.uploads.clear()


def rails_params(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Parameters as Rack parses a query string or form: the last value wins, ``a[b]`` nests."""
    out: dict[str, Any] = {}
    for key, value in items:
        match = _NESTED_KEY_RE.match(key)
        if match is None:
            out[key] = value
            continue
        name, sub = match.groups()
        if sub == "":
            current = out.get(name)
            out[name] = [*current, value] if isinstance(current, list) else [value]
        else:
            current = out.get(name)
            nested = current if isinstance(current, dict) else {}
            nested[sub] = value
            out[name] = nested
    return out


def express_params(items: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Parameters as Express parses them: a repeated name becomes a list."""
    out: dict[str, str | list[str]] = {}
    for key, value in items:
        current = out.get(key)
        if current is None:
            out[key] = value
        elif isinstance(current, list):
            current.append(value)
        else:
            out[key] = [current, value]
    return out


def _too_deep(data: Any) -> bool:
    # Iterative, so checking a deep structure cannot itself overflow the stack.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def load_json(raw: bytes) -> Any:
    """A JSON body's value; :class:`BadBody` when it is not JSON or nests too deeply."""
    try:
        data = json.loads(raw)
    except RecursionError:
        data = None
        deep = True
    except ValueError as exc:
        raise BadBody(f"Invalid JSON body: {exc}") from None
    else:
        deep = _too_deep(data)
    if deep:
        raise BadBody(f"Invalid JSON body: nested more than {MAX_JSON_DEPTH} levels deep")
    return data


def _media_type(request: Request) -> tuple[str, dict[bytes, bytes]]:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    return content_type.decode("latin-1").lower(), options


async def _read_limited(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_PARAMS_BODY:
            raise BadBody("request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def drain(request: Request) -> None:
    """Read and drop the rest of the body, so the client sees the answer and not a reset."""
    with contextlib.suppress(Exception):
        async for _ in request.stream():
            pass


def _sql_value(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    return json.dumps(value)


async def read_sql_body(request: Request) -> dict[str, str | list[str]]:
    """The SQL API's body parameters: form, JSON or multipart fields (files are ignored)."""
    media, options = _media_type(request)
    if media == "multipart/form-data":
        body = ImportBody()
        await _read_multipart(request, options, body, lambda name, filename: None)
        return {k: _sql_value(v) for k, v in body.params.items()}
    if media == "application/x-www-form-urlencoded":
        raw = await _read_limited(request)
        return express_params(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    if media == "application/json":
        raw = await _read_limited(request)
        if not raw.strip():
            return {}
        data = load_json(raw)
        if not isinstance(data, dict):
            return {}
        return {str(k): _sql_value(v) for k, v in data.items() if v is not None}
    await drain(request)
    return {}


def _clean_filename(name: str) -> str:
    # Rails keeps the basename the browser sent; the uploader replaces spaces with "_".
    return os.path.basename(name.replace("\\", "/")).replace(" ", "_")


class _Sink:
    """Writes one upload to a temporary file, keeping at most ``limit`` bytes."""

    def __init__(self, directory: str, filename: str, limit: int) -> None:
        fd, self.path = tempfile.mkstemp(prefix="upload-", dir=directory)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.filename = filename
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        room = self.limit - self.size
        if room > 0:
            # Chunks are at most a socket read (64 KiB): the write lands in the page cache
            # faster than a hop to a worker thread would take.
            self.file.write(data[:room])
        self.size += len(data)

    def close(self) -> Upload:
        self.file.close()
        return Upload(filename=self.filename, path=self.path, size=self.size)

    def abort(self) -> None:
        self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class _MultipartReader:
    """python-multipart callbacks: text fields into ``body.params``, files through sinks."""

    def __init__(self, body: ImportBody, file_sink: Callable[[str, str], _Sink | None]) -> None:
        self.body = body
        self.file_sink = file_sink
        self.sinks: list[_Sink] = []
        self.headers: dict[bytes, bytes] = {}
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.name = ""
        self.text = bytearray()
        self.is_file = False
        self.sink: _Sink | None = None

    def on_part_begin(self) -> None:
        self.headers.clear()
        self.text = bytearray()
        self.is_file = False
        self.sink = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        self.is_file = b"filename" in disposition
        if self.is_file:
            filename = _clean_filename(disposition[b"filename"].decode("utf-8", "replace"))
            self.sink = self.file_sink(self.name, filename)
            if self.sink is not None:
                self.sinks.append(self.sink)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.sink is not None:
            self.sink.write(data[start:end])
        elif not self.is_file:
            if len(self.text) + (end - start) > _MAX_PARAMS_BODY:
                raise BadBody("multipart field too large")
            self.text.extend(data[start:end])

    def on_part_end(self) -> None:
        if self.sink is not None:
            self.body.uploads[self.name] = self.sink.close()
        elif not self.is_file and self.name:
            value = self.text.decode("utf-8", "replace")
            self.body.params.update(rails_params([(self.name, value)]))

    def abort(self) -> None:
        for sink in self.sinks:
            sink.abort()
        self.body.discard()


async def _read_multipart(
    request: Request,
    options: dict[bytes, bytes],
    body: ImportBody,
    file_sink: Callable[[str, str], _Sink | None],
) -> None:
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadBody("Missing boundary in multipart.")
    reader = _MultipartReader(body, file_sink)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_part_data": reader.on_part_data,
            "on_part_end": reader.on_part_end,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_headers_finished": reader.on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        reader.abort()
        raise BadBody(f"Invalid multipart data: {exc}") from None
    except BaseException:
        reader.abort()
        raise


async def read_import_body(
    request: Request, *, directory: str, store_limit: int, raw_filename: str | None
) -> ImportBody:
    """Parse an import request's body the way Rails and the uploader see it.

    Multipart bodies give fields plus the files of the ``file`` and ``filename`` fields; a
    form or JSON body gives parameters; any other body is the file itself when the query
    string names it with ``?filename=``. Files are streamed to ``directory``.
    """
    media, options = _media_type(request)
    body = ImportBody()
    if media == "multipart/form-data":

        def sink_for(name: str, filename: str) -> _Sink | None:
            if name in ("file", "filename") and name not in body.uploads:
                return _Sink(directory, filename, store_limit)
            return None

        await _read_multipart(request, options, body, sink_for)
    elif media == "application/x-www-form-urlencoded":
        raw = await _read_limited(request)
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        body.params = rails_params(pairs)
    elif media == "application/json":
        raw = await _read_limited(request)
        data = load_json(raw) if raw.strip() else {}
        if isinstance(data, dict):
            body.params = data
    elif raw_filename:
        sink = _Sink(directory, _clean_filename(raw_filename), store_limit)
        try:
            async for chunk in request.stream():
                sink.write(chunk)
        except BaseException:
            sink.abort()
            raise
        body.uploads[""] = sink.close()
    else:
        await drain(request)
    return body
