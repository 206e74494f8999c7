"""Typical CARTO SQL on LocalCarto's engine, with the results PostgreSQL/PostGIS document.

Each expected value comes from the PostgreSQL or PostGIS manual (the example of the function's
page where there is one) or follows from the definitions; distances on the spheroid are
checked to a metre.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from carto_async.testing._db import Database
from carto_async.testing._sqlapi import run_sql


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = Database()
    database.create_carto_table(
        "cities", [("name", "TEXT"), ("pop", "INTEGER"), ("founded", "DATE")]
    )
    database.execute(
        "INSERT INTO cities (name, pop, founded, the_geom) VALUES"
        " ('Madrid', 3300000, '0865-01-01', CDB_LatLng(40.4168, -3.7038)),"
        " ('Barcelona', 1600000, '0015-01-01', CDB_LatLng(41.3874, 2.1686)),"
        " ('Valencia', 790000, '0138-01-01', CDB_LatLng(39.4699, -0.3763)),"
        " ('Nowhere', NULL, NULL, NULL)"
    )
    yield database
    database.close()


def one(db: Database, sql: str) -> Any:
    result = db.run_statements(sql)
    return result.rows[0][0]


# -- PostGIS predicates (PostGIS manual examples) ---------------------------------------------

PREDICATES = [
    ("SELECT ST_Intersects('POINT(0 0)'::geometry, 'LINESTRING ( 2 0, 0 2 )'::geometry)", False),
    ("SELECT ST_Intersects('POINT(0 0)'::geometry, 'LINESTRING ( 0 0, 0 2 )'::geometry)", True),
    (
        "SELECT ST_Contains(ST_Buffer(ST_Point(0, 0), 10), ST_Point(1, 1))",
        True,
    ),
    ("SELECT ST_Within(ST_Point(1, 1), ST_MakeEnvelope(0, 0, 2, 2))", True),
    ("SELECT ST_DWithin(ST_Point(0, 0), ST_Point(3, 4), 5)", True),
    ("SELECT ST_DWithin(ST_Point(0, 0), ST_Point(3, 4), 4.99)", False),
    ("SELECT ST_Touches('LINESTRING(0 0, 1 1, 0 2)'::geometry, 'POINT(0 2)'::geometry)", True),
    ("SELECT ST_Disjoint('POINT(0 0)'::geometry, 'LINESTRING ( 2 0, 0 2 )'::geometry)", True),
    (
        "SELECT ST_Equals('LINESTRING(0 0, 10 10)'::geometry,"
        " 'LINESTRING(0 0, 5 5, 10 10)'::geometry)",
        True,
    ),
    ("SELECT ST_Crosses('LINESTRING(0 0, 2 2)'::geometry, 'LINESTRING(0 2, 2 0)'::geometry)", True),
]

MEASURES = [
    # ST_Distance in the units of the SRID (planar)
    ("SELECT ST_Distance(ST_Point(0, 0), ST_Point(3, 4))", 5.0),
    ("SELECT ST_Area('POLYGON((0 0, 0 10, 10 10, 10 0, 0 0))'::geometry)", 100.0),
    ("SELECT ST_Length('LINESTRING(0 0, 3 4, 3 8)'::geometry)", 9.0),
    ("SELECT ST_Perimeter('POLYGON((0 0, 0 10, 10 10, 10 0, 0 0))'::geometry)", 40.0),
    (
        "SELECT ST_X(ST_Centroid('MULTIPOINT ( -1 0, -1 2, -1 3, -1 4, -1 7, 0 1, 0 3, 1 1, 2 0,"
        " 6 0, 7 8, 9 8, 10 6 )'::geometry))",
        2.3076923076923075,
    ),
    (
        "SELECT ST_NPoints('LINESTRING(77.29 29.07,77.42 29.26,77.27 29.31,77.29 29.07)'"
        "::geometry)",
        4,
    ),
    ("SELECT ST_NumGeometries('MULTIPOINT((1 2), (3 4))'::geometry)", 2),
    ("SELECT ST_XMax(ST_MakeEnvelope(10, 10, 11, 12))", 11.0),
    ("SELECT ST_YMax(ST_MakeEnvelope(10, 10, 11, 12))", 12.0),
]


@pytest.mark.parametrize(("sql", "expected"), PREDICATES + MEASURES)
def test_postgis_predicates_and_measures(db: Database, sql: str, expected: Any) -> None:
    got = one(db, sql)
    if isinstance(expected, float):
        assert got == pytest.approx(expected)
    else:
        assert got == expected


def test_geography_measures_are_metres_on_the_spheroid(db: Database) -> None:
    # One degree of longitude on the equator, WGS 84 spheroid: 111319.49 m.
    degree = one(db, "SELECT ST_Distance(CDB_LatLng(0, 0)::geography, CDB_LatLng(0, 1)::geography)")
    assert degree == pytest.approx(111319.49, abs=1)
    madrid_barcelona = one(
        db,
        "SELECT ST_Distance(a.the_geom::geography, b.the_geom::geography) FROM cities a, cities b"
        " WHERE a.name = 'Madrid' AND b.name = 'Barcelona'",
    )
    assert madrid_barcelona == pytest.approx(505_000, rel=0.01)  # ~505 km
    near = db.run_statements(
        "SELECT name FROM cities WHERE ST_DWithin(the_geom::geography,"
        " CDB_LatLng(40.4, -3.7)::geography, 400000) ORDER BY name"
    )
    assert near.rows == [("Madrid",), ("Valencia",)]
    area = one(
        db,
        "SELECT ST_Area(ST_MakeEnvelope(0, 0, 1, 1, 4326)::geography)",
    )
    assert area == pytest.approx(12_308_778_361, rel=0.001)  # 1x1 degree at the equator
    # a 1 km buffer around a point: a 32-gon of radius 1000 m (pi r^2 = 3.14 km2, 32-gon 3.12)
    buffered = one(
        db, "SELECT ST_Area(ST_Buffer(CDB_LatLng(40.4, -3.7)::geography, 1000)::geography)"
    )
    assert buffered == pytest.approx(3_121_445, rel=0.01)
    radius = one(
        db,
        "SELECT ST_Distance(CDB_LatLng(40.4, -3.7)::geography, ST_ExteriorRing(ST_Buffer("
        "CDB_LatLng(40.4, -3.7)::geography, 1000))::geography)",
    )
    assert radius == pytest.approx(1000, rel=0.01)


def test_constructors_and_srids(db: Database) -> None:
    assert one(db, "SELECT ST_AsText(ST_MakeLine(ST_Point(1, 2), ST_Point(3, 4)))") == (
        "LINESTRING(1 2,3 4)"
    )
    assert one(db, "SELECT ST_AsText(ST_MakeEnvelope(10, 10, 11, 11, 4326))") == (
        "POLYGON((10 10,10 11,11 11,11 10,10 10))"
    )
    assert one(db, "SELECT ST_SRID(ST_SetSRID(ST_Point(1, 2), 3857))") == 3857
    assert one(db, "SELECT ST_SRID(ST_GeomFromText('POINT(1 2)', 4326))") == 4326
    assert one(db, "SELECT ST_SRID(CDB_TransformToWebmercator(CDB_LatLng(0, 0)))") == 3857
    x = one(db, "SELECT ST_X(ST_Transform(CDB_LatLng(0, 180), 3857))")
    assert x == pytest.approx(20037508.342789244)
    assert one(
        db, 'SELECT ST_AsText(ST_GeomFromGeoJSON(\'{"type":"Point","coordinates":[1,2]}\'))'
    ) == ("POINT(1 2)")
    assert one(db, "SELECT ST_AsText(ST_Buffer(ST_Point(0, 0), 1, 1))").startswith("POLYGON((1 0")


def test_aggregates_and_extent(db: Database) -> None:
    assert one(db, "SELECT ST_XMin(ST_Extent(the_geom)) FROM cities") == pytest.approx(-3.7038)
    assert one(db, "SELECT ST_YMax(ST_Extent(the_geom)) FROM cities") == pytest.approx(41.3874)
    box = one(db, "SELECT ST_Extent(the_geom)::geometry FROM cities")
    assert box.startswith("0103000000")  # a polygon
    assert one(db, "SELECT ST_NumGeometries(ST_Collect(the_geom)) FROM cities") == 3
    union = one(
        db,
        "SELECT ST_Area(ST_Union(g)) FROM (SELECT ST_MakeEnvelope(0, 0, 2, 2) AS g"
        " UNION ALL SELECT ST_MakeEnvelope(1, 1, 3, 3)) AS t",
    )
    assert union == pytest.approx(7.0)


def test_cdb_functions(db: Database) -> None:
    assert one(db, "SELECT CDB_XYZ_Resolution(0)") == pytest.approx(156543.03392804097)
    assert one(db, "SELECT CDB_XYZ_Resolution(1)") == pytest.approx(78271.51696402048)
    extent = db.run_statements(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), ST_SRID(e)"
        " FROM (SELECT CDB_XYZ_Extent(0, 0, 1) AS e) AS t"
    ).rows[0]
    half = 20037508.342789244
    assert extent[:4] == pytest.approx((-half, 0.0, 0.0, half))
    assert extent[4] == 3857
    assert ("cities",) in db.run_statements("SELECT * FROM CDB_UserTables()").rows


def test_window_functions_and_ctes(db: Database) -> None:
    ranked = db.run_statements(
        "WITH big AS (SELECT name, pop FROM cities WHERE pop IS NOT NULL)"
        " SELECT name, rank() OVER (ORDER BY pop DESC) AS r,"
        " sum(pop) OVER () AS total FROM big ORDER BY r"
    )
    assert ranked.columns == ["name", "r", "total"]
    assert ranked.rows == [
        ("Madrid", 1, 5690000),
        ("Barcelona", 2, 5690000),
        ("Valencia", 3, 5690000),
    ]
    lagged = db.run_statements(
        "SELECT name, lag(name) OVER (ORDER BY cartodb_id) FROM cities ORDER BY cartodb_id"
    )
    assert lagged.columns == ["name", "lag"]
    assert lagged.rows[1] == ("Barcelona", "Madrid")
    recursive = db.run_statements(
        "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 100)"
        " SELECT sum(n) FROM t"
    )
    assert recursive.rows == [(5050,)]  # the PostgreSQL manual's WITH RECURSIVE example


def test_dates_and_times(db: Database) -> None:
    assert one(db, "SELECT date_trunc('hour', TIMESTAMP '2001-02-16 20:38:40')") == (
        dt.datetime(2001, 2, 16, 20, 0)
    )
    assert one(db, "SELECT date_part('hour', TIMESTAMP '2001-02-16 20:38:40')") == 20
    assert one(db, "SELECT EXTRACT(DOW FROM TIMESTAMP '2001-02-16 20:38:40')") == 5
    assert one(db, "SELECT date '2001-09-28' + interval '1 hour'") == dt.datetime(2001, 9, 28, 1, 0)
    assert one(db, "SELECT to_char(TIMESTAMP '2001-02-16 20:38:40', 'YYYY-MM-DD HH24:MI:SS')") == (
        "2001-02-16 20:38:40"
    )
    series = db.run_statements("SELECT generate_series(2, 4)")
    assert series.rows == [(2,), (3,), (4,)]
    assert series.columns == ["generate_series"]
    in_from = db.run_statements("SELECT * FROM generate_series(1, 3) AS s(n)")
    assert [r[0] for r in in_from.rows] == [1, 2, 3]
    assert isinstance(one(db, "SELECT now()"), dt.datetime)


def test_json_string_and_array_aggregates(db: Database) -> None:
    built = one(db, "SELECT json_build_object('foo', 1, 'bar', 2)")
    assert json.loads(built) == {"foo": 1, "bar": 2}
    agg = one(db, "SELECT json_agg(name ORDER BY name) FROM cities WHERE pop > 1000000")
    assert json.loads(agg) == ["Barcelona", "Madrid"]
    assert (
        one(db, "SELECT string_agg(name, ', ' ORDER BY name) FROM cities WHERE pop IS NOT NULL")
        == "Barcelona, Madrid, Valencia"
    )
    assert one(db, "SELECT array_agg(pop ORDER BY pop) FROM cities WHERE pop IS NOT NULL") == [
        790000,
        1600000,
        3300000,
    ]
    assert one(db, "SELECT '{\"a\": {\"b\": 3}}'::json -> 'a' ->> 'b'") == "3"
    assert one(db, "SELECT upper(substring('carto' from 1 for 3)) || lower('DB')") == "CARdb"
    assert one(db, "SELECT 'x' ILIKE 'X' AND 'abc' ~ '^a'") is True
    assert one(db, "SELECT coalesce(NULL, 'z') || replace('a-b', '-', '+')") == "za+b"


def test_mvt(db: Database) -> None:
    geom = one(
        db,
        "SELECT ST_AsText(ST_AsMVTGeom(ST_Point(1, 2), ST_MakeEnvelope(0, 0, 4096, 4096),"
        " 4096, 0, false))",
    )
    assert geom == "POINT(1 4094)"  # y flipped into tile space, as PostGIS documents
    tile = one(
        db,
        "SELECT ST_AsMVT(q, 'cities', 4096, 'geom') FROM (SELECT name,"
        " ST_AsMVTGeom(the_geom_webmercator, CDB_XYZ_Extent(0, 0, 0), 4096, 0, false) AS geom"
        " FROM cities WHERE the_geom IS NOT NULL) AS q",
    )
    assert isinstance(tile, bytes)
    assert b"cities" in tile
    assert b"Madrid" in tile


def test_the_sql_api_answers_these_as_json(db: Database) -> None:
    response = run_sql(
        db,
        {
            "q": "SELECT name, ST_Distance(the_geom::geography, CDB_LatLng(40.4168, -3.7038)"
            "::geography) AS d FROM cities WHERE name = 'Madrid'"
        },
    )
    assert response.status == 200
    data = json.loads(response.body)
    assert data["rows"] == [{"name": "Madrid", "d": 0}]
    assert data["fields"]["d"] == {"type": "number", "pgtype": "float8"}
