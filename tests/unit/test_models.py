"""Parsing real payloads: every fixture of the Import API, SQL results, timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from carto_async import ImportStatus, ValidationError
from carto_async._core import imports as core
from carto_async._core import sql as core_sql
from carto_async._core.jobs import IMPORT_STATES, Outcome, classify, dump_token, load_token
from carto_async.errors import APIError
from carto_async.models import error_text_for_code, parse_datetime

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(*parts: str) -> object:
    return json.loads(FIXTURES.joinpath(*parts).read_text())


def test_show_failure_fixture() -> None:
    status = core.parse_status(load("imports", "show_failure_1002.json"))
    assert status.state == "failure"
    assert status.failed
    assert status.done
    assert not status.succeeded
    assert status.error_code == 1002
    assert status.error is not None
    assert status.error.title == "Unsupported/Unrecognized file type"
    assert status.limits == {"twitter_credits_limit": 0}
    assert status.success is False
    assert status.raw["queue_id"] == status.id


def test_create_fixtures() -> None:
    assert core.parse_created(load("imports", "create_success_file.json")) == (
        "efa9925c-31dd-11e4-a95e-0edbca4b5057"
    )
    assert core.parse_created(load("imports", "create_success_arcgis.json")) == (
        "d676fd50-b774-4052-a4f1-e56ac6a4300e"
    )


def test_list_fixture() -> None:
    assert core.parse_list(load("imports", "list_success.json")) == [
        "1234abcd-1234-1a2b-3c4d-4321dcba5678"
    ]


def test_every_error_code_of_the_server_table_has_a_title() -> None:
    table = load("imports", "get_error_text_by_code.json")
    assert isinstance(table, dict)
    assert len(table) == 66
    for code, text in table.items():
        parsed = error_text_for_code(int(code))
        assert parsed is not None
        assert parsed.title == text["title"]
        assert parsed.what_about == text["what_about"]
        assert parsed.source == text["source"]
    assert "\n      " in table["99999"]["what_about"]


def test_codes_missing_from_the_server_table_still_get_a_title() -> None:
    text_1010 = error_text_for_code(1010)
    assert text_1010 is not None
    assert text_1010.title == "Not a file"
    other = error_text_for_code(4242)
    assert other is not None
    assert "4242" in other.title
    assert error_text_for_code(None) is None


def test_status_without_error_text_uses_the_packaged_table() -> None:
    status = ImportStatus(id="x", state="failure", error_code=6671)
    assert status.error is not None
    assert status.error.title == "Stuck import job"


def test_complete_with_1022_is_a_success_with_a_warning() -> None:
    status = core.parse_status(
        {
            "id": "a",
            "state": "complete",
            "error_code": 1022,
            "success": True,
            "get_error_text": None,
        }
    )
    assert status.succeeded
    assert status.warning is not None
    assert status.warning.title == "All tables were skipped"


def test_unknown_keys_are_kept_and_tolerated() -> None:
    status = core.parse_status({"id": "a", "state": "importing", "brand_new": [1, 2]})
    assert status.raw["brand_new"] == [1, 2]
    assert status.success is None  # only present in final states


@pytest.mark.parametrize("body", [None, [], {"state": "x"}, {"id": 1, "state": "x"}, "<html>"])
def test_malformed_status_bodies_raise_a_clear_error(body: object) -> None:
    with pytest.raises(APIError, match="unexpected status response"):
        core.parse_status(body)


@pytest.mark.parametrize(
    "body", [{"success": True}, {"item_queue_id": ""}, {"success": False, "item_queue_id": "x"}]
)
def test_malformed_create_bodies_raise(body: object) -> None:
    with pytest.raises(APIError):
        core.parse_created(body)


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("enqueued", Outcome.PENDING),
        ("pending", Outcome.PENDING),
        ("uploading", Outcome.PENDING),
        ("unpacking", Outcome.PENDING),
        ("importing", Outcome.PENDING),
        ("guessing", Outcome.PENDING),
        ("geocoding", Outcome.PENDING),
        ("complete", Outcome.SUCCESS),
        ("failure", Outcome.FAILURE),
        ("stuck", Outcome.FAILURE),
        ("some_future_state", Outcome.PENDING),
        (None, Outcome.PENDING),
    ],
)
def test_import_state_table(state: str | None, outcome: Outcome) -> None:
    assert classify(IMPORT_STATES, state) is outcome


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-05-05T09:36:09+00:00", datetime(2016, 5, 5, 9, 36, 9, tzinfo=UTC)),
        ("2016-05-05T09:36:09.123Z", datetime(2016, 5, 5, 9, 36, 9, 123000, tzinfo=UTC)),
        ("2015-12-15T07:36:25Z", datetime(2015, 12, 15, 7, 36, 25, tzinfo=UTC)),
        (
            "2015-12-15T07:36:25+0100",
            datetime(2015, 12, 15, 7, 36, 25, tzinfo=timezone(timedelta(hours=1))),
        ),
        (
            "2015-12-15T07:36:25-05:30",
            datetime(2015, 12, 15, 7, 36, 25, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("2015-12-15 07:36", datetime(2015, 12, 15, 7, 36, tzinfo=UTC)),
        ("2015-12-15T07:36:25.123456789Z", datetime(2015, 12, 15, 7, 36, 25, 123456, tzinfo=UTC)),
    ],
)
def test_lenient_timestamps(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_bad_timestamp_is_an_error() -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_datetime("yesterday")


def test_sql_result_parsing_and_fields() -> None:
    member = load("sql", "fields_pgtypes_member.json")
    assert isinstance(member, dict)
    fields = member["fields"]
    body = {"rows": [{"a": 1}], "time": 0.01, "fields": fields, "total_rows": 1}
    result = core_sql.parse_result(body)
    assert result.rows == [{"a": 1}]
    assert result.total_rows == 1
    assert isinstance(fields, dict)
    for name, spec in fields.items():
        assert result.fields[name].type == spec["type"]


def test_sql_error_member_with_http_200_raises() -> None:
    body = {"rows": [], "time": 0.1, "fields": {}, "total_rows": 0, "error": ["division by zero"]}
    with pytest.raises(APIError, match="division by zero"):
        core_sql.parse_result(body)


def test_sql_docs_example_without_fields_still_parses() -> None:
    result = core_sql.parse_result(load("sql", "query_count_docs.json"))
    assert result.fields == {}


@pytest.mark.parametrize(
    ("q", "read_only"),
    [
        ("select 1", True),
        ("  WITH x AS (select 1) select * from x", True),
        ("-- note\nselect 2", True),
        ("insert into t values (1)", False),
        ("select 1; drop table t", False),
        ("update t set a=1", False),
        ("select cdb_cartodbfytable('t')", False),
        ("explain select 1", True),
    ],
)
def test_read_only_detection(q: str, read_only: bool) -> None:
    assert core_sql.is_read_only(q) is read_only


def test_short_queries_go_as_get_and_long_ones_as_post() -> None:
    assert core_sql.query_request("select 1").method == "GET"
    long = "select " + ", ".join(["1"] * 2000)
    spec = core_sql.query_request(long)
    assert spec.method == "POST"
    assert spec.data is not None
    assert spec.data["q"] == long


def test_tokens_roundtrip_and_reject_garbage() -> None:
    token = dump_token("import", "abc", source="a.csv")
    assert load_token(token, kind="import") == {
        "v": "1",
        "kind": "import",
        "id": "abc",
        "source": "a.csv",
    }
    with pytest.raises(ValidationError, match="for a import job, not a export job"):
        load_token(token, kind="export")
    for bad in ["", "{}", "[1]", "null", '{"v": 1, "kind": "import"}', "garbage"]:
        with pytest.raises(ValidationError):
            load_token(bad)


def test_import_ids_are_checked_locally() -> None:
    assert core.check_import_id("EFA9925C-31DD-11E4-A95E-0EDBCA4B5057").islower()
    for bad in ["", "1", "../etc/passwd", "efa9925c-31dd-11e4-a95e-0edbca4b505"]:
        with pytest.raises(ValidationError, match="invalid import id"):
            core.check_import_id(bad)
