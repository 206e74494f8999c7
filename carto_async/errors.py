"""Exceptions raised by carto_async.

Every exception the SDK raises on purpose derives from :class:`CartoError`::

    CartoError
    ├── ValidationError                 bad input caught before any request was sent
    ├── SourceChangedError              a file grew or shrank while it was being uploaded
    ├── APIError                        something went wrong talking to CARTO
    │   ├── APIConnectionError          no response (DNS, refused, reset, TLS)
    │   │   └── APITimeoutError         connect/read/write/pool timeout
    │   ├── CopyError                   a COPY FROM / COPY TO failed (any of the below)
    │   │   └── CopyInterruptedError    an error appended to a 200 COPY TO body
    │   └── APIStatusError              the server answered with an error status
    │       ├── BadRequestError             400
    │       │   └── CopyFailedError         400 from the COPY endpoints (also a CopyError)
    │       │       ├── NoRowsCopiedError
    │       │       ├── CopyGzipError
    │       │       ├── QuotaExceededError
    │       │       ├── CopySizeLimitError
    │       │       └── CopyInputTooSlowError
    │       ├── AuthenticationError         401
    │       ├── PermissionDeniedError       403
    │       ├── NotFoundError               404
    │       ├── ConflictError               409
    │       ├── UnprocessableEntityError    422
    │       ├── RateLimitError              429 (kind: rate-limit | timeout | import-slots)
    │       └── ServerError                 5xx
    └── JobError                        a server-side job did not give a result
        ├── JobFailed                   the job ended in a failure state
        │   ├── ImportFailed
        │   ├── SyncFailed
        │   ├── ExportFailed
        │   └── BatchJobFailed
        └── JobTimeout                  waiting gave up; the server job goes on

Messages are the server's own words (each CARTO service has its own error body
shape; see :mod:`carto_async._core.errors`), never a raw HTML page. The API key
never appears in a message, a repr or a URL shown by these exceptions.

Example::

    try:
        table = await carto.imports.upload("data.csv")
    except ImportFailed as exc:
        print(exc.error_code, exc.title)      # 1002 Unsupported/Unrecognized file type
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import httpx

    from carto_async._async.jobs import AsyncJob
    from carto_async._sync.jobs import Job
    from carto_async.models.maps import MapErrorContext

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchJobFailed",
    "CartoError",
    "ConflictError",
    "CopyError",
    "CopyFailedError",
    "CopyGzipError",
    "CopyInputTooSlowError",
    "CopyInterruptedError",
    "CopySizeLimitError",
    "ExportFailed",
    "ImportFailed",
    "JobError",
    "JobFailed",
    "JobTimeout",
    "NoRowsCopiedError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RateLimitKind",
    "ServerError",
    "SourceChangedError",
    "SyncFailed",
    "UnprocessableEntityError",
    "ValidationError",
]


class CartoError(Exception):
    """Base class of every exception carto_async raises on purpose."""

    __module__ = "carto_async"


class ValidationError(CartoError, ValueError):
    """Bad input caught before any request was sent; nothing happened on the server.

    ``problems`` lists every problem found, not just the first.
    """

    __module__ = "carto_async"

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class SourceChangedError(CartoError):
    """The source of a streamed request body changed size while it was being sent.

    The request was cut short, so the server never saw a complete body: nothing was created.
    ``expected`` is the size the body declared, ``actual`` what the source held (for a file
    that grew, at least that much).
    """

    __module__ = "carto_async"

    def __init__(self, message: str, *, expected: int, actual: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class APIError(CartoError):
    """An error talking to a CARTO service.

    ``method`` and ``url`` describe the request, with the API key redacted.
    """

    __module__ = "carto_async"

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """No HTTP response arrived (connection refused or dropped, DNS, TLS).

    ``request_sent`` says whether the request may have reached the server: when it is true,
    a creating POST is never retried, since the server may have created the job.
    """

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, write, read or waiting for a pooled connection)."""

    __module__ = "carto_async"


class APIStatusError(APIError):
    """The server answered with an error status.

    ``status_code``, ``body`` (parsed JSON when it was JSON, else text), ``headers`` and
    ``error_codes`` (service-specific codes or subtypes, when the body carried any) describe
    the response; ``request`` is the :class:`httpx.Request` whose URL has the key redacted.
    ``errors_with_context`` holds the Maps API's per-error context (type, subtype, layer) as
    :class:`~carto_async.models.maps.MapErrorContext` entries.
    """

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        request: httpx.Request | None = None,
        method: str | None = None,
        url: str | None = None,
        error_codes: tuple[str, ...] = (),
        errors_with_context: tuple[MapErrorContext, ...] = (),
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.errors_with_context = errors_with_context
        self.status_code = status_code
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.request = request
        self.error_codes = error_codes

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{self.status_code}: {self.message}{where}"


class BadRequestError(APIStatusError):
    """400: the server rejected the request's parameters."""

    __module__ = "carto_async"


