"""SQL Batch API models: what to run (plain, multiple or with fallbacks) and job snapshots.

A Batch job's ``query`` takes three forms on the wire (reference §9.2): one statement, a list of
statements run in order, or a *fallback* job whose queries each may carry an ``onsuccess`` /
``onerror`` statement, with a job-level pair run after all of them. Fallback statements may use
the templates ``<%= job_id %>`` (in ``onsuccess``/``onerror``) and ``<%= error_message %>``
(in ``onerror`` only); the server fills nothing in the queries themselves.

Example::

    log_error = f"INSERT INTO job_log VALUES ('{JOB_ID}', {error_message_literal()})"
    job = (
        FallbackJob.builder()
        .query("UPDATE stores SET checked = true", onerror=log_error)
        .query("REFRESH MATERIALIZED VIEW store_stats")
        .on_success(f"INSERT INTO job_log VALUES ('{JOB_ID}', 'ok')")
        .build()
    )
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from carto_async.errors import ValidationError
from carto_async.models._converter import converter

__all__ = [
    "ERROR_MESSAGE",
    "FINAL_BATCH_STATES",
    "JOB_ID",
    "BatchJobStatus",
    "BatchQuery",
    "BatchQueryStatus",
    "BatchStatus",
    "FallbackBuilder",
    "FallbackJob",
    "error_message_literal",
    "statement_problems",
]

#: Replaced by the job's id in any fallback statement.
JOB_ID = "<%= job_id %>"
#: Replaced by the failed query's error in an ``onerror`` statement, pasted as-is: put it
#: inside a dollar-quoted literal (:func:`error_message_literal`), never inside '...'.
ERROR_MESSAGE = "<%= error_message %>"

_TEMPLATE_RE = re.compile(r"<%=\s*([^%]*?)\s*%>")


def error_message_literal(tag: str = "carto_error") -> str:
    """``$tag$<%= error_message %>$tag$``: the failed query's error as a SQL string literal.

    The server pastes the message into the statement without quoting it, and PostgreSQL
    messages quote names with ``"`` and values with ``'``; a dollar-quoted literal holds
    either safely.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tag):
        raise ValueError(f"a dollar-quote tag is letters, digits and _, not {tag!r}")
    return f"${tag}${ERROR_MESSAGE}${tag}$"


