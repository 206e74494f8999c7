"""The SQL API's GDAL formats (kml, shp, spatialite, gpkg) and arraybuffer in LocalCarto.

Each file is opened with a real reader: XML for KML, zipfile and GDAL (DuckDB spatial's
``ST_Read``) for the shapefile, sqlite3 for SpatiaLite and GeoPackage. The arraybuffer layout
is checked byte for byte against the vectors of the server's ``bin-encoder`` tests.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import sqlite3
import struct
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from carto.auth import APIKeyAuthClient
from carto.sql import SQLClient

from carto_async.testing import LocalCarto, _rowformats, _sqlapi
from carto_async.testing._db import Database, QueryError
from carto_async.testing._ogrformats import OgrColumn, write_ogr
from carto_async.testing._rowformats import BUFFER, INT16, STRING, UINT16
from carto_async.testing._sqlapi import SQLResponse, run_sql
from carto_async.testing.engine import open_engine

JSON_TYPE = "application/json; charset=utf-8"
KML_NS = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where LocalCarto's temporary files go during the test (to see they are removed)."""
    base = tmp_path / "private-tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    return base


@pytest.fixture
def db(private_tmp: Path) -> Iterator[Database]:
    database = Database()
    database.create_carto_table(
        "places",
        [("name", "TEXT"), ("visits", "INTEGER"), ("score", "DOUBLE PRECISION"), ("day", "DATE")],
    )
    database.install_carto_triggers("places")
    database.execute(
        "INSERT INTO places (name, visits, score, day, the_geom) VALUES"
        " ('Alpha', 3, 1.5, '2020-01-02', 'SRID=4326;POINT(1 2)'),"
        " ('Beta ♥', NULL, 2.0, NULL, 'SRID=4326;POINT(-3.5 40.25)'),"
        " ('Gamma', 7, NULL, '2021-05-06', NULL)"
    )
    yield database
    database.close()


def written(response: SQLResponse) -> bytes:
    """The bytes of a file response; the private file is then removed."""
    assert response.status == 200, response.body
    assert response.body == b""
    assert response.file is not None
    try:
        return Path(response.file.path).read_bytes()
    finally:
        response.file.cleanup()
        assert not os.path.exists(response.file.directory)


def read_gdal(path: Path) -> list[dict[str, Any]]:
    """Rows of a GDAL-readable file, its geometry as WKT in ``wkt`` (a private DuckDB)."""
    conn = open_engine(None, lock=False)
    try:
        described = conn.execute("DESCRIBE SELECT * FROM ST_Read(?)", (str(path),)).fetchall()
        geom = next(name for name, kind, *_ in described if kind.startswith("GEOMETRY"))
        quoted = '"' + geom.replace('"', '""') + '"'
        cursor = conn.execute(
            f"SELECT * EXCLUDE ({quoted}), ST_AsText({quoted}) AS wkt FROM ST_Read(?)",
            (str(path),),
        )
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


# -- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("kml", "application/kml; charset=utf-8", "kml"),
        ("shp", "application/zip; charset=utf-8", "zip"),
        ("spatialite", "application/x-sqlite3; charset=utf-8", "sqlite"),
        ("gpkg", "application/x-sqlite3; charset=utf-8", "gpkg"),
        ("arraybuffer", "application/octet-stream", "arraybuffer"),
    ],
)
def test_content_type_and_disposition_of_each_format(
    db: Database, private_tmp: Path, fmt: str, content_type: str, extension: str
) -> None:
    q = "select cartodb_id, name from places" if fmt == "arraybuffer" else "select * from places"
    response = run_sql(db, {"q": q, "format": fmt.upper()})
    assert response.status == 200
    assert response.content_type == content_type
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f"attachment; filename=cartodb-query.{extension}; ")
    named = run_sql(db, {"q": q, "format": fmt, "filename": "my export"})
    assert f"filename=my_export.{extension};" in named.headers["Content-Disposition"]
    for done in (response, named):
        if done.file is not None:
            done.file.cleanup()
    assert list(private_tmp.iterdir()) == []


# -- KML -----------------------------------------------------------------------------------


