"""Safe SQL templating: literals by Python type, identifiers only through Identifier.

Round trips go through DuckDB, whose parser is PostgreSQL's (libpg_query): a value that comes
back unchanged as the one column of the one row was quoted as data, not as syntax.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import enum
import pickle
import uuid
from typing import Any

import pytest

from carto_async import Identifier, ValidationError
from carto_async._core.sql_template import (
    find_placeholders,
    quote_identifier,
    quote_literal,
    render,
)

duckdb = pytest.importorskip("duckdb")

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture(scope="module")
def db() -> Any:
    con = duckdb.connect()
    yield con
    con.close()


def one_value(db: Any, sql: str) -> Any:
    rows = db.sql(sql).fetchall()
    assert len(rows) == 1
    assert len(rows[0]) == 1
    return rows[0][0]


@pytest.mark.parametrize(
    ("value", "sql"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (False, "FALSE"),
        (0, "0"),
        (3, "3"),
        (-3, "(-3)"),
        (10**30, "1" + "0" * 30),
        (1.5, "1.5"),
        (-1.5, "(-1.5)"),
        (-0.0, "(-0.0)"),
        (1e300, "1e+300"),
        (float("nan"), "'NaN'::float8"),
        (float("inf"), "'Infinity'::float8"),
        (float("-inf"), "'-Infinity'::float8"),
        (decimal.Decimal("12.50"), "12.50"),
        (decimal.Decimal("-0.1"), "(-0.1)"),
        (decimal.Decimal("NaN"), "'NaN'::numeric"),
        (decimal.Decimal("-Infinity"), "'-Infinity'::numeric"),
        ("O'Brien", "'O''Brien'"),
        ("", "''"),
        ("a\\b", "E'a\\\\b'"),
        ("it's a \\ test", "E'it''s a \\\\ test'"),
        (b"\x00\xff", "decode('00ff', 'hex')"),
        (dt.date(2024, 2, 29), "'2024-02-29'::date"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "'2024-01-02T03:04:05'::timestamp"),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
            "'2024-01-02T03:04:05.123456+00:00'::timestamptz",
        ),
        (dt.time(12, 30), "'12:30:00'::time"),
        (dt.time(12, 30, tzinfo=PLUS2), "'12:30:00+02:00'::timetz"),
        (
            dt.timedelta(days=1, seconds=2, microseconds=3),
            "'1 days 2 seconds 3 microseconds'::interval",
        ),
        (
            uuid.UUID("de305d54-75b4-431b-adb2-eb6b9e546014"),
            "'de305d54-75b4-431b-adb2-eb6b9e546014'::uuid",
        ),
        ([1, 2, 3], "(1, 2, 3)"),
        (("a", None, -1), "('a', NULL, (-1))"),
        ({"b", "a"}, "('a', 'b')"),
        (Identifier("my table"), '"my table"'),
        (Identifier("public", "my table"), '"public"."my table"'),
    ],
)
def test_values_are_quoted_by_their_python_type(value: Any, sql: str) -> None:
    assert quote_literal(value) == sql


class Color(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


def test_str_and_int_subclasses_are_quoted_as_their_values() -> None:
    assert quote_literal(Color.RED) == "'red'"
    assert quote_literal(Size.BIG) == "3"


def test_numpy_scalars_are_quoted_as_numbers() -> None:
    np = pytest.importorskip("numpy")
    assert quote_literal(np.int64(-4)) == "(-4)"
    assert quote_literal(np.uint8(7)) == "7"
    assert quote_literal(np.float64(0.5)) == "0.5"
    assert quote_literal(np.float32(float("nan"))) == "'NaN'::float8"
    assert quote_literal(np.bool_(True)) == "TRUE"


@pytest.mark.parametrize(
    "value",
    [
        1,
        -7,
        2.25,
        -1e-7,
        "O'Brien",
        "",
        "\\",
        "\\'",
        "'\\",
        "a\\b\\\\c",
        "back\\slash' ; drop table t; --",
        "x'); drop table t; --",
        "$$; drop table t; $$",
        "$tag$ select 1 $tag$",
        "/* comment */",
        "*/ select 1 /*",
        "-- line comment",
        "line1\nline2\r\n\ttab",
        "\x01\x1b[31mred\x7f",
        "\u2019 \u2018 \u02bc \uff07 \u201c \uff02",  # unicode quotes: data, not syntax
        "caf\u00e9 \U0001f600 \u0440\u0443\u0441",
        "{{name}}",
        "E'\\x41'",
        "U&'\\0041'",
    ],
)
def test_injection_attempts_come_back_as_the_same_single_value(db: Any, value: Any) -> None:
    sql = render("select {{v}} as v", {"v": value})
    assert one_value(db, sql) == value


@pytest.mark.parametrize(
    "template",
    [
        "select 1 -{{n}}",
        "select 1-{{n}}",
        "select 1 - {{n}}",
        "select 1 -{{n}}\n-- trailing comment",
    ],
)
def test_negative_numbers_never_start_a_comment(db: Any, template: str) -> None:
    assert one_value(db, render(template, {"n": -1})) == 2
    assert one_value(db, render(template, {"n": -1.0})) == 2


def test_lists_fill_in(db: Any) -> None:
    sql = render(
        "select count(*) from (values (1), (2), (3), (4)) as t(x) where x in {{xs}}",
        {"xs": [2, 4, -9]},
    )
    assert one_value(db, sql) == 2


def test_intervals_round_trip(db: Any) -> None:
    delta = dt.timedelta(days=2, seconds=3661, microseconds=5)
    assert one_value(db, render("select {{d}}", {"d": delta})) == delta


def test_identifiers_are_quoted_and_qualified(db: Any) -> None:
    db.sql('create schema if not exists "odd schema"')
    db.sql('create table "odd schema"."my ""table""" (n int)')
    db.sql('insert into "odd schema"."my ""table""" values (5)')
    sql = render(
        "select n from {{t}} where n > {{n}}",
        {"t": Identifier("odd schema", 'my "table"'), "n": 1},
    )
    assert sql == 'select n from "odd schema"."my ""table""" where n > 1'
    assert one_value(db, sql) == 5