class BatchStatus(StrEnum):
    """The states of a Batch job (and of each of its queries and fallbacks).

    ``pending`` → ``running`` → ``done`` | ``failed`` | ``cancelled`` | ``unknown``; a
    multi-query job goes back to ``pending`` between queries; ``skipped`` marks a fallback
    that did not need to run. The server spells it ``cancelled`` (the docs say ``canceled``).
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


#: The states a job never leaves.
FINAL_BATCH_STATES = frozenset({"done", "failed", "cancelled", "unknown", "skipped"})


_IN_QUERY: frozenset[str] = frozenset()
_IN_ONSUCCESS = frozenset({"job_id"})
_IN_ONERROR = frozenset({"job_id", "error_message"})


def template_problems(statement: str, *, where: str, allowed: frozenset[str]) -> list[str]:
    """What is wrong with the ``<%= ... %>`` templates of one statement: the server fills
    ``job_id`` in fallbacks and ``error_message`` in ``onerror`` only, and leaves any other
    template in place (a syntax error when it runs)."""
    problems = []
    for match in _TEMPLATE_RE.finditer(statement):
        if match.group(1) in allowed:
            continue
        if not allowed:
            problems.append(
                f"{where}: templates such as {match.group(0)!r} are only filled in "
                "onsuccess/onerror statements"
            )
        elif match.group(1) == "error_message":
            problems.append(f"{where}: <%= error_message %> is only filled in onerror statements")
        else:
            problems.append(
                f"{where}: unknown template {match.group(0)!r} (the server fills only "
                "<%= job_id %> and, in onerror, <%= error_message %>)"
            )
    return problems


def statement_problems(value: Any, where: str, *, allowed: frozenset[str] = _IN_QUERY) -> list[str]:
    """What is wrong with one SQL statement of a job (``None`` is fine: nothing to run)."""
    if value is None:
        return []
    if not isinstance(value, str) or not value.strip():
        return [f"{where} must be a non-empty SQL string, not {value!r:.60}"]
    if "\x00" in value:
        return [f"{where} contains a NUL character"]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return [f"{where} is not valid Unicode (a lone surrogate)"]
    return template_problems(value, where=where, allowed=allowed)


@attrs.frozen
class BatchQuery:
    """One query of a fallback job, with what to run after it succeeds or fails."""

    query: str
    onsuccess: str | None = None
    onerror: str | None = None

    def problems(self, where: str) -> list[str]:
        """Every problem of this query, prefixed by ``where``."""
        return (
            statement_problems(self.query, f"{where} query")
            + statement_problems(self.onsuccess, f"{where} onsuccess", allowed=_IN_ONSUCCESS)
            + statement_problems(self.onerror, f"{where} onerror", allowed=_IN_ONERROR)
        )

    def to_wire(self) -> dict[str, str]:
        """The query as the server takes it: ``{"query", "onsuccess"?, "onerror"?}``."""
        out = {"query": self.query}
        if self.onsuccess is not None:
            out["onsuccess"] = self.onsuccess
        if self.onerror is not None:
            out["onerror"] = self.onerror
        return out


def _as_queries(value: Any) -> tuple[BatchQuery, ...]:
    """Plain strings become queries without fallbacks; anything else is checked later."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return (value,)  # type: ignore[return-value]  # reported by problems()
    return tuple(BatchQuery(item) if isinstance(item, str) else item for item in value)


@attrs.frozen
class FallbackJob:
    """A Batch job with fallbacks: queries run in order, each with optional ``onsuccess`` /
    ``onerror``, then the job's own ``onsuccess`` (all done) or ``onerror`` (one failed).

    Build one with :meth:`builder`, or directly from :class:`BatchQuery` objects.
    """

    queries: tuple[BatchQuery, ...] = attrs.field(converter=_as_queries)
    onsuccess: str | None = None
    onerror: str | None = None

    @staticmethod
    def builder() -> FallbackBuilder:
        """A :class:`FallbackBuilder` to add queries and fallbacks one call at a time."""
        return FallbackBuilder()

    def problems(self) -> list[str]:
        """Every problem of the job (empty when it can be sent)."""
        problems = []
        if not self.queries:
            problems.append("a fallback job needs at least one query")
        items: tuple[object, ...] = self.queries
        for i, query in enumerate(items):
            if not isinstance(query, BatchQuery):
                problems.append(f"queries[{i}] must be a BatchQuery, not {type(query).__name__}")
                continue
            problems.extend(query.problems(f"queries[{i}]"))
        problems += statement_problems(self.onsuccess, "job onsuccess", allowed=_IN_ONSUCCESS)
        problems += statement_problems(self.onerror, "job onerror", allowed=_IN_ONERROR)
        return problems

    def to_wire(self) -> dict[str, Any]:
        """``{"query": [...], "onsuccess"?, "onerror"?}``, the server's fallback form."""
        out: dict[str, Any] = {"query": [q.to_wire() for q in self.queries]}
        if self.onsuccess is not None:
            out["onsuccess"] = self.onsuccess
        if self.onerror is not None:
            out["onerror"] = self.onerror
        return out


