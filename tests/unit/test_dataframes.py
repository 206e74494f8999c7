"""DataFrames through COPY without I/O: types, CREATE TABLE, CSV encoding, chunked decoding."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from carto_async import APIError, Identifier, SQLField, ValidationError

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
gpd = pytest.importorskip("geopandas")
shapely = pytest.importorskip("shapely")
pa = pytest.importorskip("pyarrow")

from carto_async import dataframes as cdf  # noqa: E402 - after the extra's imports are checked
from carto_async.dataframes._ewkb import (  # noqa: E402
    points_from_hex_ewkb,
    points_to_hex_ewkb,
)


def frame() -> Any:
    return pd.DataFrame(
        {
            "name": ["a", "", None, 'q"x,y\nz'],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "i32": np.array([1, 2, 3, 4], dtype="int32"),
            "f": [1.5, np.nan, np.inf, -0.0],
            "b": pd.array([True, False, None, True], dtype="boolean"),
            "t": pd.to_datetime(
                ["2024-01-02 03:04:05.123456", None, "2024-01-01 00:00:00", "2024-01-01"],
                format="ISO8601",
            ),
            "tz": pd.to_datetime(
                ["2024-01-02 03:04:05", None, "2024-01-01", "2024-01-01"], format="ISO8601"
            ).tz_localize("UTC"),
        }
    )


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("values", "dtype", "pg"),
    [
        ([True, False], "bool", "boolean"),
        ([True, None], "boolean", "boolean"),
        ([1, 2], "int8", "smallint"),
        ([1, 2], "int16", "smallint"),
        ([1, 2], "int32", "integer"),
        ([1, 2], "int64", "bigint"),
        ([1, None], "Int32", "integer"),
        ([1, 2], "uint32", "bigint"),
        ([1, 2], "uint64", "numeric"),
        ([1.0, 2.0], "float32", "real"),
        ([1.0, None], "float64", "double precision"),
        (["a", None], "string", "text"),
        (["a", "b"], "category", "text"),
        ([1, 2], "category", "bigint"),
        (["a", None], "object", "text"),
        ([None, None], "object", "text"),
        ([{"a": 1}, None], "object", "jsonb"),
        ([[1, 2]], "object", "jsonb"),
        ([b"x"], "object", "bytea"),
        ([decimal.Decimal("1.5")], "object", "numeric"),
        ([dt.date(2024, 1, 1)], "object", "date"),
        ([dt.time(1, 2)], "object", "time"),
        ([dt.datetime(2024, 1, 1)], "object", "timestamp"),
        ([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], "object", "timestamptz"),
        ([None, shapely.Point(1, 2)], "object", cdf.GEOMETRY_TYPE),
    ],
)
def test_column_types_come_from_dtypes(values: list[Any], dtype: str, pg: str) -> None:
    assert cdf.pg_type(pd.Series(values, dtype=dtype)) == pg


def test_datetime_and_timedelta_types() -> None:
    assert cdf.pg_type(pd.Series(pd.to_datetime(["2024-01-01"]))) == "timestamp"
    assert (
        cdf.pg_type(pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("Europe/Oslo")))
        == "timestamptz"
    )
    assert cdf.pg_type(pd.Series(pd.to_timedelta(["1s"]))) == "interval"


def test_the_active_geometry_is_written_as_the_geom() -> None:
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    columns = cdf.table_columns(gdf)
    assert [(c.name, c.pg_type, c.geometry, c.source) for c in columns] == [
        ("a", "bigint", False, "a"),
        ("the_geom", "geometry(Geometry,4326)", True, "geometry"),
    ]
    assert [c.name for c in cdf.table_columns(gdf, geometry_name=None)] == ["a", "geometry"]


def test_create_table_and_copy_statements_quote_every_name() -> None:
    df = pd.DataFrame({"Name": ["x"], 'odd "col"': [1.5]})
    columns = cdf.table_columns(df)
    assert cdf.create_table_statement("my table", columns) == (
        'CREATE TABLE "my table" ("Name" text, "odd ""col""" double precision)'
    )
    assert cdf.create_table_statement(Identifier("s", "t"), columns, if_not_exists=True).startswith(
        'CREATE TABLE IF NOT EXISTS "s"."t" ('
    )
    assert cdf.copy_from_dataframe_statement("t", columns) == (
        'COPY "t" ("Name", "odd ""col""") FROM STDIN WITH (FORMAT csv)'
    )
    assert cdf.copy_to_dataframe_statement("select 1") == (
        "COPY (\nselect 1\n) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    with pytest.raises(ValidationError, match="Identifier"):
        cdf.create_table_statement("s.t", columns)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: pd.DataFrame({0: [1]}), "column names must be strings"),
        (lambda: pd.DataFrame({"": [1]}), "empty"),
        (lambda: pd.DataFrame({"x" * 64: [1]}), "63 bytes"),
        (pd.DataFrame, "no columns"),
        (
            lambda: pd.DataFrame(
                [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])
            ),
            "MultiIndex",
        ),
        (
            lambda: gpd.GeoDataFrame({"the_geom": [1]}, geometry=[shapely.Point(0, 0)]),
            "appears twice",
        ),
        (lambda: [1, 2], "expected a pandas DataFrame"),
    ],
)
def test_frames_that_cannot_be_tables_are_refused(make: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        cdf.table_columns(make())


# --------------------------------------------------------------------------- encoding


def test_rows_are_encoded_in_postgresql_csv() -> None:
    df = frame()
    data = cdf.encode_csv(df, cdf.table_columns(df)).decode()
    assert data == (
        '"a",1,1,1.5,true,2024-01-02 03:04:05.123456,2024-01-02 03:04:05.000000Z\n'
        '"",,2,,false,,\n'  # "" is an empty string, an empty field NULL; NaN is NULL
        ",3,3,inf,,2024-01-01 00:00:00.000000,2024-01-01 00:00:00.000000Z\n"
        '"q""x,y\nz",4,4,-0,true,2024-01-01 00:00:00.000000,2024-01-01 00:00:00.000000Z\n'
    )


def test_object_columns_are_encoded() -> None:
    df = pd.DataFrame(
        {
            "j": [{"a": 1}, None, [1, "é"]],
            "by": [b"\x00\x01", None, b""],
            "cat": pd.Categorical(["x", None, "y"]),
            "td": pd.to_timedelta(["1 days 00:00:01", None, "1us"]),
            "d": [dt.date(2024, 1, 2), None, dt.date(2024, 1, 3)],
        }
    )
    lines = cdf.encode_csv(df, cdf.table_columns(df)).decode().splitlines()
    assert lines == [
        '"{""a"": 1}","\\x0001","x","86401000000 microseconds",2024-01-02',
        ",,,,",
        '"[1, ""é""]","\\x","y","1 microseconds",2024-01-03',
    ]


def test_the_callers_frame_is_not_changed() -> None:
    gdf = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[shapely.Point(1, 2), None], crs=3857)
    before = gdf.copy()
    cdf.encode_csv(gdf, cdf.table_columns(gdf))
    pd.testing.assert_frame_equal(gdf, before)


