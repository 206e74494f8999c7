"""POST/GET /api/v1/imports over real sockets: encodings, options, states, failures, slots."""

from __future__ import annotations

import re
import tracemalloc
from typing import Any

import httpx
import pytest

from carto_async.testing import Clock, Faults, LocalCarto
from tests.testing.conftest import fixture, import_file, serving, sql, upload, wait_final

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CSV = "name,value\nalpha,1\nbeta,2\ngamma,3\n"
STATES = ["pending", "uploading", "unpacking", "importing", "guessing", "complete"]
# Documented keys the docs example lacks (reference §4.2).
EXTRA_KEYS = {
    "original_url",
    "http_response_code",
    "http_response_code_message",
    "any_table_raster",
    "derived_visualization_id",
}


def _created(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["item_queue_id", "success"]
    assert body["success"] is True
    assert UUID_RE.match(body["item_queue_id"])
    return str(body["item_queue_id"])


def _rows(http: httpx.Client, key: str, table: str) -> list[dict[str, Any]]:
    response = sql(http, key, f"select name, value from {table} order by name")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


# -- encodings -----------------------------------------------------------------------------


def test_multipart_file_field_creates_a_table_named_after_the_file(
    server: LocalCarto, http: httpx.Client
) -> None:
    key = server.api_key
    import_id = _created(upload(http, key, "my stores.csv", CSV, table_name="ignored"))
    body = wait_final(http, import_id, key)
    assert (body["state"], body["success"], body["table_name"]) == ("complete", True, "my_stores")
    assert body["display_name"] == "my_stores.csv"
    assert body["data_type"] == "file"
    assert len(_rows(http, key, "my_stores")) == 3


def test_multipart_filename_field(server: LocalCarto, http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        files={"filename": ("by_filename.csv", CSV.encode())},
    )
    body = wait_final(http, _created(response), server.api_key)
    assert body["table_name"] == "by_filename"


def test_raw_body_with_filename_query_param(server: LocalCarto, http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/imports",
        content=CSV.encode(),
        params={"api_key": server.api_key, "filename": "raw body.csv"},
        headers={"Content-Type": "application/octet-stream"},
    )
    body = wait_final(http, _created(response), server.api_key)
    assert (body["table_name"], body["display_name"]) == ("raw_body", "raw_body.csv")


def test_chunked_multipart_upload_is_streamed(server: LocalCarto, http: httpx.Client) -> None:
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="chunked.csv"\r\n\r\n'
    ).encode()

    def chunks() -> Any:
        yield head
        yield b"name,value\n"
        for i in range(2000):
            yield f"row{i},{i}\n".encode()
        yield f"\r\n--{boundary}--\r\n".encode()

    response = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert wait_final(http, _created(response), server.api_key)["state"] == "complete"
    assert server.db.row_count("chunked") == 2000


@pytest.mark.parametrize("encoding", ["json", "form", "query"])
def test_sql_import_in_json_form_or_query_string(
    server: LocalCarto, http: httpx.Client, encoding: str
) -> None:
    key = server.api_key
    http.get("/api/v2/sql", params={"api_key": key, "q": "create table src (name text, value int)"})
    http.get("/api/v2/sql", params={"api_key": key, "q": "insert into src values ('a', 1)"})
    params = {"sql": "select * from src", "table_name": f"from_{encoding}"}
    if encoding == "json":
        response = http.post("/api/v1/imports", params={"api_key": key}, json=params)
    elif encoding == "form":
        response = http.post("/api/v1/imports", params={"api_key": key}, data=params)
    else:
        response = http.post("/api/v1/imports", params={"api_key": key, **params})
    body = wait_final(http, _created(response), key)
    assert (body["state"], body["data_type"], body["table_name"]) == (
        "complete",
        "query",
        f"from_{encoding}",
    )
    assert body["display_name"] == body["id"]
    assert _rows(http, key, f"from_{encoding}") == [{"name": "a", "value": 1}]


def test_table_name_alone_copies_the_table(server: LocalCarto, http: httpx.Client) -> None:
    import_file(http, server.api_key, "original.csv", CSV)
    response = http.post(
        "/api/v1/imports", json={"api_key": server.api_key, "table_name": "original"}
    )
    body = wait_final(http, _created(response), server.api_key)
    assert body["state"] == "complete"
    assert body["table_name"].startswith("original_")
    assert len(_rows(http, server.api_key, body["table_name"])) == 3


def test_table_copy_with_a_target_name(server: LocalCarto, http: httpx.Client) -> None:
    import_file(http, server.api_key, "source.csv", CSV)
    response = http.post(
        "/api/v1/imports",
        data={"api_key": server.api_key, "table_copy": "source", "table_name": "copied"},
    )
    assert wait_final(http, _created(response), server.api_key)["table_name"] == "copied"


