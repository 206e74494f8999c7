"""What a job's state means, per API, and the resumable job token (sans-I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum

from carto_async.errors import ValidationError

__all__ = ["IMPORT_STATES", "Outcome", "classify", "dump_token", "load_token"]


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


def classify(table: Mapping[str, Outcome], state: str | None) -> Outcome:
    """The outcome of ``state`` in a state table; states the server adds later are pending."""
    if state is None:
        return Outcome.PENDING
    return table.get(state, Outcome.PENDING)


_TOKEN_VERSION = 1


def dump_token(kind: str, job_id: str, **extra: str) -> str:
    """A small JSON string that identifies a job, to resume waiting on it later.

    It holds no secret: only the kind, the id and non-secret hints.
    """
    return json.dumps(
        {"v": _TOKEN_VERSION, "kind": kind, "id": job_id, **extra},
        separators=(",", ":"),
        sort_keys=True,
    )


def load_token(token: str, *, kind: str | None = None) -> dict[str, str]:
    """Parse a token made by :func:`dump_token`, checking its kind."""
    try:
        data = json.loads(token)
    except (TypeError, ValueError):
        data = None
    if (
        not isinstance(data, dict)
        or data.get("v") != _TOKEN_VERSION
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("kind"), str)
    ):
        raise ValidationError(f"not a carto_async job token: {token!r:.80}")
    if kind is not None and data["kind"] != kind:
        raise ValidationError(f"this token is for a {data['kind']} job, not a {kind} job")
    return {str(k): str(v) for k, v in data.items()}
