"""LocalCarto's Database: sharing, transactions, the PostgreSQL dialect, names, errors."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carto_async.testing._db import Database, QueryError
from carto_async.testing.engine._sqltext import pg_column_name, significant, tokenize
from tests.testing import ewkb_codec as geo
from tests.testing.conftest_data import columns, rows

POINT_1_2 = "0101000020E6100000000000000000F03F0000000000000040"


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database()
    yield database
    database.close()


@pytest.fixture
def places(db: Database) -> Database:
    """A CARTO table with three rows."""
    db.create_carto_table("places", [("name", "TEXT"), ("visits", "INTEGER"), ("open", "BOOLEAN")])
    db.install_carto_triggers("places")
    db.execute(
        "INSERT INTO places (name, visits, open, the_geom) VALUES"
        " ('Alpha', 3, true, 'SRID=4326;POINT(1 2)'),"
        " ('beta', 5, false, NULL),"
        " ('Gamma', NULL, true, 'SRID=4326;POINT(-3.7 40.4)')"
    )
    return db


# -- lifecycle, catalogue, threads ---------------------------------------------------------


def test_file_database_persists(tmp_path: Path) -> None:
    path = str(tmp_path / "carto.sqlite")
    first = Database(path)
    first.execute("CREATE TABLE t (a int)")
    first.execute("INSERT INTO t VALUES (1), (2)")
    first.close()
    second = Database(path)
    try:
        assert second.row_count("t") == 2
    finally:
        second.close()


def test_file_database_keeps_carto_tables_and_type_modifiers(tmp_path: Path) -> None:
    path = str(tmp_path / "carto.duckdb")
    first = Database(path)
    first.create_carto_table("places", [("name", "TEXT")])
    first.execute("CREATE TABLE shapes (pt geometry(Point, 4326), label varchar(10))")
    first.execute("INSERT INTO places (name, the_geom) VALUES ('a', CDB_LatLng(2, 1))")
    first.close()
    second = Database(path)
    try:
        assert columns(second, "shapes") == {"pt": "GEOMETRY_TEXT(1,4326)", "label": "VARCHAR(10)"}
        got = rows(second, "SELECT the_geom, ST_SRID(the_geom_webmercator) AS s FROM places")
        assert got == [{"the_geom": POINT_1_2, "s": 3857}]
        second.execute("INSERT INTO places (name) VALUES ('b')")
        assert rows(second, "SELECT max(cartodb_id) AS m FROM places") == [{"m": 2}]
    finally:
        second.close()


def test_closed_database_refuses_work(db: Database) -> None:
    db.close()
    db.close()
    with pytest.raises(QueryError, match="closed"):
        db.execute("SELECT 1")


def test_catalogue(places: Database) -> None:
    db = places
    assert db.table_exists("places")
    assert db.table_exists("PLACES")
    assert not db.table_exists("nowhere")
    db.execute("CREATE TABLE other (a int)")
    assert db.list_tables() == ["other", "places"]  # sqlite_sequence is not a user table
    assert db.row_count("places") == 3
    assert list(columns(db, "places")) == [
        "cartodb_id",
        "the_geom",
        "the_geom_webmercator",
        "name",
        "visits",
        "open",
    ]
    db.drop_table("other")
    db.drop_table("other")
    assert db.list_tables() == ["places"]
    with pytest.raises(QueryError, match='relation "nowhere" does not exist'):
        db.row_count("nowhere")


def test_transactions_commit_roll_back_and_nest(db: Database) -> None:
    db.execute("CREATE TABLE t (a int)")
    with db.transaction():
        db.execute("INSERT INTO t VALUES (1)")

    def fails_after_insert(value: int) -> None:
        with db.transaction():
            db.execute("INSERT INTO t VALUES (?)", (value,))
            db.execute("INSERT INTO nowhere VALUES (5)")

    with pytest.raises(QueryError):
        fails_after_insert(2)
    with db.transaction():
        db.execute("INSERT INTO t VALUES (3)")

    # DuckDB has no savepoints: a failed nested block dooms the outer one, as an error
    # inside a PostgreSQL transaction does.
    def nested_failure() -> None:
        with db.transaction():
            db.execute("INSERT INTO t VALUES (5)")
            with pytest.raises(QueryError):
                fails_after_insert(4)

    with pytest.raises(QueryError, match="current transaction is aborted"):
        nested_failure()
    assert [r["a"] for r in rows(db, "SELECT a FROM t ORDER BY a")] == [1, 3]


def test_threads_share_one_database(db: Database) -> None:
    db.execute("CREATE TABLE t (n int)")
    errors: list[BaseException] = []

    def worker(start: int) -> None:
        try:
            for n in range(start, start + 50):
                db.execute("INSERT INTO t VALUES (?)", (n,))
                db.execute("SELECT count(*) FROM t")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i * 100,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.row_count("t") == 400


def test_a_transaction_holds_other_threads_back(db: Database) -> None:
    db.execute("CREATE TABLE t (n int)")
    seen: list[int] = []
    with db.transaction():
        db.execute("INSERT INTO t VALUES (1)")
        reader = threading.Thread(target=lambda: seen.append(db.row_count("t")))
        reader.start()
        time.sleep(0.05)
        assert seen == []  # blocked until the transaction ends
        db.execute("INSERT INTO t VALUES (2)")
    reader.join()
    assert seen == [2]


# -- statements ----------------------------------------------------------------------------


def test_execute_binds_parameters_and_reports_rowcount(places: Database) -> None:
    result = places.execute("SELECT name FROM places WHERE visits > ? ORDER BY name", (2,))
    assert result.rows == [("Alpha",), ("beta",)]
    assert result.rowcount == 2
    assert places.execute("UPDATE places SET visits = 0 WHERE open").rowcount == 2
    assert places.execute("DELETE FROM places WHERE name = 'beta'").rowcount == 1
    assert places.execute("CREATE TABLE t (a int)").rowcount == 0


def test_execute_takes_one_statement(db: Database) -> None:
    assert db.execute("SELECT 1;").rows == [(1,)]
    assert db.execute("  -- nope_col\n").columns == []
    with pytest.raises(QueryError, match="cannot insert multiple commands"):
        db.execute("SELECT 1; SELECT 2")


def test_run_statements_is_atomic_and_returns_the_last_result(db: Database) -> None:
    db.execute("CREATE TABLE t (a int)")
    result = db.run_statements("BEGIN; INSERT INTO t VALUES (1); SELECT a FROM t; COMMIT;")
    assert result.rows == [(1,)]
    with pytest.raises(QueryError, match='relation "nowhere" does not exist'):
        db.run_statements("INSERT INTO t VALUES (2); SELECT * FROM nowhere")
    assert db.row_count("t") == 1
    db.run_statements("INSERT INTO t VALUES (3); ROLLBACK; INSERT INTO t VALUES (4)")
    assert [r["a"] for r in rows(db, "SELECT a FROM t ORDER BY a")] == [1, 4]


def test_semicolons_inside_strings_do_not_split_and_triggers_are_refused(db: Database) -> None:
    db.run_statements(
        "CREATE TABLE t (a text, b int); INSERT INTO t (a, b) VALUES ('x;y', 1); -- c;d\n"
    )
    assert rows(db, "SELECT a, b FROM t") == [{"a": "x;y", "b": 1}]
    # DuckDB has no triggers: CREATE TRIGGER is refused as PostgreSQL refuses unknown words
    with pytest.raises(QueryError, match='syntax error at or near "TRIGGER"'):
        db.run_statements("CREATE TRIGGER t_b AFTER INSERT ON t BEGIN UPDATE t SET b = 1; END")


def test_read_only_refuses_writes(places: Database) -> None:
    db = places
    assert db.run_statements("SELECT count(*) FROM places", read_only=True).rows == [(3,)]
    cases = {
        "INSERT INTO places (name) VALUES ('x')": "permission denied for table places",
        "UPDATE places SET name = 'x'": "permission denied for table places",
        "DELETE FROM places": "permission denied for table places",
        "DROP TABLE places": "must be owner of table places",
        "CREATE TABLE t (a int)": "permission denied for schema public",
    }
    for sql, message in cases.items():
        with pytest.raises(QueryError) as caught:
            db.run_statements(sql, read_only=True)
        assert str(caught.value) == message
    assert db.row_count("places") == 3
    assert db.run_statements("INSERT INTO places (name) VALUES ('x')").rowcount == 1


def test_timeout_cancels_a_long_statement(db: Database) -> None:
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
        " SELECT count(*) FROM n"
    )
    started = time.monotonic()
    with pytest.raises(QueryError, match="canceling statement due to statement timeout"):
        db.run_statements(slow, timeout=0.05)
    assert time.monotonic() - started < 5
    assert db.run_statements("SELECT 1").rows == [(1,)]


# -- PostgreSQL dialect --------------------------------------------------------------------


def test_casts(db: Database) -> None:
    result = db.execute(
        "SELECT '12'::int AS a, 3::text AS b, 't'::boolean AS c, 'no'::bool AS d,"
        " '2020-01-02 03:04:05+02'::timestamptz AS e, '2020-01-02T10:00'::date AS f,"
        " 'SRID=4326;POINT(1 2)'::geometry AS g, 1.5::numeric(10,2) AS h,"
        " 'abc'::varchar(2) AS i, '7'::int8::text AS j, '{\"a\": 1}'::jsonb AS k"
    )
    assert dict(zip(result.columns, result.rows[0], strict=True)) == {
        "a": 12,
        "b": "3",
        "c": 1,
        "d": 0,
        "e": dt.datetime(2020, 1, 2, 1, 4, 5, tzinfo=dt.UTC),
        "f": dt.date(2020, 1, 2),
        "g": POINT_1_2,
        "h": 1.5,
        "i": "abc",
        "j": "7",
        "k": '{"a": 1}',
    }
    assert result.decl_types == [
        "INTEGER",
        "TEXT",
        "BOOLEAN",
        "BOOLEAN",
        "TIMESTAMPTZ",
        "DATE",
        "GEOMETRY_TEXT",
        "NUMERIC(10,2)",
        "TEXT",  # DuckDB keeps no length in a VARCHAR
        "TEXT",
        "JSON",
    ]


def test_sql_standard_cast_to_postgres_types(db: Database) -> None:
    result = db.execute("SELECT CAST('true' AS boolean), CAST('POINT(1 2)' AS geometry)")
    assert result.rows == [(1, "0101000000000000000000F03F0000000000000040")]
    assert result.columns == ["bool", "geometry"]


def test_bad_cast_input_is_postgres_error(db: Database) -> None:
    with pytest.raises(QueryError, match='invalid input syntax for type boolean: "maybe"'):
        db.execute("SELECT 'maybe'::boolean")
    with pytest.raises(QueryError, match="parse error - invalid geometry"):
        db.execute("SELECT 'nonsense'::geometry")


def test_casts_name_columns_like_postgres(places: Database) -> None:
    result = places.execute(
        "SELECT count(*)::int, name::text, the_geom::text, 5::text FROM places"
        " GROUP BY name, the_geom"
    )
    assert result.columns == ["count", "name", "the_geom", "text"]
    assert result.decl_types[0] == "INTEGER"


def test_schema_prefixes_ilike_and_strings(places: Database) -> None:
    assert rows(places, "SELECT name FROM public.places WHERE name ILIKE 'BETA'") == [
        {"name": "beta"}
    ]
    assert rows(places, 'SELECT count(*) AS n FROM "public"."places"') == [{"n": 3}]
    assert places.execute("SELECT E'a\\tb', $$it's$$, $tag$x$tag$").rows == [("a\tb", "it's", "x")]
    assert places.execute("SELECT cartodb.CDB_LatLng(2, 1)").rows == [(POINT_1_2,)]


def test_cdb_user_tables(places: Database) -> None:
    places.execute("CREATE TABLE another (a int)")
    assert places.execute("SELECT * FROM CDB_UserTables()").rows == [("another",), ("places",)]
    assert places.execute("SELECT * FROM cdb_usertables('all')").columns == ["cdb_usertables"]


def test_truncate(places: Database) -> None:
    places.execute("TRUNCATE TABLE places")
    assert places.row_count("places") == 0


def test_ddl_types(db: Database) -> None:
    db.run_statements(
        "CREATE TABLE t (id serial PRIMARY KEY, geometry geometry(Point, 4326), g geometry,"
        " w geography(MultiPolygon,4326), stamp timestamp with time zone DEFAULT now(),"
        " naive timestamp without time zone, flag boolean DEFAULT true, tags text[]);"
        "CREATE INDEX t_geom_idx ON t USING GIST (geometry);"
        "ALTER TABLE t ADD COLUMN geom2 geometry(Polygon,3857)"
    )
    assert columns(db, "t") == {
        "id": "INTEGER",
        "geometry": "GEOMETRY_TEXT(1,4326)",
        "g": "GEOMETRY_TEXT",
        "w": "GEOGRAPHY_TEXT(6,4326)",
        "stamp": "TIMESTAMPTZ",
        "naive": "TIMESTAMP",
        "flag": "BOOLEAN",
        "tags": "TEXT[]",
        "geom2": "GEOMETRY_TEXT(3,3857)",
    }
    db.execute("INSERT INTO t (geometry) VALUES ('SRID=4326;POINT(0 0)')")
    row = rows(db, "SELECT id, geometry, stamp, flag FROM t")[0]
    # hex EWKB of POINT(0 0) is all digits after the E: text affinity keeps it a string
    assert row["geometry"] == "0101000020E610000000000000000000000000000000000000"
    assert row["id"] == 1
    assert row["flag"] == 1
    assert row["stamp"].tzinfo is not None


def test_create_table_as_keeps_postgres_names_and_types(places: Database) -> None:
    places.execute(
        "CREATE TABLE summary AS SELECT name, the_geom, count(*), visits::text, open"
        " FROM places GROUP BY name, the_geom, visits, open"
    )
    assert columns(places, "summary") == {
        "name": "TEXT",
        "the_geom": "GEOMETRY_TEXT(0,4326)",
        "count": "BIGINT",
        "visits": "TEXT",
        "open": "BOOLEAN",
    }
    assert places.row_count("summary") == 3
    with pytest.raises(QueryError, match='relation "summary" already exists'):
        places.execute("CREATE TABLE summary AS SELECT 1")
    assert places.execute("CREATE TABLE IF NOT EXISTS summary AS SELECT 1").rowcount == 0
    with pytest.raises(QueryError, match='column "a" specified more than once'):
        places.execute("CREATE TABLE dup AS SELECT 1 AS a, 2 AS a")


def test_cdb_cartodbfy_table(db: Database) -> None:
    db.run_statements(
        "CREATE TABLE raw (name text, the_geom text);"
        "INSERT INTO raw VALUES ('a', 'POINT(1 2)'), ('b', NULL);"
    )
    result = db.execute("SELECT CDB_CartodbfyTable('demo', 'raw')")
    assert result.rows == [("raw",)]
    assert list(columns(db, "raw")) == [
        "cartodb_id",
        "the_geom",
        "the_geom_webmercator",
        "name",
    ]
    got = rows(db, "SELECT cartodb_id, name, the_geom, ST_SRID(the_geom_webmercator) AS s FROM raw")
    assert got == [
        {"cartodb_id": 1, "name": "a", "the_geom": POINT_1_2, "s": 3857},
        {"cartodb_id": 2, "name": "b", "the_geom": None, "s": None},
    ]
    db.execute("INSERT INTO raw (name) VALUES ('c')")
    assert rows(db, "SELECT max(cartodb_id) AS m FROM raw") == [{"m": 3}]


def test_cartodbfy_keeps_a_good_cartodb_id_and_refuses_a_bad_one(db: Database) -> None:
    db.run_statements(
        "CREATE TABLE good (cartodb_id int, a text); INSERT INTO good VALUES (10, 'x'), (20, 'y');"
        "CREATE TABLE bad (cartodb_id int, a text); INSERT INTO bad VALUES (1, 'x'), (1, 'y');"
        "CREATE TABLE unreadable (the_geom text); INSERT INTO unreadable VALUES ('not a shape');"
    )
    db.cartodbfy("good")
    assert [r["cartodb_id"] for r in rows(db, "SELECT cartodb_id FROM good")] == [10, 20]
    with pytest.raises(QueryError, match="invalid cartodb_id"):
        db.cartodbfy("bad")
    db.cartodbfy("unreadable")
    assert rows(db, "SELECT the_geom, the_geom_1 FROM unreadable") == [
        {"the_geom": None, "the_geom_1": "not a shape"}
    ]


# -- CARTO table triggers ------------------------------------------------------------------


def test_the_geom_webmercator_follows_the_geom(places: Database) -> None:
    got = rows(places, "SELECT name, the_geom_webmercator FROM places ORDER BY cartodb_id")
    alpha = geo.from_hex(got[0]["the_geom_webmercator"])
    assert alpha.srid == 3857
    assert alpha.coords == pytest.approx(geo.lonlat_to_mercator(1, 2))
    assert got[1]["the_geom_webmercator"] is None
    places.execute("UPDATE places SET the_geom = CDB_LatLng(20, 10) WHERE name = 'beta'")
    merc = rows(
        places, "SELECT ST_AsText(the_geom_webmercator) AS t FROM places WHERE name = 'beta'"
    )
    assert merc == [{"t": "POINT(1113194.9079327357 2273030.9269876895)"}]
    places.execute("UPDATE places SET the_geom = NULL WHERE name = 'beta'")
    assert rows(places, "SELECT the_geom_webmercator FROM places WHERE name = 'beta'") == [
        {"the_geom_webmercator": None}
    ]


def test_the_geom_must_be_epsg_4326(places: Database) -> None:
    with pytest.raises(
        QueryError, match=r"Geometry SRID \(3857\) does not match column SRID \(4326\)"
    ):
        places.execute(
            "INSERT INTO places (name, the_geom) VALUES ('x', ST_SetSRID(ST_MakePoint(1, 2), 3857))"
        )
    with pytest.raises(QueryError, match="parse error - invalid geometry"):
        places.execute("INSERT INTO places (name, the_geom) VALUES ('x', 'nonsense')")
    assert places.row_count("places") == 3
    # A geometry without SRID takes the column's (DuckDB casts it; PostGIS would refuse).
    places.execute("INSERT INTO places (name, the_geom) VALUES ('x', ST_MakePoint(1, 2))")
    assert rows(places, "SELECT ST_SRID(the_geom) AS s FROM places WHERE name = 'x'") == [
        {"s": 4326}
    ]


def test_deleted_ids_are_not_reused(places: Database) -> None:
    places.execute("DELETE FROM places WHERE cartodb_id = 3")
    places.execute("INSERT INTO places (name) VALUES ('delta')")
    assert rows(places, "SELECT cartodb_id FROM places WHERE name = 'delta'") == [{"cartodb_id": 4}]


# -- names, types, errors ------------------------------------------------------------------


def test_result_names_and_types(places: Database) -> None:
    result = places.execute(
        "SELECT count(*), ST_AsText(the_geom), 1, 1.5, 'x', name, now(), TRUE,"
        " ST_SetSRID(ST_MakePoint(1, 2), 4326), ST_Extent(the_geom), CASE WHEN open THEN 1 END,"
        " places.visits, visits + 1, ST_IsEmpty(the_geom)"
        " FROM places GROUP BY cartodb_id, the_geom, name, open, visits"
        " ORDER BY cartodb_id LIMIT 1"
    )
    assert result.columns == [
        "count",
        "st_astext",
        "?column?",
        "?column?",
        "?column?",
        "name",
        "now",
        "bool",
        "st_setsrid",
        "st_extent",
        "case",
        "visits",
        "?column?",
        "st_isempty",
    ]
    assert result.decl_types == [
        "BIGINT",
        "TEXT",
        "INTEGER",
        "NUMERIC",
        "TEXT",
        "TEXT",
        "TIMESTAMPTZ",
        "BOOLEAN",
        "GEOMETRY_TEXT",
        "BOX2D",
        "INTEGER",
        "INTEGER",
        "INTEGER",
        "BOOLEAN",
    ]


def test_returning_uses_the_table_types(places: Database) -> None:
    result = places.execute("INSERT INTO places (name, open) VALUES (?, ?) RETURNING *", ("d", 1))
    assert result.rowcount == 1
    assert result.decl_types[:2] == ["INTEGER", "GEOMETRY_TEXT(0,4326)"]
    assert result.decl_types[-1] == "BOOLEAN"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("count(*)", "count"),
        ("COUNT(*)", "count"),
        ("CAST(count(*) AS INTEGER)", "count"),
        ("CAST(5 AS TEXT)", "text"),
        ("flag::bool", "flag"),
        ("max(a) + min(b)", "?column?"),
        ("t.col", "col"),
        ('"Quoted Name"', "Quoted Name"),
        ("name", "name"),
    ],
)
def test_pg_column_name(raw: str, name: str) -> None:
    assert pg_column_name(significant(tokenize(raw))) == name


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", 'syntax error at or near "SELEC"'),
        ("SELECT * FROM places WHERE", "syntax error at end of input"),
        ("SELECT * FROM nowhere", 'relation "nowhere" does not exist'),
        ("SELECT nope_col FROM places", 'column "nope_col" does not exist'),
        ("SELECT places.nope_col FROM places", "column places.nope_col does not exist"),
        ("SELECT no_such_function(1)", "function no_such_function does not exist"),
        ("CREATE TABLE places (a int)", 'relation "places" already exists'),
        ("DROP TABLE nowhere", 'table "nowhere" does not exist'),
        (
            "INSERT INTO places (nope_col) VALUES (1)",
            'column "nope_col" of relation "places" does not exist',
        ),
        (
            "INSERT INTO places (cartodb_id) VALUES (1)",
            'duplicate key value violates unique constraint "places_pkey"',
        ),
        (
            "INSERT INTO places (name, visits) VALUES (1, 2, 3)",
            "INSERT has more expressions than target columns",
        ),
        ("SELECT name FROM places, places AS p2", 'column reference "name" is ambiguous'),
        (
            "SELECT ST_X(ST_GeomFromText('LINESTRING(0 0,1 1)'))",
            "Argument to ST_X() must have type POINT",
        ),
    ],
)
def test_errors_read_like_postgres(places: Database, sql: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        places.execute(sql)
    assert str(caught.value) == message


def test_not_null_violation(db: Database) -> None:
    db.execute("CREATE TABLE t (a int NOT NULL)")
    with pytest.raises(QueryError, match='null value in column "a" violates not-null constraint'):
        db.execute("INSERT INTO t VALUES (NULL)")


def test_parameterized_queries_keep_declared_types(places: Database) -> None:
    result = places.execute("SELECT open, the_geom, name FROM places WHERE cartodb_id = ?", (1,))
    assert result.decl_types == ["BOOLEAN", "GEOMETRY_TEXT(0,4326)", "TEXT"]
    assert result.rows == [(1, POINT_1_2, "Alpha")]


def test_geometry_columns_of_user_tables_behave_like_postgis(db: Database) -> None:
    db.run_statements(
        "CREATE TABLE shapes (id int, pt geometry(Point, 4326), anything geometry);"
        "INSERT INTO shapes (id, pt, anything)"
        " VALUES (1, 'SRID=4326;POINT(1 2)', 'LINESTRING(0 0,1 1)');"
    )
    assert rows(db, "SELECT pt, anything FROM shapes") == [
        {"pt": POINT_1_2, "anything": geo.to_hex(geo.from_wkt("LINESTRING(0 0,1 1)"))}
    ]
    with pytest.raises(QueryError, match=r"Geometry type does not match column type \(Point\)"):
        db.execute("INSERT INTO shapes (pt) VALUES ('SRID=4326;LINESTRING(0 0,1 1)')")
    with pytest.raises(
        QueryError, match=r"Geometry SRID \(3857\) does not match column SRID \(4326\)"
    ):
        db.execute("UPDATE shapes SET pt = 'SRID=3857;POINT(1 2)'")
    db.execute("UPDATE shapes SET pt = ST_SetSRID(ST_MakePoint(3, 4), 4326)")
    assert rows(db, "SELECT ST_AsText(pt) AS t FROM shapes") == [{"t": "POINT(3 4)"}]


def test_execute_native_runs_duckdb_as_is(db: Database) -> None:
    result = db.execute_native("SELECT 1 AS a, count(*) FROM (SELECT 1)")
    assert result.columns == ["a", "count_star()"]
    assert result.rows == [(1, 1)]
    with pytest.raises(QueryError, match='relation "nowhere" does not exist'):
        db.execute_native("SELECT * FROM nowhere")


def test_unquoted_names_fold_to_lower_case(db: Database) -> None:
    db.execute('CREATE TABLE Places (Name text, "Mixed" int)')
    assert db.list_tables() == ["places"]
    db.execute("INSERT INTO PLACES (NAME, \"Mixed\") VALUES ('a', 1)")
    result = db.execute('SELECT NAME, "Mixed", NAME AS Alias FROM Places')
    assert result.columns == ["name", "Mixed", "alias"]
    with pytest.raises(QueryError, match='syntax error at or near "Places"'):
        db.execute("SELECT Name FROMM Places")


def test_greatest_and_least_skip_nulls(db: Database) -> None:
    assert db.execute("SELECT greatest(1, NULL, 3), least(NULL, 2, 5), greatest(NULL)").rows == [
        (3, 2, None)
    ]