def test_jsonp_callback_on_create(server: LocalCarto, http: httpx.Client) -> None:
    ok = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key, "sql": "select 1 as a", "callback": "cb"},
    )
    assert ok.status_code == 200
    assert ok.text.startswith('/**/cb({"item_queue_id":"')
    assert ok.headers["content-type"].startswith("text/javascript")
    bad = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key, "sql": "select 1 as a", "callback": "1x"},
    )
    assert bad.status_code == 400
    assert bad.json() == {"errors": {"callback": "Invalid callback format"}}


# -- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ({}, (True, True, False, False)),
        (
            {
                "type_guessing": "false",
                "quoted_fields_guessing": "false",
                "content_guessing": "true",
                "create_vis": "true",
            },
            (False, False, True, True),
        ),
        (
            {
                "type_guessing": "False",
                "quoted_fields_guessing": "0",
                "content_guessing": "True",
                "create_vis": "1",
            },
            (True, True, False, False),
        ),
    ],
)
def test_boolean_options_are_parsed_like_the_server(
    server: LocalCarto, http: httpx.Client, sent: dict[str, str], expected: tuple[bool, ...]
) -> None:
    body = import_file(http, server.api_key, "flags.csv", CSV, **sent)
    got = (
        body["type_guessing"],
        body["quoted_fields_guessing"],
        body["content_guessing"],
        body["create_visualization"],
    )
    assert got == expected
    assert (body["visualization_id"] is not None) is expected[3]
    assert body["derived_visualization_id"] == body["visualization_id"]


def test_json_booleans_and_user_defined_limits(server: LocalCarto, http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        json={
            "sql": "select 1 as a",
            "type_guessing": False,
            "content_guessing": True,
            "user_defined_limits": {"twitter_credits_limit": "5"},
        },
    )
    body = wait_final(http, _created(response), server.api_key)
    assert (body["type_guessing"], body["content_guessing"]) == (False, True)
    assert body["user_defined_limits"] == '{"twitter_credits_limit":5}'


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"privacy": "secret"},
            "Unknown value 'secret' for 'privacy'. Allowed values are: private, public and link",
        ),
        ({"collision_strategy": "replace"}, "collision_strategy Invalid collision strategy"),
        (
            {"url": "http://example.com:8080/a.csv"},
            "Invalid URL, cannot connect dataset: http://example.com:8080/a.csv",
        ),
        ({"url": "file:///etc/passwd"}, "Invalid URL, cannot connect dataset: file:///etc/passwd"),
        ({"remote_visualization_id": "x"}, "Illegal external load"),
    ],
)
def test_validation_errors_are_400_with_the_server_message(
    server: LocalCarto, http: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key, **params},
        files={"file": ("a.csv", CSV.encode())},
    )
    assert response.status_code == 400
    assert response.json() == {"errors": {"imports": message}}
    assert server.counters.jobs_created == 0


def test_service_item_id_must_be_a_string(server: LocalCarto, http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        json={"service_name": "gdrive", "service_item_id": 12},
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"imports": "service_item_id field should be empty or a string"}
    }


def test_private_datasets_refused_when_the_plan_disallows_them() -> None:
    with serving(private_tables=False) as (server, http):
        response = upload(http, server.api_key, "a.csv", CSV, privacy="private")
        assert response.status_code == 400
        assert "does not allow to create private datasets" in response.json()["errors"]["imports"]
        assert upload(http, server.api_key, "a.csv", CSV, privacy="PUBLIC").status_code == 200


# -- collision strategies ------------------------------------------------------------------


def test_collision_strategies(server: LocalCarto, http: httpx.Client) -> None:
    key = server.api_key
    assert import_file(http, key, "dup.csv", CSV)["table_name"] == "dup"
    renamed = import_file(http, key, "dup.csv", CSV)
    assert renamed["state"] == "complete"
    assert renamed["table_name"] not in (None, "dup")
    overwritten = import_file(
        http, key, "dup.csv", "name,value\nonly,9\n", collision_strategy="overwrite"
    )
    assert overwritten["table_name"] == "dup"
    assert _rows(http, key, "dup") == [{"name": "only", "value": 9}]
    skipped = import_file(http, key, "dup.csv", CSV, collision_strategy="skip")
    assert (skipped["state"], skipped["success"], skipped["error_code"]) == ("complete", True, 1022)
    assert skipped["get_error_text"] == fixture("imports", "get_error_text_by_code.json")["1022"]
    assert _rows(http, key, "dup") == [{"name": "only", "value": 9}]


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("streets.cpg", "UTF-8", 1002),
        ("empty.csv", "", 1005),
        ("ragged.csv", "a,b\n1,2,3\n4\n", 2003),
        (
            "wide.csv",
            ",".join(f"c{i}" for i in range(300)) + "\n" + ",".join("1" * 300) + "\n",
            2004,
        ),
    ],
)
def test_import_failures_carry_the_real_code_and_text(
    server: LocalCarto, http: httpx.Client, filename: str, data: str, code: int
) -> None:
    body = import_file(http, server.api_key, filename, data)
    assert (body["state"], body["success"], body["error_code"]) == ("failure", False, code)
    assert body["get_error_text"] == fixture("imports", "get_error_text_by_code.json")[str(code)]
    assert body["table_name"] is None
    assert body["table_id"] is None


