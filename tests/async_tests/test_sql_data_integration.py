"""Formats and streaming iterators against LocalCarto over real loopback sockets."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from carto_async import AsyncCarto, BadRequestError

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


async def test_a_format_localcarto_does_not_write_is_a_clear_400(
    local: AsyncCarto, tmp_path: Path
) -> None:
    with pytest.raises(BadRequestError, match="LocalCarto does not support"):
        await local.sql.download("select 1", tmp_path / "out.gpkg")
    assert list(tmp_path.iterdir()) == []
