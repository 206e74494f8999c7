"""The SQL API query endpoint: parameters, formats, fields, headers, errors, JSONP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from carto_async.testing._db import Database
from carto_async.testing._sqlapi import SQLResponse, field_descriptor, run_sql
from tests.testing.conftest_data import fixture

JSON_TYPE = "application/json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8; header=present"
POINT_1_2 = "0101000020E6100000000000000000F03F0000000000000040"
DISPOSITION = re.compile(
    r"(?P<kind>inline|attachment); filename=(?P<name>[^;]+); "
    r'modification-date="\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT";'
)


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    database.create_carto_table(
        "places",
        [
            ("name", "TEXT"),
            ("visits", "INTEGER"),
            ("open", "BOOLEAN"),
            ("seen", "TIMESTAMPTZ"),
            ("day", "DATE"),
            ("score", "DOUBLE PRECISION"),
        ],
    )
    database.install_carto_triggers("places")
    database.execute(
        "INSERT INTO places (name, visits, open, seen, day, score, the_geom) VALUES"
        " ('Alpha', 3, true, '2020-01-02T03:04:05Z', '2020-01-02', 1.5, 'SRID=4326;POINT(1 2)'),"
        " ('Beta, \"the\" second', NULL, false, NULL, NULL, 2.0, NULL)"
    )
    yield database
    database.close()


def body(response: SQLResponse) -> Any:
    return json.loads(response.body)


def ordered(response: SQLResponse) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = json.loads(response.body, object_pairs_hook=list)
    return pairs


# -- parameters ----------------------------------------------------------------------------


def test_q_is_required(db: Database) -> None:
    for params in ({}, {"q": ["select 1", "select 2"]}):
        response = run_sql(db, params)
        assert response.status == 400
        assert response.content_type == JSON_TYPE
        assert response.body == b'{"error":["You must indicate a sql query"]}'
        assert response.headers["Content-Disposition"] == "inline"


@pytest.mark.parametrize("fmt", ["svg", "topojson"])
def test_formats_written_from_the_rows_need_the_geom(db: Database, fmt: str) -> None:
    response = run_sql(db, {"q": "select 1 as n", "format": fmt})
    assert response.status == 400
    assert body(response) == {"error": ['column "the_geom" does not exist']}


def test_unknown_format_matches_the_real_error(db: Database) -> None:
    response = run_sql(db, {"q": "select 1", "format": "unknown"})
    assert response.status == 400
    assert body(response) == fixture("sql", "error_invalid_format_400.json")
    assert response.body == b'{"error":["Invalid format: unknown"]}'


# Every format of the real server is served: topojson and svg are written from the rows
# (tests/async_tests/test_sql_data_integration.py), the GDAL formats and arraybuffer are in
# tests/testing/test_sqlapi_files.py.
@pytest.mark.parametrize("fmt", ["arraybuffer", "kml", "shp", "spatialite", "gpkg"])
def test_every_valid_format_is_served(db: Database, fmt: str) -> None:
    response = run_sql(db, {"q": "select 1 as n", "format": fmt.upper()})
    assert response.status == 200, response.body
    assert response.content_type != JSON_TYPE
    assert b"LocalCarto does not support" not in response.body
    if response.file is not None:
        assert response.file.size > 0
        response.file.cleanup()


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JSON", JSON_TYPE), ("GeoJSON", JSON_TYPE), ("Csv", CSV_TYPE)]
)
def test_format_is_case_insensitive(db: Database, fmt: str, content_type: str) -> None:
    response = run_sql(db, {"q": "select * from places", "format": fmt})
    assert response.status == 200
    assert response.content_type == content_type


def test_bad_dp(db: Database) -> None:
    response = run_sql(db, {"q": "select 1", "dp": "lots"})
    assert response.status == 400
    assert body(response) == {"error": ['invalid input syntax for integer: "lots"']}


# -- JSON ----------------------------------------------------------------------------------


def test_json_shape_and_key_order(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT cartodb_id, name FROM places ORDER BY cartodb_id"})
    assert response.status == 200
    assert response.content_type == JSON_TYPE
    pairs = ordered(response)
    assert [key for key, _ in pairs] == ["rows", "time", "fields", "total_rows"]
    data = dict(pairs)
    assert data["rows"] == [
        [("cartodb_id", 1), ("name", "Alpha")],
        [("cartodb_id", 2), ("name", 'Beta, "the" second')],
    ]
    assert isinstance(data["time"], int | float)
    assert data["time"] >= 0
    assert data["total_rows"] == 2
    assert response.body.startswith(b'{"rows":[{"cartodb_id":1,"name":"Alpha"}')


def test_json_values(db: Database) -> None:
    data = body(run_sql(db, {"q": "SELECT * FROM places ORDER BY cartodb_id"}))
    first, second = data["rows"]
    assert first == {
        "cartodb_id": 1,
        "the_geom": POINT_1_2,
        "the_geom_webmercator": first["the_geom_webmercator"],
        "name": "Alpha",
        "visits": 3,
        "open": True,
        "seen": "2020-01-02T03:04:05Z",
        "day": "2020-01-02T00:00:00Z",
        "score": 1.5,
    }
    assert first["the_geom_webmercator"].startswith("0101000020110F0000")
    assert second["open"] is False
    assert second["the_geom"] is None
    assert second["score"] == 2
    assert data["fields"] == {
        "cartodb_id": {"type": "number", "pgtype": "int4"},
        "the_geom": {"type": "geometry", "wkbtype": "Unknown", "dims": 2, "srid": 4326},
        "the_geom_webmercator": {"type": "geometry", "wkbtype": "Unknown", "dims": 2, "srid": 3857},
        "name": {"type": "string", "pgtype": "text"},
        "visits": {"type": "number", "pgtype": "int4"},
        "open": {"type": "boolean", "pgtype": "bool"},
        "seen": {"type": "date", "pgtype": "timestamptz"},
        "day": {"type": "date", "pgtype": "date"},
        "score": {"type": "number", "pgtype": "float8"},
    }


def test_json_numbers_print_like_javascript(db: Database) -> None:
    data = body(
        run_sql(
            db, {"q": "SELECT 2.0 AS a, 0.1 AS b, 1e21 AS c, 1e-7 AS d, 1e999 AS e, -1e999 AS f"}
        )
    )
    assert data["rows"] == [
        {"a": 2, "b": 0.1, "c": 1e21, "d": 1e-7, "e": "Infinity", "f": "-Infinity"}
    ]
    raw = run_sql(db, {"q": "SELECT 2.0 AS a, 1e21 AS c, 1e-7 AS d, 1e16 AS g"}).body
    assert b'"a":2,' in raw
    assert b'"c":1e+21' in raw
    assert b'"d":1e-7' in raw
    assert b'"g":10000000000000000' in raw


def test_fields_match_the_real_pg_types_map(db: Database) -> None:
    # The same columns as CartoDB-SQL-API's test/acceptance/pg-types-test.js.
    expected = fixture("sql", "fields_pgtypes_member.json")["fields"]
    types = {
        "boolean": "boolean",
        "smallint": "smallint",
        "integer": "integer",
        "bigint": "bigint",
        "float": "float8",
        "real": "real",
        "varchar": "varchar(10)",
        "text": "text",
        "time": "time",
        "date": "date",
        "timestamp": "timestamp",
        "timestamptz": "timestamptz",
        "money": "money",
        "raster": "raster",
    }
    suffixes = {"": "", "z": "Z", "zm": "ZM"}
    for name in expected:
        match = re.fullmatch(r"(geometry|geography)_([a-z]+?)(z|zm)?_(\d+)", name)
        if match:
            family, kind, dims, srid = match.groups()
            kind = {"line": "linestring"}.get(kind, kind)
            types[name] = f"{family}({kind}{suffixes[dims or '']},{srid})"
    spec = ", ".join(f"{name} {types[name]}" for name in expected)
    db.execute(f"CREATE TABLE pgtypes ({spec})")
    response = run_sql(db, {"q": "SELECT * FROM pgtypes"})
    pairs = ordered(response)
    assert dict(pairs)["rows"] == []
    assert dict(pairs)["total_rows"] == 0
    assert json.loads(response.body)["fields"] == expected


def test_fields_are_present_without_rows_and_count_is_a_number(db: Database) -> None:
    empty = body(run_sql(db, {"q": "SELECT name FROM places WHERE false"}))
    assert empty == {
        "rows": [],
        "time": empty["time"],
        "fields": {"name": {"type": "string", "pgtype": "text"}},
        "total_rows": 0,
    }
    counted = body(run_sql(db, {"q": "SELECT count(*) FROM places WHERE false"}))
    assert counted["rows"] == [{"count": 0}]
    assert counted["fields"] == {"count": {"type": "number", "pgtype": "int8"}}


def test_expression_fields(db: Database) -> None:
    data = body(
        run_sql(
            db,
            {
                "q": "SELECT ST_AsText(the_geom) AS wkt, the_geom::geometry AS g, open::text AS t,"
                " ST_SetSRID(ST_MakePoint(1, 2), 4326), now() AS stamp, ST_Extent(the_geom) AS box"
                " FROM places GROUP BY the_geom, open ORDER BY wkt LIMIT 1"
            },
        )
    )
    assert data["fields"] == {
        "wkt": {"type": "string", "pgtype": "text"},
        "g": {"type": "geometry", "dims": 4, "srid": -1},
        "t": {"type": "string", "pgtype": "text"},
        "st_setsrid": {"type": "geometry", "dims": 4, "srid": -1},
        "stamp": {"type": "date", "pgtype": "timestamptz"},
        "box": {"type": "box2d", "pgtype": "box2d"},
    }
    row = data["rows"][0]
    assert row["wkt"] == "POINT(1 2)"
    assert row["st_setsrid"] == POINT_1_2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["stamp"])
    assert row["box"] == "BOX(1 2,1 2)"


def test_writes_report_affected_rows_and_are_not_cached(db: Database) -> None:
    insert = run_sql(db, {"q": "INSERT INTO places (name) VALUES ('c'), ('d')"})
    assert body(insert) == {"rows": [], "time": body(insert)["time"], "fields": {}, "total_rows": 2}
    assert insert.headers["Cache-Control"] == "no-cache,max-age=0,must-revalidate,public"
    update = body(run_sql(db, {"q": "UPDATE places SET visits = 1"}))
    assert update["total_rows"] == 4
    returning = body(
        run_sql(db, {"q": "DELETE FROM places WHERE name = 'd' RETURNING cartodb_id, open"})
    )
    assert returning["rows"] == [{"cartodb_id": 4, "open": None}]
    assert returning["fields"]["open"] == {"type": "boolean", "pgtype": "bool"}
    assert body(run_sql(db, {"q": "CREATE TABLE t (a int)"}))["total_rows"] == 0
    read = run_sql(db, {"q": "SELECT 1"})
    assert read.headers["Cache-Control"] == "no-cache,max-age=31536000,must-revalidate,public"
    persist = run_sql(db, {"q": "SELECT 1", "cache_policy": "persist"})
    assert persist.headers["Cache-Control"] == "public,max-age=31536000"


def test_multiple_statements_return_the_last_result(db: Database) -> None:
    data = body(
        run_sql(
            db,
            {
                "q": "BEGIN; INSERT INTO places (name) VALUES ('c');"
                " SELECT count(*) FROM places; COMMIT;"
            },
        )
    )
    assert data["rows"] == [{"count": 3}]


def test_skipfields(db: Database) -> None:
    for skip in ("the_geom,the_geom_webmercator,seen", ["the_geom", "the_geom_webmercator,seen"]):
        data = body(run_sql(db, {"q": "SELECT * FROM places", "skipfields": skip}))
        assert list(data["fields"]) == ["cartodb_id", "name", "visits", "open", "day", "score"]
        assert list(data["rows"][0]) == list(data["fields"])


def test_paging_and_ordering(db: Database) -> None:
    db.execute("INSERT INTO places (name) VALUES ('c'), ('d'), ('e')")
    q = "SELECT name FROM places;"

    def names(**params: str) -> list[str]:
        return [r["name"] for r in body(run_sql(db, {"q": q, **params}))["rows"]]

    assert names(rows_per_page="2", page="1") == ["c", "d"]
    assert names(rows_per_page="2", page="2") == ["e"]
    assert len(names(rows_per_page="2")) == 5  # the real server needs both to page
    assert names(order_by="name", sort_order="desc", rows_per_page="2", page="0") == ["e", "d"]
    assert names(order_by="name", sort_order="sideways")[0] == "Alpha"
    inserted = body(
        run_sql(
            db, {"q": "INSERT INTO places (name) VALUES ('f')", "rows_per_page": "1", "page": "0"}
        )
    )
    assert inserted["total_rows"] == 1


# -- GeoJSON -------------------------------------------------------------------------------


def test_geojson_format(db: Database) -> None:
    response = run_sql(
        db,
        {
            "q": "SELECT cartodb_id, name, the_geom, the_geom_webmercator, open"
            " FROM places ORDER BY cartodb_id",
            "format": "geojson",
        },
    )
    assert response.status == 200
    assert response.content_type == JSON_TYPE
    assert response.body.decode() == (
        '{"type": "FeatureCollection", "features": ['
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},'
        '"properties":{"cartodb_id":1,"name":"Alpha","open":true}},'
        '{"type":"Feature","geometry":null,'
        '"properties":{"cartodb_id":2,"name":"Beta, \\"the\\" second","open":false}}]}'
    )


def test_geojson_decimal_places(db: Database) -> None:
    db.execute(
        "INSERT INTO places (name, the_geom)"
        " VALUES ('p', 'SRID=4326;POINT(1.123456789 -2.987654321)')"
    )
    q = "SELECT the_geom FROM places WHERE name = 'p'"
    six = body(run_sql(db, {"q": q, "format": "geojson"}))["features"][0]["geometry"]
    assert six == {"type": "Point", "coordinates": [1.123457, -2.987654]}
    two = body(run_sql(db, {"q": q, "format": "geojson", "dp": "2"}))["features"][0]["geometry"]
    assert two == {"type": "Point", "coordinates": [1.12, -2.99]}


def test_geojson_needs_the_geom(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT name FROM places", "format": "geojson"})
    assert response.status == 400
    assert body(response) == {"error": ['column "the_geom" does not exist']}


def test_empty_geojson(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT * FROM places WHERE false", "format": "geojson"})
    assert response.body == b'{"type": "FeatureCollection", "features": []}'


# -- CSV -----------------------------------------------------------------------------------


def test_csv_format(db: Database) -> None:
    response = run_sql(
        db,
        {
            "q": "SELECT cartodb_id, name, open, seen, day, score, the_geom"
            " FROM places ORDER BY cartodb_id",
            "format": "csv",
        },
    )
    assert response.status == 200
    assert response.content_type == CSV_TYPE
    assert response.body.decode() == (
        "the_geom,cartodb_id,name,open,seen,day,score\r\n"
        f"{POINT_1_2},1,Alpha,true,2020-01-02 03:04:05+00,2020-01-02,1.5\r\n"
        ',2,"Beta, ""the"" second",false,,,2\r\n'
    )
    disposition = DISPOSITION.fullmatch(response.headers["Content-Disposition"])
    assert disposition is not None
    assert disposition["name"] == "cartodb-query.csv"


def test_csv_header_without_rows(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT name, visits FROM places WHERE false", "format": "csv"})
    assert response.body == b"name,visits\r\n"


# -- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "kind", "name"),
    [
        ({}, "inline", "cartodb-query.json"),
        ({"format": "json"}, "attachment", "cartodb-query.json"),
        ({"format": "geojson"}, "attachment", "cartodb-query.geojson"),
        ({"filename": "my file (1).csv"}, "attachment", "my_file__1_.json"),
        ({"filename": "/tmp/x;y", "format": "csv"}, "attachment", "x_y.csv"),
        ({"filename": "[a]<b>'c'\"d\""}, "attachment", "_a__b__c__d_.json"),
    ],
)
def test_content_disposition(db: Database, params: dict[str, str], kind: str, name: str) -> None:
    response = run_sql(db, {"q": "SELECT the_geom FROM places", **params})
    match = DISPOSITION.fullmatch(response.headers["Content-Disposition"])
    assert match is not None, response.headers["Content-Disposition"]
    assert (match["kind"], match["name"]) == (kind, name)


# -- errors --------------------------------------------------------------------------------


def test_syntax_error_matches_the_real_body(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT * FROM places WHERE and"})
    assert response.status == 400
    assert body(response) == fixture("sql", "error_syntax_400.json")
    assert response.headers["Content-Disposition"] == "inline"


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("SELECT * FROM nowhere", 'relation "nowhere" does not exist'),
        ("SELECT nope FROM places", 'column "nope" does not exist'),
        (
            "SELECT ST_X(ST_GeomFromText('LINESTRING(0 0,1 1)'))",
            "Argument to ST_X() must have type POINT",
        ),
    ],
)
def test_query_errors_are_400(db: Database, q: str, message: str) -> None:
    response = run_sql(db, {"q": q})
    assert (response.status, body(response)) == (400, {"error": [message]})


def test_permission_denied_is_403(db: Database) -> None:
    response = run_sql(db, {"q": "INSERT INTO places (name) VALUES ('x')"}, read_only=True)
    assert response.status == 403
    assert body(response) == {"error": ["permission denied for table places"]}
    assert run_sql(db, {"q": "SELECT count(*) FROM places"}, read_only=True).status == 200


def test_statement_timeout_is_429(db: Database) -> None:
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
        " SELECT count(*) FROM n"
    )
    response = run_sql(db, {"q": slow}, timeout=0.05)
    assert response.status == 429
    assert body(response) == fixture("sql", "error_statement_timeout_429.json")


# -- JSONP ---------------------------------------------------------------------------------


def test_jsonp_success(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT 1 AS a", "callback": "cb"})
    assert response.status == 200
    assert response.content_type == JSON_TYPE
    text = response.body.decode()
    assert text.startswith('cb({"rows":[{"a":1}],"time":')
    assert text.endswith(',"fields":{"a":{"type":"number","pgtype":"int4"}},"total_rows":1})')
    geojson = run_sql(
        db, {"q": "SELECT the_geom FROM places WHERE false", "format": "geojson", "callback": "cb"}
    )
    assert geojson.body == b'cb({"type": "FeatureCollection", "features": []})'


def test_jsonp_errors_are_200(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT * FROM places WHERE and", "callback": "my.cb"})
    assert response.status == 200
    assert response.body.decode() == (
        "/**/ typeof my.cb === 'function' && "
        'my.cb({"error":["syntax error at or near \\"and\\""]});'
    )
    sanitized = run_sql(db, {"callback": "alert(1)//"})
    assert sanitized.status == 200
    assert sanitized.body.startswith(b"/**/ typeof alert1 === 'function' && alert1(")


def test_field_descriptor_defaults() -> None:
    assert field_descriptor(None) == {"type": "string", "pgtype": "text"}
    assert field_descriptor("VARCHAR(20)") == {"type": "string", "pgtype": "varchar"}
    assert field_descriptor("INT") == {"type": "number", "pgtype": "int4"}
    assert field_descriptor("interval") == {
        "type": "number",
        "pgtype": "interval",
    }  # as the real regex does
    assert field_descriptor("json") == {"type": "json", "pgtype": "json"}


def test_repeated_column_names_behave_like_a_javascript_object(db: Database) -> None:
    response = run_sql(db, {"q": "SELECT 1 AS a, 'x' AS b, 3 AS a"})
    assert response.body.startswith(b'{"rows":[{"a":3,"b":"x"}],')
    assert ordered(response)[2] == (
        "fields",
        [
            ("a", [("type", "number"), ("pgtype", "int4")]),
            ("b", [("type", "string"), ("pgtype", "text")]),
        ],
    )
