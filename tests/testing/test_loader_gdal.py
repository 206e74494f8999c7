"""Files LocalCarto reads with GDAL: KML/KMZ, GPX, GeoPackage, zipped Shapefiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from carto_async.testing._db import Database
from carto_async.testing._staging import ImportFailure
from carto_async.testing.engine import open_engine
from tests.testing.conftest_data import load, rows, zipped

KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Placemark><name>Alpha</name><description>first</description>
<Point><coordinates>-3.7,40.4</coordinates></Point></Placemark>
<Placemark><name>Beta</name><description>second</description>
<LineString><coordinates>0,0 1,1</coordinates></LineString></Placemark>
</Document></kml>"""

EMPTY_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<NetworkLink><Link><href>http://example.com/other.kml</href></Link></NetworkLink>
</Document></kml>"""

GPX = """<?xml version="1.0"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
<wpt lat="40.4" lon="-3.7"><name>Sol</name></wpt>
<wpt lat="41.4" lon="2.17"><name>Rambla</name></wpt>
</gpx>"""


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    yield database
    database.close()


def _gdal_file(directory: Path, name: str, driver: str, crs: str = "EPSG:4326") -> Path:
    """Write two points (names a/b, n 1/2) with GDAL, as a desktop GIS would."""
    conn = open_engine(None, lock=False)
    try:
        first, second = "ST_Point(1, 2)", "ST_Point(3, 4)"
        if crs != "EPSG:4326":
            first, second = (
                f"ST_Transform({p}, 'EPSG:4326', '{crs}', always_xy := true)"
                for p in (first, second)
            )
        conn.execute(
            f"CREATE TABLE f AS SELECT 'a' AS name, 1 AS n, {first} AS geom"
            f" UNION ALL SELECT 'b', 2, {second}"
        )
        path = directory / name
        conn.execute(f"COPY f TO '{path}' WITH (FORMAT GDAL, DRIVER '{driver}', SRS '{crs}')")
    finally:
        conn.close()
    return path


def _points(db: Database, table: str) -> list[tuple[float, float]]:
    got = db.execute(f"SELECT ST_X(the_geom), ST_Y(the_geom) FROM {table} ORDER BY cartodb_id")
    return [(round(x, 6), round(y, 6)) for x, y in got.rows]


def test_kml(db: Database, tmp_path: Path) -> None:
    result = load(db, tmp_path, "places.kml", KML)
    assert result.table_names == ["places"]
    got = rows(db, "SELECT name, description, ST_AsText(the_geom) AS wkt FROM places ORDER BY 1")
    assert got == [
        {"name": "Alpha", "description": "first", "wkt": "POINT(-3.7 40.4)"},
        {"name": "Beta", "description": "second", "wkt": "LINESTRING(0 0,1 1)"},
    ]
    merc = rows(db, "SELECT ST_SRID(the_geom_webmercator) AS s FROM places LIMIT 1")
    assert merc == [{"s": 3857}]


def test_kmz_is_a_zipped_kml(db: Database, tmp_path: Path) -> None:
    result = load(db, tmp_path, "bundle.kmz", zipped({"doc.kml": KML}))
    assert result.table_names == ["doc"]
    assert db.row_count("doc") == 2


def test_kml_without_features_is_empty_kml(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFailure) as caught:
        load(db, tmp_path, "link.kml", EMPTY_KML)
    assert caught.value.code == 3202


def test_gpx_waypoints(db: Database, tmp_path: Path) -> None:
    result = load(db, tmp_path, "walk.gpx", GPX)
    assert result.table_names == ["walk"]
    assert [r["name"] for r in rows(db, "SELECT name FROM walk ORDER BY cartodb_id")] == [
        "Sol",
        "Rambla",
    ]
    assert _points(db, "walk") == [(-3.7, 40.4), (2.17, 41.4)]


def test_geopackage(db: Database, tmp_path: Path) -> None:
    path = _gdal_file(tmp_path, "stores.gpkg", "GPKG")
    result = load(db, tmp_path, "stores.gpkg", path.read_bytes())
    assert result.table_names == ["stores"]
    assert rows(db, "SELECT name, n FROM stores ORDER BY cartodb_id") == [
        {"name": "a", "n": 1},
        {"name": "b", "n": 2},
    ]
    assert _points(db, "stores") == [(1.0, 2.0), (3.0, 4.0)]
    assert "fid" not in dict(db.table_columns("stores"))


def test_zipped_shapefile_in_another_projection_is_reprojected(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "shp"
    folder.mkdir()
    _gdal_file(folder, "parcels.shp", "ESRI Shapefile", crs="EPSG:3857")
    members = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert {".shp", ".dbf", ".shx", ".prj"} <= {Path(n).suffix for n in members}
    result = load(db, tmp_path, "parcels.zip", zipped(members))
    assert result.table_names == ["parcels"]
    assert _points(db, "parcels") == [(1.0, 2.0), (3.0, 4.0)]
    assert rows(db, "SELECT name FROM parcels ORDER BY cartodb_id") == [
        {"name": "a"},
        {"name": "b"},
    ]


def test_shapefile_without_prj_fails_3101(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "shp"
    folder.mkdir()
    _gdal_file(folder, "parcels.shp", "ESRI Shapefile")
    members = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".prj"}
    with pytest.raises(ImportFailure) as caught:
        load(db, tmp_path, "parcels.zip", zipped(members))
    assert caught.value.code == 3101


def test_a_zip_of_several_formats_makes_one_table_each(db: Database, tmp_path: Path) -> None:
    gpkg = _gdal_file(tmp_path, "g.gpkg", "GPKG").read_bytes()
    archive = zipped({"a.kml": KML, "b.gpx": GPX, "c.gpkg": gpkg, "d.csv": "x,y\n1,2\n"})
    result = load(db, tmp_path, "mixed.zip", archive)
    assert sorted(result.table_names) == ["a", "b", "c", "d"]
    assert result.rows == 2 + 2 + 2 + 1


def test_a_broken_geopackage_is_unrecognized(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFailure) as caught:
        load(db, tmp_path, "bad.gpkg", b"SQLite format 3\x00" + b"\x00" * 200)
    assert caught.value.code == 1002


def test_the_engine_reads_no_files_but_the_importer_does(db: Database, tmp_path: Path) -> None:
    path = _gdal_file(tmp_path, "seen.gpkg", "GPKG")
    from carto_async.testing.engine import QueryError  # noqa: PLC0415

    with pytest.raises(QueryError):
        db.execute_native(f"SELECT * FROM ST_Read('{path}')")
    with pytest.raises(QueryError):
        db.execute_native(f"SELECT * FROM read_csv('{path}')")
    assert load(db, tmp_path, "seen.gpkg", path.read_bytes()).rows == 2
