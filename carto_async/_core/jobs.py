"""What a job's state means, per API, and the resumable job token (sans-I/O).

A job kind decides the outcome of a snapshot. Most kinds read it from a state table
(:func:`classify`); a sync table cycles ``queued -> syncing -> success`` forever, so "the run
I triggered has finished" is read from when the table last ran (:func:`run_outcome`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from urllib.parse import urlsplit

import attrs

from carto_async.errors import ValidationError

__all__ = [
    "FINAL_IMPORT_STATES",
    "IMPORT_STATES",
    "Account",
    "JobKey",
    "Outcome",
    "classify",
    "dump_token",
    "load_token",
    "run_outcome",
]

#: What the client's poll scheduler keys a job by: ``(kind, id)``, since ids of two kinds of
#: job may collide.
JobKey = tuple[str, str]


class Outcome(Enum):
    """Where a job stands: still going, succeeded, or failed."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


#: Import API states (reference §4.4). Unknown states count as pending.
IMPORT_STATES: Mapping[str, Outcome] = {
    "enqueued": Outcome.PENDING,
    "pending": Outcome.PENDING,
    "uploading": Outcome.PENDING,
    "unpacking": Outcome.PENDING,
    "importing": Outcome.PENDING,
    "guessing": Outcome.PENDING,
    "geocoding": Outcome.PENDING,
    "complete": Outcome.SUCCESS,
    "failure": Outcome.FAILURE,
    "stuck": Outcome.FAILURE,
}

#: The import states after which nothing changes: the one list the job handle, the models,
#: LocalCarto and the command line share.
FINAL_IMPORT_STATES: frozenset[str] = frozenset(
    state for state, outcome in IMPORT_STATES.items() if outcome is not Outcome.PENDING
)


def classify(table: Mapping[str, Outcome], state: str | None) -> Outcome:
    """The outcome of ``state`` in a state table; states the server adds later are pending."""
    if state is None:
        return Outcome.PENDING
    return table.get(state, Outcome.PENDING)


def run_outcome(
    table: Mapping[str, Outcome],
    state: str | None,
    ran_at: datetime | None,
    triggered_at: datetime,
) -> Outcome:
    """The outcome of one run of a job that runs again and again (a sync table).

    A sync table shows ``success`` between runs, so a final state says something about the
    run the caller triggered only when the table ran after it was triggered: until then (no
    ``ran_at``, or one from before ``triggered_at``) the run is pending whatever the state.
    ``ran_at`` and ``triggered_at`` are compared as given: pass the table's ``ran_at`` (or
    ``updated_at``) read before triggering as ``triggered_at`` to avoid comparing two clocks.
    """
    if ran_at is None or _utc(ran_at) <= _utc(triggered_at):
        return Outcome.PENDING
    return classify(table, state)


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC, as the Rails APIs write them.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@attrs.frozen
class Account:
    """Whose jobs a client sees: the username and the server's host (never the key)."""

    user: str
    host: str

    @classmethod
    def of(cls, username: str, base_url: str) -> Account:
        """The account of a client with this username and base URL."""
        return cls(username.lower(), urlsplit(base_url).netloc.lower())

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"


_TOKEN_VERSION = 1
_MAX_TOKEN = 4096


def dump_token(kind: str, job_id: str, *, account: Account | None = None, **extra: str) -> str:
    """A small JSON string that identifies a job, to resume waiting on it later.

    It holds no secret: the kind, the id, the account (user and host) and non-secret hints.
    """
    fields = dict(extra)
    if account is not None:
        fields.update(user=account.user, host=account.host)
    return json.dumps(
        {"v": _TOKEN_VERSION, "kind": kind, "id": job_id, **fields},
        separators=(",", ":"),
        sort_keys=True,
    )


def load_token(
    token: str, *, kind: str | None = None, account: Account | None = None
) -> dict[str, str]:
    """Parse a token made by :func:`dump_token`, checking its kind and its account.

    A token of another kind, or recorded by a client of another account, is a
    :class:`ValidationError`, as is anything that is not a whole token.
    """
    data: object = None
    if isinstance(token, str) and len(token) <= _MAX_TOKEN:
        try:
            data = json.loads(token)
        except ValueError:
            data = None
    if (
        not isinstance(data, dict)
        or data.get("v") != _TOKEN_VERSION
        or not all(isinstance(v, str) for k, v in data.items() if k != "v")
        or not data.get("id")
        or not data.get("kind")
    ):
        shown = token if isinstance(token, str) else type(token).__name__
        raise ValidationError(f"not a carto_async job token: {shown!r:.80}")
    if kind is not None and data["kind"] != kind:
        raise ValidationError(f"this token is for a {data['kind']} job, not a {kind} job")
    if account is not None and "user" in data and "host" in data:
        recorded = Account(data["user"], data["host"])
        if recorded != account:
            raise ValidationError(
                f"this token is for a job of {recorded}, not of this client's account {account}"
            )
    return {str(k): str(v) for k, v in data.items()}