def test_kml_has_a_placemark_per_row_in_a_folder_named_after_the_filename(db: Database) -> None:
    data = written(
        run_sql(
            db,
            {"q": "select * from places order by cartodb_id", "format": "kml", "filename": "kt"},
        )
    )
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8" ?>')
    root = ET.fromstring(data)
    folder = root.find(f"{KML_NS}Document/{KML_NS}Folder")
    assert folder is not None
    assert folder.findtext(f"{KML_NS}name") == "kt"
    marks = folder.findall(f"{KML_NS}Placemark")
    assert [m.findtext(f"{KML_NS}name") for m in marks] == ["Alpha", "Beta ♥", "Gamma"]
    coords = [m.findtext(f".//{KML_NS}coordinates") for m in marks]
    assert coords == ["1,2", "-3.5,40.25", None]  # longitude first; no geometry: no Point
    fields = {f.get("name") for f in root.iter(f"{KML_NS}SimpleField")}
    assert fields == {"cartodb_id", "visits", "score", "day"}  # no the_geom(_webmercator)
    visits = [m.findtext(f".//{KML_NS}SimpleData[@name='visits']") for m in marks]
    assert visits == ["3", None, "7"]


def test_kml_skipfields_and_an_empty_result(db: Database) -> None:
    data = written(
        run_sql(db, {"q": "select * from places", "format": "kml", "skipfields": "visits,day"})
    )
    fields = {f.get("name") for f in ET.fromstring(data).iter(f"{KML_NS}SimpleField")}
    assert fields == {"cartodb_id", "score"}
    empty = written(run_sql(db, {"q": "SELECT true WHERE false;", "format": "kml"})).decode()
    assert "".join(empty.split("\n")) == (
        '<?xml version="1.0" encoding="utf-8" ?><kml xmlns="http://www.opengis.net/kml/2.2">'
        '<Document id="root_doc"><Folder><name>cartodb_query</name></Folder></Document></kml>'
    )


def test_kml_of_web_mercator_geometries_is_reprojected_to_wgs84(db: Database) -> None:
    data = written(
        run_sql(
            db,
            {"q": "select the_geom_webmercator from places where visits = 3", "format": "kml"},
        )
    )
    (coords,) = [e.text for e in ET.fromstring(data).iter(f"{KML_NS}coordinates")]
    assert coords is not None
    x, y = map(float, coords.split(","))
    assert (round(x, 9), round(y, 9)) == (1.0, 2.0)


# -- shapefile -----------------------------------------------------------------------------


