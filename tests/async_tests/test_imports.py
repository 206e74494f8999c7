"""The Import API over a mocked wire (respx): requests, options, states and failures."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from carto_async import (
    AsyncCarto,
    AuthenticationError,
    ImportFailed,
    JobTimeout,
    NotFoundError,
    ValidationError,
)
from tests.helpers import (
    IMPORT_ID,
    IMPORT_ID_2,
    IMPORTS_URL,
    KEY,
    created,
    status_body,
    statuses,
)

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "stores.csv"
    path.write_bytes(b"name,lat,lon\n" + b"shop,40.4,-3.7\n" * 1000)
    return path


async def test_upload_streams_a_multipart_file_field_with_the_key_in_the_query(
    carto: AsyncCarto, respx_mock: respx.MockRouter, csv_file: Path
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    job = await carto.imports.upload(csv_file, privacy="public", type_guessing=False)
    assert job.id == IMPORT_ID
    assert job.source == str(csv_file)
    request = route.calls.last.request
    assert request.url.params["api_key"] == KEY
    assert request.url.params["privacy"] == "public"
    assert request.url.params["type_guessing"] == "false"
    body = request.content
    assert b'name="file"; filename="stores.csv"' in body
    assert csv_file.read_bytes() in body
    assert int(request.headers["content-length"]) == len(body)
    assert "transfer-encoding" not in request.headers
    assert KEY.encode() not in body


async def test_upload_reports_progress_up_to_the_file_size(
    carto: AsyncCarto, respx_mock: respx.MockRouter, csv_file: Path
) -> None:
    respx_mock.post(IMPORTS_URL).mock(return_value=created())
    seen: list[tuple[int, int | None]] = []
    await carto.imports.upload(csv_file, progress=lambda sent, total: seen.append((sent, total)))
    size = csv_file.stat().st_size
    assert seen[0] == (0, size)
    assert seen[-1] == (size, size)


async def test_upload_of_a_file_object_and_of_bytes(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    await carto.imports.upload(io.BytesIO(b"a,b\n1,2\n"), filename="f.csv")
    assert b"a,b\n1,2\n" in route.calls.last.request.content
    await carto.imports.upload(b"x,y\n3,4\n", filename="g.csv")
    assert b'filename="g.csv"' in route.calls.last.request.content


async def test_upload_of_a_byte_stream(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a,b\n"
        yield b"1,2\n"

    await carto.imports.upload(chunks(), filename="s.csv")
    request = route.calls.last.request
    assert b"a,b\n1,2\n" in request.content
    assert request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in request.headers


async def test_bad_upload_sources_fail_before_any_request(
    carto: AsyncCarto, respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    with pytest.raises(ValidationError, match="no such file"):
        await carto.imports.upload(tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="is a directory"):
        await carto.imports.upload(tmp_path)
    with pytest.raises(ValidationError, match="filename="):
        await carto.imports.upload(b"a,b\n")
    with pytest.raises(ValidationError, match="binary mode"):
        await carto.imports.upload(io.StringIO("a,b\n"), filename="x.csv")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="privacy"):
        await carto.imports.upload(tmp_path, privacy="secret")
    with pytest.raises(ValidationError, match="cannot upload a int"):
        await carto.imports.upload(42, filename="x.csv")  # type: ignore[arg-type]
    assert route.call_count == 0


async def test_url_import_sends_json_without_the_key(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    await carto.imports.from_url(
        "https://example.com/a.csv", collision_strategy="overwrite", create_vis=True
    )
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "url": "https://example.com/a.csv",
        "collision_strategy": "overwrite",
        "create_vis": True,
    }
    assert KEY.encode() not in request.content
    assert request.url.params["api_key"] == KEY


async def test_table_copy_query_datasource_and_arcgis_bodies(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    await carto.imports.copy_table("stores")
    assert json.loads(route.calls.last.request.content) == {"table_name": "stores"}
    await carto.imports.from_query("select * from stores", table_name="copy")
    assert json.loads(route.calls.last.request.content) == {
        "sql": "select * from stores",
        "table_name": "copy",
    }
    await carto.imports.from_datasource("gdrive", "file-id-1")
    assert json.loads(route.calls.last.request.content) == {
        "service_name": "gdrive",
        "service_item_id": "file-id-1",
    }
    layer = "https://gis.example.com/arcgis/rest/services/x/FeatureServer/0"
    await carto.imports.from_arcgis(layer)
    assert json.loads(route.calls.last.request.content) == {
        "service_name": "arcgis",
        "service_item_id": layer,
    }


async def test_mixing_a_url_with_table_name_is_a_validation_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(IMPORTS_URL).mock(return_value=created())
    with pytest.raises(ValidationError, match="cannot take table_name or sql"):
        await carto.imports.create(url="https://x.com/a.csv", table_name="t")
    with pytest.raises(ValidationError, match="use upload"):
        await carto.imports.create(file=b"x")
    assert route.call_count == 0


async def test_a_job_walks_its_states_to_complete(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(IMPORTS_URL).mock(return_value=created())
    route = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("pending", "uploading", "importing", "guessing", "complete")
    )
    job = await carto.imports.upload(b"a,b\n1,2\n", filename="x.csv")
    assert job.state is None
    assert not job.done
    status = await job.wait()
    assert status.state == "complete"
    assert status.table_name == "stores"
    assert job.done
    assert job.result is status
    assert job.table_name == "stores"
    assert route.call_count == 5
    assert await job.wait() is status  # already final: no more requests
    assert route.call_count == 5


# async-only:start
async def test_awaiting_a_job_waits_for_it(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(side_effect=statuses("importing", "complete"))
    status = await carto.imports.job(IMPORT_ID)
    assert status.state == "complete"


# async-only:end
async def test_a_failed_import_raises_import_failed_with_the_server_text(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses(
            "importing",
            "failure",
            error_code=2003,
            get_error_text={"title": "Malformed CSV", "what_about": "fix it", "source": "user"},
        )
    )
    job = carto.imports.job(IMPORT_ID, source="bad.csv")
    with pytest.raises(ImportFailed) as info:
        await job.wait()
    exc = info.value
    assert (exc.error_code, exc.title, exc.what_about, exc.source) == (
        2003,
        "Malformed CSV",
        "fix it",
        "user",
    )
    assert exc.job_id == IMPORT_ID
    assert exc.job is job
    assert "bad.csv" in str(exc)
    assert job.result is None


async def test_error_1010_without_server_text_still_has_a_title(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("failure", error_code=1010)
    )
    with pytest.raises(ImportFailed) as info:
        await carto.imports.job(IMPORT_ID).wait()
    assert info.value.title == "Not a file"


async def test_stuck_is_a_failure_and_geocoding_is_pending(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("geocoding", "a_state_from_the_future", "stuck", error_code=6671)
    )
    with pytest.raises(ImportFailed) as info:
        await carto.imports.job(IMPORT_ID).wait()
    assert info.value.state == "stuck"
    assert info.value.title == "Stuck import job"


async def test_complete_with_1022_is_a_success_with_a_warning(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("complete", error_code=1022)
    )
    job = carto.imports.job(IMPORT_ID)
    status = await job.wait()
    assert status.succeeded
    assert job.warning is not None
    assert job.warning.title == "All tables were skipped"


async def test_wait_timeout_raises_job_timeout_and_keeps_the_last_state(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: object
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        return_value=httpx.Response(200, json=status_body("importing"))
    )
    job = carto.imports.job(IMPORT_ID)
    with pytest.raises(JobTimeout) as info:
        await job.wait(timeout=5)
    assert info.value.last_state == "importing"
    assert info.value.job is job
    assert "resume it" in str(info.value)


async def test_watch_yields_each_state_change_once(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("pending", "pending", "importing", "importing", "complete")
    )
    seen = [s.state async for s in carto.imports.job(IMPORT_ID).watch()]
    assert seen == ["pending", "importing", "complete"]


async def test_refresh_sends_exactly_one_request(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(side_effect=statuses("importing"))
    job = carto.imports.job(IMPORT_ID)
    status = await job.refresh()
    assert status.state == "importing"
    assert job.snapshot is status
    assert route.call_count == 1


async def test_token_and_resume(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.post(IMPORTS_URL).mock(return_value=created())
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(side_effect=statuses("complete"))
    job = await carto.imports.upload(b"a\n1\n", filename="t.csv")
    token = job.token()
    assert KEY not in token
    again = carto.imports.resume(token)
    assert again.id == job.id
    assert again.source == "t.csv"
    assert (await again.wait()).state == "complete"
    with pytest.raises(ValidationError):
        carto.imports.resume("not a token")


async def test_get_checks_ids_locally_and_maps_404(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(return_value=httpx.Response(404))
    with pytest.raises(ValidationError, match="invalid import id"):
        await carto.imports.get("../../etc")
    with pytest.raises(NotFoundError, match=f"no import with id {IMPORT_ID}"):
        await carto.imports.get(IMPORT_ID)


async def test_list_returns_the_unfinished_import_ids(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(IMPORTS_URL).mock(
        return_value=httpx.Response(
            200, json={"imports": [IMPORT_ID, IMPORT_ID_2], "success": True}
        )
    )
    assert await carto.imports.list() == [IMPORT_ID, IMPORT_ID_2]


async def test_a_non_master_key_gets_an_authentication_error(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(IMPORTS_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(AuthenticationError, match="master API key") as info:
        await carto.imports.from_url("https://example.com/a.csv")
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)
    assert info.value.url is not None
    assert KEY not in info.value.url
    assert info.value.request is not None
    assert KEY not in str(info.value.request.url)