def test_geometries_are_hex_ewkb_in_4326_after_reprojection() -> None:
    gdf = gpd.GeoDataFrame(
        {"a": [1, 2, 3]},
        geometry=[shapely.Point(1113194.9079327357, 0), None, shapely.Point(0, 0)],
        crs="EPSG:3857",
    )
    data = cdf.encode_csv(gdf, cdf.table_columns(gdf)).decode().splitlines()
    hexes = [line.split(",")[1].strip('"') for line in data]
    assert hexes[1] == ""
    point = shapely.from_wkb(hexes[0])
    assert shapely.get_srid(point) == 4326
    assert point.x == pytest.approx(10.0)
    assert point.y == pytest.approx(0.0)
    assert hexes[0].startswith("0101000020E6100000")  # EWKB point with an SRID, 4326


def test_plain_shapely_columns_are_taken_as_4326() -> None:
    df = pd.DataFrame({"g": [shapely.Point(1, 2), None]})
    columns = cdf.table_columns(df)
    assert columns[0].geometry
    first = cdf.encode_csv(df, columns).decode().splitlines()[0].strip('"')
    assert shapely.from_wkb(first).equals(shapely.Point(1, 2))


def test_bad_values_are_refused() -> None:
    df = pd.DataFrame({"g": [shapely.Point(1, 2), "not a geometry"]})
    with pytest.raises(ValidationError, match="not geometries"):
        cdf.encode_csv(df, cdf.table_columns(df))
    nul = pd.DataFrame({"s": ["a\x00b"]})
    with pytest.raises(ValidationError, match="NUL"):
        cdf.encode_csv(nul, cdf.table_columns(nul))
    mixed = pd.DataFrame({"m": ["a", 1]})
    with pytest.raises(ValidationError, match="cannot be written"):
        cdf.encode_csv(mixed, cdf.table_columns(mixed))


