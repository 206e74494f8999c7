"""Importing CSV/TSV/TXT files: dialects, encodings, type guessing, geometry, names, failures."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carto_async.testing._db import Database
from carto_async.testing._loader import load_file
from carto_async.testing._staging import ImportFailure, LoadOptions
from tests.testing import ewkb_codec as geo
from tests.testing.conftest_data import columns, load, rows, write

CARTO = ["cartodb_id", "the_geom", "the_geom_webmercator"]


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    yield database
    database.close()


def failure(db: Database, tmp_path: Path, name: str, content: str | bytes, **options: Any) -> int:
    with pytest.raises(ImportFailure) as caught:
        load(db, tmp_path, name, content, **options)
    staged = "SELECT table_name FROM duckdb_tables() WHERE temporary"
    assert not db.execute_native(staged).rows  # staging cleaned up
    return caught.value.code


def point(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    geom = geo.from_hex(value)
    assert geom.srid == 4326
    x, y = geom.coords
    return (x, y)


# -- type guessing -------------------------------------------------------------------------

TYPED = (
    "name,count,price,ok,day,seen,big,code\n"
    "Alpha,1,1.5,true,2020-01-02,2020-01-02T03:04:05Z,3000000000,007\n"
    "Beta,-2,2,FALSE,2021-12-31,2020-01-02 03:04:05+02:00,4,010\n"
    ",,,,,,,\n"
)


def test_type_guessing(db: Database, tmp_path: Path) -> None:
    result = load(db, tmp_path, "typed.csv", TYPED)
    assert result.table_names == ["typed"]
    assert result.rows == 3
    assert not result.skipped
    assert columns(db, "typed") == {
        "cartodb_id": "INTEGER",
        "the_geom": "GEOMETRY_TEXT(0,4326)",
        "the_geom_webmercator": "GEOMETRY_TEXT(0,3857)",
        "name": "TEXT",
        "count": "INTEGER",
        "price": "DOUBLE PRECISION",
        "ok": "BOOLEAN",
        "day": "DATE",
        "seen": "TIMESTAMPTZ",
        "big": "BIGINT",
        "code": "INTEGER",
    }
    got = rows(db, "SELECT * FROM typed ORDER BY cartodb_id")
    assert [r["cartodb_id"] for r in got] == [1, 2, 3]
    assert got[0] | {"the_geom": None} == {
        "cartodb_id": 1,
        "the_geom": None,
        "the_geom_webmercator": None,
        "name": "Alpha",
        "count": 1,
        "price": 1.5,
        "ok": 1,
        "day": dt.date(2020, 1, 2),
        "seen": dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "big": 3000000000,
        "code": 7,
    }
    assert got[1]["ok"] == 0
    assert got[1]["seen"] == dt.datetime(2020, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    # empty cells: NULL in typed columns, an empty string in text columns
    assert got[2] == {**dict.fromkeys(got[2], None), "cartodb_id": 3, "name": ""}


def test_without_type_guessing_everything_is_text(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "typed.csv", TYPED, type_guessing=False)
    declared = columns(db, "typed")
    assert {declared[c] for c in declared if c not in CARTO} == {"TEXT"}
    assert rows(db, "SELECT count, code FROM typed WHERE name = 'Alpha'") == [
        {"count": "1", "code": "007"}
    ]


QUOTED = 'id,zip,amount\n1,"08001",2.5\n2,"28001","3.5"\n'


def test_quoted_fields_guessing(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "guessed.csv", QUOTED)
    assert columns(db, "guessed")["zip"] == "INTEGER"
    assert columns(db, "guessed")["amount"] == "DOUBLE PRECISION"
    load(db, tmp_path, "kept.csv", QUOTED, quoted_fields_guessing=False)
    assert columns(db, "kept")["id"] == "INTEGER"
    assert columns(db, "kept")["zip"] == "TEXT"
    assert columns(db, "kept")["amount"] == "TEXT"  # one quoted value is enough
    assert rows(db, "SELECT zip FROM kept ORDER BY id") == [{"zip": "08001"}, {"zip": "28001"}]


def test_types_are_decided_over_the_whole_file(db: Database, tmp_path: Path) -> None:
    lines = ["n,v,flag"] + [f"{i},{i},true" for i in range(6000)] + ["6000,6000.5,maybe"]
    load(db, tmp_path, "long.csv", "\n".join(lines) + "\n")
    assert columns(db, "long")["n"] == "INTEGER"
    assert columns(db, "long")["v"] == "DOUBLE PRECISION"
    assert columns(db, "long")["flag"] == "TEXT"
    assert db.row_count("long") == 6001
    assert rows(db, "SELECT v FROM long WHERE n = 6000") == [{"v": 6000.5}]


def test_invalid_dates_stay_text(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "dates.csv", "d\n2020-01-02\n2020-13-45\n")
    assert columns(db, "dates")["d"] == "TEXT"


# -- dialects and encodings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("comma.csv", 'a,b,c\n1,"x, y",3\n'),
        ("semicolon.csv", "a;b;c\n1;x, y;3\n"),
        ("tabs.tsv", "a\tb\tc\n1\tx, y\t3\n"),
        ("tabs.txt", "a\tb\tc\n1\tx, y\t3\n"),
        ("pipes.csv", "a|b|c\n1|x, y|3\n"),
        ("crlf.csv", 'a,b,c\r\n1,"x, y",3\r\n'),
        ("old_mac.csv", 'a,b,c\r1,"x, y",3\r'),
    ],
)
def test_delimiters_and_line_ends(db: Database, tmp_path: Path, name: str, content: str) -> None:
    table = load(db, tmp_path, name, content).table_names[0]
    assert rows(db, f"SELECT a, b, c FROM {table}") == [{"a": 1, "b": "x, y", "c": 3}]


def test_semicolon_file_with_decimal_commas(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "euro.csv", "name;lat;lon\nMadrid;40,4168;-3,7038\n")
    got = rows(db, "SELECT lat, the_geom FROM euro")[0]
    assert got["lat"] == "40,4168"  # not a number for PostgreSQL either
    assert point(got["the_geom"]) == pytest.approx((-3.7038, 40.4168))


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("cp1252", b""),
        ("latin-1", b""),
        ("utf-16", b""),
    ],
)
def test_encodings(db: Database, tmp_path: Path, encoding: str, prefix: bytes) -> None:
    text = "city,note\nMálaga,café\nA Coruña,ñandú\n"
    if encoding == "cp1252":
        text = "city,note\nMálaga,5€\nA Coruña,ñandú\n"
    path = write(tmp_path, "cities.csv", prefix + text.encode(encoding))
    load_file(db, "cities.csv", str(path), LoadOptions())
    assert [r["city"] for r in rows(db, "SELECT city FROM cities ORDER BY cartodb_id")] == [
        "Málaga",
        "A Coruña",
    ]
    notes = [r["note"] for r in rows(db, "SELECT note FROM cities ORDER BY cartodb_id")]
    assert notes[1] == "ñandú"


def test_multiline_quoted_values(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "notes.csv", 'id,note\n1,"first line\nsecond ""line"""\n2,plain\n')
    assert rows(db, "SELECT note FROM notes ORDER BY id") == [
        {"note": 'first line\nsecond "line"'},
        {"note": "plain"},
    ]


