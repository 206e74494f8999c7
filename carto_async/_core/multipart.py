"""A ``multipart/form-data`` body with one file field, planned so it can be streamed (sans-I/O).

The I/O layer sends ``head``, then the file's bytes in chunks, then ``tail``; the total length
is known up front when the file's size is, so no chunked encoding is needed.
"""

from __future__ import annotations

import re
import secrets

import attrs

from carto_async._core.http import body_headers
from carto_async.errors import ValidationError

__all__ = ["MAX_FILENAME_BYTES", "MultipartPlan", "check_filename", "plan_multipart"]

#: The importer stores an upload under its own name: a file name, 255 bytes on every common
#: file system.
MAX_FILENAME_BYTES = 255

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_filename(filename: str) -> str:
    """Return ``filename`` if the importer can store a file by that name, else raise
    :class:`ValidationError` (before any byte is sent)."""
    if not isinstance(filename, str) or not filename:
        raise ValidationError("the upload needs a file name (its extension tells the file type)")
    bad = _CONTROL_RE.search(filename)
    if bad:
        raise ValidationError(
            f"file name {filename[:80]!r} holds the control character {bad.group()!r} "
            f"at position {bad.start()}: CARTO cannot store such a name; rename the upload "
            "with filename="
        )
    size = len(filename.encode("utf-8", errors="surrogatepass"))
    if size > MAX_FILENAME_BYTES:
        raise ValidationError(
            f"file name of {size} bytes ({filename[:40]!r}...) is too long: the importer stores "
            f"the upload under its name, and names are limited to {MAX_FILENAME_BYTES} bytes; "
            "pass a shorter filename="
        )
    return filename


def _quote(filename: str) -> str:
    # As browsers do (WHATWG): escape the characters that would break the header.
    return (
        filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    )


@attrs.frozen
class MultipartPlan:
    """The framing of a one-file multipart body."""

    boundary: str
    head: bytes
    tail: bytes
    file_size: int | None

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header value."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int | None:
        """The body's length, when the file's size is known."""
        if self.file_size is None:
            return None
        return len(self.head) + self.file_size + len(self.tail)

    def headers(self) -> dict[str, str]:
        """Content headers for the request."""
        return body_headers(content_type=self.content_type, length=self.content_length, gzip=False)


def plan_multipart(
    filename: str,
    file_size: int | None,
    *,
    field: str = "file",
    content_type: str = "application/octet-stream",
    boundary: str | None = None,
) -> MultipartPlan:
    """Plan the body that uploads ``filename`` in form field ``field``.

    ``filename`` is checked first (:func:`check_filename`).
    """
    check_filename(filename)
    b = boundary or secrets.token_hex(16)
    head = (
        f"--{b}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{_quote(filename)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{b}--\r\n".encode()
    return MultipartPlan(boundary=b, head=head, tail=tail, file_size=file_size)
