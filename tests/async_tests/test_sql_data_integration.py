"""Formats and streaming iterators against LocalCarto over real loopback sockets."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import struct
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest

from carto_async import AsyncCarto, BadRequestError
from carto_async.testing.engine import open_engine

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

ROWS = 300


async def make_stores(carto: AsyncCarto) -> None:
    await carto.sql.query(
        "create table stores (name text, n integer, the_geom geometry(Geometry,4326))"
    )
    values = ", ".join(
        f"('shop {i}, \"{i}\"', {i}, ST_SetSRID(ST_MakePoint({i % 180}, {i % 90}), 4326))"
        for i in range(ROWS)
    )
    await carto.sql.query(f"insert into stores (name, n, the_geom) values {values}")


async def test_download_csv_geojson_and_json_into_files(local: AsyncCarto, tmp_path: Path) -> None:
    await make_stores(local)
    done = await local.sql.download(
        "select name, n from stores order by n", tmp_path / "stores.csv", filename="stores"
    )
    lines = (tmp_path / "stores.csv").read_text().splitlines()
    assert lines[0] == "name,n"
    assert lines[1] == '"shop 0, ""0""",0'
    assert len(lines) == ROWS + 1
    assert "attachment; filename=stores.csv" in done.headers["content-disposition"]
    await local.sql.download("select * from stores", tmp_path / "stores.geojson", dp=2)
    collection = json.loads((tmp_path / "stores.geojson").read_text())
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == ROWS
    out = io.BytesIO()
    await local.sql.download("select n from stores where n < 3 order by n", out, format="json")
    assert [r["n"] for r in json.loads(out.getvalue())["rows"]] == [0, 1, 2]