def test_file_over_the_size_limit_fails_6666() -> None:
    with serving(max_file_size=1000) as (server, http):
        big = "name,value\n" + "".join(f"row{i},{i}\n" for i in range(5000))
        body = import_file(http, server.api_key, "big.csv", big)
        assert (body["state"], body["error_code"]) == ("failure", 6666)
        assert body["get_error_text"]["title"] == "Dataset too big"
        small = import_file(http, server.api_key, "small.csv", "a\n1\n")
        assert small["state"] == "complete"


def test_rows_over_the_limit_fail_6668() -> None:
    with serving(max_rows=2) as (server, http):
        body = import_file(http, server.api_key, "rows.csv", CSV)
        assert (body["state"], body["error_code"]) == ("failure", 6668)


def test_code_without_text_has_null_error_text(server: LocalCarto, http: httpx.Client) -> None:
    server.faults.fail_imports(1010)
    body = import_file(http, server.api_key, "nofile.csv", CSV)
    assert (body["state"], body["error_code"], body["get_error_text"]) == ("failure", 1010, None)


def test_stuck_import_flips_to_6671_once_stale() -> None:
    faults = Faults()
    faults.stuck_imports(count=1)
    # CARTO's real threshold (5 minutes), passed in no time on the server's clock.
    with serving(faults=faults, clock=Clock(frozen=True)) as (server, http):
        import_id = _created(upload(http, server.api_key, "stuck.csv", CSV))
        server.advance(1.0)
        show = http.get(f"/api/v1/imports/{import_id}", params={"api_key": server.api_key})
        assert show.json()["state"] == "unpacking"
        assert "success" not in show.json()
        server.advance(299.0)
        again = http.get(f"/api/v1/imports/{import_id}", params={"api_key": server.api_key})
        assert again.json()["state"] == "unpacking"
        server.advance(1.0)
        body = wait_final(http, import_id, server.api_key)
        assert (body["state"], body["error_code"]) == ("failure", 6671)
        assert body["get_error_text"]["title"] == "Stuck import job"
        assert not server.db.table_exists("stuck")


# -- GET /imports/:id ----------------------------------------------------------------------


def test_states_walk_in_order_and_success_only_when_final() -> None:
    with serving(import_processing_time=5.0, clock=Clock(frozen=True)) as (server, http):
        import_id = _created(upload(http, server.api_key, "walk.csv", CSV))
        (job,) = server.jobs()
        seen: list[str] = []
        for _ in range(5):
            body = http.get(
                f"/api/v1/imports/{import_id}", params={"api_key": server.api_key}
            ).json()
            assert "success" not in body
            seen.append(body["state"])
            server.advance(1.0)
        server.wait_for_work(job)
        body = http.get(f"/api/v1/imports/{import_id}", params={"api_key": server.api_key}).json()
        assert body["success"] is True
        seen.append(body["state"])
        assert seen == STATES


def test_show_keys_types_and_order_match_the_fixture(
    server: LocalCarto, http: httpx.Client, file_server: Any
) -> None:
    url = file_server.add("/data/shapefile_streets.cpg", "UTF-8")
    response = http.post("/api/v1/imports", params={"api_key": server.api_key}, data={"url": url})
    body = wait_final(http, _created(response), server.api_key)
    expected = fixture("imports", "show_failure_1002.json")
    assert [k for k in body if k not in EXTRA_KEYS] == list(expected)
    assert list(body) == [*list(expected)[:19], "original_url", *list(expected)[19:]]
    for name, value in expected.items():
        assert type(body[name]) is type(value), name
    for name in (
        "data_type",
        "state",
        "error_code",
        "get_error_text",
        "display_name",
        "success",
        "user_defined_limits",
        "type_guessing",
        "is_raster",
        "warnings",
    ):
        assert body[name] == expected[name], name
    assert body["queue_id"] == body["id"]
    assert body["original_url"] == url


def test_complete_import_adds_the_complete_only_keys(
    server: LocalCarto, http: httpx.Client
) -> None:
    body = import_file(http, server.api_key, "keys.csv", CSV)
    assert list(body)[-2:] == ["any_table_raster", "derived_visualization_id"]
    assert body["tables_created_count"] == 1
    assert UUID_RE.match(body["table_id"])


