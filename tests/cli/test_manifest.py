"""The manifest file, and what a re-run plans from it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from carto_async.cli._batch import Action, Phase, plan
from carto_async.cli._manifest import (
    Account,
    Entry,
    EntryState,
    Manifest,
    ManifestError,
    ManifestLock,
)
from carto_async.cli._sources import url_source

ACCOUNT = Account("demo", "https://demo.carto.com")
TOKEN = '{"id":"efa9925c-31dd-11e4-a95e-0edbca4b5057","kind":"import","v":1}'


def test_a_missing_manifest_starts_empty_and_is_written_on_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    manifest = Manifest.open(str(path), ACCOUNT)
    assert manifest.entries == {}
    assert not path.exists()
    manifest.record("k", "a.csv", EntryState.IN_FLIGHT, token=TOKEN, import_id="efa9")
    again = Manifest.open(str(path), ACCOUNT)
    entry = again.get("k")
    assert entry is not None
    assert entry.state is EntryState.IN_FLIGHT
    assert entry.token == TOKEN
    assert entry.label == "a.csv"


def test_the_manifest_is_replaced_atomically_leaving_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    manifest = Manifest.open(str(path), ACCOUNT)
    for i in range(5):
        manifest.record(f"k{i}", f"{i}.csv", EntryState.DONE, table_name=f"t{i}")
    assert len(Manifest.read(str(path)).entries) == 5  # the file and its journal
    manifest.close()  # the run's end folds the journal into the file
    assert os.listdir(tmp_path) == ["m.json"]
    data = json.loads(path.read_text())
    assert data["format"] == "carto-async-manifest"
    assert data["account"] == {"username": "demo", "base_url": "https://demo.carto.com"}
    assert len(data["entries"]) == 5


def test_a_manifest_of_another_account_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    Manifest.open(str(path), ACCOUNT).record("k", "a.csv", EntryState.DONE)
    with pytest.raises(ManifestError, match=r"records imports of demo at https://demo\.carto\.com"):
        Manifest.open(str(path), Account("other", "https://other.carto.com"))


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"format": "something-else"}', '{"format": "carto-async-manifest"}'],
)
def test_a_file_that_is_not_a_manifest_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"m\.json"):
        Manifest.open(str(path), ACCOUNT)


def test_a_manifest_in_a_missing_folder_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        Manifest.open(str(tmp_path / "nope" / "m.json"), ACCOUNT)


def test_the_key_is_never_written(tmp_path: Path) -> None:
    account = Account("demo", "https://demo:secret-password@demo.carto.com")
    path = tmp_path / "m.json"
    Manifest.open(str(path), account).record("k", "a.csv", EntryState.DONE)
    assert "secret-password" not in path.read_text()


def test_a_rerun_skips_done_resumes_in_flight_retries_failed_and_holds_unknown() -> None:
    manifest = Manifest(None, ACCOUNT)
    sources = [url_source(f"https://example.com/{n}.csv") for n in "abcdef"]
    states = {
        "a": EntryState.DONE,
        "b": EntryState.IN_FLIGHT,
        "c": EntryState.FAILED,
        "d": EntryState.UNKNOWN,
        "e": EntryState.PENDING,
    }
    for source in sources:
        state = states.get(source.key[-5])
        if state is not None:
            manifest.entries[source.key] = _entry(state)
    items = plan(sources, manifest, retry_unknown=False)
    assert [i.action for i in items] == [
        Action.SKIP,
        Action.RESUME,
        Action.UPLOAD,
        Action.HOLD,
        Action.UPLOAD,
        Action.UPLOAD,
    ]
    assert items[0].phase is Phase.SKIPPED
    assert items[0].ok
    assert items[3].phase is Phase.HELD
    assert not items[3].ok
    assert "--retry-unknown" in (items[3].message or "")
    retried = plan(sources, manifest, retry_unknown=True)
    assert retried[3].action is Action.UPLOAD


def test_a_source_recorded_started_is_held_like_an_unknown_one() -> None:
    manifest = Manifest(None, ACCOUNT)
    source = url_source("https://example.com/a.csv")
    manifest.entries[source.key] = Entry(state=EntryState.STARTED, label="a.csv")
    assert manifest.resumable() == [manifest.entries[source.key]]
    (held,) = plan([source], manifest, retry_unknown=False)
    assert held.action is Action.HOLD
    assert held.phase is Phase.HELD
    assert "an earlier run was stopped after its upload began" in (held.message or "")
    assert "--retry-unknown" in (held.message or "")
    (retried,) = plan([source], manifest, retry_unknown=True)
    assert retried.action is Action.UPLOAD


def test_a_started_record_is_on_disk_at_once_and_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    Manifest.open(str(path), ACCOUNT).record("k", "a.csv", EntryState.STARTED)
    data = json.loads(path.read_text())
    assert data["version"] == 2
    assert data["entries"]["k"]["state"] == "started"
    entry = Manifest.open(str(path), ACCOUNT).get("k")
    assert entry is not None
    assert entry.state is EntryState.STARTED


def test_a_version_1_manifest_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps(
            {
                "format": "carto-async-manifest",
                "version": 1,
                "account": {"username": "demo", "base_url": "https://demo.carto.com"},
                "entries": {
                    "k": {"state": "unknown", "label": "a.csv", "error": "no answer"},
                    "d": {"state": "done", "label": "b.csv", "table_name": "b"},
                },
            }
        )
    )
    manifest = Manifest.open(str(path), ACCOUNT)
    assert {k: e.state for k, e in manifest.entries.items()} == {
        "k": EntryState.UNKNOWN,
        "d": EntryState.DONE,
    }
    manifest.record("n", "c.csv", EntryState.PENDING)
    manifest.close()
    assert json.loads(path.read_text())["version"] == 2
    assert len(json.loads(path.read_text())["entries"]) == 3


def test_a_manifest_of_a_later_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": "carto-async-manifest", "version": 3, "entries": {}}))
    with pytest.raises(ManifestError, match="unsupported manifest version 3"):
        Manifest.open(str(path), ACCOUNT)


def _killed_after(path: Path, *changes: tuple[str, EntryState]) -> None:
    """Record ``changes`` then stop as SIGKILL would: no close, nothing folded."""
    manifest = Manifest.open(str(path), ACCOUNT)
    for key, state in changes:
        manifest.record(key, f"{key}.csv", state)
    manifest._close_journal()  # the process dies; the OS closes its files


def test_a_change_is_one_journal_line_not_a_rewrite_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    manifest = Manifest.open(str(path), ACCOUNT)
    manifest.record("a", "a.csv", EntryState.DONE)  # the first record writes the file
    inode, text = os.stat(path).st_ino, path.read_text()
    for i in range(20):
        manifest.record(f"k{i}", f"{i}.csv", EntryState.STARTED)
    assert (os.stat(path).st_ino, path.read_text()) == (inode, text)
    journal = Path(f"{path}.journal").read_text().splitlines()
    assert len(journal) == 1 + 20  # a header, then one line per change
    manifest.close()
    assert not Path(f"{path}.journal").exists()
    assert len(json.loads(path.read_text())["entries"]) == 21


def test_after_a_kill_the_journal_is_replayed_and_folded_in_on_open(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    _killed_after(path, ("a", EntryState.DONE), ("b", EntryState.STARTED), ("a", EntryState.DONE))
    assert Path(f"{path}.journal").exists()
    seen = Manifest.read(str(path))  # looking changes nothing
    assert {k: e.state for k, e in seen.entries.items()} == {
        "a": EntryState.DONE,
        "b": EntryState.STARTED,
    }
    assert Path(f"{path}.journal").exists()
    reopened = Manifest.open(str(path), ACCOUNT)
    assert reopened.get("b") is not None
    assert not Path(f"{path}.journal").exists()
    assert json.loads(path.read_text())["entries"]["b"]["state"] == "started"


def test_a_journal_line_cut_short_by_a_power_cut_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    _killed_after(path, ("a", EntryState.DONE), ("b", EntryState.STARTED))
    journal = Path(f"{path}.journal")
    journal.write_text(journal.read_text() + '{"key": "c", "entry": {"sta')
    entries = Manifest.open(str(path), ACCOUNT).entries
    assert sorted(entries) == ["a", "b"]


def test_a_journal_older_than_the_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    _killed_after(path, ("a", EntryState.DONE), ("b", EntryState.STARTED))
    stale = Path(f"{path}.journal").read_text()
    manifest = Manifest.open(str(path), ACCOUNT)
    manifest.record("b", "b.csv", EntryState.DONE)
    manifest.close()
    # A power cut undid the journal's removal after the file was rewritten.
    Path(f"{path}.journal").write_text(stale)
    entry = Manifest.read(str(path)).get("b")
    assert entry is not None
    assert entry.state is EntryState.DONE


def test_a_damaged_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    _killed_after(path, ("a", EntryState.DONE), ("b", EntryState.STARTED))
    journal = Path(f"{path}.journal")
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(ManifestError, match=r"m\.json\.journal"):
        Manifest.open(str(path), ACCOUNT)


def test_a_journal_without_its_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    _killed_after(path, ("a", EntryState.DONE), ("b", EntryState.STARTED))
    path.unlink()
    with pytest.raises(ManifestError, match="is missing but its journal"):
        Manifest.open(str(path), ACCOUNT)


def test_one_run_at_a_time_holds_a_manifest(tmp_path: Path) -> None:
    path = str(tmp_path / "m.json")
    first, second = ManifestLock(path), ManifestLock(path)
    first.acquire()
    assert os.path.exists(f"{path}.lock")
    with pytest.raises(ManifestError, match="is in use by another carto-async run"):
        second.acquire()
    first.release()
    assert not os.path.exists(f"{path}.lock")
    second.acquire()
    second.release()
    second.release()  # letting go twice is harmless


def _entry(state: EntryState) -> Entry:
    return Entry(state=state, label="x", token=TOKEN, table_name="t")
