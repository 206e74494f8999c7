"""COPY without I/O: statements, request specs, typed errors, the COPY TO error detector."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import random
import uuid
from typing import Any

import pytest

from carto_async import (
    APIError,
    BadRequestError,
    CopyError,
    CopyFailedError,
    CopyGzipError,
    CopyInputTooSlowError,
    CopyInterruptedError,
    CopySizeLimitError,
    Identifier,
    NoRowsCopiedError,
    QuotaExceededError,
    RateLimitError,
    RetryPolicy,
    ValidationError,
)
from carto_async._core import copy as core
from carto_async._core.errors import error_from_response
from carto_async._core.http import KeyPlacement, Service
from carto_async._core.retry import Failure, RetryState
from tests.helpers import fixture

# --------------------------------------------------------------------------- statements


@pytest.mark.parametrize(
    ("args", "options", "sql"),
    [
        (("stores",), {}, 'COPY "stores" FROM STDIN WITH (FORMAT csv)'),
        (
            ("stores", ["name", "the_geom"]),
            {"header": True},
            'COPY "stores" ("name", "the_geom") FROM STDIN WITH (FORMAT csv, HEADER true)',
        ),
        (
            (Identifier("public", "my table"), ['odd "col"']),
            {"delimiter": ";", "null": "NA", "quote": "'", "escape": "\\", "encoding": "UTF8"},
            'COPY "public"."my table" ("odd ""col""") FROM STDIN WITH (FORMAT csv, '
            "DELIMITER ';', NULL 'NA', QUOTE '''', ESCAPE E'\\\\', ENCODING 'UTF8')",
        ),
        (
            ("t",),
            {"format": "text", "delimiter": "\t"},
            "COPY \"t\" FROM STDIN WITH (FORMAT text, DELIMITER '\t')",
        ),
        (
            ("t",),
            {"format": "CSV", "header": False},
            'COPY "t" FROM STDIN WITH (FORMAT csv, HEADER false)',
        ),
    ],
)
def test_copy_from_statements(args: tuple[Any, ...], options: dict[str, Any], sql: str) -> None:
    assert core.copy_from_statement(*args, **options) == sql


@pytest.mark.parametrize(
    ("args", "options", "sql"),
    [
        (
            ("select * from stores where a = 'x';",),
            {"header": True},
            "COPY (\nselect * from stores where a = 'x'\n) TO STDOUT "
            "WITH (FORMAT csv, HEADER true)",
        ),
        (("select 1 -- note",), {}, "COPY (\nselect 1 -- note\n) TO STDOUT WITH (FORMAT csv)"),
        (
            (Identifier("stores"), ["a", "b"]),
            {"format": "text"},
            'COPY "stores" ("a", "b") TO STDOUT WITH (FORMAT text)',
        ),
    ],
)
def test_copy_to_statements(args: tuple[Any, ...], options: dict[str, Any], sql: str) -> None:
    assert core.copy_to_statement(*args, **options) == sql


