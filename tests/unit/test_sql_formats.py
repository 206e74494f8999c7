"""The incremental readers of SQL API format bodies, fed in every chunk size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from carto_async._core.sql_formats import CsvRowReader, GeoJSONFeatureReader, JsonErrorDetector
from carto_async.errors import APIError

FEATURES = [
    {
        "type": "Feature",
        "geometry": None if i == 3 else {"type": "Point", "coordinates": [i, -i]},
        "properties": {"name": 'a "quoted" \\ ]}{[ name é ✓', "n": i, "error": ["not one"]},
    }
    for i in range(30)
]
GEOJSON = (
    '{"type": "FeatureCollection", "features": ['
    + ",".join(json.dumps(f, ensure_ascii=False) for f in FEATURES)
    + "]}"
).encode()
SIZES = [1, 2, 3, 7, 64, 10_000]


def feed_all(reader: Any, data: bytes, size: int) -> list[Any]:
    out = []
    for i in range(0, len(data), size):
        out += reader.feed(data[i : i + size])
    return out + reader.close()


@pytest.mark.parametrize("size", SIZES)
def test_features_come_out_whole_whatever_the_chunking(size: int) -> None:
    assert feed_all(GeoJSONFeatureReader(), GEOJSON, size) == FEATURES


def test_an_empty_collection_has_no_features() -> None:
    assert (
        feed_all(GeoJSONFeatureReader(), b'{"type": "FeatureCollection", "features": []}', 5) == []
    )


@pytest.mark.parametrize("size", [1, 9, 10_000])
def test_an_appended_error_raises_after_the_features(size: int) -> None:
    body = GEOJSON[:-1] + b', "error":["canceling statement due to statement timeout"]}'
    reader = GeoJSONFeatureReader()
    got: list[Any] = []
    for i in range(0, len(body), size):
        got += reader.feed(body[i : i + size])
    assert got == FEATURES
    with pytest.raises(APIError, match="statement timeout"):
        reader.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (GEOJSON[:-40], "ended before"),
        (GEOJSON[:-1], "ended before"),
    ],
)
def test_a_body_cut_short_raises(body: bytes, message: str) -> None:
    with pytest.raises(APIError, match=message):
        feed_all(GeoJSONFeatureReader(), body, 100)


def test_a_reader_holds_at_most_one_feature() -> None:
    reader = GeoJSONFeatureReader()
    for i in range(0, len(GEOJSON), 50):
        reader.feed(GEOJSON[i : i + 50])
        assert len(reader._buf) < 400


JSON_BODY = json.dumps(
    {"rows": [{"n": 1, "error": ["a column, not the server"]}], "time": 0.1, "total_rows": 1}
).encode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (JSON_BODY, None),
        (JSON_BODY[:-1] + b',"error":["division by zero"]}', "division by zero"),
        (JSON_BODY[:-1] + b',"error":["late"],"notices":["n"]}', "late"),
        (GEOJSON, None),
        (GEOJSON[:-1] + b',"error":["boom"]}', "boom"),
        (b'{"rows":[{"x":"\\",\\"error\\":[1]}"}],"total_rows":1}', None),
    ],
)
def test_the_json_detector_passes_bytes_through_and_finds_appended_errors(
    body: bytes, error: str | None
) -> None:
    detector = JsonErrorDetector(tail_bytes=64)
    out = b"".join(detector.feed(body[i : i + 5]) for i in range(0, len(body), 5))
    assert out == body
    if error is None:
        assert detector.close() == b""
    else:
        with pytest.raises(APIError, match=error):
            detector.close()


CSV = 'id,name,note\r\n1,"a, b","say ""hi"""\r\n2,"multi\r\nline",\r\n3,é✓,x'.encode()


@pytest.mark.parametrize("size", SIZES)
def test_csv_rows_come_out_whole_whatever_the_chunking(size: int) -> None:
    assert feed_all(CsvRowReader(), CSV, size) == [
        {"id": "1", "name": "a, b", "note": 'say "hi"'},
        {"id": "2", "name": "multi\r\nline", "note": ""},
        {"id": "3", "name": "é✓", "note": "x"},
    ]


def test_csv_cut_inside_quotes_raises() -> None:
    with pytest.raises(APIError, match="inside a quoted field"):
        feed_all(CsvRowReader(), b'a,b\n1,"open', 3)


def test_csv_rows_of_the_wrong_width_raise() -> None:
    with pytest.raises(APIError, match="2 fields where the header has 3"):
        feed_all(CsvRowReader(), b"a,b,c\n1,2\n", 100)
