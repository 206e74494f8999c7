"""LocalCarto's COPY: the statement grammar and the csv/text formats (sans-database), and the
unmodified carto-python ``CopySQLClient`` and ``SQLClient`` formats against the server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from carto.auth import APIKeyAuthClient
from carto.exceptions import CartoException
from carto.sql import CopySQLClient, SQLClient

from carto_async.testing import LocalCarto
from carto_async.testing._copysql import (
    CopyError,
    CopyStatement,
    RowDecoder,
    encode_rows,
    parse_copy,
)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (
            'COPY "Stores" ("a", b) FROM STDIN WITH (FORMAT csv, HEADER true)',
            CopyStatement("from", "Stores", None, ("a", "b"), "csv", True, ",", "", '"', '"'),
        ),
        (
            "copy public.t from stdin",
            CopyStatement("from", "t", None, None, "text", False, "\t", "\\N", '"', '"'),
        ),
        (
            "COPY t FROM STDIN WITH CSV HEADER DELIMITER AS ';' NULL 'NA'",
            CopyStatement("from", "t", None, None, "csv", True, ";", "NA", '"', '"'),
        ),
        (
            "COPY (select ')' as x, \"(\" from t where a = 1) TO STDOUT "
            "WITH (FORMAT csv, HEADER false)",
            CopyStatement(
                "to",
                None,
                "select ')' as x, \"(\" from t where a = 1",
                None,
                "csv",
                False,
                ",",
                "",
                '"',
                '"',
            ),
        ),
        (
            "COPY t (a) TO STDOUT (DELIMITER '|', NULL '')",
            CopyStatement("to", "t", None, ("a",), "text", False, "|", "", '"', '"'),
        ),
    ],
)
def test_statements_parse_as_postgresql_reads_them(q: str, expected: CopyStatement) -> None:
    assert parse_copy(q) == expected


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("select 1", "SQL must start with COPY"),
        ("COPY t FROM '/etc/passwd'", "file is not allowed"),
        ("COPY t TO '/tmp/x'", "file is not allowed"),
        ("COPY t FROM STDIN (FORMAT binary)", "binary"),
        ("COPY t FROM STDIN (FORMAT xml)", 'format "xml" not recognized'),
        ("COPY t FROM STDIN (SPEED 'fast')", 'option "speed" not recognized'),
        ("COPY t FROM STDIN (FORMAT csv, DELIMITER '\"')", "must be different"),
        ("COPY (select 1) FROM STDIN", "syntax error"),
        ("COPY t FROM STDIN (FORMAT text, HEADER true)", "only in CSV"),
    ],
)
def test_statements_refused_with_postgresql_words(q: str, message: str) -> None:
    with pytest.raises(CopyError, match=message):
        parse_copy(q)


def decode(q: str, data: bytes, size: int) -> list[list[str | None]]:
    decoder = RowDecoder(parse_copy(q))
    rows = []
    for i in range(0, len(data), size):
        rows += decoder.feed(data[i : i + size])
    return rows + decoder.close()


CSV = 'h1,h2\r\n1,""\r\n2,\r\n"multi\nline","a ""q"", b"\r\n3,é✓'.encode()


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_csv_keeps_empty_strings_apart_from_nulls_whatever_the_chunking(size: int) -> None:
    assert decode("COPY t FROM STDIN (FORMAT csv, HEADER true)", CSV, size) == [
        ["1", ""],
        ["2", None],
        ["multi\nline", 'a "q", b'],
        ["3", "é✓"],
    ]


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_text_format_unescapes_and_reads_nulls(size: int) -> None:
    data = b"a\\tb\t\\N\tx\\\\y\n\\x41\\101\t\t\\n\n\\.\nignored\n"
    assert decode("COPY t FROM STDIN", data, size) == [
        ["a\tb", None, "x\\y"],
        ["AA", "", "\n"],
    ]


def test_csv_with_another_escape_character() -> None:
    q = "COPY t FROM STDIN (FORMAT csv, QUOTE '''', ESCAPE '\\')"
    assert decode(q, b"'it\\'s',x\n", 3) == [["it's", "x"]]


def test_an_unterminated_quote_is_an_error() -> None:
    with pytest.raises(CopyError, match="unterminated CSV quoted field"):
        decode("COPY t FROM STDIN (FORMAT csv)", b'1,"open\n', 100)


def test_invalid_utf8_is_an_error() -> None:
    with pytest.raises(CopyError, match="invalid byte sequence"):
        decode("COPY t FROM STDIN (FORMAT csv)", b"\xff\xfe\n", 100)


def test_rows_are_written_as_copy_writes_them() -> None:
    rows = [["a,b", None, "", 'q"'], ["tab\there", "new\nline", "\\", "\\."]]
    csv = parse_copy("COPY t TO STDOUT (FORMAT csv, HEADER true)")
    assert encode_rows(rows, csv, ["x", "y", "z", "w"]) == (
        'x,y,z,w\n"a,b",,"","q"""\ntab\there,"new\nline",\\,"\\."\n'
    )
    text = parse_copy("COPY t TO STDOUT")
    assert encode_rows(rows, text) == ('a,b\t\\N\t\tq"\ntab\\there\tnew\\nline\t\\\\\t\\\\.\n')