@pytest.mark.parametrize(
    ("args", "options", "problem"),
    [
        (("a.b",), {}, r"Identifier\('a', 'b'\)"),
        (("",), {}, "table must be a name"),
        ((3,), {}, "table must be a name"),
        (("t", []), {}, "non-empty list"),
        (("t", "abc"), {}, "non-empty list"),
        (("t", ["a", "a"]), {}, "repeat"),
        (("t", ["a", ""]), {}, "empty"),
        (("t",), {"format": "binary"}, "binary COPY is not supported"),
        (("t",), {"format": "xml"}, "'csv' or 'text'"),
        (("t",), {"format": "text", "header": True}, "header is only available in csv"),
        (("t",), {"header": "yes"}, "header must be True or False"),
        (("t",), {"delimiter": ";;"}, "single one-byte character"),
        (("t",), {"delimiter": "\u00e9"}, "single one-byte character"),
        (("t",), {"delimiter": "\n"}, "newline"),
        (("t",), {"delimiter": '"'}, "delimiter and quote must differ"),
        (("t",), {"format": "text", "delimiter": "\\"}, "backslash"),
        (("t",), {"null": "a\nb"}, "without newlines"),
        (("t",), {"null": "\x00"}, "NUL"),
        (("t",), {"format": "text", "quote": "'"}, "quote is only available in csv"),
        (("t",), {"encoding": "utf8'; drop"}, "encoding name"),
    ],
)
def test_bad_copy_from_statements_are_refused(
    args: tuple[Any, ...], options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        core.copy_from_statement(*args, **options)


def test_copy_statement_problems_are_reported_together() -> None:
    with pytest.raises(ValidationError) as info:
        core.copy_from_statement("a.b", ["x", "x"], format="text", header=True, quote="'")
    assert len(info.value.problems) == 4


@pytest.mark.parametrize(
    ("source", "columns", "problem"),
    [
        ("", None, "source must be"),
        ("select 1", ["a"], "columns go with a table"),
        (None, None, "source must be"),
    ],
)
def test_bad_copy_to_statements_are_refused(source: Any, columns: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        core.copy_to_statement(source, columns)


@pytest.mark.parametrize(
    ("statement", "direction", "sent"),
    [
        ("COPY t FROM STDIN", "from", "COPY t FROM STDIN"),
        ("copy t from stdin with (format csv)", "from", "COPY t from stdin with (format csv)"),
        ("  \n-- load\n/* c */ copy\tt FROM stdin", "from", "COPY t FROM stdin"),
        ("COPY (select 1) TO STDOUT", "to", "COPY (select 1) TO STDOUT"),
        ("copy\n(select 'to stdout') to stdout", "to", "COPY (select 'to stdout') to stdout"),
    ],
)
def test_raw_statements_are_checked_and_start_with_copy_and_a_space(
    statement: str, direction: Any, sent: str
) -> None:
    assert core.check_statement(statement, direction) == sent


@pytest.mark.parametrize(
    ("statement", "direction", "problem"),
    [
        ("", "from", "empty"),
        ("select 1", "from", "not a COPY statement"),
        ("COPYt FROM STDIN", "from", "not a COPY statement"),
        ("COPY t TO STDOUT", "from", "FROM STDIN"),
        ("COPY t FROM '/etc/passwd'", "from", "FROM STDIN"),
        ("COPY t FROM STDIN", "to", "TO STDOUT"),
        ("COPY (select 'to stdout') TO '/tmp/x'", "to", "TO STDOUT"),  # the words in a literal
        ("COPY t FROM PROGRAM 'x' -- from stdin", "from", "FROM STDIN"),  # ... or a comment
    ],
)
def test_raw_statements_that_are_not_the_right_copy_are_refused(
    statement: str, direction: Any, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        core.check_statement(statement, direction)


def test_statement_or_table_is_told_apart() -> None:
    assert core.resolve_copy_from("stores", ["a"], header=True) == (
        'COPY "stores" ("a") FROM STDIN WITH (FORMAT csv, HEADER true)'
    )
    assert core.resolve_copy_from(" copy stores from stdin") == "COPY stores from stdin"
    assert (
        core.resolve_copy_from(Identifier("copy table"))
        == 'COPY "copy table" FROM STDIN WITH (FORMAT csv)'
    )
    with pytest.raises(ValidationError, match="go with a table name"):
        core.resolve_copy_from("COPY t FROM STDIN", header=True)
    with pytest.raises(ValidationError, match="go with a table name"):
        core.resolve_copy_from("COPY t FROM STDIN", ["a"])
    assert core.resolve_copy_to("select 1", header=True) == (
        "COPY (\nselect 1\n) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    assert core.resolve_copy_to("COPY t TO STDOUT", header=None) == "COPY t TO STDOUT"
    with pytest.raises(ValidationError, match="go with a query or table"):
        core.resolve_copy_to("COPY t TO STDOUT", format="text")


# --------------------------------------------------------------------------- requests


def test_copy_from_request() -> None:
    spec = core.copy_from_request("copy t from stdin", gzip=True)
    assert (spec.method, spec.path, spec.service) == ("POST", "/api/v2/sql/copyfrom", Service.SQL)
    assert spec.params == {"q": "COPY t from stdin"}  # q only in the query string
    assert spec.json is None
    assert spec.data is None
    assert spec.headers == {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
    assert spec.key is KeyPlacement.BASIC
    assert "Content-Encoding" not in core.copy_from_request("COPY t FROM STDIN").headers


def test_copy_from_is_never_repeated_once_data_may_have_gone_out() -> None:
    spec = core.copy_from_request("COPY t FROM STDIN")
    assert spec.creates_job
    state = RetryState(RetryPolicy(), spec, 5, rng=random.Random(1))
    assert state.on_failure(Failure.AMBIGUOUS).retry is False
    assert state.on_status(500, retry_after=None).retry is False
    assert state.on_status(504, retry_after=None).retry is False
    # Nothing reached the server: safe only when the body can be read again.
    assert state.on_failure(Failure.NOT_SENT, replayable=True).retry is True
    assert state.on_failure(Failure.NOT_SENT, replayable=False).retry is False
    # A statement timeout would only time out again.
    assert state.on_status(429, retry_after=None, statement_timeout=True).retry is False


@pytest.mark.parametrize(
    ("statement", "idempotent"),
    [
        ("COPY (select * from t) TO STDOUT", True),
        ("COPY t TO STDOUT WITH (FORMAT csv)", True),
        ("COPY (\nselect 1 -- to stdout\n) TO STDOUT", True),
        ("COPY (insert into t values (1) returning *) TO STDOUT", False),
        ("COPY (delete from t returning *) TO STDOUT", False),
    ],
)
def test_copy_to_request_repeats_only_reads(statement: str, idempotent: bool) -> None:
    spec = core.copy_to_request(statement, filename="out.csv")
    assert (spec.method, spec.path) == ("GET", "/api/v2/sql/copyto")
    assert spec.params == {"q": statement, "filename": "out.csv"}
    assert spec.is_idempotent is idempotent


def test_long_copy_to_statements_are_posted_as_a_form() -> None:
    statement = core.copy_to_statement("select " + ", ".join(["1"] * 1000))
    spec = core.copy_to_request(statement)
    assert spec.method == "POST"
    assert spec.data == {"q": statement}


def test_copy_to_filename_is_checked() -> None:
    with pytest.raises(ValidationError, match="filename"):
        core.copy_to_request("COPY t TO STDOUT", filename="")


def test_copy_from_success_parses() -> None:
    result = core.parse_copy_from(fixture("sql", "copyfrom_success_docs.json"))
    assert (result.total_rows, result.time) == (10, 0.046)
    with pytest.raises(APIError, match="unexpected COPY FROM response"):
        core.parse_copy_from({"time": 1})


# --------------------------------------------------------------------------- errors


def _error(status: int, body: Any) -> Any:
    return error_from_response(
        status_code=status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        service=Service.SQL,
        method="POST",
        url="https://demo.carto.com/api/v2/sql/copyfrom?q=COPY",
    )


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (fixture("sql", "copyfrom_error_no_rows_400.json"), NoRowsCopiedError),
        (fixture("sql", "copyfrom_error_bad_gzip.json"), CopyGzipError),
        (fixture("sql", "copyfrom_error_db_quota_400.json"), QuotaExceededError),
        ({"error": ["COPY FROM maximum POST size of 2 GB exceeded"]}, CopySizeLimitError),
        ({"error": ["Connection closed by server: input data too slow"]}, CopyInputTooSlowError),
        (fixture("sql", "copy_error_sql_missing_400.json"), CopyFailedError),
        ({"error": ['missing data for column "b"'], "context": "COPY t, line 2"}, CopyFailedError),
    ],
)
def test_copy_errors_are_typed(body: Any, cls: type[Exception]) -> None:
    error = core.copy_error(_error(400, body))
    assert type(error) is cls
    assert isinstance(error, BadRequestError)
    assert isinstance(error, CopyError)
    assert error.message == body["error"][0]
    assert error.status_code == 400
    assert error.body == body
    assert error.url is not None
    assert error.url.endswith("copyfrom?q=COPY")


def test_a_copy_statement_timeout_stays_a_rate_limit_error_of_kind_timeout() -> None:
    original = _error(429, fixture("sql", "error_statement_timeout_429.json"))
    error = core.copy_error(original)
    assert error is original
    assert isinstance(error, RateLimitError)
    assert error.kind == "timeout"


def test_other_statuses_are_left_alone() -> None:
    original = _error(401, fixture("sql", "error_unauthorized_401.json"))
    assert core.copy_error(original) is original


# --------------------------------------------------------------------------- COPY TO errors

ERROR = b'{"error":["canceling statement due to statement timeout"]}'


def _run(chunks: list[bytes], **options: Any) -> bytes:
    detector = core.CopyToErrorDetector(**options)
    out = b"".join(detector.feed(c) for c in chunks)
    return out + detector.close()


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 10, 64, 10_000])
def test_an_appended_error_raises_whatever_the_chunking(size: int) -> None:
    data = b"1,a\n2,b\n" + ERROR
    detector = core.CopyToErrorDetector()
    passed = b"".join(detector.feed(c) for c in _split(data, size))
    assert passed == b"1,a\n2,b\n"  # the data went through, the error did not
    with pytest.raises(CopyInterruptedError) as info:
        detector.close()
    assert info.value.kind == "timeout"
    assert info.value.body == {"error": ["canceling statement due to statement timeout"]}
    assert "after 8 bytes" in str(info.value)
    assert isinstance(info.value, CopyError)


def test_an_error_appended_mid_row_raises_with_context() -> None:
    body = {"error": ["out of memory"], "context": "limit", "detail": "datasource"}
    with pytest.raises(CopyInterruptedError) as info:
        _run([b"1,a\n2,", json.dumps(body, separators=(",", ":")).encode()])
    assert info.value.error_codes == ("limit", "datasource")
    assert info.value.kind == "timeout"


@pytest.mark.parametrize("size", [1, 5, 4096])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"1,a\n2,b\n",
        b"no newline at the end",
        b'{"error":[ looks like it, then more\n3,c\n',  # text-format data with the marker
        b'x\t{"error":["not json at the end"\n',
        b'1\t{"error":["an object"],"x":1}\n2\tb\n',
        b'{"error":["truncated',
        b'{"error":"not a list"}',
        b'ends with a partial marker {"err',
    ],
)
def test_data_comes_through_unchanged(data: bytes, size: int) -> None:
    assert _run(_split(data, size)) == data