def test_chunks_are_slices_of_the_frame() -> None:
    df = pd.DataFrame({"n": range(10)})
    columns = cdf.table_columns(df)
    chunks = list(cdf.iter_csv(df, columns, chunk_rows=4))
    assert [c.count(b"\n") for c in chunks] == [4, 4, 2]
    assert b"".join(chunks) == cdf.encode_csv(df, columns)
    assert cdf.encode_csv(df.iloc[:0], columns) == b""
    with pytest.raises(ValidationError, match="chunk_rows"):
        list(cdf.iter_csv(df, columns, chunk_rows=0))


# --------------------------------------------------------------------------- decoding

#: ``COPY (...) TO STDOUT WITH (FORMAT csv, HEADER true)`` as PostgreSQL writes it.
PG_CSV = (
    b"name,n,i32,f,b,t,tz,the_geom\n"
    b"a,1,1,1.5,t,2024-01-02 03:04:05.123456,2024-01-02 03:04:05+00,"
    b"0101000020E610000000000000000024400000000000000040\n"
    b'"",,2,,f,,,\n'
    b",3,3,Infinity,,2024-01-01 00:00:00,2024-01-01 02:00:00+02,\n"
    b'"q""x,y\nz",4,4,-0,t,2024-01-01 00:00:00,2023-12-31 19:00:00-05,'
    b"0101000020E6100000000000000000F03F000000000000F0BF\n"
)
FIELDS = {
    "name": SQLField("string", "text"),
    "n": SQLField("number", "int8"),
    "i32": SQLField("number", "int4"),
    "f": SQLField("number", "float8"),
    "b": SQLField("boolean", "bool"),
    "t": SQLField("date", "timestamp"),
    "tz": SQLField("date", "timestamptz"),
    "the_geom": SQLField("geometry", wkbtype="Point", dims=2, srid=4326),
}


def _read(data: bytes, size: int, rows: int = 100) -> list[Any]:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return list(cdf.read_copy_csv(chunks, cdf.columns_from_fields(FIELDS), rows=rows))