def test_ragged_rows_within_tolerance(db: Database, tmp_path: Path) -> None:
    lines = ["a,b,c", "1,2", "3,4,5,,", "6,7,8,extra"] + [f"{i},0,0" for i in range(20)]
    load(db, tmp_path, "ragged.csv", "\n".join(lines) + "\n\n   \n")
    assert db.row_count("ragged") == 23
    assert rows(db, "SELECT a, b, c FROM ragged ORDER BY cartodb_id LIMIT 3") == [
        {"a": 1, "b": 2, "c": None},
        {"a": 3, "b": 4, "c": 5},
        {"a": 6, "b": 7, "c": 8},
    ]


# -- geometry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "lat", "lon"),
    [
        ("lat,lon", "40.5", "-3.7"),
        ("Latitude,Longitude", "40.5", "-3.7"),
        ("LAT,LNG", "40.5", "-3.7"),
        ("lat,long", "40.5", "-3.7"),
        ("latitud,longitud", "40.5", "-3.7"),
    ],
)
def test_lat_lon_columns_make_the_geom(
    db: Database, tmp_path: Path, header: str, lat: str, lon: str
) -> None:
    load(db, tmp_path, "points.csv", f"name,{header}\nx,{lat},{lon}\n")
    got = rows(db, "SELECT * FROM points")[0]
    assert point(got["the_geom"]) == pytest.approx((-3.7, 40.5))
    merc = geo.from_hex(got["the_geom_webmercator"])
    assert merc.srid == 3857
    assert merc.coords == pytest.approx(geo.lonlat_to_mercator(-3.7, 40.5))
    kept = [c.lower() for c in header.split(",")]
    assert set(kept) <= set(got)  # the source columns stay


