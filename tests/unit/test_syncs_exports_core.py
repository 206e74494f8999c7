"""The sans-I/O cores of sync tables, exports and visualizations: checks, rules and parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carto_async._core import exports, syncs, visualizations
from carto_async._core.http import KeyPlacement
from carto_async._core.imports import arcgis_url_problem, url_problem
from carto_async._core.jobs import Outcome, classify
from carto_async.errors import APIError, ValidationError
from carto_async.models.syncs import SyncNowRefusal
from tests.helpers import fixture

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
BASE = "https://demo.carto.com"


def _sync(**extra: Any) -> Any:
    body: dict[str, Any] = fixture("synchronizations", "create_url.json")
    body.pop("data_import")
    body.update(extra)
    return syncs.parse_sync(body)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(900, 900), (3600.0, 3600), (timedelta(hours=1), 3600), (timedelta(minutes=15), 900)],
)
def test_intervals_in_seconds_or_timedeltas(value: object, seconds: int) -> None:
    assert syncs.check_interval(value) == seconds


@pytest.mark.parametrize("value", [899, timedelta(minutes=14), 1.5, "900", None, False])
def test_bad_intervals(value: object) -> None:
    with pytest.raises(ValidationError, match="interval"):
        syncs.check_interval(value)


def test_create_body_reports_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        syncs.create_request(url="nope", interval=10, type_guessing="yes")  # type: ignore[arg-type]
    assert len(info.value.problems) == 3


def test_create_request_never_carries_the_key_and_is_never_retried() -> None:
    spec = syncs.create_request(url="https://example.com/a.csv", interval=900)
    assert spec.json == {"url": "https://example.com/a.csv", "interval": 900}
    assert spec.key is KeyPlacement.QUERY
    assert not spec.is_idempotent
    assert not syncs.sync_now_request("abcd1234-a5b6-c7d8-1a2b-efgh5678abcd").is_idempotent
    assert syncs.check_request("abcd1234-a5b6-c7d8-1a2b-efgh5678abcd").is_idempotent


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        ({"state": "queued", "updated_at": "2030-01-01T11:59:00+00:00"}, SyncNowRefusal.BUSY),
        ({"state": "syncing"}, SyncNowRefusal.BUSY),
        ({"state": "success", "ran_at": "2030-01-01T11:50:00+00:00"}, SyncNowRefusal.RAN_RECENTLY),
        ({"state": "success", "ran_at": "2030-01-01T11:00:00+00:00"}, SyncNowRefusal.CONCURRENCY),
        # A queue older than 15 minutes is not "busy" for the server: the reason lies elsewhere.
        (
            {
                "state": "queued",
                "updated_at": "2030-01-01T11:00:00+00:00",
                "ran_at": "2030-01-01T11:55:00+00:00",
            },
            SyncNowRefusal.RAN_RECENTLY,
        ),
    ],
)
def test_why_a_manual_run_was_refused(before: dict[str, Any], reason: SyncNowRefusal) -> None:
    assert syncs.refusal_of(_sync(**before), NOW) is reason
    assert reason.message


def test_sync_states() -> None:
    assert classify(syncs.SYNC_STATES, "queued") is Outcome.PENDING
    assert classify(syncs.SYNC_STATES, "success") is Outcome.SUCCESS
    assert classify(syncs.SYNC_STATES, "failure") is Outcome.FAILURE
    assert classify(exports.EXPORT_STATES, "uploading") is Outcome.PENDING
    assert classify(exports.EXPORT_STATES, "complete") is Outcome.SUCCESS


def test_parsing_keeps_the_payload_and_reads_the_nested_import() -> None:
    body = fixture("synchronizations", "create_url.json")
    sync = syncs.parse_sync(body)
    assert sync.raw == body
    assert sync.data_import is not None
    assert sync.data_import.item_queue_id == body["data_import"]["item_queue_id"]
    assert sync.checksum == ""
    failed = _sync(state="failure", error_code=1012, error_message="Connection refused")
    assert failed.error is not None
    assert failed.error.title == "Connection refused"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "html",
        {"id": 1},
        {"synchronizations": "x"},
        {"state": 1},
    ],
)
def test_garbage_bodies_are_api_errors_not_key_errors(body: Any) -> None:
    for parse in (
        syncs.parse_sync,
        syncs.parse_list,
        syncs.parse_check,
        syncs.parse_sync_now,
        exports.parse_export,
        visualizations.parse_visualization,
        visualizations.parse_list,
        visualizations.parse_table,
    ):
        with pytest.raises(APIError):
            parse(body)


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (syncs.parse_sync, {"id": "a", "state": "queued", "interval": "soon"}),
        (syncs.parse_list, {"synchronizations": [{"id": "a", "state": "x", "retried_times": []}]}),
        (exports.parse_export, {"id": "a", "state": "x", "created_at": "yesterday"}),
        (
            visualizations.parse_list,
            {"visualizations": [{"id": "a", "name": "n", "type": "t", "tags": 5}]},
        ),
        (visualizations.parse_table, {"id": "a", "name": "n", "row_count": "many"}),
    ],
)
def test_wrongly_typed_fields_are_api_errors(parse: Any, body: Any) -> None:
    with pytest.raises(APIError, match="unexpected"):
        parse(body)


@pytest.mark.parametrize(
    "url",
    [
        "https://h/arcgis/rest/services/F/S/FeatureServer/0",
        "http://h:8080/rest/services/S/MapServer/3",
        "https://h/arcgis/rest/services/F/S/MapServer/",
    ],
)
def test_arcgis_shapes(url: str) -> None:
    assert arcgis_url_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://h/arcgis/rest/services/F/S/FeatureServer",
        "https://h/arcgis/rest/services/F/S/FeatureServer/0/query",
        "https://h/arcgis/rest/services/F/S/FeatureServer/0?f=json",
        "https://h/arcgis/rest/F/S/FeatureServer/0",
        "https://h/arcgis/rest/services/a/b/c/FeatureServer/0",
        "https://h/arcgis/rest/services/F/S/Feature/0",
        42,
    ],
)
def test_not_arcgis_shapes(url: object) -> None:
    assert arcgis_url_problem(url) is not None


def test_url_shapes() -> None:
    assert url_problem("ftp://example.com/a.csv") is None
    assert url_problem("https://example.com/a b.csv") is not None
    assert url_problem(None) is not None


def test_download_urls_get_the_key_only_on_the_account() -> None:
    relative = exports.download_request("/api/v3/visualization_exports/x/download", BASE)
    assert relative.path == "/api/v3/visualization_exports/x/download"
    assert relative.key is KeyPlacement.QUERY
    own = exports.download_request(f"{BASE}/uploads/a.carto", BASE)
    assert own.path == "/uploads/a.carto"
    assert own.key is KeyPlacement.QUERY
    for other in (
        "https://s3.amazonaws.com/b/a.carto?sig=1",
        "https://demo.carto.com.evil.example/a.carto",
        "http://demo.carto.com/uploads/a.carto",  # another scheme is another origin
    ):
        spec = exports.download_request(other, BASE)
        assert spec.path == other
        assert spec.key is KeyPlacement.NONE
    with pytest.raises(ValidationError):
        exports.download_request("", BASE)
    with pytest.raises(ValidationError):
        exports.download_request("file:///etc/passwd", BASE)


def test_on_premise_base_urls() -> None:
    base = "https://carto.example.com/user/demo"
    assert exports.download_request(f"{base}/x.carto", base).key is KeyPlacement.QUERY
    other_user = exports.download_request("https://carto.example.com/user/eve/x.carto", base)
    assert other_user.key is KeyPlacement.NONE


def test_export_ids_and_table_ids() -> None:
    spec = exports.create_request(
        "ace62506-brc8-6570-2p91-8vf3af3ftc44",
        user_tables_ids=(
            "0c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c, 1c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c"
        ),
    )
    assert spec.json["user_tables_ids"] == (
        "0c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c,1c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c"
    )
    assert spec.creates_job
    with pytest.raises(ValidationError):
        exports.get_request("1; drop table x")


EARLIER = "2030-01-01T11:00:00+00:00"
LATER = "2030-01-01T11:30:00+00:00"
TRIGGER = datetime(2030, 1, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "ran_at", "triggered_at", "started", "refusal", "outcome"),
    [
        # A success left by an earlier run does not end a run not seen starting.
        ("success", EARLIER, TRIGGER, False, None, Outcome.PENDING),
        ("success", LATER, TRIGGER, False, None, Outcome.SUCCESS),
        ("failure", LATER, TRIGGER, False, None, Outcome.FAILURE),
        ("syncing", LATER, TRIGGER, False, None, Outcome.PENDING),
        ("success", EARLIER, None, False, None, Outcome.PENDING),
        # Seen starting: the next final state ends it, whatever the timestamps' resolution.
        ("success", EARLIER, TRIGGER, True, None, Outcome.SUCCESS),
        ("queued", EARLIER, TRIGGER, True, None, Outcome.PENDING),
        # Refused: a failure at once, unless a run is under way (then it is followed).
        ("success", EARLIER, TRIGGER, False, SyncNowRefusal.RAN_RECENTLY, Outcome.FAILURE),
        ("success", EARLIER, TRIGGER, False, SyncNowRefusal.CONCURRENCY, Outcome.FAILURE),
        ("syncing", EARLIER, TRIGGER, True, SyncNowRefusal.BUSY, Outcome.PENDING),
        ("success", EARLIER, TRIGGER, True, SyncNowRefusal.BUSY, Outcome.SUCCESS),
    ],
)
def test_the_outcome_of_a_followed_run(
    state: str,
    ran_at: str,
    triggered_at: datetime | None,
    started: bool,
    refusal: SyncNowRefusal | None,
    outcome: Outcome,
) -> None:
    sync = _sync(state=state, ran_at=ran_at)
    assert (
        syncs.run_outcome_of(sync, triggered_at=triggered_at, started=started, refusal=refusal)
        is outcome
    )