@pytest.mark.parametrize("size", [1, 3, 17, 64, 100_000])
def test_postgresql_csv_decodes_with_the_right_dtypes_whatever_the_chunking(size: int) -> None:
    (gdf,) = _read(PG_CSV, size)
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert gdf.geometry.name == "the_geom"
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf.columns) == list(FIELDS)
    assert str(gdf["n"].dtype) == "Int64"
    assert str(gdf["i32"].dtype) == "Int32"
    assert str(gdf["b"].dtype) == "boolean"
    assert str(gdf["f"].dtype) == "float64"
    assert str(gdf["tz"].dtype).startswith("datetime64[us, UTC]")
    assert gdf["name"].tolist()[:2] == ["a", ""]
    assert pd.isna(gdf["name"][2])
    assert gdf["name"][3] == 'q"x,y\nz'
    assert gdf["n"].tolist() == [1, pd.NA, 3, 4]
    assert gdf["b"].tolist() == [True, False, pd.NA, True]
    assert gdf["f"][2] == np.inf
    assert pd.isna(gdf["f"][1])
    assert gdf["tz"].tolist()[2] == gdf["tz"].tolist()[3] == pd.Timestamp("2024-01-01", tz="UTC")
    assert gdf["t"][0] == pd.Timestamp("2024-01-02 03:04:05.123456")
    assert gdf.geometry[0].equals(shapely.Point(10, 2))
    assert gdf.geometry[1] is None
    assert gdf.geometry[3].equals(shapely.Point(1, -1))


def test_frames_of_n_rows_and_only_one_chunk_held() -> None:
    body = b"n\n" + b"".join(b"%d\n" % i for i in range(1000))
    reader = cdf.CopyCsvReader([cdf.Column("n", "int4")], rows=300)
    frames = []
    for start in range(0, len(body), 50):
        frames += reader.feed(body[start : start + 50])
        assert len(reader._pending) <= 4  # an incomplete record at most
        assert reader._buffered < 300  # fewer than one frame's rows
    frames += reader.close()
    assert [len(f) for f in frames] == [300, 300, 300, 100]
    assert pd.concat(frames)["n"].tolist() == list(range(1000))
    assert reader.rows_read == 1000


def test_a_query_without_rows_gives_one_empty_frame_with_dtypes() -> None:
    (df,) = list(cdf.read_copy_csv([b"n,b\n"], [cdf.Column("n", "int8"), cdf.Column("b", "bool")]))
    assert len(df) == 0
    assert [str(t) for t in df.dtypes] == ["Int64", "boolean"]


def test_a_written_frame_reads_back_the_same() -> None:
    df = frame()
    columns = cdf.table_columns(df)
    header = ",".join(c.name for c in columns).encode() + b"\n"
    read_columns = [
        cdf.Column(
            c.name,
            {
                "bigint": "int8",
                "integer": "int4",
                "double precision": "float8",
                "boolean": "bool",
                "text": "text",
            }.get(c.pg_type, c.pg_type),
        )
        for c in columns
    ]
    (back,) = list(cdf.read_copy_csv([header + cdf.encode_csv(df, columns)], read_columns))
    assert back["name"].tolist()[:2] == ["a", ""]
    assert pd.isna(back["name"][2])
    assert back["n"].tolist() == [1, pd.NA, 3, 4]
    assert back["b"].tolist() == [True, False, pd.NA, True]
    assert back["t"].tolist() == df["t"].astype("datetime64[us]").tolist()
    assert back["tz"].tolist() == df["tz"].tolist()


def test_other_srids_set_the_crs() -> None:
    fields = {"g": SQLField("geometry", wkbtype="Point", dims=2, srid=3857)}
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.Point(5, 6), 3857), hex=True, include_srid=True)
    (gdf,) = list(
        cdf.read_copy_csv([b"g\n" + ewkb.encode() + b"\n"], cdf.columns_from_fields(fields))
    )
    assert gdf.crs.to_epsg() == 3857
    assert gdf.geometry.name == "g"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'n\n"1\n', "inside a quoted field"),
        (b"n\nabc\n", "cannot decode"),
        (b"a,b\n1\n", "does not match"),
    ],
)
def test_broken_streams_raise(data: bytes, problem: str) -> None:
    with pytest.raises(APIError, match=problem):
        list(cdf.read_copy_csv([data], [cdf.Column("n", "int4")]))