# --------------------------------------------------------------------------- carto-python

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")


@pytest.fixture
def auth(server: LocalCarto) -> Iterator[APIKeyAuthClient]:
    client = APIKeyAuthClient(server.base_url + "/", server.api_key)
    try:
        yield client
    finally:
        client.session.close()


def test_carto_python_copy_sql_client_both_ways(auth: APIKeyAuthClient, tmp_path: Path) -> None:
    sql = SQLClient(auth)
    sql.send("create table cp (name text, n integer, the_geom geometry(Geometry,4326))")
    copy = CopySQLClient(auth)

    def rows() -> Iterator[bytes]:
        yield b"name,n,the_geom\n"
        for i in range(100):
            yield f"shop {i},{i},SRID=4326;POINT({i} {i})\n".encode()

    result = copy.copyfrom(
        "COPY cp (name, n, the_geom) FROM stdin WITH (FORMAT csv, HEADER true)", rows()
    )
    assert result["total_rows"] == 100
    path = tmp_path / "cp.csv"
    path.write_text("name,n\nx,1000\n")
    with path.open("rb") as f:
        assert (
            copy.copyfrom_file_object(
                "COPY cp (name, n) FROM stdin WITH (FORMAT csv, HEADER true)", f
            )["total_rows"]
            == 1
        )
    out = io.BytesIO()
    copy.copyto_file_object(
        "COPY (select name, n from cp order by n) TO stdout WITH (FORMAT csv, HEADER true)", out
    )
    lines = out.getvalue().decode().splitlines()
    assert lines[:2] == ["name,n", "shop 0,0"]
    assert lines[-1] == "x,1000"
    target = tmp_path / "out.txt"
    copy.copyto_file_path("COPY (select n from cp where n < 3 order by n) TO stdout", str(target))
    assert target.read_text() == "0\n1\n2\n"
    with pytest.raises(CartoException, match="does not exist"):
        copy.copyto_file_object("COPY (select * from nowhere) TO stdout", io.BytesIO())


def test_carto_python_sql_client_formats(auth: APIKeyAuthClient) -> None:
    sql = SQLClient(auth)
    sql.send("create table fm (name text, the_geom geometry(Geometry,4326))")
    sql.send("insert into fm values ('a', ST_SetSRID(ST_MakePoint(1, 2), 4326))")
    geojson = sql.send("select * from fm", format="geojson")
    assert geojson["features"][0]["geometry"] == {"type": "Point", "coordinates": [1, 2]}
    csv = sql.send("select name from fm", format="csv")
    assert csv.splitlines() == [b"name", b"a"]  # carto-python hands non-JSON back as bytes


def test_copy_to_reads_only_what_a_regular_key_may_read(server: LocalCarto) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        master = {"api_key": server.api_key}
        created = http.get("/api/v2/sql", params={**master, "q": "create table secret (n int)"})
        assert created.status_code == 200
        http.get("/api/v2/sql", params={**master, "q": "insert into secret values (7)"})
        ask = {"api_key": server.regular_api_key, "q": "COPY secret TO STDOUT"}
        refused = http.get("/api/v2/sql/copyto", params=ask)
        assert refused.status_code == 403
        assert "permission denied for table secret" in refused.json()["error"][0]
        assert http.get("/api/v2/sql/copyto", params={**master, "q": ask["q"]}).text == "7\n"
        server.visualizations.set_privacy("secret", "public")
        allowed = http.get("/api/v2/sql/copyto", params=ask)
        assert (allowed.status_code, allowed.text) == (200, "7\n")
