"""COPY both ways and DataFrames against LocalCarto over real loopback sockets."""

from __future__ import annotations

import gzip
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import geopandas
import httpx
import pandas as pd
import pytest
import shapely

from carto_async import (
    AsyncCarto,
    CopyFailedError,
    CopyGzipError,
    NoRowsCopiedError,
    ValidationError,
)
from carto_async.testing import LocalCarto

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

ROWS = [
    (f'shop {i}, "{i}"' if i % 3 else "", i, i % 2 == 0, f"SRID=4326;POINT({i} 1)")
    for i in range(50)
]


async def make_table(carto: AsyncCarto, name: str = "stores") -> None:
    await carto.sql.query(
        f"create table {name} (name text, n integer, ok boolean, the_geom geometry(Geometry,4326))"
    )
    await carto.sql.query(f"select CDB_CartodbfyTable('{name}')")


def ewkb(x: float, y: float) -> str:
    return str(
        shapely.to_wkb(shapely.set_srid(shapely.Point(x, y), 4326), hex=True, include_srid=True)
    )


def rows_iter() -> Iterator[tuple[Any, ...]]:
    yield from ROWS


# async-only:start
async def rows_aiter() -> AsyncIterator[tuple[Any, ...]]:
    for row in ROWS:
        yield row


# async-only:end
SOURCES = [
    "rows",
    "row iterator",
    # async-only:start
    "async rows",
    # async-only:end
]


@pytest.mark.parametrize("kind", SOURCES)
async def test_rows_copied_in_come_back_out(local: AsyncCarto, kind: str) -> None:
    await make_table(local)
    source: Any = {
        "rows": lambda: list(ROWS),
        "row iterator": rows_iter,
        # async-only:start
        "async rows": rows_aiter,
        # async-only:end
    }[kind]()
    result = await local.sql.copy_from("stores", source, columns=["name", "n", "ok", "the_geom"])
    assert result.total_rows == len(ROWS)
    out = io.BytesIO()
    await local.sql.copy_to("select name, n, ok, the_geom from stores order by n", out, header=True)
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == "name,n,ok,the_geom"
    assert lines[1] == f'"",0,t,{ewkb(0, 1)}'
    assert lines[2] == f'"shop 1, ""1""",1,f,{ewkb(1, 1)}'
    assert len(lines) == len(ROWS) + 1


async def test_a_csv_file_with_a_header_gzipped_from_a_path(
    local: AsyncCarto, tmp_path: Path
) -> None:
    await make_table(local)
    path = tmp_path / "stores.csv"
    path.write_text('n,name\n1,a\n2,\n3,""\n')
    seen: list[int] = []
    result = await local.sql.copy_from(
        "stores", path, columns=["n", "name"], header=True, progress=lambda d, t: seen.append(d)
    )
    assert result.total_rows == 3
    rows = (await local.sql.query("select n, name from stores order by n")).rows
    assert rows == [{"n": 1, "name": "a"}, {"n": 2, "name": None}, {"n": 3, "name": ""}]
    assert seen[-1] == path.stat().st_size


async def test_text_format_writes_geometries_as_ewkt(local: AsyncCarto, tmp_path: Path) -> None:
    await make_table(local)
    await local.sql.copy_from(
        "COPY stores (name, n, the_geom) FROM STDIN",
        b"tab\\there\t7\tSRID=4326;POINT(2 3)\n\\N\t8\t\\N\n",
        gzip=False,
    )
    target = tmp_path / "out.txt"
    await local.sql.copy_to(
        "COPY (select name, n, the_geom from stores order by n) TO STDOUT", target
    )
    assert target.read_text() == "tab\\there\t7\tSRID=4326;POINT(2 3)\n\\N\t8\t\\N\n"


async def test_iter_copy_to_streams_the_rows(local: AsyncCarto) -> None:
    await make_table(local)
    await local.sql.copy_from("stores", ROWS, columns=["name", "n", "ok", "the_geom"])
    data = b""
    async for chunk in local.sql.iter_copy_to("select n from stores order by n"):
        data += chunk
    assert data.decode().split() == [str(i) for i in range(50)]


