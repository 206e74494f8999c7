"""URL, datasource, ArcGIS and connector imports: loopback downloads and registered fakes."""

from __future__ import annotations

import socket

import httpx
import pytest

from carto_async.testing import LocalCarto
from tests.testing.conftest import FileServer, fixture, wait_final

CSV = "name,value\nalpha,1\nbeta,2\n"
TEXTS = fixture("imports", "get_error_text_by_code.json")


def _import(http: httpx.Client, key: str, **params: object) -> dict[str, object]:
    response = http.post("/api/v1/imports", params={"api_key": key}, json=params)
    assert response.status_code == 200, response.text
    return wait_final(http, response.json()["item_queue_id"], key)


def test_url_import_downloads_from_loopback_on_any_port(
    server: LocalCarto, http: httpx.Client, file_server: FileServer
) -> None:
    url = file_server.add("/exports/remote%20stores.csv", CSV, content_type="text/csv")
    body = _import(http, server.api_key, url=url)
    assert (body["state"], body["data_type"], body["display_name"]) == (
        "complete",
        "url",
        "remote stores.csv",
    )
    assert body["original_url"] == url
    assert server.db.row_count(str(body["table_name"])) == 2


def test_url_import_names_the_file_from_content_disposition(
    server: LocalCarto, http: httpx.Client, file_server: FileServer
) -> None:
    url = file_server.add(
        "/download?id=7", CSV, content_disposition='attachment; filename="named.csv"'
    )
    body = _import(http, server.api_key, url=url)
    assert body["table_name"] == "named"


def test_url_import_via_form_encoding(
    server: LocalCarto, http: httpx.Client, file_server: FileServer
) -> None:
    url = file_server.add("/form.csv", CSV)
    response = http.post("/api/v1/imports", data={"api_key": server.api_key, "url": url})
    body = wait_final(http, response.json()["item_queue_id"], server.api_key)
    assert body["table_name"] == "form"


@pytest.mark.parametrize(("status", "code"), [(404, 1100), (403, 1101), (401, 1101), (500, 1001)])
def test_url_import_http_errors(
    server: LocalCarto, http: httpx.Client, file_server: FileServer, status: int, code: int
) -> None:
    url = file_server.add(f"/err{status}.csv", "nope", status=status)
    body = _import(http, server.api_key, url=url)
    assert (body["state"], body["error_code"]) == ("failure", code)
    assert body["get_error_text"] == TEXTS[str(code)]
    assert body["http_response_code"] == str(status)
    assert isinstance(body["http_response_code_message"], str)
    assert list(body)[-2:] == ["http_response_code", "http_response_code_message"]


def test_url_import_from_another_host_fails_as_unresolvable(
    server: LocalCarto, http: httpx.Client
) -> None:
    body = _import(http, server.api_key, url="https://example.com/data.csv")
    assert (body["state"], body["error_code"]) == ("failure", 1102)
    assert body["display_name"] == "data.csv"


def test_url_import_refused_connection_fails_1001(server: LocalCarto, http: httpx.Client) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    body = _import(http, server.api_key, url=f"http://127.0.0.1:{port}/gone.csv")
    assert (body["state"], body["error_code"]) == ("failure", 1001)


def test_registered_datasource_imports_its_data(server: LocalCarto, http: httpx.Client) -> None:
    server.register_datasource("gdrive", "1AbC", "drive sheet.csv", CSV)
    body = _import(http, server.api_key, service_name="gdrive", service_item_id="1AbC")
    assert (body["state"], body["data_type"], body["table_name"]) == (
        "complete",
        "datasource",
        "drive_sheet",
    )
    assert body["display_name"] == "1AbC"