class AuthenticationError(APIStatusError):
    """401: the API key is missing, unknown, or not the master key the endpoint needs."""

    __module__ = "carto_async"


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but does not grant this action."""

    __module__ = "carto_async"


class NotFoundError(APIStatusError):
    """404: no such user, job, table or map."""

    __module__ = "carto_async"


class ConflictError(APIStatusError):
    """409: the resource exists already, or a per-user limit was reached."""

    __module__ = "carto_async"


class UnprocessableEntityError(APIStatusError):
    """422: the request was well formed but could not be processed."""

    __module__ = "carto_async"


#: What a 429 meant: a request rate limit, a statement or render timeout, or busy import slots.
RateLimitKind = Literal["rate-limit", "timeout", "import-slots"]


class RateLimitError(APIStatusError):
    """429: a rate limit, a statement timeout, or the import slots were exhausted.

    ``kind`` is ``"rate-limit"``, ``"timeout"`` or ``"import-slots"``; ``retry_after`` is the
    wait the server asked for, in seconds, when it said; ``limit``, ``remaining`` and ``reset``
    come from the ``Carto-Rate-Limit-*`` headers.
    """

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        kind: RateLimitKind = "rate-limit",
        retry_after: float | None = None,
        limit: int | None = None,
        remaining: int | None = None,
        reset: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.kind: RateLimitKind = kind
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class ServerError(APIStatusError):
    """5xx: the server failed."""

    __module__ = "carto_async"


class CopyError(APIError):
    """A COPY FROM or COPY TO failed: catch this for every COPY problem the server reports."""

    __module__ = "carto_async"


class CopyFailedError(BadRequestError, CopyError):
    """400 from ``/sql/copyfrom`` or ``/sql/copyto``: the statement or the data was refused
    (PostgreSQL's words, e.g. ``missing data for column "name"``)."""

    __module__ = "carto_async"


class NoRowsCopiedError(CopyFailedError):
    """``No rows copied``: the COPY FROM body held no rows (empty, or only a header)."""

    __module__ = "carto_async"


class CopyGzipError(CopyFailedError):
    """``Error while gunzipping``: the body was sent as gzip but is not valid gzip."""

    __module__ = "carto_async"


class QuotaExceededError(CopyFailedError):
    """``DB Quota exceeded``: the account's database storage quota is full."""

    __module__ = "carto_async"


class CopySizeLimitError(CopyFailedError):
    """The COPY FROM body passed the server's maximum size (2 GB by default)."""

    __module__ = "carto_async"


class CopyInputTooSlowError(CopyFailedError):
    """The server closed a COPY FROM whose data arrived too slowly (less than its minimum
    bytes per interval, 15 s by default)."""

    __module__ = "carto_async"


class CopyInterruptedError(CopyError):
    """A COPY TO failed after its 200 response began: the server appended an error object
    to the data. ``body`` is that object, ``error_codes`` its ``context``/``detail``,
    ``kind`` is ``"timeout"`` for a statement timeout, else ``"error"``."""

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        body: Any = None,
        error_codes: tuple[str, ...] = (),
        kind: str = "error",
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.body = body
        self.error_codes = error_codes
        self.kind = kind


class JobError(CartoError):
    """A server-side job (import, sync, export, batch query) did not give a result."""

    __module__ = "carto_async"


class JobFailed(JobError):
    """The job reached a failure state on the server.

    ``job_id``, ``state``, ``error_code``, ``title``, ``what_about`` (the server's advice) and
    ``source`` (``user``, ``cartodb`` or ``external``: whose fault it was) describe the failure;
    ``job`` is the handle, when there is one.
    """

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        job: AsyncJob[Any] | Job[Any] | None = None,
        job_id: str | None = None,
        state: str | None = None,
        error_code: int | None = None,
        title: str | None = None,
        what_about: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.job: AsyncJob[Any] | Job[Any] | None = job
        self.job_id = job_id
        self.state = state
        self.error_code = error_code
        self.title = title
        self.what_about = what_about
        self.source = source


class ImportFailed(JobFailed):
    """An import ended in ``failure`` (or ``stuck``)."""

    __module__ = "carto_async"


class SyncFailed(JobFailed):
    """A sync table's run ended in ``failure`` (or a manual run was not enqueued).

    ``error_code`` and ``title`` are the importer's; ``retried_times`` counts the server's
    automatic retries of the sync so far (it stops after 10).
    """

    __module__ = "carto_async"

    def __init__(self, message: str, *, retried_times: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retried_times = retried_times


class ExportFailed(JobFailed):
    """A visualization export ended in ``failure``."""

    __module__ = "carto_async"


class BatchJobFailed(JobFailed):
    """A SQL Batch job ended ``failed``, ``cancelled`` or ``unknown``.

    ``failed_reason`` is the server's error; ``query_index`` (from 0) and ``query`` name the
    query that failed, when one did.
    """

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        failed_reason: str | None = None,
        query_index: int | None = None,
        query: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.failed_reason = failed_reason
        self.query_index = query_index
        self.query = query


class JobTimeout(JobError, TimeoutError):
    """Waiting for a job gave up. The job goes on on the server; resume it with its token."""

    __module__ = "carto_async"

    def __init__(
        self,
        message: str,
        *,
        job: AsyncJob[Any] | Job[Any] | None = None,
        last_state: str | None = None,
    ) -> None:
        super().__init__(message)
        self.job: AsyncJob[Any] | Job[Any] | None = job
        self.last_state = last_state
