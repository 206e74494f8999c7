"""The manifest: what a batch import did to each source, so that a re-run can resume it.

A manifest is a small JSON file rewritten atomically (temporary file, fsync, rename, fsync of
the folder) each time a source's request starts, its import is created, or it finishes, so that
a crash, a kill or a power cut leaves either the previous version or the new one, never half a
file. It holds job tokens, never the API key.

The record is written *ahead*: a source is recorded ``started`` before the first byte of its
create request's body goes out, so whatever stops this process afterwards (Ctrl-C, SIGTERM,
SIGKILL, the machine), a re-run knows the server may have the import.

What a re-run does with each recorded state:

* ``done``: skipped; the table exists.
* ``in_flight``: the server has the import; its polling resumes from the token, nothing is
  uploaded again.
* ``failed`` and ``pending``: uploaded again (the server refused it, the import failed, or it
  never started).
* ``unknown``: the create request got no answer, so the server may have made the import. It is
  left alone unless the user says to retry it, since retrying blindly could import it twice.
* ``started``: the run stopped (was killed) after the request began and before its answer was
  recorded: the same doubt as ``unknown``, and the same treatment.

Version 1 files (before ``started`` existed) are read as they are; files are written as
version 2, which older versions of the command refuse rather than misread.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import attrs

from carto_async._core.credentials import redact_url

__all__ = ["Account", "Entry", "EntryState", "Manifest", "ManifestError"]

_FORMAT = "carto-async-manifest"
_VERSION = 2
_READABLE_VERSIONS = frozenset({1, 2})


class ManifestError(Exception):
    """The manifest file cannot be used (unreadable, not a manifest, another account's)."""


class EntryState(StrEnum):
    """Where one source stands, as far as this machine knows."""

    PENDING = "pending"  # never started, or stopped before its upload finished
    IN_FLIGHT = "in_flight"  # the import exists on the server; outcome not seen yet
    DONE = "done"  # the import completed
    FAILED = "failed"  # the import failed, or its create request was refused
    UNKNOWN = "unknown"  # the create request got no answer: the import may exist
    STARTED = "started"  # written ahead of the request; still there, the run never saw its end

    @property
    def in_doubt(self) -> bool:
        """True when the server may or may not have made the import."""
        return self in (EntryState.UNKNOWN, EntryState.STARTED)


@attrs.frozen
class Account:
    """Whose imports a manifest records (the key is not part of it)."""

    username: str
    base_url: str = attrs.field(converter=redact_url)

    def __str__(self) -> str:
        return f"{self.username} at {self.base_url}"


@attrs.define
class Entry:
    """One source's record."""

    state: EntryState
    label: str
    token: str | None = None
    import_id: str | None = None
    table_name: str | None = None
    error_code: int | None = None
    error: str | None = None
    updated: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # The rename is durable only once the folder's entry is on disk (a power cut could
    # otherwise bring back the previous file). Not every platform can open a folder.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _entry_from(key: str, data: Any) -> Entry:
    if not isinstance(data, dict):
        raise ValueError(f"entry {key!r} is not an object")
    try:
        state = EntryState(str(data.get("state")))
    except ValueError:
        raise ValueError(f"entry {key!r} has an unknown state {data.get('state')!r}") from None
    code = data.get("error_code")
    return Entry(
        state=state,
        label=str(data.get("label") or key),
        token=data.get("token") if isinstance(data.get("token"), str) else None,
        import_id=data.get("import_id") if isinstance(data.get("import_id"), str) else None,
        table_name=data.get("table_name") if isinstance(data.get("table_name"), str) else None,
        error_code=code if isinstance(code, int) else None,
        error=data.get("error") if isinstance(data.get("error"), str) else None,
        updated=str(data.get("updated") or ""),
    )


class Manifest:
    """The records of one account's batch imports, saved to ``path`` on every change.

    With ``path=None`` the records stay in memory until :meth:`save_as` (the command saves them
    that way when a run without ``--manifest`` leaves imports running).
    """

    def __init__(
        self, path: str | None, account: Account, entries: dict[str, Entry] | None = None
    ) -> None:
        self.path = path
        self.account = account
        self.entries: dict[str, Entry] = entries if entries is not None else {}

    @classmethod
    def open(cls, path: str, account: Account) -> Manifest:
        """Load ``path``, or start an empty manifest there if it does not exist yet.

        Raises :class:`ManifestError` for a file that is not a manifest, or that records
        another account's imports (their tokens would mean nothing there).
        """
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise ManifestError(f"{path}: the folder {directory} does not exist") from None
            if not os.access(directory, os.W_OK):
                raise ManifestError(f"{path}: cannot write in {directory}") from None
            return cls(path, account)
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read it: {exc.strerror}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError("it is not a carto-async manifest")
            if data.get("version") not in _READABLE_VERSIONS:
                raise ValueError(f"unsupported manifest version {data.get('version')!r}")
            raw = data.get("account") or {}
            recorded = Account(str(raw.get("username")), str(raw.get("base_url")))
            entries = {str(k): _entry_from(str(k), v) for k, v in data["entries"].items()}
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise ManifestError(f"{path}: {exc}") from None
        if recorded != account:
            raise ManifestError(
                f"{path} records imports of {recorded}, not of {account}; "
                "use another manifest file for this account"
            )
        return cls(path, account, entries)

    def get(self, key: str) -> Entry | None:
        """The record of source ``key``, if any."""
        return self.entries.get(key)

    def record(self, key: str, label: str, state: EntryState, **fields: Any) -> None:
        """Set the record of ``key`` and save at once (the whole record is replaced)."""
        self.entries[key] = Entry(state=state, label=label, updated=_now(), **fields)
        self.save()

    def resumable(self) -> list[Entry]:
        """Records a later run has something to do about: in flight or in doubt."""
        return [
            e for e in self.entries.values() if e.state is EntryState.IN_FLIGHT or e.state.in_doubt
        ]

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "account": attrs.asdict(self.account),
                "updated": _now(),
                "entries": {k: attrs.asdict(e) for k, e in self.entries.items()},
            },
            indent=2,
        )

    def save(self) -> None:
        """Write the file atomically (nothing to do for an in-memory manifest)."""
        if self.path is not None:
            _write_atomic(self.path, self.to_json() + "\n")

    def save_as(self, path: str) -> None:
        """Start saving to ``path`` from now on, and save now."""
        self.path = path
        self.save()
