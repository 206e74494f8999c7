"""EWKB/WKT/GeoJSON codecs and the PostGIS-like SQL functions of LocalCarto's database."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from carto_async.testing._db import Database, QueryError
from tests.testing import ewkb_codec as geo
from tests.testing.ewkb_codec import Geometry, GeometryError

RING = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0))
HOLE = ((1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 1.0))
SHAPES = {
    "point": Geometry("Point", (-73.98, 40.75), 4326),
    "empty point": Geometry("Point", (), 4326),
    "linestring": Geometry("LineString", ((0.0, 0.0), (1.5, 2.25), (3.0, -1.0)), 4326),
    "polygon with hole": Geometry("Polygon", (RING, HOLE), 4326),
    "multipoint": Geometry("MultiPoint", ((1.0, 2.0), (3.0, 4.0)), 4326),
    "multilinestring": Geometry(
        "MultiLineString", (((0.0, 0.0), (1.0, 1.0)), ((2.0, 2.0), (3.0, 3.0))), 0
    ),
    "multipolygon": Geometry("MultiPolygon", ((RING,), (HOLE,)), 3857),
    "empty linestring": Geometry("LineString", (), 0),
}
# A value PostGIS wrote (a CARTO table dump in CartoDB/cartodb's test fixtures).
POSTGIS_POINT = "0101000020E610000098A6C484115F4440D0403774DFA74240"


def _hex_point(x: float, y: float, srid: int) -> str:
    return (struct.pack("<BII", 1, 0x20000001, srid) + struct.pack("<dd", x, y)).hex().upper()


# -- EWKB ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SHAPES))
def test_ewkb_round_trip(name: str) -> None:
    shape = SHAPES[name]
    assert geo.from_hex(geo.to_hex(shape)) == shape
    assert geo.from_ewkb(geo.to_ewkb(shape)) == shape


def test_point_hex_is_postgis_ewkb() -> None:
    point = Geometry("Point", (1.0, 2.0), 4326)
    assert geo.to_hex(point) == "0101000020E6100000000000000000F03F0000000000000040"
    assert geo.point_hex(1.0, 2.0, 4326) == geo.to_hex(point)
    assert geo.to_hex(point.with_srid(0)) == "0101000000000000000000F03F0000000000000040"


def test_decodes_a_value_written_by_postgis() -> None:
    point = geo.from_hex(POSTGIS_POINT)
    assert point.kind == "Point"
    assert point.srid == 4326
    assert point.coords == pytest.approx((40.74272212602699, 37.31150677392873))
    assert geo.to_hex(point) == POSTGIS_POINT


def test_multi_geometries_write_the_srid_once() -> None:
    data = geo.to_ewkb(SHAPES["multipoint"])
    header = struct.unpack_from("<BII", data)
    assert header == (1, 0x20000004, 4326)
    # each member: byte order + plain type code (no SRID flag) + coordinates
    assert struct.unpack_from("<IBI", data, 9) == (2, 1, 1)


def test_empty_point_is_nan_nan_like_postgis() -> None:
    data = geo.to_ewkb(Geometry("Point", (), 0))
    x, y = struct.unpack_from("<dd", data, 5)
    assert math.isnan(x)
    assert math.isnan(y)


def test_decodes_big_endian_and_iso_z_wkb() -> None:
    big = struct.pack(">BIdd", 0, 1, 5.0, 6.0)
    assert geo.from_ewkb(big) == Geometry("Point", (5.0, 6.0))
    iso_z = struct.pack("<BIddd", 1, 1001, 5.0, 6.0, 7.0)
    assert geo.from_ewkb(iso_z) == Geometry("Point", (5.0, 6.0))
    ewkb_z = struct.pack("<BIIddd", 1, 0x80000001 | 0x20000000, 4326, 1.0, 2.0, 3.0)
    assert geo.from_ewkb(ewkb_z) == Geometry("Point", (1.0, 2.0), 4326)
    line_zm = struct.pack("<BII", 1, 3002, 2) + struct.pack("<8d", 0, 0, 9, 9, 1, 1, 9, 9)
    assert geo.from_ewkb(line_zm) == Geometry("LineString", ((0.0, 0.0), (1.0, 1.0)))


@pytest.mark.parametrize("bad", ["", "01", "0101000020E6", "ZZ", "0109000000"])
def test_bad_hex_is_a_geometry_error(bad: str) -> None:
    with pytest.raises(GeometryError):
        geo.from_hex(bad)


# -- WKT -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SHAPES))
def test_wkt_round_trip(name: str) -> None:
    shape = SHAPES[name]
    assert geo.from_wkt(geo.to_ewkt(shape)) == shape


@pytest.mark.parametrize(
    ("wkt", "expected"),
    [
        ("POINT(1 2)", "POINT(1 2)"),
        ("point ( -73.98 40.75 )", "POINT(-73.98 40.75)"),
        ("POINT Z (1 2 3)", "POINT(1 2)"),
        ("POINT EMPTY", "POINT EMPTY"),
        ("LINESTRING(0 0, 1 1)", "LINESTRING(0 0,1 1)"),
        ("POLYGON((0 0,1 0,1 1,0 0))", "POLYGON((0 0,1 0,1 1,0 0))"),
        ("MULTIPOINT((1 2),(3 4))", "MULTIPOINT(1 2,3 4)"),
        ("MULTIPOINT(1 2,3 4)", "MULTIPOINT(1 2,3 4)"),
        ("MULTILINESTRING((0 0,1 1),(2 2,3 3))", "MULTILINESTRING((0 0,1 1),(2 2,3 3))"),
        ("MULTIPOLYGON(((0 0,1 0,1 1,0 0)))", "MULTIPOLYGON(((0 0,1 0,1 1,0 0)))"),
        (
            "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))",
            "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))",
        ),
        ("POINT(0.1 1e-3)", "POINT(0.1 0.001)"),
    ],
)
def test_wkt_text(wkt: str, expected: str) -> None:
    assert geo.to_wkt(geo.from_wkt(wkt)) == expected


def test_ewkt_srid() -> None:
    assert geo.from_wkt("SRID=3857;POINT(1 2)").srid == 3857
    assert geo.from_wkt("POINT(1 2)", 4326).srid == 4326
    assert geo.to_ewkt(Geometry("Point", (1.0, 2.0), 4326)) == "SRID=4326;POINT(1 2)"
    assert geo.to_ewkt(Geometry("Point", (1.0, 2.0), 0)) == "POINT(1 2)"


@pytest.mark.parametrize(
    "bad", ["POINT(1)", "POINT(1 2", "CIRCLE(1 2)", "POINT(a b)", "hello", "POINT(1 2) x"]
)
def test_bad_wkt(bad: str) -> None:
    with pytest.raises(GeometryError, match="invalid geometry"):
        geo.from_wkt(bad)


def test_parse_geometry_reads_what_postgres_casts() -> None:
    point = Geometry("Point", (1.0, 2.0), 4326)
    assert geo.parse_geometry(geo.to_hex(point)) == point
    assert geo.parse_geometry(geo.to_hex(point).lower()) == point
    assert geo.parse_geometry("SRID=4326;POINT(1 2)") == point
    assert geo.parse_geometry(geo.to_ewkb(point)) == point
    assert geo.parse_geometry(None) is None
    with pytest.raises(GeometryError):
        geo.parse_geometry('{"type":"Point","coordinates":[1,2]}')


# -- GeoJSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in SHAPES if SHAPES[n].srid in (0, 4326)])
def test_geojson_round_trip(name: str) -> None:
    shape = SHAPES[name]
    assert geo.from_geojson(geo.to_geojson(shape), default_srid=shape.srid) == shape


def test_geojson_text_is_postgis_compact_form() -> None:
    assert geo.to_geojson(SHAPES["point"]) == '{"type":"Point","coordinates":[-73.98,40.75]}'
    assert geo.to_geojson(SHAPES["polygon with hole"]) == (
        '{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],'
        "[[1,1],[2,1],[2,2],[1,1]]]}"
    )
    assert geo.to_geojson(SHAPES["empty point"]) == '{"type":"Point","coordinates":[]}'
    collection = geo.from_wkt("GEOMETRYCOLLECTION(POINT(1 2))", 4326)
    assert geo.to_geojson(collection) == (
        '{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]}]}'
    )


def test_geojson_decimal_places_and_crs() -> None:
    point = Geometry("Point", (1.123456789, -2.987654321), 3857)
    assert geo.to_geojson(point, 3) == (
        '{"type":"Point","crs":{"type":"name","properties":{"name":"EPSG:3857"}},'
        '"coordinates":[1.123,-2.988]}'
    )
    assert json.loads(geo.to_geojson(point.with_srid(4326), 0))["coordinates"] == [1, -3]


def test_geojson_parse_srid() -> None:
    plain = {"type": "Point", "coordinates": [1, 2]}
    assert geo.from_geojson(plain).srid == 4326
    named = {**plain, "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}}
    assert geo.from_geojson(named).srid == 3857
    crs84 = {
        **plain,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
    }
    assert geo.from_geojson(crs84).srid == 4326


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        '{"type":"Circle","coordinates":[1,2]}',
        '{"type":"Point"}',
        '{"type":"Point","coordinates":[1]}',
        '{"type":"Point","coordinates":["a","b"]}',
        '{"type":"LineString","coordinates":[1,2]}',
        '{"type":"Point","coordinates":[true,false]}',
    ],
)
def test_bad_geojson(bad: str) -> None:
    with pytest.raises(GeometryError):
        geo.from_geojson(bad)


# -- transforms and measures ---------------------------------------------------------------


def test_transform_to_web_mercator() -> None:
    merc = geo.transform(Geometry("Point", (10.0, 20.0), 4326), 3857)
    assert merc.srid == 3857
    assert merc.coords == pytest.approx((1113194.9079327357, 2273030.926987689))
    back = geo.transform(merc, 4326)
    assert back.coords == pytest.approx((10.0, 20.0))


def test_transform_refusals() -> None:
    with pytest.raises(GeometryError, match=r"unknown \(0\) SRID"):
        geo.transform(Geometry("Point", (1.0, 2.0), 0), 3857)
    with pytest.raises(GeometryError, match="4326 and 3857"):
        geo.transform(Geometry("Point", (1.0, 2.0), 4326), 25830)
    with pytest.raises(GeometryError, match="tolerance condition"):
        geo.transform(Geometry("Point", (0.0, 90.0), 4326), 3857)


def test_webmercator_clips_the_poles_like_cartodb() -> None:
    clipped = geo.from_hex(geo.webmercator_hex(Geometry("Point", (0.0, 90.0), 4326)) or "")
    edge = geo.transform(Geometry("Point", (0.0, geo.MAX_MERCATOR_LAT), 4326), 3857)
    assert clipped.coords == pytest.approx(edge.coords)
    assert geo.webmercator_hex(None) is None


def test_bbox() -> None:
    assert geo.bbox(SHAPES["polygon with hole"]) == (0.0, 0.0, 10.0, 10.0)
    assert geo.bbox(SHAPES["empty point"]) is None


def test_normalize_carto_geom() -> None:
    point4326 = geo.to_hex(Geometry("Point", (1.0, 2.0), 4326))
    assert geo.normalize_carto_geom("SRID=4326;POINT(1 2)") == point4326
    with pytest.raises(
        GeometryError, match=r"Geometry SRID \(0\) does not match column SRID \(4326\)"
    ):
        geo.normalize_carto_geom("POINT(1 2)")
    assert geo.normalize_carto_geom("POINT(1 2)", lenient=True) == point4326
    merc = geo.to_hex(geo.transform(Geometry("Point", (1.0, 2.0), 4326), 3857))
    lenient = geo.from_hex(geo.normalize_carto_geom(merc, lenient=True) or "")
    assert lenient.coords == pytest.approx((1.0, 2.0))


# -- SQL functions (on the DuckDB engine) ---------------------------------------------------


@pytest.fixture
def sql() -> Iterator[Database]:
    database = Database()
    yield database
    database.close()


def one(db: Database, query: str) -> Any:
    return db.execute(query).rows[0][0]


P = "'SRID=4326;POINT(-3.7 40.4)'::geometry"
LINE = "'SRID=4326;LINESTRING(0 0,1 1,2 0)'::geometry"


def test_sql_text_outputs(sql: Database) -> None:
    hexed = one(sql, "SELECT ST_GeomFromText('POINT(-3.7 40.4)', 4326)")
    assert hexed == _hex_point(-3.7, 40.4, 4326)
    assert one(sql, f"SELECT ST_AsText({P})") == "POINT(-3.7 40.4)"
    assert one(sql, f"SELECT ST_AsEWKT({P})") == "SRID=4326;POINT(-3.7 40.4)"
    assert one(sql, f"SELECT ST_AsGeoJSON({P})") == '{"type":"Point","coordinates":[-3.7,40.4]}'
    assert one(sql, f"SELECT ST_AsGeoJSON({P}, 0)") == '{"type":"Point","coordinates":[-4,40]}'
    assert one(sql, f"SELECT ST_AsHexEWKB({P})") == hexed


def test_sql_constructors(sql: Database) -> None:
    assert one(sql, "SELECT ST_SRID(ST_MakePoint(1, 2))") == 0
    assert one(sql, "SELECT ST_SRID(ST_SetSRID(ST_MakePoint(1, 2), 4326))") == 4326
    assert one(sql, "SELECT ST_SetSRID(ST_MakePoint(1, 2), 4326)") == _hex_point(1, 2, 4326)
    assert one(sql, "SELECT ST_Point(1, 2, 4326)") == _hex_point(1, 2, 4326)
    assert one(sql, "SELECT CDB_LatLng(40.4, -3.7)") == _hex_point(-3.7, 40.4, 4326)
    geojson = '{"type":"Point","coordinates":[1,2]}'
    assert one(sql, f"SELECT ST_GeomFromGeoJSON('{geojson}', 4326)") == _hex_point(1, 2, 4326)
    assert one(sql, "SELECT ST_GeomFromEWKT('SRID=3857;POINT(1 2)')") == _hex_point(1, 2, 3857)
    envelope = one(sql, "SELECT ST_AsText(ST_MakeEnvelope(0, 0, 2, 1, 4326))")
    assert envelope == "POLYGON((0 0,0 1,2 1,2 0,0 0))"


def test_sql_types(sql: Database) -> None:
    for wkt, st_type, plain in [
        ("POINT(1 2)", "ST_Point", "POINT"),
        ("LINESTRING(0 0,1 1)", "ST_LineString", "LINESTRING"),
        ("POLYGON((0 0,1 0,1 1,0 0))", "ST_Polygon", "POLYGON"),
        ("MULTIPOINT(1 2)", "ST_MultiPoint", "MULTIPOINT"),
        ("MULTILINESTRING((0 0,1 1))", "ST_MultiLineString", "MULTILINESTRING"),
        ("MULTIPOLYGON(((0 0,1 0,1 1,0 0)))", "ST_MultiPolygon", "MULTIPOLYGON"),
    ]:
        assert one(sql, f"SELECT ST_GeometryType('{wkt}'::geometry)") == st_type
        assert one(sql, f"SELECT GeometryType('{wkt}'::geometry)") == plain


def test_sql_coordinates_and_bounds(sql: Database) -> None:
    assert one(sql, f"SELECT ST_X({P})") == pytest.approx(-3.7)
    assert one(sql, f"SELECT ST_Y({P})") == pytest.approx(40.4)
    assert one(sql, "SELECT ST_X('POINT EMPTY'::geometry)") is None
    bounds = sql.execute(
        f"SELECT ST_XMin({LINE}), ST_YMin({LINE}), ST_XMax({LINE}), ST_YMax({LINE})"
    )
    assert bounds.rows[0] == (0.0, 0.0, 2.0, 1.0)
    assert one(sql, f"SELECT ST_NPoints({LINE})") == 3
    assert one(sql, f"SELECT ST_IsEmpty({LINE})") == 0
    assert one(sql, "SELECT ST_IsEmpty('LINESTRING EMPTY'::geometry)") == 1


def test_sql_st_x_of_a_line_fails_with_postgis_message(sql: Database) -> None:
    with pytest.raises(QueryError) as caught:
        one(sql, f"SELECT ST_X({LINE})")
    assert str(caught.value) == "Argument to ST_X() must have type POINT"


def test_sql_transform(sql: Database) -> None:
    merc = one(sql, "SELECT ST_Transform(ST_SetSRID(ST_MakePoint(10, 20), 4326), 3857)")
    assert geo.from_hex(merc).coords == pytest.approx((1113194.9079327357, 2273030.926987689))
    assert geo.from_hex(merc).srid == 3857
    assert one(sql, f"SELECT ST_SRID(CDB_TransformToWebmercator({P}))") == 3857


def test_sql_extent_aggregate(sql: Database) -> None:
    sql.execute("CREATE TABLE t (g geometry)")
    sql.execute("INSERT INTO t VALUES ('POINT(-10 5)'), ('LINESTRING(0 0,20.5 -7)'), (NULL)")
    assert one(sql, "SELECT ST_Extent(g) FROM t") == "BOX(-10 -7,20.5 5)"
    assert one(sql, "SELECT ST_Extent(g) FROM t WHERE g IS NULL") is None
    assert one(sql, "SELECT ST_XMin(ST_Extent(g)) FROM t") == -10  # CartoDB.js getBounds


def test_sql_functions_are_strict(sql: Database) -> None:
    for query in (
        "SELECT ST_AsText(NULL)",
        "SELECT ST_X(NULL)",
        "SELECT ST_SetSRID(NULL, 4326)",
        "SELECT ST_MakePoint(NULL, 1)",
        "SELECT ST_Transform(NULL, 3857)",
    ):
        assert one(sql, query) is None