def test_data_is_released_as_it_comes_holding_only_a_possible_marker() -> None:
    detector = core.CopyToErrorDetector()
    assert detector.feed(b"1,a\n2,b") == b"1,a\n2,b"
    assert detector.feed(b'\n{"er') == b"\n"
    assert detector.feed(b"ror") == b""
    assert detector.feed(b"x\n") == b'{"errorx\n'
    assert detector.close() == b""


def test_a_long_held_tail_is_released_as_data() -> None:
    detector = core.CopyToErrorDetector(max_error_bytes=20)
    assert detector.feed(b'{"error":["') == b""
    released = detector.feed(b"x" * 30)
    assert released == b'{"error":["' + b"x" * 30
    assert detector.close() == b""


# --------------------------------------------------------------------------- rows to CSV


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, ""),
        ("", '""'),
        ("plain", "plain"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("two\nlines", '"two\nlines"'),
        ("\\.", '"\\."'),
        ("back\\slash", "back\\slash"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.5, "1.5"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (decimal.Decimal("1.10"), "1.10"),
        (b"\x01\xff", "\\x01ff"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2024-01-02T03:04:05+00:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({"a": [1, "é"]}, '"{""a"": [1, ""é""]}"'),
    ],
)
def test_csv_fields(value: Any, field: str) -> None:
    assert core.CsvRowEncoder().field(value) == field


def test_csv_fields_of_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")
    encoder = core.CsvRowEncoder()
    assert [encoder.field(v) for v in (np.int32(-3), np.float32(0.5), np.bool_(False))] == [
        "-3",
        "0.5",
        "false",
    ]


def test_csv_rows_and_bad_values() -> None:
    encoder = core.CsvRowEncoder()
    assert encoder.encode([(1, None, ""), ("x", "y,z", True)]) == b'1,,""\nx,"y,z",true\n'
    with pytest.raises(ValidationError, match="NUL"):
        encoder.field("a\x00")
    with pytest.raises(ValidationError, match="object values"):
        encoder.field(object())
    assert core.CsvRowEncoder(delimiter="\t").row(["a,b", "c\td"]) == 'a,b\t"c\td"\n'