def test_registered_arcgis_layer_imports(server: LocalCarto, http: httpx.Client) -> None:
    layer = "http://gis.example.com/arcgis/rest/services/Parks/MapServer/0"
    server.register_datasource("arcgis", layer, "parks.csv", CSV)
    body = _import(
        http,
        server.api_key,
        service_name="arcgis",
        service_item_id=layer,
        interval="0",
        value=layer,
    )
    assert (body["state"], body["table_name"], body["display_name"]) == ("complete", "parks", "0")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"service_name": "gdrive", "service_item_id": "unknown"}, 1012),
        ({"service_name": "dropbox", "service_item_id": "/a.csv"}, 1012),
        (
            {
                "service_name": "arcgis",
                "service_item_id": "http://gis.example.com/arcgis/rest/services/X/MapServer/1",
            },
            1011,
        ),
        ({"service_name": "arcgis", "service_item_id": "http://example.com/not-arcgis"}, 1012),
        ({"connector": {"provider": "postgres", "table": "t"}}, 1501),
    ],
)
def test_unregistered_sources_fail_with_connector_codes(
    server: LocalCarto, http: httpx.Client, params: dict[str, object], code: int
) -> None:
    body = _import(http, server.api_key, **params)
    assert (body["state"], body["error_code"]) == ("failure", code)
    assert body["get_error_text"] == TEXTS[str(code)]


def test_registered_source_can_fail_with_a_chosen_code(
    server: LocalCarto, http: httpx.Client
) -> None:
    layer = "http://old.example.com/arcgis/rest/services/Old/MapServer/0"
    server.register_datasource("arcgis", layer, "old.csv", CSV, error_code=1013)
    body = _import(http, server.api_key, service_name="arcgis", service_item_id=layer)
    assert (body["state"], body["error_code"]) == ("failure", 1013)
    assert body["get_error_text"]["title"] == "Invalid ArcGIS version"  # type: ignore[index]


def test_request_with_nothing_to_import_fails(server: LocalCarto, http: httpx.Client) -> None:
    body = _import(http, server.api_key)
    assert (body["state"], body["error_code"]) == ("failure", 99999)


# -- redirects: every hop is checked like the first URL ----------------------------------


def test_url_import_follows_a_redirect_to_another_loopback_file(
    server: LocalCarto, http: httpx.Client, file_server: FileServer
) -> None:
    target = file_server.add("/moved/stores.csv", CSV, content_type="text/csv")
    url = file_server.add("/old.csv", "", status=302, location=target)
    body = _import(http, server.api_key, url=url)
    assert (body["state"], body["table_name"]) == ("complete", "stores")


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://example.com/data.csv", 1102),
        ("https://10.0.0.1:8443/data.csv", 1102),
        ("ftp://127.0.0.1/data.csv", 1001),
        ("file:///etc/passwd", 1001),
    ],
)
def test_url_import_refuses_a_redirect_hop_the_first_url_could_not_take(
    server: LocalCarto, http: httpx.Client, file_server: FileServer, location: str, code: int
) -> None:
    # Before each hop was checked, the downloader followed these (the suite's network guard
    # turned the attempt into an unexpected error, 99999).
    url = file_server.add("/redirect.csv", "", status=302, location=location)
    body = _import(http, server.api_key, url=url)
    assert (body["state"], body["error_code"]) == ("failure", code)


def test_url_import_checks_every_hop_of_a_chain(
    server: LocalCarto, http: httpx.Client, file_server: FileServer
) -> None:
    second = file_server.add("/hop2.csv", "", status=307, location="http://example.org/x.csv")
    first = file_server.add("/hop1.csv", "", status=301, location=second)
    body = _import(http, server.api_key, url=first)
    assert (body["state"], body["error_code"]) == ("failure", 1102)


def test_url_import_gives_up_on_endless_redirects(
    server: LocalCarto, http: httpx.Client, file_server: FileServer
) -> None:
    loop = file_server.add("/loop.csv", "", status=302, location=file_server.url + "/loop.csv")
    body = _import(http, server.api_key, url=loop)
    assert (body["state"], body["error_code"]) == ("failure", 1001)
