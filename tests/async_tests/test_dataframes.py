"""``carto.dataframes`` over a mocked wire: the statements a write sends, the COPY body, and
reading COPY TO output back into DataFrames."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import geopandas
import httpx
import pandas as pd
import pytest
import respx
import shapely

from carto_async import AsyncCarto, Identifier, ValidationError
from tests.helpers import BASE_URL, SQL_URL

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

COPYFROM_URL = f"{BASE_URL}/api/v2/sql/copyfrom"
COPYTO_URL = f"{BASE_URL}/api/v2/sql/copyto"

EXISTING_FIELDS = {
    "cartodb_id": {"type": "number", "pgtype": "int4"},
    "the_geom": {"type": "geometry", "wkbtype": "Unknown", "dims": 2, "srid": 4326},
    "the_geom_webmercator": {"type": "geometry", "wkbtype": "Unknown", "dims": 2, "srid": 3857},
    "name": {"type": "string", "pgtype": "text"},
    "pop": {"type": "number", "pgtype": "int8"},
}


def frame() -> geopandas.GeoDataFrame:
    return geopandas.GeoDataFrame(
        {"name": ["a", "b,c", None], "pop": [1, 2, 3]},
        geometry=[shapely.Point(1, 2), shapely.Point(-3.5, 40.25), None],
        crs="EPSG:4326",
    )


class FakeSQL:
    """The SQL API and COPY FROM as a recorder: statements seen, COPY bodies received."""

    def __init__(self, existing: dict[str, Any] | None) -> None:
        self.existing = existing
        self.statements: list[str] = []
        self.copies: list[tuple[str, bytes]] = []

    def sql(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params.get("q") or dict(httpx.QueryParams(request.content.decode())).get(
            "q", ""
        )
        self.statements.append(q)
        if q.endswith("limit 0") and q.startswith('select * from "'):
            if self.existing is None:
                return httpx.Response(400, json={"error": ['relation "stores" does not exist']})
            fields = self.existing
        else:
            fields = {}
        return httpx.Response(200, json={"rows": [], "time": 0, "fields": fields, "total_rows": 0})

    def copy(self, request: httpx.Request) -> httpx.Response:
        data = gzip.decompress(request.content)
        self.copies.append((request.url.params["q"], data))
        rows = data.count(b"\n")
        if rows == 0:
            return httpx.Response(400, json={"error": ["No rows copied"]})
        return httpx.Response(200, json={"time": 0.01, "total_rows": rows})


def mock(respx_mock: respx.MockRouter, existing: dict[str, Any] | None) -> FakeSQL:
    fake = FakeSQL(existing)
    respx_mock.get(SQL_URL).mock(side_effect=fake.sql)
    respx_mock.post(SQL_URL).mock(side_effect=fake.sql)
    respx_mock.post(COPYFROM_URL).mock(side_effect=fake.copy)
    return fake


async def test_write_creates_copies_and_cartodbfies_a_new_table(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=None)
    rows = await carto.dataframes.write(frame(), "stores", chunk_rows=2)
    assert rows == 3
    assert fake.statements[1] == (
        'CREATE TABLE "stores" ("name" text, "pop" bigint, "the_geom" geometry(Geometry,4326))'
    )
    statement, data = fake.copies[0]
    assert statement == 'COPY "stores" ("name", "pop", "the_geom") FROM STDIN WITH (FORMAT csv)'
    lines = data.decode().splitlines()
    hex_ewkb = shapely.to_wkb(
        shapely.set_srid(shapely.Point(1, 2), 4326), hex=True, include_srid=True
    )
    assert lines[0] == f'"a",1,"{hex_ewkb}"'
    assert lines[1].startswith('"b,c",2,"0101000020E6100000')
    assert lines[2] == ",3,"
    assert fake.statements[-1] == (
        "SELECT CDB_CartodbfyTable(current_schema()::text, '\"stores\"')"
    )


async def test_write_reprojects_a_geodataframe_to_4326(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=None)
    gdf = frame().iloc[:1].to_crs(3857)
    await carto.dataframes.write(gdf, Identifier("public", "stores"))
    hex_ewkb = fake.copies[0][1].decode().strip().split(",")[-1].strip('"')
    point = shapely.from_wkb(hex_ewkb)
    assert shapely.get_srid(point) == 4326
    assert (point.x, point.y) == pytest.approx((1, 2))
    assert fake.statements[-1] == "SELECT CDB_CartodbfyTable('public', '\"stores\"')"


async def test_write_fails_on_an_existing_table_unless_told(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=EXISTING_FIELDS)
    with pytest.raises(ValidationError, match="exists"):
        await carto.dataframes.write(frame(), "stores")
    assert fake.copies == []


async def test_replace_with_the_same_columns_reloads_in_one_transaction(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=EXISTING_FIELDS)
    rows = await carto.dataframes.write(frame(), "stores", if_exists="replace")
    assert rows == 3
    assert not any(s.startswith('DROP TABLE "stores"') for s in fake.statements)
    staging_create = fake.statements[1]
    assert staging_create.startswith('CREATE TABLE "stores_staging_')
    staging = staging_create.split()[2]
    assert fake.copies[0][0].startswith(f"COPY {staging} ")
    assert fake.statements[2] == (
        'BEGIN; TRUNCATE "stores"; INSERT INTO "stores" ("name", "pop", "the_geom") '
        f'SELECT "name", "pop", "the_geom" FROM {staging}; DROP TABLE {staging}; COMMIT;'
    )


async def test_replace_with_other_columns_drops_and_creates(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=EXISTING_FIELDS)
    df = pd.DataFrame({"name": ["x"], "area": [1.5]})
    await carto.dataframes.write(df, "stores", if_exists="replace")
    assert fake.statements[1:3] == [
        'DROP TABLE "stores"',
        'CREATE TABLE "stores" ("name" text, "area" double precision)',
    ]
    assert fake.copies[0][1] == b'"x",1.5\n'
    assert "CDB_CartodbfyTable" in fake.statements[-1]


async def test_append_copies_into_the_table_as_it_is(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=EXISTING_FIELDS)
    await carto.dataframes.write(frame(), "stores", if_exists="append")
    assert len(fake.statements) == 1
    assert fake.copies[0][0].startswith('COPY "stores" ')
    with pytest.raises(ValidationError, match="no columns"):
        await carto.dataframes.write(pd.DataFrame({"other": [1]}), "stores", if_exists="append")


async def test_write_from_an_iterator_of_frames(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=None)

    def frames() -> Iterator[pd.DataFrame]:
        for start in range(0, 30, 10):
            yield pd.DataFrame({"n": range(start, start + 10)})

    rows = await carto.dataframes.write(frames(), "numbers")
    assert rows == 30
    assert fake.copies[0][1] == b"".join(b"%d\n" % i for i in range(30))


async def test_write_checks_its_input_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    fake = mock(respx_mock, existing=None)
    with pytest.raises(ValidationError, match="if_exists"):
        await carto.dataframes.write(frame(), "t", if_exists="truncate")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="chunk_rows"):
        await carto.dataframes.write(frame(), "t", chunk_rows=0)
    with pytest.raises(ValidationError, match="Identifier"):
        await carto.dataframes.write(frame(), "public.t")
    with pytest.raises(ValidationError, match="empty"):
        await carto.dataframes.write(iter([]), "t")
    with pytest.raises(ValidationError, match="DataFrame"):
        await carto.dataframes.write([{"a": 1}], "t")  # type: ignore[list-item]
    assert fake.statements == []


def copy_to_body() -> bytes:
    points = [shapely.Point(1, 2), None, shapely.Point(-3.5, 40.25)]
    hexes = [
        "" if p is None else shapely.to_wkb(shapely.set_srid(p, 4326), hex=True, include_srid=True)
        for p in points
    ]
    rows = [
        f'1,"a",t,{hexes[0]},2024-01-02 03:04:05+00\n',
        f',"",,{hexes[1]},\n',
        f'3,"x\ny",f,{hexes[2]},2024-05-06 07:08:09+00\n',
    ]
    return ("cartodb_id,name,open,the_geom,seen\n" + "".join(rows)).encode()


def mock_read(respx_mock: respx.MockRouter) -> respx.Route:
    fields = {
        "cartodb_id": {"type": "number", "pgtype": "int4"},
        "name": {"type": "string", "pgtype": "text"},
        "open": {"type": "boolean", "pgtype": "bool"},
        "the_geom": {"type": "geometry", "wkbtype": "Point", "dims": 2, "srid": 4326},
        "seen": {"type": "date", "pgtype": "timestamptz"},
    }
    respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200, json={"rows": [], "time": 0, "fields": fields, "total_rows": 0}
        )
    )
    return respx_mock.get(COPYTO_URL).mock(
        side_effect=lambda request: httpx.Response(200, content=copy_to_body())
    )


async def test_read_returns_a_geodataframe_with_the_right_dtypes(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = mock_read(respx_mock)
    df = await carto.dataframes.read("select * from stores")
    assert isinstance(df, geopandas.GeoDataFrame)
    assert list(df.columns) == ["cartodb_id", "name", "open", "the_geom", "seen"]
    assert str(df["cartodb_id"].dtype) == "Int32"
    assert df["cartodb_id"].isna().tolist() == [False, True, False]
    assert str(df["open"].dtype) == "boolean"
    assert df["name"].tolist()[:2] == ["a", ""]
    assert df["name"].tolist()[2] == "x\ny"
    assert df.crs.to_epsg() == 4326
    assert df.geometry.iloc[0].equals(shapely.Point(1, 2))
    assert df.geometry.iloc[1] is None
    assert str(df["seen"].dtype).startswith("datetime64")
    assert route.calls.last.request.url.params["q"] == (
        "COPY (\nselect * from stores\n) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )


async def test_read_chunks_yields_frames_of_the_asked_size(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    mock_read(respx_mock)
    sizes = []
    async for df in carto.dataframes.read_chunks("select * from stores", rows=2):
        sizes.append(len(df))
        assert isinstance(df, geopandas.GeoDataFrame)
    assert sizes == [2, 1]