def test_lat_lon_validation_follows_the_georeferencer(db: Database, tmp_path: Path) -> None:
    content = "lat,lon\n90,180\n-90,-180\n91,0\n0,181\n,\nabc,1\n45.5,-179.9\n90.0,0\n"
    load(db, tmp_path, "edges.csv", content, type_guessing=False)
    got = [point(r["the_geom"]) for r in rows(db, "SELECT the_geom FROM edges ORDER BY cartodb_id")]
    assert got == [(180.0, 90.0), (-180.0, -90.0), None, None, None, None, (-179.9, 45.5), None]


def test_carto_export_round_trip_through_the_geom(db: Database, tmp_path: Path) -> None:
    hexed = geo.to_hex(geo.Geometry("Polygon", (((0, 0), (1, 0), (1, 1), (0, 0)),), 4326))
    content = f"the_geom,cartodb_id,the_geom_webmercator,name\n{hexed},7,junk,a\n,9,,b\n"
    load(db, tmp_path, "export.csv", content)
    assert list(columns(db, "export")) == [*CARTO, "name"]
    got = rows(db, "SELECT cartodb_id, the_geom, ST_SRID(the_geom_webmercator) AS s FROM export")
    assert got == [
        {"cartodb_id": 7, "the_geom": hexed, "s": 3857},
        {"cartodb_id": 9, "the_geom": None, "s": None},
    ]
    db.execute("INSERT INTO export (name) VALUES ('c')")
    assert rows(db, "SELECT cartodb_id FROM export WHERE name = 'c'") == [{"cartodb_id": 10}]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("wkt", '"POINT(1 2)"'),
        ("geometry", '"SRID=4326;POINT(1 2)"'),
        ("geojson", '"{""type"":""Point"",""coordinates"":[1,2]}"'),
        ("the_geom", "0101000020E6100000000000000000F03F0000000000000040"),
        ("geom", "0101000000000000000000F03F0000000000000040"),
    ],
)
def test_geometry_columns(db: Database, tmp_path: Path, column: str, value: str) -> None:
    load(db, tmp_path, "shapes.csv", f"name,{column}\na,{value}\n")
    assert list(columns(db, "shapes")) == [*CARTO, "name"]
    assert point(rows(db, "SELECT the_geom FROM shapes")[0]["the_geom"]) == (1.0, 2.0)


def test_web_mercator_geometry_column_is_reprojected(db: Database, tmp_path: Path) -> None:
    x, y = geo.lonlat_to_mercator(10, 20)
    load(db, tmp_path, "merc.csv", f'wkt\n"SRID=3857;POINT({x} {y})"\n')
    assert point(rows(db, "SELECT the_geom FROM merc")[0]["the_geom"]) == pytest.approx((10, 20))


def test_unreadable_geometry_column_falls_back_to_lat_lon(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "mixed.csv", "the_geom,lat,lon\nsomewhere,1,2\n")
    assert list(columns(db, "mixed")) == [*CARTO, "invalid_the_geom", "lat", "lon"]
    got = rows(db, "SELECT the_geom, invalid_the_geom FROM mixed")[0]
    assert point(got["the_geom"]) == (2.0, 1.0)
    assert got["invalid_the_geom"] == "somewhere"