async def test_copy_errors_are_the_servers(local: AsyncCarto) -> None:
    await make_table(local)
    with pytest.raises(NoRowsCopiedError):
        await local.sql.copy_from("stores", b"", columns=["name"])
    with pytest.raises(CopyFailedError, match=r'invalid input syntax for (type )?integer: "x"'):
        await local.sql.copy_from("stores", b"x\n", columns=["n"])
    with pytest.raises(CopyFailedError, match="missing data"):
        await local.sql.copy_from("stores", b"1\n", columns=["n", "name"])
    with pytest.raises(CopyFailedError, match='relation "nowhere" does not exist'):
        await local.sql.copy_from("nowhere", b"1\n")
    with pytest.raises(CopyFailedError, match='relation "nowhere" does not exist'):
        await local.sql.copy_to("select * from nowhere", io.BytesIO())
    assert (await local.sql.query("select count(*) as c from stores")).rows == [{"c": 0}]


async def test_a_bad_gzip_body_and_a_statement_that_is_not_copy(
    local_server: LocalCarto,
) -> None:
    url = local_server.base_url + "/api/v2/sql/copyfrom"
    auth = {"api_key": local_server.api_key}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url,
            params={**auth, "q": "COPY stores FROM STDIN"},
            content=b"not gzip",
            headers={"Content-Encoding": "gzip"},
        )
        assert response.status_code == 400
        assert response.json()["error"][0].startswith("Error while gunzipping")
        response = await http.post(url, params={**auth, "q": "select 1"}, content=b"x")
        assert response.json() == {"error": ["SQL must start with COPY"]}
        response = await http.post(url, params=auth, content=b"x")
        assert response.json() == {"error": ["SQL is missing"]}
    raw = gzip.compress(b"1\n")
    assert gzip.decompress(raw) == b"1\n"


async def test_a_gzip_error_is_typed(local: AsyncCarto, tmp_path: Path) -> None:
    await make_table(local)
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(CopyGzipError):
        await local.sql.copy_from("stores", path, columns=["n"])


def sample() -> geopandas.GeoDataFrame:
    return geopandas.GeoDataFrame(
        {
            "name": ["a", "b,c", None, ""],
            "pop": [1, 2, 3, 4],
            "ok": [True, False, True, None],
            "area": [1.5, float("nan"), 2.0, 3.25],
        },
        geometry=[shapely.Point(1, 2), shapely.Point(-3.5, 40.25), None, shapely.Point(0, 0)],
        crs="EPSG:4326",
    )


async def test_a_dataframe_written_then_read_back(local: AsyncCarto) -> None:
    assert await local.dataframes.write(sample(), "stores") == 4
    df = await local.dataframes.read("select * from stores order by cartodb_id")
    assert isinstance(df, geopandas.GeoDataFrame)
    assert df["cartodb_id"].tolist() == [1, 2, 3, 4]
    assert df["name"].tolist()[:2] == ["a", "b,c"]
    assert pd.isna(df["name"][2])
    assert df["name"][3] == ""
    assert df["pop"].tolist() == [1, 2, 3, 4]
    assert df["ok"].tolist()[:3] == [True, False, True]
    assert pd.isna(df["ok"][3])
    assert df.geometry[1].equals(shapely.Point(-3.5, 40.25))
    assert df.geometry[2] is None
    assert df.crs.to_epsg() == 4326


async def test_replace_keeps_the_table_and_append_adds(local: AsyncCarto) -> None:
    await local.dataframes.write(sample(), "stores")
    with pytest.raises(ValidationError, match="exists"):
        await local.dataframes.write(sample(), "stores")
    assert await local.dataframes.write(sample().iloc[:2], "stores", if_exists="replace") == 2
    assert await local.dataframes.write(sample().iloc[:1], "stores", if_exists="append") == 1
    counts = (await local.sql.query("select count(*) as c from stores")).rows
    assert counts == [{"c": 3}]
    tables = (await local.sql.query("select * from CDB_UserTables()")).rows
    assert tables == [{"cdb_usertables": "stores"}]  # no staging table left behind


async def test_read_chunks_of_a_written_iterator(local: AsyncCarto) -> None:
    def frames() -> Iterator[pd.DataFrame]:
        for start in range(0, 1000, 250):
            yield pd.DataFrame({"n": range(start, start + 250)})

    assert await local.dataframes.write(frames(), "numbers") == 1000
    sizes = []
    total = 0
    async for df in local.dataframes.read_chunks("select n from numbers", rows=300):
        sizes.append(len(df))
        total += int(df["n"].sum())
    assert sizes == [300, 300, 300, 100]
    assert total == sum(range(1000))