async def test_a_refused_download_raises_and_leaves_no_file(
    local: AsyncCarto, tmp_path: Path
) -> None:
    with pytest.raises(BadRequestError, match="does not exist"):
        await local.sql.download("select * from nowhere", tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


async def test_iter_geojson_and_iter_csv_read_as_the_body_arrives(local: AsyncCarto) -> None:
    await make_stores(local)
    features = []
    async for feature in local.sql.iter_geojson("select * from stores order by n"):
        features.append(feature)
    assert len(features) == ROWS
    assert features[5]["geometry"] == {"type": "Point", "coordinates": [5, 5]}
    assert features[5]["properties"]["name"] == 'shop 5, "5"'
    assert "the_geom_webmercator" not in features[5]["properties"]
    rows = []
    async for row in local.sql.iter_csv("select name, n from stores order by n", skipfields="n"):
        rows.append(row)
    assert rows[7] == {"name": 'shop 7, "7"'}
    assert len(rows) == ROWS


async def test_svg_and_topojson_are_written_from_the_rows(local: AsyncCarto) -> None:
    await local.sql.query("create table shapes (name text, the_geom geometry(Geometry,4326))")
    await local.sql.query(
        "insert into shapes values ('p', ST_SetSRID(ST_MakePoint(1, 2), 4326)), "
        "('l', ST_GeomFromText('LINESTRING(0 0, 4 3)', 4326)), "
        "('poly', ST_GeomFromText('POLYGON((0 0, 4 0, 4 3, 0 0))', 4326)), ('none', null)"
    )
    out = io.BytesIO()
    done = await local.sql.download("select * from shapes", out, format="svg")
    assert done.headers["content-type"] == "image/svg+xml; charset=utf-8"
    assert "filename=cartodb-query.svg" in done.headers["content-disposition"]
    svg = out.getvalue().decode()
    assert svg.splitlines()[2].startswith('<svg viewBox="-6 -6 1036 780" ')
    lines = svg.splitlines()[3:]
    assert lines[:2] == ['<circle r="5" cx="256" cy="256" />', '<path d="M 0 768 L 1024 0" />']
    assert lines[3:] == ["</svg>"]
    # The ring may start at another vertex (the engine normalises rings): same vertices, closed.
    ring = lines[2].removeprefix('<path d="M ').removesuffix(' Z" />').replace(" L", "")
    pairs = ring.split()
    assert sorted(zip(pairs[::2], pairs[1::2], strict=True)) == [
        ("0", "768"),
        ("1024", "0"),
        ("1024", "768"),
    ]
    out = io.BytesIO()
    await local.sql.download("select * from shapes", out, format="topojson")
    topology = json.loads(out.getvalue())
    assert topology["type"] == "Topology"
    assert list(topology["objects"]) == ["0", "1", "2"]
    assert topology["objects"]["0"] == {
        "type": "Point",
        "coordinates": [2500, 6666],
        "properties": {"name": "p"},
    }
    assert topology["objects"]["2"]["arcs"] == [[1]]
    arc = topology["arcs"][1]  # delta-encoded; the ring may start at another vertex
    absolute = [arc[0]]
    for dx, dy in arc[1:]:
        absolute.append([absolute[-1][0] + dx, absolute[-1][1] + dy])
    assert absolute[0] == absolute[-1]
    assert sorted(map(tuple, absolute[:-1])) == [(0, 0), (9999, 0), (9999, 9999)]


async def test_download_kml_shp_spatialite_and_gpkg_written_by_gdal(
    local: AsyncCarto, tmp_path: Path
) -> None:
    await make_stores(local)
    q = "select * from stores where n < 10"
    # The destination's extension names the format (.kml, .zip, .sqlite, .gpkg).
    done = await local.sql.download(q, tmp_path / "stores.kml", filename="stores")
    assert done.headers["content-type"] == "application/kml; charset=utf-8"
    assert "attachment; filename=stores.kml" in done.headers["content-disposition"]
    root = ET.fromstring((tmp_path / "stores.kml").read_bytes())
    ns = "{http://www.opengis.net/kml/2.2}"
    marks = root.findall(f".//{ns}Placemark")
    assert len(marks) == 10
    assert {m.findtext(f".//{ns}coordinates") for m in marks} == {f"{i},{i}" for i in range(10)}

    done = await local.sql.download(q, tmp_path / "stores.zip", filename="stores")
    assert done.headers["content-type"] == "application/zip; charset=utf-8"
    with zipfile.ZipFile(tmp_path / "stores.zip") as archive:
        assert sorted(archive.namelist()) == [
            f"stores.{ext}" for ext in ("cpg", "dbf", "prj", "shp", "shx")
        ]
        archive.extractall(tmp_path / "shp")
    rows = read_gdal(tmp_path / "shp" / "stores.shp")
    assert sorted(r["n"] for r in rows) == list(range(10))
    assert {r["wkt"] for r in rows} == {f"POINT ({i} {i})" for i in range(10)}

    done = await local.sql.download(
        q, tmp_path / "stores.sqlite", filename="stores", skipfields="name"
    )
    assert done.headers["content-type"] == "application/x-sqlite3; charset=utf-8"
    with contextlib.closing(sqlite3.connect(tmp_path / "stores.sqlite")) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(stores)")]
        assert "name" not in columns
        assert "n" in columns
        assert conn.execute("SELECT count(*), sum(n) FROM stores").fetchone() == (10, 45)

    out = io.BytesIO()  # a binary file object: the format is given
    done = await local.sql.download(q, out, format="gpkg", filename="stores")
    assert "filename=stores.gpkg" in done.headers["content-disposition"]
    (tmp_path / "stores.gpkg").write_bytes(out.getvalue())
    with contextlib.closing(sqlite3.connect(tmp_path / "stores.gpkg")) as conn:
        assert conn.execute("SELECT table_name FROM gpkg_contents").fetchall() == [("stores",)]
        assert conn.execute("SELECT count(*) FROM stores").fetchone() == (10,)
    assert sorted(r["n"] for r in read_gdal(tmp_path / "stores.gpkg")) == list(range(10))


async def test_download_arraybuffer_and_its_geometry_refusal(
    local: AsyncCarto, tmp_path: Path
) -> None:
    await make_stores(local)
    target = tmp_path / "n.bin"
    done = await local.sql.download(
        "select n from stores where n < 3 order by n", target, format="arraybuffer"
    )
    assert done.headers["content-type"] == "application/octet-stream"
    data = target.read_bytes()
    kind, size = struct.unpack(">II", data[:8])
    assert (kind, size) == (11, len(data) - 8)  # BUFFER of [names, column n]
    assert data.endswith(struct.pack(">II", 8, 12) + struct.pack("<fff", 0, 1, 2))
    with pytest.raises(BadRequestError, match="geometry types are not supported"):
        await local.sql.download("select * from stores", tmp_path / "x.bin", format="arraybuffer")
    assert not (tmp_path / "x.bin").exists()


async def test_a_refused_gdal_download_raises_and_leaves_no_file(
    local: AsyncCarto, tmp_path: Path
) -> None:
    q = "SELECT 'POINT(0 0)'::geometry as g UNION ALL SELECT 'LINESTRING(0 0, 1 0)'::geometry"
    with pytest.raises(BadRequestError, match="non-point"):
        await local.sql.download(q, tmp_path / "out.zip")
    with pytest.raises(BadRequestError, match="does not exist"):
        await local.sql.download("select * from nowhere", tmp_path / "out.gpkg")
    assert list(tmp_path.iterdir()) == []


def read_gdal(path: Path) -> list[dict[str, Any]]:
    """Rows of a GDAL-readable file (DuckDB spatial's ``ST_Read``), geometry as WKT."""
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
