"""LocalCarto sends SQL API and COPY TO results with bounded memory (issue 13, "LocalCarto
facing hostile input"): rows are spooled to a private file under the engine's lock, then
formatted and sent chunk by chunk with no lock held.

``sqlapi_bodies.json`` holds the bodies the materialized implementation (before streaming)
gave for the cases below: the streamed bodies must be the same bytes, also when every row is
a chunk of its own.
"""

from __future__ import annotations

import gc
import json
import re
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from carto_async.testing import LocalCarto, ResultLimits
from carto_async.testing._copydb import copy_out, spool_copy_out
from carto_async.testing._copysql import parse_copy
from carto_async.testing._db import Database, QueryError
from carto_async.testing._http.copy import _error_tail
from carto_async.testing._sqlapi import SQLResponse, SQLStream, run_sql, stream_sql
from carto_async.testing.engine import RowSpool, SpoolFull, _spool

BODIES = json.loads(Path(__file__).with_name("sqlapi_bodies.json").read_text("utf-8"))

#: The table the cases read (made with each test's database).
SETUP = [
    "CREATE TABLE kinds (cartodb_id integer, name text, big bigint, amount numeric(10,2),"
    " ratio double precision, ok boolean, day date, seen timestamp, at timestamptz,"
    " doc json, raw bytea, tags text[], the_geom geometry(Geometry,4326))",
    "INSERT INTO kinds VALUES"
    " (1, 'Ålpha, \"quoted\"\nline', 9007199254740993, 12.50, 'NaN', true, '2020-01-02',"
    " '2020-01-02 03:04:05.25', '2020-01-02T03:04:05Z', '{\"a\":[1,2]}', '\\x0102',"
    " ARRAY['x','y'], 'SRID=4326;POINT(1.123456789 2)'),"
    " (2, '日本 ☃ €', -5, 0.10, 'Infinity', false, NULL, NULL, NULL, NULL, NULL, NULL,"
    " 'SRID=4326;POLYGON((0 0,1 0,1 1,0 0))'),"
    " (3, NULL, NULL, NULL, '-Infinity', NULL, '1999-12-31', '1999-12-31 23:59:59',"
    " '1999-12-31T23:59:59.5Z', '[]', '', ARRAY[]::text[], NULL),"
    " (4, ' padded ', 2, 1e7, 1.5e-7, true, NULL, NULL, NULL, '{}', NULL, NULL,"
    " 'SRID=4326;LINESTRING(0 0,1 1)')",
]
SQL_CASES = {
    "json_all": {"q": "SELECT * FROM kinds ORDER BY cartodb_id"},
    "json_exprs": {
        "q": "SELECT 1 AS a, 'x' AS b, 3 AS a, 2.0 AS c, 1e21 AS d, NULL AS e,"
        " interval '1 day 2 hours' AS iv, '6c7e463b-74a3-4077-bde1-212749500099'::uuid::text AS u,"
        " ST_SetSRID(ST_MakePoint(1, 2), 4326)::geography AS g, count(*) OVER () AS n"
        " FROM generate_series(1, 3)"
    },
    "json_empty": {"q": "SELECT name, ratio FROM kinds WHERE false"},
    "json_jsonp": {"q": "SELECT cartodb_id, name FROM kinds ORDER BY 1", "callback": "cb"},
    "json_skip": {"q": "SELECT * FROM kinds ORDER BY 1", "skipfields": "the_geom,raw,doc"},
    "json_paging": {
        "q": "SELECT cartodb_id, name FROM kinds",
        "order_by": "cartodb_id",
        "sort_order": "desc",
        "rows_per_page": "2",
        "page": "1",
    },
    "json_many": {
        "q": "SELECT i, repeat(chr((65 + i % 26)::INTEGER), (i % 50)::INTEGER) AS s"
        " FROM range(300) t(i)"
    },
    "geojson_all": {"q": "SELECT * FROM kinds ORDER BY cartodb_id", "format": "geojson"},
    "geojson_dp": {
        "q": "SELECT cartodb_id, the_geom FROM kinds ORDER BY 1",
        "format": "geojson",
        "dp": "2",
        "callback": "my.cb",
    },
    "geojson_empty": {"q": "SELECT * FROM kinds WHERE false", "format": "geojson"},
    "csv_all": {"q": "SELECT * FROM kinds ORDER BY cartodb_id", "format": "csv"},
    "csv_skip": {
        "q": "SELECT * FROM kinds ORDER BY cartodb_id",
        "format": "csv",
        "skipfields": "raw",
        "callback": "ignored",
        "filename": "my file",
    },
    "csv_empty": {"q": "SELECT name FROM kinds WHERE false", "format": "csv"},
    "csv_many": {
        "q": "SELECT i, i * 0.5 AS half, 'r' || i AS label FROM range(500) t(i)",
        "format": "csv",
    },
    "json_write": {"q": "UPDATE kinds SET ok = ok WHERE cartodb_id < 3"},
    "json_returning": {
        "q": "UPDATE kinds SET ok = ok WHERE cartodb_id < 3 RETURNING cartodb_id, name"
    },
    "json_statements": {"q": "SELECT 1 AS first; SELECT name FROM kinds ORDER BY 1 LIMIT 2"},
    "json_error": {"q": "SELECT nope FROM kinds"},
    "csv_error_jsonp": {"q": "SELECT * FROM kinds WHERE and", "format": "csv", "callback": "cb"},
    "geojson_no_geom": {"q": "SELECT name FROM kinds", "format": "geojson"},
}
COPY_CASES = {
    "text": "COPY (SELECT * FROM kinds ORDER BY cartodb_id) TO STDOUT",
    "csv_header": "COPY (SELECT * FROM kinds ORDER BY cartodb_id) TO STDOUT"
    " WITH (FORMAT csv, HEADER true)",
    "table": "COPY kinds (cartodb_id, name, the_geom) TO STDOUT WITH (FORMAT csv, DELIMITER ';')",
    "empty_header": "COPY (SELECT name FROM kinds WHERE false) TO STDOUT WITH (FORMAT csv, HEADER)",
    "many": "COPY (SELECT i, 'v' || i FROM range(12000) t(i)) TO STDOUT",
}


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    for statement in SETUP:
        database.run_statements(statement)
    yield database
    database.close()