def test_empty_geometry_column_is_dropped(db: Database, tmp_path: Path) -> None:
    load(db, tmp_path, "blank.csv", "name,the_geom\na,\n")
    assert list(columns(db, "blank")) == [*CARTO, "name"]


def test_geometry_collection_is_refused(db: Database, tmp_path: Path) -> None:
    content = 'wkt\n"GEOMETRYCOLLECTION(POINT(1 2))"\n'
    assert failure(db, tmp_path, "gc.csv", content) == 3201


# -- names ---------------------------------------------------------------------------------


def test_column_names_are_sanitized_like_carto(db: Database, tmp_path: Path) -> None:
    header = "Total ($),Ñandú Count,1st,select,,Mixed-Case Name,cartodb_id,_under,a  b"
    load(db, tmp_path, "names.csv", header + "\n1,2,3,4,5,6,1,7,8\n")
    assert list(columns(db, "names")) == [
        *CARTO,
        "total",
        "nandu_count",
        "_1st",
        "_select",
        "field_5",
        "mixed_case_name",
        "_under",
        "a_b",
    ]


def test_table_name_comes_from_the_file_name(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "upload.bin", "a\n1\n")
    result = load_file(db, "2015 Sales_Report (final).CSV", str(path), LoadOptions())
    assert result.table_names == ["table_2015_sales_report_final_"]


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("data.xls", "a,b\n1,2\n", 1002),
        ("data", "a,b\n1,2\n", 1002),
        ("empty.csv", b"", 1005),
        ("header.csv", "a,b,c\n", 1005),
        ("blank.csv", "\n\n   \n", 1005),
        ("binary.csv", b"a,b\n1,\x002\n", 2003),
        ("undecodable.csv", b"a,b\n\x81\x8d,2\n", 2003),
        ("duplicated.csv", "Name,name\n1,2\n", 2005),
        ("ragged.csv", "a,b\n1,2,3\n4,5,6\n7,8\n", 2003),
        ("runaway.csv", 'a,b\n1,"never closed\n2,3\n4,5\n', 2003),
        ("ids.csv", "cartodb_id,a\n1,x\n1,y\n", 2011),
        ("ids_text.csv", "cartodb_id,a\nfirst,x\n", 2011),
    ],
)
def test_failures(db: Database, tmp_path: Path, name: str, content: str | bytes, code: int) -> None:
    assert failure(db, tmp_path, name, content) == code
    assert db.list_tables() == []


def test_limits(db: Database, tmp_path: Path) -> None:
    wide = ",".join(f"c{i}" for i in range(6)) + "\n" + ",".join("1" * 6) + "\n"
    assert failure(db, tmp_path, "wide.csv", wide, max_columns=5) == 2004
    assert load(db, tmp_path, "wide.csv", wide, max_columns=6).table_names == ["wide"]
    tall = "a\n" + "1\n" * 11
    assert failure(db, tmp_path, "tall.csv", tall, max_rows=10) == 6668
    assert load(db, tmp_path, "tall.csv", tall, max_rows=11).rows == 11
    assert failure(db, tmp_path, "big.csv", tall, max_file_size=10) == 6666


def test_import_failure_carries_the_carto_title() -> None:
    failure = ImportFailure(2005)
    assert failure.code == 2005
    assert failure.message == "Duplicated column"
    assert ImportFailure(1002, "custom").message == "custom"


# -- concurrency ---------------------------------------------------------------------------


def test_queries_are_served_while_a_file_loads(db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE other (a int)")
    content = "n,lat,lon\n" + "".join(f"{i},{i % 80},{i % 170}\n" for i in range(30000))
    path = write(tmp_path, "many.csv", content)
    answered = 0
    done = threading.Event()

    def query() -> None:
        nonlocal answered
        while not done.is_set():
            db.execute("SELECT count(*) FROM other")
            answered += 1

    reader = threading.Thread(target=query)
    reader.start()
    try:
        result = load_file(db, "many.csv", str(path), LoadOptions())
    finally:
        done.set()
        reader.join()
    assert result.rows == 30000
    assert answered > 1