def test_bad_reader_options() -> None:
    with pytest.raises(ValidationError, match="rows"):
        cdf.CopyCsvReader([cdf.Column("n", "int4")], rows=0)
    with pytest.raises(ValidationError, match="no columns"):
        cdf.CopyCsvReader([])


# --------------------------------------------------------------------------- point fast paths


def test_point_ewkb_is_byte_for_byte_what_shapely_writes() -> None:
    rng = np.random.default_rng(7)
    points = shapely.points(rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500))
    values = np.array(points, dtype=object)
    values[[3, 77]] = None
    fast = points_to_hex_ewkb(values, 4326)
    assert fast is not None
    present = values != None  # noqa: E711
    expected = shapely.to_wkb(shapely.set_srid(values[present], 4326), hex=True, include_srid=True)
    assert [v for v in fast.to_pylist() if v is not None] == list(expected)
    assert fast.to_pylist()[3] is None
    back, srid = points_from_hex_ewkb(fast)  # type: ignore[misc]
    assert srid == 4326
    assert back[77] is None
    assert shapely.equals(back[present], values[present]).all()


def test_lower_case_hex_and_other_srids_decode() -> None:
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.Point(5, 6), 3857), hex=True, include_srid=True)
    result = points_from_hex_ewkb(pa.array([ewkb.lower(), None], type=pa.string()))
    assert result is not None
    points, srid = result
    assert srid == 3857
    assert points[0].equals(shapely.Point(5, 6))


@pytest.mark.parametrize(
    "geoms",
    [
        [shapely.LineString([(0, 0), (1, 1)])],
        [shapely.Point(0, 0), shapely.Polygon([(0, 0), (1, 0), (1, 1)])],
        [shapely.Point(1, 2, 3)],
        [shapely.Point()],
        [None, None],
    ],
)
def test_other_geometries_take_shapelys_path_and_round_trip(geoms: list[Any]) -> None:
    values = np.array(geoms, dtype=object)
    assert points_to_hex_ewkb(values, 4326) is None
    df = pd.DataFrame({"g": pd.Series(values, dtype=object), "n": range(len(geoms))})
    columns = [
        cdf.Column("g", cdf.GEOMETRY_TYPE, True, "g", 4326),
        cdf.Column("n", "bigint", False, "n"),
    ]
    body = b"g,n\n" + cdf.encode_csv(df, columns)
    (back,) = list(
        cdf.read_copy_csv(
            [body], [cdf.Column("g", "geometry", True, "g", None), cdf.Column("n", "int8")]
        )
    )
    for original, decoded in zip(geoms, back.geometry, strict=True):
        if original is None:
            assert decoded is None
        else:
            assert decoded.equals(original) or (original.is_empty and decoded.is_empty)


def test_a_mixed_length_hex_column_is_not_taken_for_points() -> None:
    assert points_from_hex_ewkb(pa.array(["0101", "zz"])) is None
    line = shapely.to_wkb(shapely.LineString([(0, 0), (1, 1)]), hex=True)
    assert points_from_hex_ewkb(pa.array([line])) is None
    assert points_from_hex_ewkb(pa.array([None], type=pa.string())) is None
    assert points_from_hex_ewkb(pa.array(["G" * 50])) is None


def test_floats_round_trip_exactly() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            rng.random(2000) * 10.0 ** rng.integers(-300, 300, 2000),
            [5e-324, 1.7976931348623157e308, 0.1],
        ]
    )
    df = pd.DataFrame({"v": values, "f32": rng.random(len(values)).astype("float32")})
    columns = cdf.table_columns(df)
    (back,) = list(
        cdf.read_copy_csv(
            [b"v,f32\n" + cdf.encode_csv(df, columns)],
            [cdf.Column("v", "float8"), cdf.Column("f32", "float4")],
        )
    )
    assert (back["v"].to_numpy() == values).all()
    assert (back["f32"].to_numpy() == df["f32"].to_numpy()).all()