def test_a_plain_string_is_never_an_identifier() -> None:
    sql = render("select * from {{t}}", {"t": "stores; drop table x"})
    assert sql == "select * from 'stores; drop table x'"


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        ((), "at least one"),
        (("",), "empty"),
        (("a\x00b",), "NUL"),
        (("x" * 64,), "63 bytes"),
        (("\u00e9" * 32,), "63 bytes"),
        ((3,), "strings"),
        (("\ud800",), "lone surrogate"),
    ],
)
def test_bad_identifiers_are_refused(parts: tuple[Any, ...], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Identifier(*parts)


def test_identifier_repr_equality_and_quote_helper() -> None:
    ident = Identifier("public", "t")
    assert repr(ident) == "Identifier('public', 't')"
    assert ident == Identifier("public", "t")
    assert ident != Identifier("public.t")
    assert hash(ident) == hash(Identifier("public", "t"))
    assert str(Identifier("public.t")) == '"public.t"'
    assert quote_identifier('a"b') == '"a""b"'
    with pytest.raises(AttributeError, match="immutable"):
        ident.parts = ("x",)  # type: ignore[misc]
    assert copy.deepcopy({"t": ident}) == {"t": ident}
    assert pickle.loads(pickle.dumps(ident)) == ident


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\x00b", "NUL"),
        ("\udc80", "lone surrogate"),
        ([], "empty list"),
        ([[1]], "nested"),
        ({"a": 1}, "dict values have no SQL literal form"),
        (object(), "object values"),
        (decimal.Decimal("sNaN"), "signalling"),
    ],
)
def test_values_with_no_sql_form_are_refused(value: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        render("select {{v}}", {"v": value})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        render(
            "select {{a}}, {{missing}}, '{{quoted}}' from t where x = {{bad}}",
            {"a": 1, "unused": 2, "bad": object(), "quoted": "q", "not a name": 3},
        )
    problems = info.value.problems
    assert len(problems) == 5
    text = "\n".join(problems)
    assert "{{missing}} has no value" in text
    assert "'unused' is not used" in text
    assert "parameter 'bad'" in text
    assert "{{quoted}} is inside a quoted string" in text
    assert "'not a name' is not a valid name" in text


@pytest.mark.parametrize(
    "template",
    [
        "select '{{v}}'",
        "select E'\\'{{v}}'",
        "select 'a\\' , {{v}} -- '",  # inside a literal when backslashes escape
        'select "{{v}}" from t',
        "select 1 -- {{v}}",
        "select 1 /* outer /* inner */ {{v}} */",
        "select $$ {{v}} $$",
        "select $fn$ {{v}} $fn$",
        "select $$ unclosed {{v}}",
    ],
)
def test_placeholders_inside_literals_and_comments_are_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="inside a quoted string"):
        render(template, {"v": 1})


@pytest.mark.parametrize(
    "template",
    [
        "select {{v}} -- note\n",
        "select 'a''b', {{v}}",
        "select $1, a$b, {{v}}",
        "select /* c */ {{v}}",
        'select "a""b", {{ v }}',
        "select $$x$$, {{v}}",
    ],
)
def test_placeholders_after_closed_literals_are_filled(template: str) -> None:
    assert "'x'" in render(template, {"v": "x"})


def test_a_value_used_twice_is_quoted_once_and_repeated() -> None:
    assert render("select {{v}}, {{ v }}", {"v": "a'b"}) == "select 'a''b', 'a''b'"


def test_find_placeholders_reports_positions() -> None:
    assert find_placeholders("a {{x}} '{{y}}'") == [("x", 2, 7, True), ("y", 9, 14, False)]


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(ValidationError, match="mapping"):
        render("select 1", [("a", 1)])  # type: ignore[arg-type]
