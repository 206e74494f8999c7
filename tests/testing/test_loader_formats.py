"""Importing GeoJSON and zip archives; table naming and collisions; query and copy imports."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carto_async.testing._db import Database
from carto_async.testing._loader import copy_table, supported_extensions, table_from_query
from carto_async.testing._staging import ImportFailure, LoadOptions, normalize_table_name
from tests.testing import ewkb_codec as geo
from tests.testing.conftest_data import (
    columns,
    feature,
    feature_collection,
    fixture,
    load,
    rows,
    zipped,
)

CARTO = ["cartodb_id", "the_geom", "the_geom_webmercator"]
GEOMETRIES = {
    "Point": [1.5, 2.5],
    "MultiPoint": [[1, 2], [3, 4]],
    "LineString": [[0, 0], [1, 1], [2, 0]],
    "MultiLineString": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]],
    "Polygon": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [2, 1], [2, 2], [1, 1]]],
    "MultiPolygon": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, 5], [6, 5], [6, 6], [5, 5]]]],
}


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    yield database
    database.close()


def code_of(db: Database, tmp_path: Path, name: str, content: str | bytes, **opts: Any) -> int:
    with pytest.raises(ImportFailure) as caught:
        load(db, tmp_path, name, content, **opts)
    return caught.value.code


# -- GeoJSON -------------------------------------------------------------------------------


def test_geojson_geometries_and_properties(db: Database, tmp_path: Path) -> None:
    features = [
        feature({"type": kind, "coordinates": coords}, kind=kind, n=i, share=i / 2, on=i % 2 == 0)
        for i, (kind, coords) in enumerate(GEOMETRIES.items())
    ]
    features.append(feature(None, kind="none", tags=["a", "b"], meta={"k": 1}))
    result = load(db, tmp_path, "shapes.geojson", feature_collection(*features))
    assert result.table_names == ["shapes"]
    assert result.rows == 7
    assert columns(db, "shapes") == {
        "cartodb_id": "INTEGER",
        "the_geom": "GEOMETRY_TEXT(0,4326)",
        "the_geom_webmercator": "GEOMETRY_TEXT(0,3857)",
        "kind": "TEXT",
        "n": "INTEGER",
        "share": "DOUBLE PRECISION",
        "_on": "BOOLEAN",  # a reserved word
        "tags": "TEXT",
        "meta": "TEXT",
    }
    got = rows(db, "SELECT * FROM shapes ORDER BY cartodb_id")
    for row, (kind, coords) in zip(got, GEOMETRIES.items(), strict=False):
        shape = geo.from_hex(row["the_geom"])
        assert shape.kind == kind
        assert shape.srid == 4326
        assert json.loads(geo.to_geojson(shape))["coordinates"] == coords
        assert geo.from_hex(row["the_geom_webmercator"]).srid == 3857
    assert got[0]["_on"] == 1
    assert got[1]["_on"] == 0
    assert got[6]["the_geom"] is None
    assert got[6]["tags"] == '["a","b"]'
    assert got[6]["meta"] == '{"k":1}'
    assert got[6]["n"] is None


@pytest.mark.parametrize(
    "document",
    [
        feature({"type": "Point", "coordinates": [1, 2]}, name="a"),
        {"type": "Point", "coordinates": [1, 2]},
    ],
)
def test_json_feature_or_bare_geometry(db: Database, tmp_path: Path, document: Any) -> None:
    load(db, tmp_path, "one.json", json.dumps(document))
    assert geo.from_hex(rows(db, "SELECT the_geom FROM one")[0]["the_geom"]).coords == (1, 2)


def test_geojson_in_web_mercator_is_reprojected(db: Database, tmp_path: Path) -> None:
    x, y = geo.lonlat_to_mercator(10, 20)
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    document = feature_collection(feature({"type": "Point", "coordinates": [x, y]}), crs=crs)
    load(db, tmp_path, "merc.geojson", document)
    shape = geo.from_hex(rows(db, "SELECT the_geom FROM merc")[0]["the_geom"])
    assert shape.coords == pytest.approx((10, 20))


def test_mixed_property_types_become_text(db: Database, tmp_path: Path) -> None:
    document = feature_collection(feature(None, v=1), feature(None, v="two"), feature(None, v=True))
    load(db, tmp_path, "mixed.geojson", document)
    assert columns(db, "mixed")["v"] == "TEXT"
    assert [r["v"] for r in rows(db, "SELECT v FROM mixed ORDER BY cartodb_id")] == [
        "1",
        "two",
        "true",
    ]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("broken.geojson", "{not json", 3007),
        ("list.json", "[1, 2, 3]", 3007),
        ("other.json", '{"hello": "world"}', 3007),
        ("bad_feature.geojson", '{"type": "FeatureCollection", "features": [1]}', 3007),
        (
            "bad_coords.geojson",
            feature_collection(feature({"type": "Point", "coordinates": ["x"]})),
            3007,
        ),
        (
            "collection.geojson",
            feature_collection(
                feature(
                    {
                        "type": "GeometryCollection",
                        "geometries": [{"type": "Point", "coordinates": [1, 2]}],
                    }
                )
            ),
            3201,
        ),
        ("nothing.geojson", feature_collection(), 1005),
        (
            "dup.geojson",
            feature_collection(feature(None, Name=1, name=2)),
            2005,
        ),
    ],
)
def test_geojson_failures(db: Database, tmp_path: Path, name: str, content: str, code: int) -> None:
    assert code_of(db, tmp_path, name, content) == code
    assert db.list_tables() == []


# -- zip -----------------------------------------------------------------------------------

CSV = "name,lat,lon\na,1,2\n"
GEOJSON = feature_collection(feature({"type": "Point", "coordinates": [3, 4]}, name="b"))


def test_zip_imports_every_supported_file(db: Database, tmp_path: Path) -> None:
    archive = zipped(
        {
            "data/stores.csv": CSV,
            "parks.geojson": GEOJSON,
            "readme.md": "ignored",
            "__MACOSX/data/._stores.csv": "junk",
            ".hidden.csv": "x\n1\n",
        }
    )
    result = load(db, tmp_path, "bundle.zip", archive)
    assert sorted(result.table_names) == ["parks", "stores"]
    assert result.rows == 2
    assert sorted(db.list_tables()) == ["parks", "stores"]


def test_zip_keeps_the_good_files_when_some_fail(db: Database, tmp_path: Path) -> None:
    archive = zipped({"good.csv": CSV, "empty.csv": "", "bad.geojson": "{"})
    assert load(db, tmp_path, "bundle.zip", archive).table_names == ["good"]


def test_zip_failures(db: Database, tmp_path: Path) -> None:
    assert code_of(db, tmp_path, "docs.zip", zipped({"a.pdf": "x", "b.md": "y"})) == 1002
    assert code_of(db, tmp_path, "corrupt.zip", b"PK\x03\x04 this is not a zip") == 1003
    assert code_of(db, tmp_path, "all_bad.zip", zipped({"a.csv": "", "b.csv": ""})) == 1005
    damaged = bytearray(zipped({"a.csv": CSV * 200}))
    damaged[60:70] = b"\x00" * 10  # inside the compressed data
    assert code_of(db, tmp_path, "damaged.zip", bytes(damaged)) == 1003
    assert db.list_tables() == []


def test_zip_size_is_checked_before_unpacking(db: Database, tmp_path: Path) -> None:
    assert code_of(db, tmp_path, "big.zip", b"not even a zip" * 10, max_file_size=50) == 6666
    bomb = zipped({"a.csv": "a\n" + "1\n" * 5000})
    assert len(bomb) < 2000
    assert code_of(db, tmp_path, "bomb.zip", bomb, max_file_size=2000) == 6666


def test_encrypted_zip_member(db: Database, tmp_path: Path) -> None:
    data = bytearray(zipped({"secret.csv": CSV}))
    # zipfile cannot encrypt: set the "encrypted" flag bit in both headers by hand
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x1
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0].flag_bits & 0x1
    assert code_of(db, tmp_path, "secret.zip", bytes(data)) == 1018


# -- naming and collisions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("My File", "my_file"),
        ("2015 data", "table_2015_data"),
        ("_private", "table_private"),
        ("select", "select_t"),
        ("public", "public_t"),
        ("spatial_ref_sys", "spatial_ref_sys_t"),
        ("Ñandú", "table_and_"),
        ("a--b  c", "a_b_c"),
        ("", "untitled_table"),
        ("x" * 80, "x" * 63),
    ],
)
def test_normalize_table_name(name: str, table: str) -> None:
    assert normalize_table_name(name) == table


def test_collisions_get_numeric_suffixes(db: Database, tmp_path: Path) -> None:
    names = [load(db, tmp_path, "stores.csv", CSV).table_names[0] for _ in range(3)]
    assert names == ["stores", "stores_1", "stores_2"]
    long_name = "y" * 70 + ".csv"
    first = load(db, tmp_path, long_name, CSV).table_names[0]
    second = load(db, tmp_path, long_name, CSV).table_names[0]
    assert (first, second) == ("y" * 63, "y" * 61 + "_1")


def test_collision_strategy_skip(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "stores.csv", CSV)
    skipped = load(db, tmp_path, "stores.csv", "other\n1\n", collision_strategy="skip")
    assert (skipped.table_names, skipped.rows, skipped.skipped) == ([], 0, True)
    assert list(columns(db, "stores")) == [*CARTO, "name", "lat", "lon"]
    archive = zipped({"stores.csv": CSV, "parks.geojson": GEOJSON})
    partial = load(db, tmp_path, "bundle.zip", archive, collision_strategy="skip")
    assert (partial.table_names, partial.skipped) == (["parks"], False)


def test_collision_strategy_overwrite(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "stores.csv", CSV)
    result = load(db, tmp_path, "stores.csv", "other\n1\n2\n", collision_strategy="overwrite")
    assert result.table_names == ["stores"]
    assert db.list_tables() == ["stores"]
    assert rows(db, "SELECT other FROM stores ORDER BY cartodb_id") == [{"other": 1}, {"other": 2}]


def test_supported_extensions() -> None:
    assert set(supported_extensions()) == {
        ".csv",
        ".tsv",
        ".txt",
        ".geojson",
        ".json",
        ".zip",
        # read with GDAL
        ".kml",
        ".kmz",
        ".gpx",
        ".gpkg",
        ".shp",
    }


def test_every_import_error_code_used_has_a_carto_title() -> None:
    titles = fixture("imports", "get_error_text_by_code.json")
    for code in (
        1002,
        1003,
        1005,
        1018,
        2003,
        2004,
        2005,
        2011,
        3007,
        3008,
        3201,
        6666,
        6668,
        8003,
        1006,  # the GDAL formats' codes
        1019,
        3101,
        3202,
    ):
        assert ImportFailure(code).message == titles[str(code)]["title"]


# -- query and copy imports ----------------------------------------------------------------


@pytest.fixture
def stores(db: Database, tmp_path: Path) -> Database:
    load(db, tmp_path, "stores.csv", "name,kind,lat,lon\na,x,1,2\nb,y,3,4\nc,x,5,6\n")
    return db


def test_table_from_query(stores: Database) -> None:
    result = table_from_query(
        stores,
        "SELECT kind, count(*), ST_SetSRID(ST_MakePoint(max(lon), max(lat)), 4326) AS the_geom"
        " FROM stores GROUP BY kind ORDER BY kind;",
        "By Kind",
        LoadOptions(),
    )
    assert result == type(result)(["by_kind"], 2, False)
    assert columns(stores, "by_kind") == {
        "cartodb_id": "INTEGER",
        "the_geom": "GEOMETRY_TEXT(0,4326)",
        "the_geom_webmercator": "GEOMETRY_TEXT(0,3857)",
        "kind": "TEXT",
        "count": "BIGINT",
    }
    got = rows(stores, "SELECT cartodb_id, kind, count, ST_AsText(the_geom) AS g FROM by_kind")
    assert got == [
        {"cartodb_id": 1, "kind": "x", "count": 2, "g": "POINT(6 5)"},
        {"cartodb_id": 2, "kind": "y", "count": 1, "g": "POINT(4 3)"},
    ]
    stores.execute("INSERT INTO by_kind (kind, the_geom) VALUES ('z', CDB_LatLng(0, 0))")
    assert rows(
        stores,
        "SELECT cartodb_id, ST_SRID(the_geom_webmercator) AS s FROM by_kind WHERE kind = 'z'",
    ) == [{"cartodb_id": 3, "s": 3857}]


def test_query_import_names_and_sanitizes(stores: Database) -> None:
    assert table_from_query(
        stores, "SELECT 1, 'x' AS \"My Col\"", None, LoadOptions()
    ).table_names == ["untitled_table"]
    assert list(columns(stores, "untitled_table")) == [*CARTO, "_column", "my_col"]
    again = table_from_query(stores, "SELECT 2", None, LoadOptions())
    assert again.table_names == ["untitled_table_1"]


def test_query_import_failures(stores: Database) -> None:
    options = LoadOptions()
    for sql in ("SELECT * FROM nowhere", "SELEC 1", "SELECT 1; SELECT 2"):
        with pytest.raises(ImportFailure) as caught:
            table_from_query(stores, sql, "t", options)
        assert caught.value.code == 8003
    with pytest.raises(ImportFailure) as caught:
        table_from_query(stores, "SELECT 1 AS cartodb_id UNION ALL SELECT 1", "t", options)
    assert caught.value.code == 2011
    with pytest.raises(ImportFailure) as caught:
        table_from_query(stores, "SELECT * FROM stores", "t", LoadOptions(max_rows=2))
    assert caught.value.code == 6668
    assert sorted(stores.list_tables()) == ["stores"]


def test_query_import_collision_strategies(stores: Database) -> None:
    skipped = table_from_query(stores, "SELECT 1", "stores", LoadOptions(collision_strategy="skip"))
    assert skipped.skipped
    assert skipped.table_names == []
    replaced = table_from_query(
        stores,
        "SELECT name FROM stores WHERE kind = 'x'",
        "stores",
        LoadOptions(collision_strategy="overwrite"),
    )
    assert replaced.table_names == ["stores"]
    assert stores.row_count("stores") == 2
    assert stores.list_tables() == ["stores"]


def test_copy_table(stores: Database) -> None:
    result = copy_table(stores, "stores", "stores copy", LoadOptions())
    assert result.table_names == ["stores_copy"]
    assert rows(stores, "SELECT * FROM stores_copy") == rows(stores, "SELECT * FROM stores")
    assert columns(stores, "stores_copy") == columns(stores, "stores")
    unnamed = copy_table(stores, "stores", None, LoadOptions())
    assert unnamed.table_names == ["untitled_table"]
    with pytest.raises(ImportFailure) as caught:
        copy_table(stores, "nowhere", "x", LoadOptions())
    assert caught.value.code == 8003