class FallbackBuilder:
    """Builds a :class:`FallbackJob` one call at a time; :meth:`build` checks it."""

    def __init__(self) -> None:
        self._queries: list[BatchQuery] = []
        self._onsuccess: str | None = None
        self._onerror: str | None = None

    def query(
        self, sql: str, *, onsuccess: str | None = None, onerror: str | None = None
    ) -> FallbackBuilder:
        """Add a query, with the statements to run after it succeeds or fails."""
        self._queries.append(BatchQuery(sql, onsuccess, onerror))
        return self

    def on_success(self, sql: str) -> FallbackBuilder:
        """The statement to run once every query is done."""
        self._onsuccess = sql
        return self

    def on_error(self, sql: str) -> FallbackBuilder:
        """The statement to run when a query failed (``<%= error_message %>`` says why)."""
        self._onerror = sql
        return self

    def build(self) -> FallbackJob:
        """The job; raises :class:`~carto_async.ValidationError` listing every problem."""
        job = FallbackJob(tuple(self._queries), self._onsuccess, self._onerror)
        problems = job.problems()
        if problems:
            raise ValidationError(f"invalid fallback job: {'; '.join(problems)}", problems=problems)
        return job


@attrs.frozen
class BatchQueryStatus:
    """One query of a multi-query or fallback job, as the server reports it."""

    query: str
    status: str | None = None
    failed_reason: str | None = None
    onsuccess: str | None = None
    onerror: str | None = None
    fallback_status: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


#: A job's ``query`` as the server stores it: a string, a list, or a fallback object.
JobQuery = str | list[Any] | dict[str, Any]

converter.register_structure_hook_func(lambda t: t == JobQuery, lambda value, _: value)


@attrs.frozen
class BatchJobStatus:
    """One Batch job as ``GET /api/v2/sql/job/:id`` describes it.

    ``query`` is what the server holds: a string, a list of ``{query, status}`` or a fallback
    object; :attr:`queries` reads any of them as :class:`BatchQueryStatus` items.
    ``raw`` keeps the whole payload.
    """

    job_id: str
    status: str
    query: JobQuery
    user: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    failed_reason: str | None = None
    fallback_status: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def kind(self) -> str:
        """``"simple"`` (one statement), ``"multiple"`` (a list) or ``"fallback"``."""
        if isinstance(self.query, str):
            return "simple"
        if isinstance(self.query, Mapping):
            return "fallback"
        return "multiple"

    @property
    def queries(self) -> tuple[BatchQueryStatus, ...]:
        """Each query with its own status (one item, the job's, for a simple job)."""
        if isinstance(self.query, str):
            return (
                BatchQueryStatus(
                    query=self.query, status=self.status, failed_reason=self.failed_reason
                ),
            )
        items: Sequence[Any] = (
            self.query.get("query") or [] if isinstance(self.query, Mapping) else self.query
        )
        out = []
        for item in items:
            if isinstance(item, Mapping):
                out.append(
                    BatchQueryStatus(
                        query=str(item.get("query", "")),
                        status=_opt_str(item.get("status")),
                        failed_reason=_opt_str(item.get("failed_reason")),
                        onsuccess=_opt_str(item.get("onsuccess")),
                        onerror=_opt_str(item.get("onerror")),
                        fallback_status=_opt_str(item.get("fallback_status")),
                        raw=dict(item),
                    )
                )
            else:
                out.append(BatchQueryStatus(query=str(item)))
        return tuple(out)

    @property
    def onsuccess(self) -> str | None:
        """The job-level ``onsuccess`` of a fallback job."""
        return _opt_str(self.query.get("onsuccess")) if isinstance(self.query, Mapping) else None

    @property
    def onerror(self) -> str | None:
        """The job-level ``onerror`` of a fallback job."""
        return _opt_str(self.query.get("onerror")) if isinstance(self.query, Mapping) else None

    @property
    def done(self) -> bool:
        """True once the job reached a final state."""
        return self.status in FINAL_BATCH_STATES

    @property
    def succeeded(self) -> bool:
        """True for ``done``."""
        return self.status == BatchStatus.DONE

    @property
    def failed_query(self) -> tuple[int, BatchQueryStatus] | None:
        """``(index, query)`` of the query that failed, when one did."""
        for index, item in enumerate(self.queries):
            if item.status == BatchStatus.FAILED:
                return index, item
        return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
