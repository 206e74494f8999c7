"""Query options and bounds, built and validated without sending anything."""

from __future__ import annotations

from typing import Any

import pytest

from carto_async import APIError, Bounds, Identifier, ValidationError
from carto_async._core import sql as core
from carto_async.models.sql import SQLResult


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        ({}, {}),
        ({"fmt": "GeoJSON"}, {"format": "geojson"}),
        ({"skipfields": "the_geom"}, {"skipfields": "the_geom"}),
        (
            {"skipfields": ["the_geom", "the_geom_webmercator"]},
            {"skipfields": "the_geom,the_geom_webmercator"},
        ),
        ({"dp": 0}, {"dp": "0"}),
        ({"dp": 15}, {"dp": "15"}),
        ({"rows_per_page": 10}, {"rows_per_page": "10", "page": "0"}),
        ({"rows_per_page": 10, "page": 3}, {"rows_per_page": "10", "page": "3"}),
        ({"order_by": "name"}, {"order_by": "name"}),
        (
            {"order_by": "my col", "sort_order": "DESC"},
            {"order_by": "my col", "sort_order": "desc"},
        ),
        ({"filename": "stores export"}, {"filename": "stores export"}),
    ],
)
def test_options_go_on_the_wire(options: dict[str, Any], wire: dict[str, str]) -> None:
    assert core.query_fields("select 1", **options) == {"q": "select 1", **wire}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"fmt": "xlsx"}, "format must be one of"),
        ({"fmt": 3}, "format must be one of"),
        ({"skipfields": []}, "non-empty list"),
        ({"skipfields": ["a,b"]}, "without commas"),
        ({"skipfields": [""]}, "without commas"),
        ({"skipfields": [1]}, "without commas"),
        ({"dp": -1}, "dp"),
        ({"dp": 16}, "dp"),
        ({"dp": 2.5}, "dp"),
        ({"dp": True}, "dp"),
        ({"dp": "6"}, "dp"),
        ({"rows_per_page": 0}, "rows_per_page must be a positive integer"),
        ({"rows_per_page": "10"}, "rows_per_page must be a positive integer"),
        ({"page": 2}, "page needs rows_per_page"),
        ({"page": -1, "rows_per_page": 5}, "page must be an integer >= 0"),
        ({"order_by": 'a" desc; drop table t; --'}, "without double quotes"),
        ({"order_by": ""}, "without double quotes"),
        ({"sort_order": "up", "order_by": "a"}, "'asc' or 'desc'"),
        ({"sort_order": "asc"}, "sort_order needs order_by"),
        ({"filename": " "}, "filename"),
    ],
)
def test_bad_options_are_refused_before_sending(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        core.query_fields("select 1", **options)


def test_every_problem_is_reported_together_with_template_problems() -> None:
    with pytest.raises(ValidationError) as info:
        core.query_fields("select {{a}}", params={"b": 1}, dp=-1, page=1, sort_order="sideways")
    assert len(info.value.problems) == 5


@pytest.mark.parametrize("q", ["", "   ", None])
def test_an_empty_query_is_refused(q: Any) -> None:
    with pytest.raises(ValidationError, match="empty"):
        core.query_request(q)


def test_params_are_rendered_before_choosing_get_or_post() -> None:
    spec = core.query_request(
        "select * from {{t}} where name = {{name}}",
        params={"t": Identifier("my table"), "name": "O'Brien"},
    )
    assert spec.method == "GET"
    assert spec.params["q"] == "select * from \"my table\" where name = 'O''Brien'"
    long_value = "x" * (core.GET_QUERY_LIMIT + 1)
    post = core.query_request("select {{v}}", params={"v": long_value})
    assert post.method == "POST"
    assert post.data is not None
    assert post.data["q"] == f"select '{long_value}'"


@pytest.mark.parametrize(
    ("q", "params", "idempotent"),
    [
        ("select {{v}}", {"v": "a"}, True),
        ("select {{v}}", {"v": "'; delete from t; --"}, True),  # quoted: still a read
        ("delete from t where id = {{id}}", {"id": 1}, False),
    ],
)
def test_only_rendered_reads_are_marked_repeatable(
    q: str, params: dict[str, Any], idempotent: bool
) -> None:
    assert core.query_request(q, params=params).is_idempotent is idempotent


def test_without_params_braces_are_sent_untouched() -> None:
    assert core.query_fields("select '{{x}}'")["q"] == "select '{{x}}'"


def test_bounds_query_is_what_cartodb_js_sends() -> None:
    sql = core.bounds_query("select * from stores where city = {{c}};  ", {"c": "Oslo"})
    assert sql == (
        "SELECT ST_XMin(ST_Extent(the_geom)) as minx, ST_YMin(ST_Extent(the_geom)) as miny, "
        "ST_XMax(ST_Extent(the_geom)) as maxx, ST_YMax(ST_Extent(the_geom)) as maxy "
        "FROM (\nselect * from stores where city = 'Oslo'\n) as subq"
    )


def test_a_trailing_comment_cannot_swallow_the_bounds_subquery() -> None:
    sql = core.bounds_query("select * from t -- note")
    assert sql.endswith("select * from t -- note\n) as subq")


@pytest.mark.parametrize("q", ["", "  "])
def test_bounds_of_an_empty_query_is_refused(q: str) -> None:
    with pytest.raises(ValidationError):
        core.bounds_query(q)


def _result(rows: list[dict[str, Any]]) -> SQLResult:
    return SQLResult(rows=rows)


@pytest.mark.parametrize(
    ("rows", "bounds"),
    [
        ([{"minx": -3, "miny": 2.5, "maxx": 1, "maxy": 5}], Bounds(-3.0, 2.5, 1.0, 5.0)),
        ([{"minx": None, "miny": None, "maxx": None, "maxy": None}], None),
        ([], None),
    ],
)
def test_bounds_parsing(rows: list[dict[str, Any]], bounds: Bounds | None) -> None:
    assert core.parse_bounds(_result(rows)) == bounds


def test_unexpected_bounds_rows_are_an_api_error() -> None:
    with pytest.raises(APIError, match="unexpected bounds"):
        core.parse_bounds(_result([{"minx": "a", "miny": 1, "maxx": 1, "maxy": 1}]))


def test_bounds_helpers() -> None:
    box = Bounds(minx=-200.0, miny=-90.0, maxx=10.0, maxy=20.0)
    assert box.clamped() == Bounds(-179.0, -85.0511, 10.0, 20.0)
    assert box.width == 210.0
    assert box.height == 110.0
    assert box.center == (-95.0, -35.0)
    assert box.latlng() == ((-90.0, -200.0), (20.0, 10.0))


def test_a_function_name_given_as_identifier_still_counts_as_a_write() -> None:
    spec = core.query_request(
        "select {{f}}({{t}})", params={"f": Identifier("cdb_cartodbfytable"), "t": "stores"}
    )
    assert spec.is_idempotent is False
