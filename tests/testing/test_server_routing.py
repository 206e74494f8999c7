"""URLs, users and keys as the real services read them (reference §1, §2)."""

from __future__ import annotations

import base64

import httpx
import pytest

from carto_async.testing import LocalCarto
from tests.testing.conftest import fixture, serving, upload


def _basic(user: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


# -- URL forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/user/demo/api/v1/imports",
        "/user/demo/api/v1/imports/",
        "/u/demo/api/v1/imports",
        "/u/demo/api/v1/imports/",
    ],
)
def test_rails_routes_answer_on_user_and_u_prefixes_with_or_without_slash(
    server: LocalCarto, path: str
) -> None:
    response = httpx.get(server.root_url + path, params={"api_key": server.api_key})
    assert response.status_code == 200
    assert response.json() == {"imports": [], "success": True}


@pytest.mark.parametrize(
    "path", ["/user/demo/api/v2/sql", "/user/demo/api/v1/sql/", "/user/demo/api/anything/sql"]
)
def test_sql_route_takes_any_version_and_a_trailing_slash(server: LocalCarto, path: str) -> None:
    response = httpx.get(server.root_url + path, params={"q": "select 1 as one"})
    assert response.status_code == 200
    assert response.json()["rows"] == [{"one": 1}]


def test_sql_api_has_no_u_prefix(server: LocalCarto) -> None:
    response = httpx.get(server.root_url + "/u/demo/api/v2/sql", params={"q": "select 1"})
    assert response.status_code == 404


def test_host_based_urls_take_the_user_from_the_host_header(server: LocalCarto) -> None:
    headers = {"Host": f"demo.localhost:{server.port}"}
    imports = httpx.get(
        server.root_url + "/api/v1/imports/", headers=headers, params={"api_key": server.api_key}
    )
    assert imports.status_code == 200
    query = httpx.get(server.root_url + "/api/v2/sql", headers=headers, params={"q": "select 1"})
    assert query.status_code == 200


def test_host_based_unknown_user_gets_the_sql_404_body(server: LocalCarto) -> None:
    headers = {"Host": f"wrong-host.localhost:{server.port}"}
    response = httpx.get(server.root_url + "/api/v2/sql", headers=headers, params={"q": "select 1"})
    assert response.status_code == 404
    assert response.json() == fixture("sql", "error_user_not_found_404.json")


def test_path_unknown_user_gets_404_on_sql_and_401_on_imports(server: LocalCarto) -> None:
    response = httpx.get(server.root_url + "/user/nobody/api/v2/sql", params={"q": "select 1"})
    assert response.status_code == 404
    assert response.json()["error"][0].startswith("Sorry, we can't find CARTO user 'nobody'.")
    rails = httpx.get(
        server.root_url + "/user/nobody/api/v1/imports", params={"api_key": server.api_key}
    )
    assert (rails.status_code, rails.content) == (401, b"")


def test_single_tenant_mode_serves_bare_paths_for_the_configured_user() -> None:
    with LocalCarto(host_based=False) as server:
        response = httpx.get(server.root_url + "/api/v2/sql", params={"q": "select 1"})
        assert response.status_code == 200


def test_unknown_paths_and_methods_are_404(server: LocalCarto) -> None:
    assert httpx.get(server.root_url + "/").status_code == 404
    assert httpx.get(server.base_url + "/api/v1/nothing").status_code == 404
    assert (
        httpx.delete(
            server.base_url + "/api/v1/imports", params={"api_key": server.api_key}
        ).status_code
        == 404
    )
    assert server.counters.requests["GET (unmatched)"] == 2


# -- Import API keys -----------------------------------------------------------------------


def test_imports_without_master_key_are_401_with_empty_body(
    server: LocalCarto, http: httpx.Client
) -> None:
    for key in (None, "wrong", server.regular_api_key, server.default_public_key):
        params = {} if key is None else {"api_key": key}
        for response in (
            http.get("/api/v1/imports", params=params),
            http.get("/api/v1/imports/00000000-0000-4000-8000-000000000000", params=params),
            http.post("/api/v1/imports", params=params, files={"file": ("a.csv", b"a\n1\n")}),
        ):
            assert response.status_code == 401
            assert response.content == b""
    assert server.counters.jobs_created == 0


def test_import_key_in_form_json_multipart_query_and_basic() -> None:
    with serving(import_slots=5) as (server, http):
        key = server.api_key
        sent = [
            http.post("/api/v1/imports", data={"api_key": key, "sql": "select 1 as a"}),
            http.post("/api/v1/imports", json={"api_key": key, "sql": "select 1 as a"}),
            http.post(
                "/api/v1/imports", data={"api_key": key}, files={"file": ("f.csv", b"a\n1\n")}
            ),
            http.post("/api/v1/imports", params={"api_key": key, "sql": "select 1 as a"}),
            http.post(
                "/api/v1/imports",
                headers={"Authorization": _basic("demo", key)},
                json={"sql": "select 1 as a"},
            ),
        ]
        assert [r.status_code for r in sent] == [200] * 5
        assert server.counters.jobs_created == 5


def test_import_query_string_key_wins_over_the_body(server: LocalCarto, http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/imports",
        params={"api_key": "wrong"},
        data={"api_key": server.api_key, "sql": "select 1 as a"},
    )
    assert response.status_code == 401


