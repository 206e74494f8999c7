"""A ``multipart/form-data`` body with one file field, planned so it can be streamed (sans-I/O).

The I/O layer sends ``head``, then the file's bytes in chunks, then ``tail``; the total length
is known up front when the file's size is, so no chunked encoding is needed.
"""

from __future__ import annotations

import secrets

import attrs

__all__ = ["MultipartPlan", "plan_multipart"]


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
        out = {"Content-Type": self.content_type}
        if self.content_length is not None:
            out["Content-Length"] = str(self.content_length)
        else:
            out["Transfer-Encoding"] = "chunked"
        return out


def plan_multipart(
    filename: str,
    file_size: int | None,
    *,
    field: str = "file",
    content_type: str = "application/octet-stream",
    boundary: str | None = None,
) -> MultipartPlan:
    """Plan the body that uploads ``filename`` in form field ``field``."""
    b = boundary or secrets.token_hex(16)
    head = (
        f"--{b}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{_quote(filename)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{b}--\r\n".encode()
    return MultipartPlan(boundary=b, head=head, tail=tail, file_size=file_size)