@pytest.mark.parametrize("import_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_unknown_or_invalid_id_is_404_with_empty_body(
    server: LocalCarto, http: httpx.Client, import_id: str
) -> None:
    response = http.get(f"/api/v1/imports/{import_id}", params={"api_key": server.api_key})
    assert (response.status_code, response.content) == (404, b"")


def test_show_is_case_insensitive_on_the_uuid(server: LocalCarto, http: httpx.Client) -> None:
    import_id = _created(upload(http, server.api_key, "case.csv", CSV))
    response = http.get(f"/api/v1/imports/{import_id.upper()}/", params={"api_key": server.api_key})
    assert response.json()["id"] == import_id


# -- GET /imports and slots ----------------------------------------------------------------


def test_list_shows_only_unfinished_imports_newest_first() -> None:
    with serving(import_processing_time=10.0, clock=Clock(frozen=True)) as (server, http):
        first = _created(upload(http, server.api_key, "l1.csv", CSV))
        server.advance(1.0)
        second = _created(upload(http, server.api_key, "l2.csv", CSV))
        listing = http.get("/api/v1/imports", params={"api_key": server.api_key})
        assert listing.json() == {"imports": [second, first], "success": True}
        server.advance(10.0)
        wait_final(http, first, server.api_key)
        wait_final(http, second, server.api_key)
        assert http.get("/api/v1/imports", params={"api_key": server.api_key}).json() == {
            "imports": [],
            "success": True,
        }


def test_list_drops_old_stuck_imports_and_fails_them() -> None:
    faults = Faults()
    faults.stuck_imports()
    with serving(faults=faults, clock=Clock(frozen=True)) as (server, http):
        import_id = _created(upload(http, server.api_key, "old.csv", CSV))
        server.advance(3600.0)
        assert http.get("/api/v1/imports", params={"api_key": server.api_key}).json()[
            "imports"
        ] == [import_id]
        server.advance(1.0)
        assert (
            http.get("/api/v1/imports", params={"api_key": server.api_key}).json()["imports"] == []
        )
        show = http.get(f"/api/v1/imports/{import_id}", params={"api_key": server.api_key})
        assert (show.json()["state"], show.json()["error_code"]) == ("failure", 6671)


def test_slots_limit_answers_429_until_an_import_finishes() -> None:
    clock = Clock(frozen=True)
    with serving(import_processing_time=10.0, import_slots=2, clock=clock) as (server, http):
        ids = [_created(upload(http, server.api_key, f"s{i}.csv", CSV)) for i in range(2)]
        refused = upload(http, server.api_key, "s2.csv", CSV)
        assert refused.status_code == 429
        assert refused.json() == {
            "errors": {
                "imports": ("We're sorry but you're already using your allowed 2 import slots")
            }
        }
        assert not any(
            h.lower().startswith(("retry-after", "carto-rate-limit")) for h in refused.headers
        )
        assert server.counters.jobs_created == 2
        server.advance(10.0)
        for import_id in ids:
            wait_final(http, import_id, server.api_key)
        _created(upload(http, server.api_key, "s2.csv", CSV))


def test_processing_time_can_depend_on_the_import() -> None:
    def seconds(info: Any) -> float:
        return 5.0 if info.display_name == "slow.csv" else 0.0

    with serving(import_processing_time=seconds, clock=Clock(frozen=True)) as (server, http):
        slow = _created(upload(http, server.api_key, "slow.csv", CSV))
        fast = import_file(http, server.api_key, "fast.csv", CSV)
        assert fast["state"] == "complete"
        show = http.get(f"/api/v1/imports/{slow}", params={"api_key": server.api_key})
        assert show.json()["state"] == "pending"
        server.advance(5.0)
        assert wait_final(http, slow, server.api_key)["state"] == "complete"


def test_large_upload_streams_through_without_being_held_in_memory() -> None:
    chunk = b"x" * 65536
    total = 64 * 1024 * 1024

    def body() -> Any:
        yield b'--bb\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\n\r\n'
        yield b"name\n"
        for _ in range(total // len(chunk)):
            yield chunk
        yield b"\r\n--bb--\r\n"

    with serving(max_file_size=1024 * 1024) as (server, http):
        tracemalloc.start()
        try:
            response = http.post(
                "/api/v1/imports",
                params={"api_key": server.api_key},
                content=body(),
                headers={"Content-Type": "multipart/form-data; boundary=bb"},
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 1024 * 1024
        status = wait_final(http, _created(response), server.api_key)
        assert (status["state"], status["error_code"]) == ("failure", 6666)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [("multipart/form-data", b"--x\r\n"), ("application/json", b"{not json")],
)
def test_unparsable_bodies_are_400_and_create_nothing(
    server: LocalCarto, http: httpx.Client, content_type: str, content: bytes
) -> None:
    response = http.post(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        content=content,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 400
    assert server.counters.jobs_created == 0
