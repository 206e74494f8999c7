"""Formats streamed to files and iterators, and COPY both ways, over a mocked wire."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from carto_async import (
    APIConnectionError,
    APIError,
    AsyncCarto,
    CopyFailedError,
    CopyGzipError,
    CopyInterruptedError,
    Identifier,
    NoRowsCopiedError,
    QuotaExceededError,
    RateLimitError,
    ValidationError,
)
from tests.helpers import BASE_URL, KEY, SQL_URL, fixture

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

COPYFROM_URL = f"{BASE_URL}/api/v2/sql/copyfrom"
COPYTO_URL = f"{BASE_URL}/api/v2/sql/copyto"

FEATURES = [
    {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [i, i / 2]},
        "properties": {"cartodb_id": i, "name": f'shop "{i}" ]}}{{[', "error": ["not one"]},
    }
    for i in range(40)
]
GEOJSON = (
    '{"type": "FeatureCollection", "features": [' + ",".join(json.dumps(f) for f in FEATURES) + "]}"
).encode()
CSV = b'cartodb_id,name\r\n1,"a ""b"", c"\r\n2,"two\r\nlines"\r\n3,\r\n'
ROWS_JSON = json.dumps(
    {"rows": [{"n": i} for i in range(100)], "time": 0.01, "fields": {}, "total_rows": 100}
).encode()


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def sync_chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def drain(items: AsyncIterator[Any], into: list[Any]) -> None:
    async for item in items:
        into.append(item)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- formats ----------------------------------------------------------------------------------


async def test_download_streams_a_format_into_a_path_named_by_its_extension(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.get(SQL_URL).mock(
        return_value=httpx.Response(
            200,
            content=chunks(GEOJSON),
            headers={"content-disposition": "attachment; filename=stores.geojson"},
        )
    )
    seen: list[tuple[int, int | None]] = []
    done = await carto.sql.download(
        "select * from stores",
        tmp_path / "stores.geojson",
        filename="stores",
        dp=4,
        skipfields=["the_geom_webmercator"],
        progress=lambda got, total: seen.append((got, total)),
    )
    assert (tmp_path / "stores.geojson").read_bytes() == GEOJSON
    assert done.size == len(GEOJSON)
    assert done.path == str(tmp_path / "stores.geojson")
    params = route.calls.last.request.url.params
    assert params["format"] == "geojson"
    assert params["filename"] == "stores"
    assert params["dp"] == "4"
    assert params["skipfields"] == "the_geom_webmercator"
    assert KEY not in str(route.calls.last.request.url)
    assert seen[-1][0] == len(GEOJSON)
    assert leftovers(tmp_path) == ["stores.geojson"]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.zip", "shp"),
        ("a.gpkg", "gpkg"),
        ("a.sqlite", "spatialite"),
        ("a.kml", "kml"),
        ("a.svg", "svg"),
        ("a.topojson", "topojson"),
        ("a.json", "json"),
    ],
)
async def test_download_takes_the_format_from_the_file_extension(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path, name: str, fmt: str
) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=b"{}"))
    await carto.sql.download("select 1", tmp_path / name)
    assert route.calls.last.request.url.params["format"] == fmt


async def test_download_into_a_binary_file_object_with_an_explicit_format(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    data = b"PK\x03\x04" + bytes(range(256)) * 100
    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=chunks(data, 999)))
    out = io.BytesIO()
    done = await carto.sql.download("select * from stores", out, format="SHP")
    assert out.getvalue() == data
    assert done.path is None


async def test_download_checks_its_options_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=b""))
    with pytest.raises(ValidationError, match="give format="):
        await carto.sql.download("select 1", tmp_path / "out.bin")
    with pytest.raises(ValidationError, match="format must be one of"):
        await carto.sql.download("select 1", tmp_path / "out.bin", format="xlsx")
    with pytest.raises(ValidationError, match="no directory"):
        await carto.sql.download("select 1", tmp_path / "nowhere" / "a.csv")
    with pytest.raises(ValidationError, match="binary mode"):
        await carto.sql.download("select 1", io.StringIO(), format="csv")
    assert route.call_count == 0


@pytest.mark.parametrize(
    "body",
    [
        ROWS_JSON[:-1] + b',"error":["canceling statement due to statement timeout"]}',
        GEOJSON[:-1] + b',"error":["canceling statement due to statement timeout"]}',
    ],
    ids=["json", "geojson"],
)
async def test_a_mid_stream_error_raises_and_leaves_no_file(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path, body: bytes
) -> None:
    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=chunks(body, 50)))
    target = tmp_path / "out.json"
    with pytest.raises(APIError, match="statement timeout") as info:
        await carto.sql.download("select * from big", target, format="geojson")
    assert "after" in str(info.value)
    assert leftovers(tmp_path) == []


async def test_a_column_named_error_is_data_not_an_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    body = json.dumps(
        {"rows": [{"error": ["x"]}], "time": 0.1, "fields": {}, "total_rows": 1}
    ).encode()
    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=body))
    await carto.sql.download("select 1", tmp_path / "a.json")
    assert (tmp_path / "a.json").read_bytes() == body


async def test_a_download_broken_mid_body_leaves_no_file(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield CSV[:10]
        raise httpx.ReadError("cut")

    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=broken()))
    with pytest.raises(APIConnectionError):
        await carto.sql.download("select 1", tmp_path / "a.csv")
    assert leftovers(tmp_path) == []


async def test_iter_geojson_yields_features_as_they_arrive(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=chunks(GEOJSON)))
    got = []
    async for feature in carto.sql.iter_geojson("select * from stores", dp=3):
        got.append(feature)
    assert got == FEATURES
    assert route.calls.last.request.url.params["format"] == "geojson"


async def test_iter_geojson_raises_after_the_features_before_an_appended_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    body = GEOJSON[:-1] + b',"error":["division by zero"]}'
    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=chunks(body, 333)))
    got = []
    with pytest.raises(APIError, match="division by zero"):
        await drain(carto.sql.iter_geojson("select 1/0"), got)
    assert got == FEATURES


async def test_iter_geojson_raises_on_a_body_cut_short(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=GEOJSON[:-30]))
    with pytest.raises(APIError, match="ended before"):
        await drain(carto.sql.iter_geojson("select 1"), [])


async def test_iter_csv_yields_rows_keyed_by_the_header(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(SQL_URL).mock(return_value=httpx.Response(200, content=chunks(CSV, 3)))
    rows = []
    async for row in carto.sql.iter_csv("select * from stores", order_by="name"):
        rows.append(row)
    assert rows == [
        {"cartodb_id": "1", "name": 'a "b", c'},
        {"cartodb_id": "2", "name": "two\r\nlines"},
        {"cartodb_id": "3", "name": ""},
    ]
    assert route.calls.last.request.url.params["format"] == "csv"
    assert route.calls.last.request.url.params["order_by"] == "name"


# -- COPY FROM --------------------------------------------------------------------------------


def rows_source(kind: str, tmp_path: Path) -> Any:
    data = b"1,a\n2,b\n"
    if kind == "path":
        path = tmp_path / "rows.csv"
        path.write_bytes(data)
        return path
    if kind == "gz path":
        path = tmp_path / "rows.csv.gz"
        path.write_bytes(gzip.compress(data))
        return str(path)
    return {
        "file": lambda: io.BytesIO(data),
        "bytes": lambda: data,
        "byte iterator": lambda: sync_chunks(data, 3),
        "rows": lambda: [(1, "a"), [2, "b"]],
        "row iterator": lambda: iter([(1, "a"), (2, "b")]),
        # async-only:start
        "async bytes": lambda: chunks(data, 3),
        "async rows": async_rows,
        # async-only:end
    }[kind]()


# async-only:start
async def async_rows() -> AsyncIterator[tuple[int, str]]:
    yield (1, "a")
    yield (2, "b")


# async-only:end
SOURCES = [
    "path",
    "gz path",
    "file",
    "bytes",
    "byte iterator",
    "rows",
    "row iterator",
    # async-only:start
    "async bytes",
    "async rows",
    # async-only:end
]


@pytest.mark.parametrize("kind", SOURCES)
async def test_copy_from_streams_every_kind_of_source_gzipped(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path, kind: str
) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(
        return_value=httpx.Response(200, json=fixture("sql", "copyfrom_success_docs.json"))
    )
    result = await carto.sql.copy_from("stores", rows_source(kind, tmp_path), columns=["n", "s"])
    assert result.total_rows == fixture("sql", "copyfrom_success_docs.json")["total_rows"]
    request = route.calls.last.request
    assert request.url.params["q"] == 'COPY "stores" ("n", "s") FROM STDIN WITH (FORMAT csv)'
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/octet-stream"
    assert gzip.decompress(request.content) == b"1,a\n2,b\n"
    assert KEY not in str(request.url)


async def test_copy_from_without_gzip_sends_the_bytes_as_they_are(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(
        return_value=httpx.Response(200, json={"time": 0.1, "total_rows": 2})
    )
    seen: list[tuple[int, int | None]] = []
    await carto.sql.copy_from(
        "COPY stores FROM STDIN WITH (FORMAT text)",
        b"1\ta\n2\tb\n",
        gzip=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    request = route.calls.last.request
    assert request.content == b"1\ta\n2\tb\n"
    assert "content-encoding" not in request.headers
    assert request.url.params["q"] == "COPY stores FROM STDIN WITH (FORMAT text)"
    assert seen[-1] == (8, 8)


async def test_rows_are_encoded_as_copy_csv(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(
        return_value=httpx.Response(200, json={"time": 0.1, "total_rows": 3})
    )
    rows = [(1, None, "", True), (2, 'say "hi", ok', "x\ny", False), (3, 1.5, "\\.", None)]
    await carto.sql.copy_from(Identifier("public", "t"), rows, gzip=False)
    assert route.calls.last.request.content == (
        b'1,,"",true\n2,"say ""hi"", ok","x\ny",false\n3,1.5,"\\.",\n'
    )
    assert route.calls.last.request.url.params["q"] == (
        'COPY "public"."t" FROM STDIN WITH (FORMAT csv)'
    )


@pytest.mark.parametrize(
    "failure", [httpx.Response(502), httpx.ReadError("reset"), httpx.ReadTimeout("slow")]
)
async def test_copy_from_is_never_repeated_after_an_ambiguous_failure(
    carto: AsyncCarto, respx_mock: respx.MockRouter, failure: Any
) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(
        side_effect=[failure, httpx.Response(200, json={"total_rows": 1})]
    )
    with pytest.raises(APIError):
        await carto.sql.copy_from("t", b"1\n")  # bytes could be sent again: still not repeated
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("copyfrom_error_no_rows_400.json", NoRowsCopiedError),
        ("copyfrom_error_bad_gzip.json", CopyGzipError),
        ("copyfrom_error_db_quota_400.json", QuotaExceededError),
        ("copy_error_sql_missing_400.json", CopyFailedError),
    ],
)
async def test_copy_from_errors_are_typed(
    carto: AsyncCarto, respx_mock: respx.MockRouter, name: str, error: type[Exception]
) -> None:
    body = fixture("sql", name)
    respx_mock.post(COPYFROM_URL).mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(error) as info:
        await carto.sql.copy_from("t", b"1\n")
    assert KEY not in repr(info.value)
    assert KEY not in str(info.value)


async def test_a_statement_timeout_is_a_rate_limit_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    body = fixture("sql", "error_statement_timeout_429.json")
    respx_mock.post(COPYFROM_URL).mock(return_value=httpx.Response(429, json=body))
    with pytest.raises(RateLimitError):
        await carto.sql.copy_from("t", b"1\n", gzip=False)


async def test_copy_from_checks_its_input_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(ValidationError, match="binary"):
        await carto.sql.copy_from("t", "a,b", format="binary")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="go with a table name"):
        await carto.sql.copy_from("COPY t FROM STDIN", b"1\n", header=True)
    with pytest.raises(ValidationError, match="FROM STDIN"):
        await carto.sql.copy_from("COPY t TO STDOUT", b"1\n")
    with pytest.raises(ValidationError, match="has a dot"):
        await carto.sql.copy_from("public.t", b"1\n")
    with pytest.raises(ValidationError, match="yielded a str"):
        await carto.sql.copy_from("t", ["1,a\n"])
    assert route.call_count == 0


# -- COPY TO ----------------------------------------------------------------------------------

COPY_DATA = b"".join(b"%d,name %d,SRID=4326;POINT(%d 1)\n" % (i, i, i) for i in range(2000))


async def test_copy_to_streams_into_a_path(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.get(COPYTO_URL).mock(
        return_value=httpx.Response(
            200,
            content=chunks(COPY_DATA, 4096),
            headers={"content-type": "application/octet-stream"},
        )
    )
    done = await carto.sql.copy_to("select * from stores", tmp_path / "out.csv", header=True)
    assert (tmp_path / "out.csv").read_bytes() == COPY_DATA
    assert done.size == len(COPY_DATA)
    assert route.calls.last.request.url.params["q"] == (
        "COPY (\nselect * from stores\n) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )


async def test_copy_to_a_table_into_a_file_object(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(COPYTO_URL).mock(return_value=httpx.Response(200, content=COPY_DATA))
    out = io.BytesIO()
    await carto.sql.copy_to(Identifier("stores"), out, columns=["a", "b"], format="text")
    assert out.getvalue() == COPY_DATA
    assert route.calls.last.request.url.params["q"] == (
        'COPY "stores" ("a", "b") TO STDOUT WITH (FORMAT text)'
    )


async def test_iter_copy_to_hands_out_the_bytes(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(COPYTO_URL).mock(return_value=httpx.Response(200, content=chunks(COPY_DATA, 5)))
    got = b""
    async for chunk in carto.sql.iter_copy_to("COPY stores TO STDOUT"):
        got += chunk
    assert got == COPY_DATA


async def test_an_error_appended_to_copy_to_raises_and_leaves_no_file(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    error = fixture("sql", "error_statement_timeout_429.json")
    body = COPY_DATA + json.dumps(error, separators=(",", ":")).encode()
    respx_mock.get(COPYTO_URL).mock(
        side_effect=lambda request: httpx.Response(200, content=chunks(body, 1000))
    )
    with pytest.raises(CopyInterruptedError) as info:
        await carto.sql.copy_to("select * from big", tmp_path / "out.csv")
    assert info.value.kind == "timeout"
    assert leftovers(tmp_path) == []
    got: list[bytes] = []
    with pytest.raises(CopyInterruptedError):
        await drain(carto.sql.iter_copy_to("select * from big"), got)
    assert b"".join(got) == COPY_DATA


async def test_copy_to_errors_are_typed(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(COPYTO_URL).mock(
        return_value=httpx.Response(400, json={"error": ['relation "nope" does not exist']})
    )
    with pytest.raises(CopyFailedError, match="does not exist"):
        await carto.sql.copy_to("select * from nope", io.BytesIO())


async def test_long_copy_to_statements_are_posted(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPYTO_URL).mock(return_value=httpx.Response(200, content=b"1\n"))
    query = "select 1 where 1 in (" + ",".join(["1"] * 1000) + ")"
    await carto.sql.copy_to(query, io.BytesIO(), filename="numbers.csv")
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"filename=numbers.csv" in request.content


async def test_copy_waits_as_long_as_carto_s_own_copy_timeout_unless_told(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(COPYFROM_URL).mock(
        return_value=httpx.Response(200, json={"time": 0.1, "total_rows": 1})
    )
    await carto.sql.copy_from("t", b"1\n")
    assert route.calls.last.request.extensions["timeout"]["read"] == 5 * 3600
    await carto.sql.copy_from("t", b"1\n", timeout=30)
    assert route.calls.last.request.extensions["timeout"]["read"] == 30
    to = respx_mock.get(COPYTO_URL).mock(return_value=httpx.Response(200, content=b"1\n"))
    await carto.sql.copy_to("select 1", io.BytesIO())
    assert to.calls.last.request.extensions["timeout"]["read"] == 5 * 3600