def test_import_basic_header_wins_and_must_name_the_url_user(
    server: LocalCarto, http: httpx.Client
) -> None:
    wrong_user = http.get(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        headers={"Authorization": _basic("other", server.api_key)},
    )
    assert wrong_user.status_code == 401
    wrong_key = http.get(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        headers={"Authorization": _basic("demo", "nope")},
    )
    assert wrong_key.status_code == 401


def test_rails_basic_auth_quirk_truncates_base64_with_plus_or_slash() -> None:
    # base64("demo:???") is "ZGVtbzo/Pz8=": Rails' \w+ capture stops at the "/".
    key = "???"
    assert "/" in base64.b64encode(f"demo:{key}".encode()).decode()
    with LocalCarto(api_key=key) as server:
        rails = httpx.get(
            server.base_url + "/api/v1/imports", headers={"Authorization": _basic("demo", key)}
        )
        assert rails.status_code == 401
        sql = httpx.get(
            server.base_url + "/api/v2/sql",
            params={"q": "create table t (a int)"},
            headers={"Authorization": _basic("demo", key)},
        )
        assert sql.status_code == 200


def test_rails_basic_auth_without_padding_still_works(server: LocalCarto) -> None:
    token = base64.b64encode(f"demo:{server.api_key}".encode()).decode().rstrip("=")
    response = httpx.get(
        server.base_url + "/api/v1/imports", headers={"Authorization": f"Basic {token}"}
    )
    assert response.status_code == 200


# -- SQL API keys --------------------------------------------------------------------------


def test_sql_without_key_reads_but_cannot_write(server: LocalCarto, http: httpx.Client) -> None:
    assert http.get("/api/v2/sql", params={"q": "select 1"}).status_code == 200
    denied = http.get("/api/v2/sql", params={"q": "create table t (a int)"})
    assert denied.status_code == 403
    assert denied.json()["error"][0].startswith("permission denied")
    assert not server.db.table_exists("t")


def test_sql_regular_and_public_keys_are_read_only(server: LocalCarto, http: httpx.Client) -> None:
    http.get("/api/v2/sql", params={"q": "create table t (a int)", "api_key": server.api_key})
    # Keys with grants (issue 13): these keys read public tables only, so t is made public.
    server.visualizations.set_privacy("t", "public")
    for key in (server.regular_api_key, server.default_public_key):
        ok = http.get("/api/v2/sql", params={"q": "select count(*) as n from t", "api_key": key})
        assert ok.status_code == 200
        denied = http.post("/api/v2/sql", data={"q": "insert into t values (1)", "api_key": key})
        assert denied.status_code == 403
        assert denied.json() == {"error": ["permission denied for table t"]}


def test_sql_unknown_key_is_401_with_the_fixture_body(http: httpx.Client) -> None:
    response = http.get("/api/v2/sql", params={"q": "select 1", "api_key": "nope"})
    assert response.status_code == 401
    assert response.json() == fixture("sql", "error_unauthorized_401.json")


def test_sql_key_from_header_query_form_json_and_multipart(
    server: LocalCarto, http: httpx.Client
) -> None:
    key, q = server.api_key, "create table if not exists w (a int)"
    responses = [
        http.get("/api/v2/sql", params={"q": q}, headers={"Authorization": _basic("demo", key)}),
        http.get("/api/v2/sql", params={"q": q, "api_key": key}),
        http.get("/api/v2/sql", params={"q": q, "map_key": key}),
        http.post("/api/v2/sql", data={"q": q, "api_key": key}),
        http.post("/api/v2/sql", json={"q": q, "api_key": key}),
        http.post("/api/v2/sql", files={"q": (None, q), "api_key": (None, key)}),
    ]
    assert [r.status_code for r in responses] == [200] * 6


def test_sql_basic_user_must_match_the_url_user(server: LocalCarto, http: httpx.Client) -> None:
    response = http.get(
        "/api/v2/sql",
        params={"q": "select 1"},
        headers={"Authorization": _basic("other", server.api_key)},
    )
    assert response.status_code == 403
    assert response.json() == {"error": ["permission denied"]}


def test_sql_header_key_wins_over_query_and_body_wins_params(
    server: LocalCarto, http: httpx.Client
) -> None:
    header_wins = http.get(
        "/api/v2/sql",
        params={"q": "select 1", "api_key": server.api_key},
        headers={"Authorization": _basic("demo", "nope")},
    )
    assert header_wins.status_code == 401
    body_wins = http.post("/api/v2/sql", params={"q": "select 1 as a"}, data={"q": "select 2 as a"})
    assert body_wins.json()["rows"] == [{"a": 2}]


def test_sql_cors_headers_and_options(http: httpx.Client) -> None:
    options = http.options("/api/v2/sql")
    assert (options.status_code, options.content) == (200, b"")
    for response in (
        options,
        http.get("/api/v2/sql", params={"q": "select 1"}),
        http.get("/api/v2/sql", params={"q": "select 1", "api_key": "x"}),
    ):
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-allow-headers"] == "*"
        assert response.headers["access-control-expose-headers"] == "*"


def test_sql_missing_query_is_passed_to_the_data_layer(http: httpx.Client) -> None:
    response = http.get("/api/v2/sql")
    assert response.status_code == 400
    assert response.json() == {"error": ["You must indicate a sql query"]}


def test_upload_helper_targets_the_user_route(server: LocalCarto, http: httpx.Client) -> None:
    response = upload(http, server.api_key, "x.csv", "a\n1\n")
    assert response.status_code == 200
    assert server.counters.requests == {"POST /api/v1/imports": 1}