def test_shp_is_a_zip_of_the_parts_named_after_the_filename(db: Database, tmp_path: Path) -> None:
    data = written(
        run_sql(db, {"q": "select * from places", "format": "shp", "filename": "myshape"})
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        archive.extractall(tmp_path)
        dbf = archive.read("myshape.dbf")
        prj = archive.read("myshape.prj").decode()
    assert names == [f"myshape.{e}" for e in ("cpg", "dbf", "prj", "shp", "shx")]
    assert "Beta ♥".encode() in dbf  # ENCODING=UTF-8
    assert "WGS_1984" in prj
    rows = sorted(read_gdal(tmp_path / "myshape.shp"), key=lambda r: r["cartodb_id"])
    assert [(r["name"], r["visits"], r["wkt"]) for r in rows] == [
        ("Alpha", 3, "POINT (1 2)"),
        ("Beta ♥", None, "POINT (-3.5 40.25)"),
        ("Gamma", 7, None),
    ]
    assert "the_geom_webmercator" not in rows[0]


def test_shp_skipfields_and_a_query_without_geometry(db: Database) -> None:
    data = written(
        run_sql(
            db,
            {
                "q": "select 111 as skipme, 222 as keepme, 'POINT(0 0)'::geometry as g",
                "format": "shp",
                "skipfields": "skipme",
            },
        )
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"skipme" not in archive.read("cartodb-query.dbf")
        assert b"KEEPME" in archive.read("cartodb-query.dbf").upper()
    plain = written(run_sql(db, {"q": "select name, visits from places", "format": "shp"}))
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        assert sorted(archive.namelist()) == ["cartodb-query.cpg", "cartodb-query.dbf"]


def test_shp_refuses_mixed_geometries_with_gdal_words(db: Database) -> None:
    q = "SELECT 'POINT(0 0)'::geometry as g UNION ALL SELECT 'LINESTRING(0 0, 1 0)'::geometry"
    response = run_sql(db, {"q": q, "format": "shp"})
    assert response.status == 400
    assert response.content_type == JSON_TYPE
    assert response.headers["Content-Disposition"] == "inline"
    assert response.file is None
    assert json.loads(response.body) == {
        "error": ["Attempt to write non-point (LINESTRING) geometry to point shapefile."]
    }
    null_first = run_sql(
        db,
        {
            "q": "SELECT null::geometry as g UNION ALL SELECT 'SRID=4326;POINT(0 0)'::geometry",
            "format": "shp",
        },
    )
    with zipfile.ZipFile(io.BytesIO(written(null_first))) as archive:
        assert "cartodb-query.shp" in archive.namelist()


def test_shp_takes_polygons_and_multipolygons_together(db: Database, tmp_path: Path) -> None:
    q = (
        "SELECT 'SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))'::geometry AS the_geom UNION ALL"
        " SELECT 'SRID=4326;MULTIPOLYGON(((5 5, 6 5, 6 6, 5 5)), ((8 8, 9 8, 9 9, 8 8)))'"
    )
    with zipfile.ZipFile(io.BytesIO(written(run_sql(db, {"q": q, "format": "shp"})))) as zf:
        zf.extractall(tmp_path)
    kinds = sorted(r["wkt"].split(" ")[0] for r in read_gdal(tmp_path / "cartodb-query.shp"))
    assert kinds == ["MULTIPOLYGON", "POLYGON"]


# -- SQLite formats ------------------------------------------------------------------------


def test_gpkg_is_a_geopackage_with_a_table_named_after_the_filename(
    db: Database, tmp_path: Path
) -> None:
    target = tmp_path / "out.gpkg"
    target.write_bytes(
        written(
            run_sql(
                db,
                {
                    "q": "select * from places",
                    "format": "gpkg",
                    "filename": "a_gpkg_table",
                    "skipfields": "the_geom_webmercator," + "a" * 300,
                },
            )
        )
    )
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT table_name, srs_id FROM gpkg_contents").fetchall() == [
            ("a_gpkg_table", 4326)
        ]
        assert conn.execute(
            "SELECT column_name, geometry_type_name FROM gpkg_geometry_columns"
        ).fetchall() == [("the_geom", "POINT")]
        rows = conn.execute(
            "SELECT cartodb_id, name, visits, score, day FROM a_gpkg_table ORDER BY cartodb_id"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [
        (1, "Alpha", 3, 1.5, "2020-01-02"),
        (2, "Beta ♥", None, 2.0, None),
        (3, "Gamma", 7, None, "2021-05-06"),
    ]
    read = sorted(read_gdal(target), key=lambda r: r["cartodb_id"])
    assert [r["wkt"] for r in read] == ["POINT (1 2)", "POINT (-3.5 40.25)", None]


def test_spatialite_is_an_sqlite_database_with_the_rows(db: Database, tmp_path: Path) -> None:
    target = tmp_path / "out.sqlite"
    target.write_bytes(
        written(run_sql(db, {"q": "select * from places", "format": "spatialite", "filename": "m"}))
    )
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "m" in tables
        assert conn.execute("SELECT count(*), sum(visits) FROM m").fetchone() == (3, 10)
        assert conn.execute(
            "SELECT f_table_name, f_geometry_column, srid FROM geometry_columns"
        ).fetchall() == [("m", "the_geom", 4326)]
    finally:
        conn.close()
    assert sorted(r["wkt"] or "" for r in read_gdal(target)) == [
        "",
        "POINT (-3.5 40.25)",
        "POINT (1 2)",
    ]


# -- errors and safety ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["kml", "shp", "spatialite", "gpkg", "arraybuffer"])
def test_a_bad_query_keeps_the_real_error_shape(db: Database, private_tmp: Path, fmt: str) -> None:
    response = run_sql(db, {"q": "select * from nowhere", "format": fmt})
    assert response.status == 400
    assert response.content_type == JSON_TYPE
    assert response.headers["Content-Disposition"] == "inline"
    assert response.body == b'{"error":["relation \\"nowhere\\" does not exist"]}'
    assert list(private_tmp.iterdir()) == []


def test_a_file_format_runs_one_select_as_the_real_subquery_does(db: Database) -> None:
    for q in (
        "select 1; drop table places",
        "delete from places",
        "select 1); drop table places; select (1",
    ):
        response = run_sql(db, {"q": q, "format": "gpkg"})
        assert response.status == 400
        assert "syntax error" in json.loads(response.body)["error"][0]
    assert db.row_count("places") == 3
    assert (
        written(run_sql(db, {"q": "values (1, 'a')", "format": "kml"})).count(b"<Placemark>") == 1
    )
    repeated = run_sql(db, {"q": "select 1 as a, 2 as a", "format": "gpkg"})
    assert json.loads(repeated.body) == {"error": ['column reference "a" is ambiguous']}


@pytest.mark.parametrize("filename", ["../../evil", "/etc/passwd", "a\\..\\b", "..", "x\x00y"])
def test_a_hostile_filename_only_names_the_download(
    db: Database, private_tmp: Path, tmp_path: Path, filename: str
) -> None:
    before = set(tmp_path.parent.iterdir())
    response = run_sql(db, {"q": "select * from places", "format": "shp", "filename": filename})
    assert response.file is not None
    assert Path(response.file.directory).parent == private_tmp
    assert os.path.basename(response.file.path) == "cartodb-query.zip"
    with zipfile.ZipFile(io.BytesIO(written(response))) as archive:
        for name in archive.namelist():
            assert not {"/", "\\", "\x00"} & set(name)
    disposition = response.headers["Content-Disposition"]
    assert "/" not in disposition.split(";")[1]
    assert set(tmp_path.parent.iterdir()) == before
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize(
    "q",
    [
        "COPY (select 1) TO '{target}' (FORMAT GDAL, DRIVER 'KML')",
        "select * from read_text('/etc/hostname')",
        "select * from st_read('/etc/hostname')",
        "attach '{target}' as other",
    ],
)
def test_a_query_cannot_write_or_read_host_files_through_a_file_format(
    db: Database, tmp_path: Path, q: str
) -> None:
    target = tmp_path / "stolen.kml"
    response = run_sql(db, {"q": q.format(target=target), "format": "kml"})
    assert response.status in (400, 403), response.body
    assert response.file is None
    assert not target.exists()


# -- arraybuffer ---------------------------------------------------------------------------


def header(kind: int, size: int) -> bytes:
    return struct.pack(">II", kind, size)


def utf16(text: str) -> bytes:
    units = text.encode("utf-16-le")
    return header(UINT16, len(units)) + units


def strings(*texts: str) -> bytes:
    payload = bytearray(8)
    for text in texts:
        payload += b"\0" * (-len(payload) % 4) + utf16(text)
    return header(STRING, len(payload) - 8) + bytes(payload[8:])


def test_arraybuffer_matches_the_bin_encoder_layout(db: Database) -> None:
    q = "select 1::integer as n__int16, 'ab' as s, 2.5 as f union all select 4, 'xyz', -1"
    response = run_sql(db, {"q": q, "format": "arraybuffer"})
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    names = strings("n__int16", "s", "f")
    ints = header(INT16, 4) + struct.pack("<hh", 1, 4)
    texts = strings("ab", "xyz")
    floats = header(8, 8) + struct.pack("<ff", 2.5, -1)
    payload = bytearray(8)
    for part in (names, ints, texts, floats):
        payload += b"\0" * (-len(payload) % 4) + part
    assert response.body == header(BUFFER, len(payload) - 8) + bytes(payload[8:])


def test_arraybuffer_bin_encoder_vectors() -> None:
    # The vectors of the server's test/unit/model/bin-encoder-test.js.
    assert _rowformats._numbers(INT16, [1, 2, 3, 4]) == bytes(
        [0, 0, 0, INT16, 0, 0, 0, 8, 1, 0, 2, 0, 3, 0, 4, 0]
    )
    arrays = _rowformats._children(
        [_rowformats._numbers(INT16, [1, 2, 3, 4]), _rowformats._numbers(INT16, [1, 4])]
    )
    assert header(BUFFER, len(arrays)) + arrays == bytes(
        [
            *(0, 0, 0, BUFFER, 0, 0, 0, 28),
            *(0, 0, 0, INT16, 0, 0, 0, 8, 1, 0, 2, 0, 3, 0, 4, 0),
            *(0, 0, 0, INT16, 0, 0, 0, 4, 1, 0, 4, 0),
        ]
    )
    assert _rowformats._strings(["test"]) == bytes(
        [0, 0, 0, STRING, 0, 0, 0, 16, 0, 0, 0, UINT16, 0, 0, 0, 8]
    ) + "test".encode("utf-16-le")


def test_arraybuffer_refuses_geometry_and_handles_empty_and_skipfields(db: Database) -> None:
    refused = run_sql(db, {"q": "select cartodb_id, the_geom from places", "format": "arraybuffer"})
    assert refused.status == 400
    assert refused.headers["Content-Disposition"] == "inline"
    assert json.loads(refused.body) == {"error": ["geometry types are not supported"]}
    skipped = run_sql(
        db,
        {"q": "select visits, the_geom from places limit 1", "format": "arraybuffer",
         "skipfields": "the_geom"},
    )  # fmt: skip
    assert skipped.status == 200
    assert skipped.body.startswith(header(BUFFER, len(skipped.body) - 8) + strings("visits"))
    empty = run_sql(db, {"q": "select 1 as n where false", "format": "arraybuffer"})
    assert (empty.status, empty.body) == (200, b"")
    overflow = run_sql(db, {"q": "select 300 as n__int8", "format": "arraybuffer"})
    assert overflow.status == 400
    assert json.loads(overflow.body)["error"][0].startswith('The value of "value" is out of range')


# -- over HTTP -----------------------------------------------------------------------------


@pytest.fixture
def server(private_tmp: Path) -> Iterator[LocalCarto]:
    with LocalCarto() as running:
        yield running


def test_files_stream_over_http_and_are_removed_once_sent(
    server: LocalCarto, private_tmp: Path
) -> None:
    master = {"api_key": server.api_key}
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        http.get("/api/v2/sql", params={**master, "q": "create table t (n int)"})
        http.get("/api/v2/sql", params={**master, "q": "insert into t select * from range(5000)"})
        with http.stream(
            "POST", "/api/v2/sql", data={**master, "q": "select n from t", "format": "gpkg"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-sqlite3; charset=utf-8"
            assert response.headers["content-disposition"].startswith(
                "attachment; filename=cartodb-query.gpkg;"
            )
            assert response.headers["access-control-allow-origin"] == "*"
            data = b"".join(response.iter_bytes())
        assert int(response.headers["content-length"]) == len(data)
        refused = http.get(
            "/api/v2/sql", params={**master, "q": "select nope from t", "format": "kml"}
        )
        assert refused.status_code == 400
        assert refused.headers["content-disposition"] == "inline"
    assert list(private_tmp.glob("localcarto-sqlapi-*")) == []
    path = private_tmp.parent / "got.gpkg"
    path.write_bytes(data)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute('SELECT count(*), sum(n) FROM "cartodb-query"').fetchone() == (
            5000,
            sum(range(5000)),
        )
    finally:
        conn.close()


@pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")
def test_carto_python_sql_client_gets_the_file_formats(server: LocalCarto, tmp_path: Path) -> None:
    auth = APIKeyAuthClient(server.base_url + "/", server.api_key)
    try:
        sql = SQLClient(auth)
        sql.send("create table fm (name text, the_geom geometry(Geometry,4326))")
        sql.send("insert into fm values ('a', ST_SetSRID(ST_MakePoint(1, 2), 4326))")
        kml = sql.send("select * from fm", format="kml")
        shp = sql.send("select * from fm", format="shp", filename="fm")
        gpkg = sql.send("select * from fm", format="gpkg", filename="fm")
        binary = sql.send("select name from fm", format="arraybuffer")
    finally:
        auth.session.close()
    assert [e.text for e in ET.fromstring(kml).iter(f"{KML_NS}coordinates")] == ["1,2"]
    with zipfile.ZipFile(io.BytesIO(shp)) as archive:
        assert "fm.shp" in archive.namelist()
    (tmp_path / "fm.gpkg").write_bytes(gpkg)
    assert [r["name"] for r in read_gdal(tmp_path / "fm.gpkg")] == ["a"]
    assert binary.startswith(header(BUFFER, len(binary) - 8) + strings("name"))


def test_writing_past_the_statement_timeout_is_the_timeout_error(
    db: Database, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(QueryError, match="statement timeout"):
        write_ogr("kml", [OgrColumn("n", 0, "int4")], [(1,)], "t", str, timeout=0.0)
    assert list(private_tmp.iterdir()) == []

    class SlowClock:
        """The query took 100 s of a 10 s budget: nothing is left for GDAL."""

        def __init__(self) -> None:
            self.now = 0.0

        def perf_counter(self) -> float:
            self.now += 50.0
            return self.now

    monkeypatch.setattr(_sqlapi, "time", SlowClock())
    response = run_sql(db, {"q": "select * from places", "format": "shp"}, timeout=1000.0)
    assert response.status == 200  # the engine's own watchdog is real time: well within
    assert response.file is not None
    response.file.cleanup()
    late = run_sql(db, {"q": "select * from places", "format": "shp"}, timeout=10.0)
    assert late.status == 429
    assert json.loads(late.body)["error"][0].startswith("You are over platform's limits")
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("fmt", ["gpkg", "spatialite"])
def test_a_column_named_like_gdals_key_is_kept_as_a_column(
    db: Database, tmp_path: Path, fmt: str
) -> None:
    q = "select 5 as fid, 6 as ogc_fid, 7 as fid_1, 'POINT(1 1)'::geometry as g"
    target = tmp_path / "t.db"
    target.write_bytes(written(run_sql(db, {"q": q, "format": fmt, "filename": "t"})))
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT fid, ogc_fid, fid_1 FROM t").fetchall() == [(5, 6, 7)]
    finally:
        conn.close()


def test_concurrent_exports_do_not_mix(server: LocalCarto, private_tmp: Path) -> None:
    q = (
        "SELECT 'val' AS v, x, y, ST_SetSRID(ST_MakePoint(x, y), 4326) AS the_geom"
        " FROM generate_series(-20, 20) AS a(x), generate_series(-10, 10) AS b(y)"
    )

    def export(name: str) -> bytes:
        with httpx.Client(base_url=server.base_url, timeout=60.0) as http:
            params = {"api_key": server.api_key, "q": q, "format": "kml", "filename": name}
            response = http.get("/api/v2/sql", params=params)
            assert response.status_code == 200, response.text
            assert f"filename={name}.kml" in response.headers["content-disposition"]
            return response.content

    names = [f"multi{i}" for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(export, names))
    for name, data in zip(names, bodies, strict=True):
        assert data.startswith(b"<?xml")
        root = ET.fromstring(data)
        assert root.findtext(f"{KML_NS}Document/{KML_NS}Folder/{KML_NS}name") == name
        assert len(root.findall(f".//{KML_NS}Placemark")) == 41 * 21
    assert list(private_tmp.glob("localcarto-sqlapi-*")) == []


@pytest.mark.parametrize(
    ("q", "message"),
    [
        # A string column with a null after a string: writeString(null).
        ("select 'a' as s union all select null", "Cannot read property 'length' of null"),
        # A date column (node-postgres gives Date objects): a buffer of NaN bytes.
        ("select date '2020-01-02' as d", "Attempt to write outside buffer bounds"),
        # INT32 is written with writeUInt32LE.
        ("select -1 as v__int32", 'The value of "value" is out of range. It must be >= 0'),
    ],
)
def test_arraybuffer_fails_where_the_encoder_throws(db: Database, q: str, message: str) -> None:
    response = run_sql(db, {"q": q, "format": "arraybuffer"})
    assert response.status == 400
    assert json.loads(response.body)["error"][0].startswith(message)


def test_arraybuffer_of_array_columns_and_booleans(db: Database) -> None:
    q = "select [1, 2, 3] as v__uint8, true as ok"
    response = run_sql(db, {"q": q, "format": "arraybuffer"})
    assert response.status == 200, response.body
    arrays = _rowformats._children([header(2, 3) + bytes([1, 2, 3])])
    flags = header(8, 4) + struct.pack("<f", 1.0)
    payload = bytearray(8)
    for part in (strings("v__uint8", "ok"), header(BUFFER, len(arrays)) + arrays, flags):
        payload += b"\0" * (-len(payload) % 4) + part
    assert response.body == header(BUFFER, len(payload) - 8) + bytes(payload[8:])