@pytest.fixture
def one_row_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spooled chunk holds one row: the most pieces a body can be cut into."""
    monkeypatch.setattr(_spool, "_FIRST_ROWS", 1)
    monkeypatch.setattr(_spool, "CHUNK_BYTES", 1)


def _without_time(body: bytes) -> str:
    return re.sub(r'"time":[0-9.e-]+', '"time":0', body.decode("utf-8"))


def _drain(answer: SQLStream) -> tuple[bytes, int]:
    """The body and how many pieces it came in; the stream is closed after."""
    pieces = []
    try:
        while (chunk := answer.next_chunk()) is not None:
            pieces.append(chunk)
    finally:
        answer.close()
    return b"".join(pieces), len(pieces)


# -- the same bytes as before ----------------------------------------------------------------


@pytest.mark.usefixtures("one_row_chunks")
def test_streamed_bodies_are_the_bytes_the_materialized_path_gave(
    db: Database, tmp_path: Path
) -> None:
    limits = ResultLimits(spool_dir=str(tmp_path))
    for name, params in SQL_CASES.items():  # in order: the writes change later cases
        expected = BODIES["sql"][name]
        answer = stream_sql(db, params, limits=limits)
        if isinstance(answer, SQLStream):
            body, pieces = _drain(answer)
            rows = expected["body"].count('"cartodb_id"') + expected["body"].count("\r\n")
            assert pieces > 2 or rows < 2, name  # really cut into chunks
        else:
            body = answer.body
        assert _without_time(body) == expected["body"], name
        assert answer.status == expected["status"], name
        assert answer.content_type == expected["type"], name
        disposition = answer.headers["Content-Disposition"].split("; modification")[0]
        assert disposition == expected["disposition"], name
        assert answer.headers.get("Cache-Control") == expected["cache"], name
        assert list(tmp_path.iterdir()) == [], name


def test_a_small_result_comes_formatted_and_a_large_one_streams_from_disk(
    db: Database, tmp_path: Path
) -> None:
    # Most answers are small: their body is made in the query's worker thread and sent
    # without a thread per chunk; only a result past memory_bytes spills and is formatted as
    # it is read. Both give the same bytes.
    q = {"q": "select n, repeat('x', 100) as t from range(2000) r(n)", "format": "csv"}
    bodies = []
    for memory_bytes, ready in ((64 * 1024 * 1024, True), (1024, False)):
        limits = ResultLimits(spool_dir=str(tmp_path), memory_bytes=memory_bytes)
        answer = stream_sql(db, q, limits=limits)
        assert isinstance(answer, SQLStream)
        assert answer.ready is ready
        assert bool(list(tmp_path.iterdir())) is not ready  # a spill file only when large
        bodies.append(answer.read_all())
        answer.close()
        assert list(tmp_path.iterdir()) == []
    assert bodies[0] == bodies[1]
    assert bodies[0].count(b"\r\n") == 2001


@pytest.mark.usefixtures("one_row_chunks")
def test_run_sql_gives_the_same_bytes_as_before(db: Database) -> None:
    for name, params in SQL_CASES.items():
        response = run_sql(db, params)
        assert _without_time(response.body) == BODIES["sql"][name]["body"], name


@pytest.mark.usefixtures("one_row_chunks")
def test_copy_to_streams_the_bytes_it_gave_before(db: Database, tmp_path: Path) -> None:
    for statement in SQL_CASES.values():
        run_sql(db, statement)  # the same table contents as when the bodies were recorded
    for name, q in COPY_CASES.items():
        spool = RowSpool(str(tmp_path))
        try:
            chunks = spool_copy_out(db, parse_copy(q), spool, read_only=False, timeout=None)
            assert "".join(chunks) == BODIES["copy"][name], name
        finally:
            spool.close()
        materialized = copy_out(db, parse_copy(q), read_only=False, timeout=None)
        assert "".join(materialized) == BODIES["copy"][name], name
    assert list(tmp_path.iterdir()) == []


def test_a_write_then_a_select_in_one_request_streams_the_select(db: Database) -> None:
    response = run_sql(db, {"q": "INSERT INTO kinds (cartodb_id) VALUES (9); SELECT 7 AS n"})
    assert json.loads(response.body)["rows"] == [{"n": 7}]
    response = run_sql(db, {"q": "SELECT 7 AS n; DELETE FROM kinds WHERE cartodb_id = 9"})
    assert json.loads(response.body)["total_rows"] == 1
    assert json.loads(response.body)["rows"] == []
    response = run_sql(db, {"q": "SELECT 7 AS n; ROLLBACK"})
    assert json.loads(response.body)["rows"] == []


# -- bounded memory ---------------------------------------------------------------------------


def _peak_while_streaming(db: Database, rows: int, fmt: str, spool_dir: Path) -> int:
    """Python memory peak (bytes) while a result of ``rows`` rows of 1 KiB is sent."""
    params = {
        "q": "SELECT i AS cartodb_id, repeat('x', 1000) AS txt,"
        f" ST_SetSRID(ST_MakePoint(i, i), 4326) AS the_geom FROM range({rows}) t(i)",
        "format": fmt,
    }
    gc.collect()
    tracemalloc.start()
    try:
        answer = stream_sql(db, params, limits=ResultLimits(spool_dir=str(spool_dir)))
        assert isinstance(answer, SQLStream)
        sent = 0
        try:
            while (chunk := answer.next_chunk()) is not None:
                sent += len(chunk)
        finally:
            answer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent > rows * 1000
    return peak


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_server_memory_does_not_grow_with_the_result(
    db: Database, tmp_path: Path, fmt: str
) -> None:
    small = _peak_while_streaming(db, 3_000, fmt, tmp_path)
    large = _peak_while_streaming(db, 30_000, fmt, tmp_path)
    # 30 MB of body: the materialized path held about four times that at once (its peak
    # grew with the rows: 20 MiB for 5,000 rows of csv, 203 MiB for 50,000); streamed, one
    # chunk of about a MiB is formatted at a time, whatever the size.
    assert large < 12 * 2**20
    assert large < small + 2 * 2**20
    assert list(tmp_path.iterdir()) == []


def test_copy_to_memory_does_not_grow_with_the_result(db: Database, tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        statement = parse_copy(
            f"COPY (SELECT i, repeat('x', 1000) FROM range({rows}) t(i)) TO STDOUT"
        )
        gc.collect()
        tracemalloc.start()
        spool = RowSpool(str(tmp_path))
        try:
            sent = sum(
                len(c) for c in spool_copy_out(db, statement, spool, read_only=True, timeout=None)
            )
            _, top = tracemalloc.get_traced_memory()
        finally:
            spool.close()
            tracemalloc.stop()
        assert sent > rows * 1000
        return top

    small, large = peak(3_000), peak(30_000)
    assert large < 12 * 2**20
    assert large < small + 2 * 2**20


# -- limits -------------------------------------------------------------------------------


def test_a_result_over_the_spool_cap_is_a_400_before_any_byte(db: Database, tmp_path: Path) -> None:
    limits = ResultLimits(spool_dir=str(tmp_path), max_spool_bytes=200_000)
    q = "SELECT repeat('x', 1000) AS t FROM range(1000)"
    for fmt in ("csv", "json", "svg"):
        answer = stream_sql(db, {"q": q, "format": fmt}, limits=limits)
        assert isinstance(answer, SQLResponse)
        assert answer.status == 400
        message = json.loads(answer.body)["error"][0]
        assert "larger than the 200000 bytes" in message
    spool = RowSpool(str(tmp_path), max_bytes=10)
    statement = parse_copy(f"COPY ({q}) TO STDOUT")
    try:
        with pytest.raises(SpoolFull):
            spool_copy_out(db, statement, spool, read_only=True, timeout=None)
    finally:
        spool.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["svg", "topojson", "arraybuffer", "kml", "gpkg"])
def test_formats_built_whole_refuse_results_over_their_cap(
    db: Database, tmp_path: Path, fmt: str
) -> None:
    q = "SELECT i AS n, ST_SetSRID(ST_MakePoint(i, i), 4326) AS the_geom FROM range(50) t(i)"
    if fmt == "arraybuffer":
        q = "SELECT i AS n FROM range(50) t(i)"
    by_rows = ResultLimits(spool_dir=str(tmp_path), max_whole_rows=49)
    answer = stream_sql(db, {"q": q, "format": fmt}, limits=by_rows)
    assert isinstance(answer, SQLResponse)
    assert answer.status == 400
    message = json.loads(answer.body)["error"][0]
    assert message.startswith(f"The result is too large for format={fmt}: 50 rows")
    assert "format=csv, json or geojson, which stream" in message
    by_bytes = ResultLimits(spool_dir=str(tmp_path), max_whole_bytes=100)
    assert stream_sql(db, {"q": q, "format": fmt}, limits=by_bytes).status == 400
    fits = ResultLimits(spool_dir=str(tmp_path), max_whole_rows=50)
    answer = stream_sql(db, {"q": q, "format": fmt}, limits=fits)
    assert answer.status == 200
    if isinstance(answer, SQLResponse) and answer.file is not None:
        answer.file.cleanup()
    assert list(tmp_path.iterdir()) == []


# -- the guard, grants and timeout still apply ------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_the_guard_grants_and_timeout_apply_to_streamed_formats(
    db: Database, tmp_path: Path, fmt: str
) -> None:
    limits = ResultLimits(spool_dir=str(tmp_path))

    def answer(q: str, **options: Any) -> SQLResponse | SQLStream:
        return stream_sql(db, {"q": q, "format": fmt}, limits=limits, **options)

    host = answer("SELECT * FROM read_csv('/etc/passwd')")
    assert host.status in (400, 403)
    assert isinstance(host, SQLResponse)
    assert "passwd" not in host.body.decode().replace("'/etc/passwd'", "")
    attach = answer("ATTACH '/tmp/x.db' AS x")
    assert attach.status in (400, 403)

    def refuse(accesses: list[tuple[str, str]]) -> str | None:
        return "permission denied for table kinds" if ("kinds", "select") in accesses else None

    denied = answer("SELECT * FROM kinds", read_only=True, authorize=refuse)
    assert denied.status == 403
    assert isinstance(denied, SQLResponse)
    assert json.loads(denied.body) == {"error": ["permission denied for table kinds"]}
    write = answer("INSERT INTO kinds (cartodb_id) VALUES (10)", read_only=True)
    assert write.status == 403
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
        " SELECT i, 1 AS the_geom FROM n"
    )
    late = answer(slow, timeout=0.05)
    assert late.status == 429
    assert list(tmp_path.iterdir()) == []


def test_copy_to_keeps_the_guard_and_grants(db: Database, tmp_path: Path) -> None:
    def refuse(accesses: list[tuple[str, str]]) -> str | None:
        return "permission denied for table kinds" if accesses else None

    spool = RowSpool(str(tmp_path))
    try:
        with pytest.raises(QueryError, match="permission denied for table kinds"):
            spool_copy_out(
                db,
                parse_copy("COPY kinds TO STDOUT"),
                spool,
                read_only=True,
                timeout=None,
                authorize=refuse,
            )
        with pytest.raises(QueryError):
            spool_copy_out(
                db,
                parse_copy("COPY (SELECT * FROM read_csv('/etc/passwd')) TO STDOUT"),
                spool,
                read_only=True,
                timeout=None,
            )
    finally:
        spool.close()
    assert list(tmp_path.iterdir()) == []


# -- over HTTP: no file left behind, no reader blocking another ---------------------------


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    where = tmp_path / "spool"
    where.mkdir()
    return where


@pytest.fixture
def spooling_server(spool_dir: Path) -> Iterator[LocalCarto]:
    with LocalCarto(sql_results=ResultLimits(spool_dir=str(spool_dir))) as running:
        yield running


def _eventually(check: Callable[[], bool], what: str) -> None:
    """The server side ends after the client: wait (bounded) for ``check``."""
    deadline = time.monotonic() + 20.0
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


BIG_CSV = "SELECT i AS cartodb_id, repeat('x', 1000) AS txt FROM range(20000) t(i)"


def _requests(server: LocalCarto) -> dict[str, tuple[str, dict[str, str]]]:
    key = {"api_key": server.api_key}
    return {
        "sql": ("/api/v2/sql", {**key, "q": BIG_CSV, "format": "csv"}),
        "copyto": (
            "/api/v2/sql/copyto",
            {**key, "q": f"COPY ({BIG_CSV}) TO STDOUT WITH (FORMAT csv, HEADER)"},
        ),
    }


@pytest.mark.parametrize("endpoint", ["sql", "copyto"])
def test_spool_files_are_gone_after_a_sent_an_abandoned_and_a_failed_response(
    spooling_server: LocalCarto, spool_dir: Path, endpoint: str
) -> None:
    path, params = _requests(spooling_server)[endpoint]
    with httpx.Client(base_url=spooling_server.base_url, timeout=30.0) as http:
        # sent whole: the spool exists while the body is being read, and not after
        with http.stream("GET", path, params=params) as response:
            assert response.status_code == 200
            chunks = response.iter_bytes()
            first = next(chunks)
            assert len(list(spool_dir.iterdir())) == 1
            size = len(first) + sum(len(c) for c in chunks)
        assert size > 20_000 * 1000
        _eventually(lambda: not list(spool_dir.iterdir()), "spool left after a sent body")
        # abandoned: the client reads one chunk and hangs up
        with http.stream("GET", path, params=params) as response:
            next(response.iter_bytes())
            assert len(list(spool_dir.iterdir())) == 1
        _eventually(lambda: not list(spool_dir.iterdir()), "spool left after a hang-up")
        # failed: an error in the query, before any byte
        failed = http.get(path, params={**params, "q": params["q"].replace("range", "nowhere")})
        assert failed.status_code == 400
        assert list(spool_dir.iterdir()) == []


def test_a_stalled_reader_does_not_hold_up_other_requests(
    spooling_server: LocalCarto, spool_dir: Path
) -> None:
    requests = _requests(spooling_server)
    key = {"api_key": spooling_server.api_key}
    with (
        httpx.Client(base_url=spooling_server.base_url, timeout=30.0) as slow,
        httpx.Client(base_url=spooling_server.base_url, timeout=30.0) as other,
    ):
        path, params = requests["sql"]
        copy_path, copy_params = requests["copyto"]
        with (
            slow.stream("GET", path, params=params) as stalled,
            slow.stream("GET", copy_path, params=copy_params) as stalled_copy,
        ):
            # Both have started (their queries ran) and then nobody reads them: the server
            # is stuck on full socket buffers for both.
            sql_chunks = stalled.iter_bytes()
            copy_chunks = stalled_copy.iter_bytes()
            first, first_copy = next(sql_chunks), next(copy_chunks)
            done = threading.Event()
            answers: list[Any] = []

            def ask() -> None:
                answers.append(other.get("/api/v2/sql", params={**key, "q": "SELECT 41 + 1 AS n"}))
                answers.append(
                    other.get(
                        "/api/v2/sql/copyto",
                        params={**key, "q": "COPY (SELECT 1 AS n) TO STDOUT"},
                    )
                )
                done.set()

            worker = threading.Thread(target=ask)
            worker.start()
            assert done.wait(20.0), "a stalled reader blocked another request"
            worker.join()
            assert answers[0].json()["rows"] == [{"n": 42}]
            assert answers[1].text == "1\n"
            rest = first + b"".join(sql_chunks)
            rest_copy = first_copy + b"".join(copy_chunks)
        assert rest.count(b"\r\n") == 20_001
        assert rest_copy.count(b"\n") == 20_001
    _eventually(lambda: not list(spool_dir.iterdir()), "spool left behind")


def test_by_default_spools_live_in_the_servers_private_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with LocalCarto() as server, httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        path, params = _requests(server)["sql"]
        with http.stream("GET", path, params=params) as response:
            next(response.iter_bytes())
            (spool,) = tmp_path.glob("localcarto-*/localcarto-spool-*")
            assert spool.stat().st_mode & 0o777 == 0o700
    assert list(tmp_path.iterdir()) == []


def test_a_spool_is_removed_when_closed_twice_or_only_dropped(tmp_path: Path) -> None:
    spool = RowSpool(str(tmp_path), max_bytes=1000)
    spool.write([(1, "a")])
    assert list(spool.chunks()) == [[(1, "a")]]
    spool.close()
    spool.close()
    assert spool.closed
    assert list(tmp_path.iterdir()) == []
    dropped = RowSpool(str(tmp_path), memory_bytes=0)
    dropped.write([(2, "b")])
    assert len(list(tmp_path.iterdir())) == 1
    del dropped
    gc.collect()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("one_row_chunks")
def test_an_error_after_the_first_byte_ends_the_body_as_carto_does(
    db: Database, tmp_path: Path
) -> None:
    q = "SELECT * FROM (VALUES (1, 'POINT(1 2)'), (2, 'not a geometry')) v(n, the_geom)"
    limits = ResultLimits(spool_dir=str(tmp_path))
    for callback in (None, "cb"):
        params = {"q": q, "format": "geojson", **({"callback": callback} if callback else {})}
        answer = stream_sql(db, params, limits=limits)
        assert isinstance(answer, SQLStream)
        assert answer.status == 200
        body, _ = _drain(answer)
        text = body.decode()
        if callback:
            assert text.startswith("cb(")
            assert text.endswith(")")
            text = text[3:-1]
        document = json.loads(text)
        assert [f["properties"]["n"] for f in document["features"]] == [1]
        assert len(document["error"]) == 1
    # A one-chunk result fails as a whole, with its status.
    whole = run_sql(db, {"q": q + " WHERE n = 2", "format": "geojson"})
    assert whole.status == 400
    assert list(tmp_path.iterdir()) == []


def test_copy_to_appends_an_error_after_the_first_byte(tmp_path: Path) -> None:
    def failing() -> Iterator[str]:
        yield "1\n"
        raise QueryError("out of luck")

    answer = SQLStream(
        "application/octet-stream", {}, failing(), RowSpool(str(tmp_path)), error_tail=_error_tail
    )
    body, pieces = _drain(answer)
    assert body == b'1\n{"error":["out of luck"]}'
    assert pieces == 2
    assert answer.closed
    assert list(tmp_path.iterdir()) == []


def test_a_small_result_stays_in_memory_and_a_large_one_spills(tmp_path: Path) -> None:
    spool = RowSpool(str(tmp_path), memory_bytes=1000)
    spool.write([(1, "a")])
    assert not spool.spilled
    assert list(tmp_path.iterdir()) == []  # no file for a small result
    spool.write([(i, f"{i:0100d}") for i in range(20)])
    assert spool.spilled
    assert len(list(tmp_path.iterdir())) == 1
    # what was in memory went to the file first: the rows come back in order
    assert [row for chunk in spool.chunks() for row in chunk] == [(1, "a")] + [
        (i, f"{i:0100d}") for i in range(20)
    ]
    spool.close()
    assert list(tmp_path.iterdir()) == []


def test_small_answers_make_no_spool_file_and_are_sent_whole(
    spooling_server: LocalCarto, spool_dir: Path
) -> None:
    key = {"api_key": spooling_server.api_key}
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def watched_mkdtemp(*args: Any, **kwargs: Any) -> str:
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    with (
        pytest.MonkeyPatch.context() as patch,
        httpx.Client(base_url=spooling_server.base_url, timeout=30.0) as http,
    ):
        patch.setattr(_spool.tempfile, "mkdtemp", watched_mkdtemp)
        answer = http.get("/api/v2/sql", params={**key, "q": "SELECT 41 + 1 AS n"})
        assert answer.json()["rows"] == [{"n": 42}]
        copied = http.get("/api/v2/sql/copyto", params={**key, "q": "COPY (SELECT 1) TO STDOUT"})
        assert copied.text == "1\n"
        big = http.get("/api/v2/sql", params={**key, "q": BIG_CSV, "format": "csv"})
        assert big.text.count("\r\n") == 20_001
    assert len(made) == 1  # only the large result spilled to disk
    _eventually(lambda: not list(spool_dir.iterdir()), "spool left behind")
