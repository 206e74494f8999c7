"""The manifest: what a batch import did to each source, so that a re-run can resume it.

A manifest is a JSON file plus, while a run goes or after it was killed, a journal next to it
(``FILE.journal``, one JSON line per change). Each change (a source's request starts, its
import is created, it ends) is appended to the journal and fsync'd before the run goes on: a
few milliseconds whatever the manifest's size. The file is rewritten whole, atomically
(temporary file, fsync, rename, fsync of the folder), when a run opens a manifest that has a
journal and when it ends; a crash, a kill or a power cut leaves the previous version or the
new one, never half a file, and a journal line cut short is ignored. It holds job tokens,
never the API key.

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

Version 1 files (before ``started`` and the journal existed) are read as they are; files are
written as version 2, which older versions of the command refuse rather than misread (they
would not read the journal).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

import attrs

from carto_async._core.credentials import redact_url

__all__ = ["Account", "Entry", "EntryState", "Manifest", "ManifestError", "ManifestLock"]

_FORMAT = "carto-async-manifest"
_VERSION = 2
_READABLE_VERSIONS = frozenset({1, 2})
_JOURNAL_SUFFIX = ".journal"
_LOCK_SUFFIX = ".lock"


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


class ManifestLock:
    """Keeps a second run off a manifest in use: two runs writing one manifest would each
    lose the other's records, and a lost ``started`` record is an upload done twice.

    An advisory lock (``flock``) on ``FILE.lock``, which goes away with the lock; where
    ``flock`` does not exist (Windows) there is no lock.
    """

    def __init__(self, path: str) -> None:
        self.path = path + _LOCK_SUFFIX
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ManifestError` if another run holds it."""
        try:
            import fcntl  # noqa: PLC0415 - POSIX only
        except ImportError:  # pragma: no cover - Windows
            return
        manifest = self.path[: -len(_LOCK_SUFFIX)]
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ManifestError(f"{self.path}: cannot create it: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise ManifestError(
                    f"{manifest} is in use by another carto-async run: wait for it to end, "
                    "or give this run another manifest"
                ) from None
            # The holder before us removes the file as it lets go; a lock on that removed
            # file would protect nothing.
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                self._fd = fd
                return
            os.close(fd)
        raise ManifestError(f"{manifest}: could not lock it (another run keeps starting)")

    def release(self) -> None:
        """Remove the lock file and let go (nothing if not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


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
    """The records of one account's batch imports, kept on disk as every change happens.

    A change is one line appended to the journal next to the file (``FILE.journal``) and
    fsync'd: a few milliseconds however many sources the manifest holds. The file itself is
    rewritten whole, atomically, only when the manifest is opened with a journal left behind
    and when the run closes it; so after a clean end there is one file, and after a kill the
    file plus the journal say everything (reading replays the journal). A journal line cut
    short by a power cut is the last one, and is ignored: it was never acknowledged.

    With ``path=None`` the records stay in memory until :meth:`save_as` (the command saves them
    that way when a run without ``--manifest`` leaves imports running).
    """

    def __init__(
        self,
        path: str | None,
        account: Account,
        entries: dict[str, Entry] | None = None,
        *,
        generation: int = 0,
    ) -> None:
        self.path = path
        self.account = account
        self.entries: dict[str, Entry] = entries if entries is not None else {}
        # Each rewrite of the file starts a new generation; a journal belongs to one, so a
        # journal whose removal a power cut undid is recognised as stale and ignored.
        self.generation = generation
        self._journal: IO[str] | None = None
        self._journaled = 0

    @property
    def journal_path(self) -> str | None:
        """Where changes are appended between rewrites of the file."""
        return None if self.path is None else self.path + _JOURNAL_SUFFIX

    @classmethod
    def open(cls, path: str, account: Account) -> Manifest:
        """Load ``path`` (and its journal), or start an empty manifest there if it does not
        exist yet; a journal left by a stopped run is folded into the file at once.

        Raises :class:`ManifestError` for a file that is not a manifest, or that records
        another account's imports (their tokens would mean nothing there).
        """
        if not os.path.exists(path):
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise ManifestError(f"{path}: the folder {directory} does not exist")
            if not os.access(directory, os.W_OK):
                raise ManifestError(f"{path}: cannot write in {directory}")
            if os.path.exists(path + _JOURNAL_SUFFIX):
                raise ManifestError(
                    f"{path} is missing but its journal {path}{_JOURNAL_SUFFIX} is there: "
                    "restore the file, or remove the journal to start afresh"
                )
            return cls(path, account)
        manifest = cls.read(path)
        if manifest.account != account:
            raise ManifestError(
                f"{path} records imports of {manifest.account}, not of {account}; "
                "use another manifest file for this account"
            )
        if manifest.journal_path is not None and os.path.exists(manifest.journal_path):
            manifest.save()
        return manifest

    @classmethod
    def read(cls, path: str) -> Manifest:
        """The records in ``path`` and its journal, as they stand, changing nothing on disk
        (to look at a manifest, even one a running command is writing)."""
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
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
            generation = data.get("generation", 0)
            if not isinstance(generation, int):
                raise ValueError(f"generation {generation!r} is not a number")
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise ManifestError(f"{path}: {exc}") from None
        manifest = cls(path, recorded, entries, generation=generation)
        manifest._replay()
        return manifest

    def _replay(self) -> None:
        journal = self.journal_path
        try:
            with open(journal or "", encoding="utf-8") as handle:
                lines = handle.read().split("\n")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ManifestError(f"{journal}: cannot read it: {exc.strerror}") from None
        # After the last newline comes nothing, or a line cut short, never acknowledged.
        complete = lines[:-1]
        try:
            header = json.loads(complete[0]) if complete else {}
            if not isinstance(header, dict) or header.get("generation") != self.generation:
                return  # empty, or a stale journal from before the file's last rewrite
            for number, line in enumerate(complete[1:], start=2):
                change = json.loads(line)
                if not isinstance(change, dict) or not isinstance(change.get("key"), str):
                    raise ValueError(f"line {number} is not a change")
                key = change["key"]
                self.entries[key] = _entry_from(key, change.get("entry"))
        except (ValueError, TypeError) as exc:
            raise ManifestError(f"{journal}: {exc}") from None

    def get(self, key: str) -> Entry | None:
        """The record of source ``key``, if any."""
        return self.entries.get(key)

    def record(self, key: str, label: str, state: EntryState, **fields: Any) -> None:
        """Set the record of ``key`` and make it durable before returning (the whole record
        is replaced)."""
        entry = Entry(state=state, label=label, updated=_now(), **fields)
        self.entries[key] = entry
        if self.path is None:
            return
        if not os.path.exists(self.path):
            self.save()  # the first record writes the file, account and all
            return
        self._append({"key": key, "entry": attrs.asdict(entry)})

    def _append(self, change: dict[str, Any]) -> None:
        assert self.journal_path is not None
        if self._journal is None:
            if self._journal_generation() == self.generation:
                # Another writer's journal, which this manifest read: fold it into the file
                # rather than append after a line a crash may have cut short.
                self.save()
            # A fresh journal for this generation (replacing a stale one), itself made
            # durable before any change goes in it.
            self._journal = open(self.journal_path, "w", encoding="utf-8")  # noqa: SIM115
            self._journal.write(json.dumps({"generation": self.generation}) + "\n")
            self._sync_journal()
            _fsync_directory(os.path.dirname(os.path.abspath(self.journal_path)))
        self._journal.write(json.dumps(change) + "\n")
        self._sync_journal()
        self._journaled += 1

    def _journal_generation(self) -> int | None:
        assert self.journal_path is not None
        try:
            with open(self.journal_path, encoding="utf-8") as handle:
                header = json.loads(handle.readline())
        except (OSError, ValueError):
            return None
        generation = header.get("generation") if isinstance(header, dict) else None
        return generation if isinstance(generation, int) else None

    def _sync_journal(self) -> None:
        assert self._journal is not None
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def resumable(self) -> list[Entry]:
        """Records a later run has something to do about: in flight or in doubt."""
        return [
            e for e in self.entries.values() if e.state is EntryState.IN_FLIGHT or e.state.in_doubt
        ]

    def to_json(self, generation: int | None = None) -> str:
        """The file's text (of the current generation unless told)."""
        return json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "generation": self.generation if generation is None else generation,
                "account": attrs.asdict(self.account),
                "updated": _now(),
                "entries": {k: attrs.asdict(e) for k, e in self.entries.items()},
            },
            indent=2,
        )

    def save(self) -> None:
        """Rewrite the file atomically with every record, then drop the journal (nothing to
        do for an in-memory manifest)."""
        if self.path is None:
            return
        self._close_journal()
        # If the write fails, nothing changed: the file and its journal still hold it all.
        _write_atomic(self.path, self.to_json(self.generation + 1) + "\n")
        self.generation += 1
        assert self.journal_path is not None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)
        self._journaled = 0

    def close(self) -> None:
        """Fold the journal into the file, if anything was journaled."""
        if self._journal is not None or self._journaled:
            self.save()

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def save_as(self, path: str) -> None:
        """Start saving to ``path`` from now on, and save now."""
        self._close_journal()
        self.path = path
        self.save()
