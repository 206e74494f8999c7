"""Sync tables over a mocked wire (respx): bodies, checks, runs, refusals and errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from carto_async import (
    AsyncCarto,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    SyncFailed,
    ValidationError,
)
from carto_async.models import parse_datetime
from carto_async.models.syncs import SyncNowRefusal
from tests.helpers import BASE_URL, KEY, fixture

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

SYNCS_URL = f"{BASE_URL}/api/v1/synchronizations"
SYNC_ID = "abcd1234-a5b6-c7d8-1a2b-efgh5678abcd"
SYNC_URL = f"{SYNCS_URL}/{SYNC_ID}"
ARCGIS_LAYER = "https://gis.example.com/arcgis/rest/services/Parks/Trees/FeatureServer/0"


def sync_body(state: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = fixture("synchronizations", "create_url.json")
    body.pop("data_import")
    body.update(state=state, **extra)
    return body


def created_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = fixture("synchronizations", "create_url.json")
    body.update(state="queued", **extra)
    return body


async def test_create_sends_a_json_body_with_the_key_in_the_query_only(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created_body()))
    run = await carto.syncs.create(
        "https://example.com/stores.csv",
        interval=3600,
        table_name="stores",
        type_guessing=False,
        create_vis=True,
    )
    request = route.calls.last.request
    assert request.url.params["api_key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "url": "https://example.com/stores.csv",
        "interval": 3600,
        "table_name": "stores",
        "type_guessing": False,
        "create_vis": True,
    }
    assert KEY.encode() not in request.content
    assert run.id == SYNC_ID
    assert run.state == "queued"
    assert run.data_import is not None
    assert run.data_import.endpoint == "/api/v1/imports"
    assert run.data_import.item_queue_id == "1234abcd-1234-1a2b-3c4d-4321dcba5678"
    job = run.import_job()
    assert job is not None
    assert job.id == "1234abcd-1234-1a2b-3c4d-4321dcba5678"
    assert KEY not in repr(run)


async def test_create_is_never_retried_after_an_ambiguous_failure(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(SYNCS_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(Exception, match="timed out"):
        await carto.syncs.create("https://example.com/a.csv")
    assert route.call_count == 1


@pytest.mark.parametrize("interval", [60, 899, 0, -5, 900.5, "3600", True, None])
async def test_an_interval_below_15_minutes_or_not_seconds_fails_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter, interval: Any
) -> None:
    route = respx_mock.post(SYNCS_URL)
    with pytest.raises(ValidationError, match="interval"):
        await carto.syncs.create("https://example.com/a.csv", interval=interval)
    put = respx_mock.put(SYNC_URL)
    with pytest.raises(ValidationError, match="interval"):
        await carto.syncs.update(SYNC_ID, interval=interval)
    assert not route.called
    assert not put.called


@pytest.mark.parametrize("url", ["file:///etc/passwd", "stores.csv", "", "http://"])
async def test_urls_are_checked_as_for_imports(
    carto: AsyncCarto, respx_mock: respx.MockRouter, url: str
) -> None:
    route = respx_mock.post(SYNCS_URL)
    with pytest.raises(ValidationError, match="url must be an http"):
        await carto.syncs.create(url)
    assert not route.called


async def test_from_arcgis_sends_the_service_fields(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(SYNCS_URL).mock(
        return_value=httpx.Response(
            200, json=fixture("synchronizations", "create_arcgis_docs.json")
        )
    )
    run = await carto.syncs.from_arcgis(ARCGIS_LAYER, interval=604800)
    assert json.loads(route.calls.last.request.content) == {
        "url": "",
        "interval": 604800,
        "service_name": "arcgis",
        "service_item_id": ARCGIS_LAYER,
    }
    # The docs' flat endpoint/item_queue_id are read as the nested data_import.
    assert run.data_import is not None
    assert run.data_import.item_queue_id == "4ff4abdd-9d37-4b7a-8e13-fb00376e2a58"


@pytest.mark.parametrize(
    "url",
    [
        "https://gis.example.com/arcgis/rest/services/Parks/Trees/FeatureServer/0",
        "https://gis.example.com/arcgis/rest/services/Trees/MapServer/12",
        "http://gis.example.com/site/arcgis/rest/services/Parks/Trees/MapServer/",
    ],
)
async def test_arcgis_layer_and_service_urls_pass(
    carto: AsyncCarto, respx_mock: respx.MockRouter, url: str
) -> None:
    route = respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created_body()))
    await carto.syncs.from_arcgis(url)
    imports = respx_mock.post(f"{BASE_URL}/api/v1/imports").mock(
        return_value=httpx.Response(
            200, json={"item_queue_id": "efa9925c-31dd-11e4-a95e-0edbca4b5057", "success": True}
        )
    )
    await carto.imports.from_arcgis(url)
    assert route.called
    assert imports.called


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/stores.csv",
        "https://gis.example.com/arcgis/rest/services/Parks/Trees/FeatureServer",
        "https://gis.example.com/arcgis/rest/services/Trees/FeatureServer/layer",
        "https://gis.example.com/arcgis/rest/services/",
        "ftp://gis.example.com/arcgis/rest/services/Trees/FeatureServer/0",
    ],
)
async def test_other_arcgis_urls_fail_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter, url: str
) -> None:
    route = respx_mock.post(SYNCS_URL)
    imports = respx_mock.post(f"{BASE_URL}/api/v1/imports")
    with pytest.raises(ValidationError, match="not an ArcGIS Server layer or service URL"):
        await carto.syncs.from_arcgis(url)
    with pytest.raises(ValidationError, match="not an ArcGIS Server layer or service URL"):
        await carto.imports.from_arcgis(url)
    assert not route.called
    assert not imports.called


async def test_list_get_update_delete_and_check(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SYNCS_URL).mock(
        return_value=httpx.Response(200, json=fixture("synchronizations", "list.json"))
    )
    syncs = await carto.syncs.list()
    assert [s.name for s in syncs] == ["barrios_5"]
    assert syncs[0].interval == 2592000
    assert syncs[0].state == "success"
    assert syncs[0].ran_at is not None
    assert syncs[0].ran_at.year == 2016

    respx_mock.get(SYNC_URL).mock(return_value=httpx.Response(200, json=sync_body("success")))
    sync = await carto.syncs.get(SYNC_ID)
    assert sync.id == SYNC_ID
    assert sync.url == "https://public.url.to.file/sample_file"

    put = respx_mock.put(SYNC_URL).mock(
        return_value=httpx.Response(200, json=sync_body("success", interval=7200))
    )
    assert (await carto.syncs.update(SYNC_ID, interval=7200)).interval == 7200
    assert json.loads(put.calls.last.request.content) == {"interval": 7200}
    assert put.calls.last.request.url.params["api_key"] == KEY

    delete = respx_mock.delete(SYNC_URL).mock(return_value=httpx.Response(204))
    assert await carto.syncs.delete(SYNC_ID) is None
    assert delete.called

    respx_mock.get(f"{SYNC_URL}/sync_now").mock(
        return_value=httpx.Response(200, json=fixture("synchronizations", "sync_now_get.json"))
    )
    assert await carto.syncs.check(SYNC_ID) == "syncing"


async def test_a_bad_sync_id_fails_before_sending(carto: AsyncCarto) -> None:
    with pytest.raises(ValidationError, match="sync ids are UUIDs"):
        await carto.syncs.get("../imports")
    with pytest.raises(ValidationError, match="sync ids are UUIDs"):
        await carto.syncs.sync_now("nope")


async def test_errors_in_the_servers_words(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(AuthenticationError, match="sync tables feature") as auth:
        await carto.syncs.create("https://example.com/a.csv")
    assert KEY not in str(auth.value)
    respx_mock.get(SYNC_URL).mock(return_value=httpx.Response(404))
    with pytest.raises(NotFoundError, match=f"no sync table with id {SYNC_ID}"):
        await carto.syncs.get(SYNC_ID)
    respx_mock.put(SYNC_URL).mock(
        return_value=httpx.Response(400, json={"errors": "Invalid URL, cannot connect dataset"})
    )
    with pytest.raises(BadRequestError, match="Invalid URL, cannot connect dataset"):
        await carto.syncs.update(SYNC_ID, interval=900)


async def test_the_create_run_ends_with_the_first_import_not_before(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created_body()))
    get = respx_mock.get(SYNC_URL).mock(
        side_effect=[
            httpx.Response(200, json=sync_body("queued")),
            httpx.Response(200, json=sync_body("syncing")),
            httpx.Response(200, json=sync_body("success", ran_at="2014-08-05T13:39:20+00:00")),
        ]
    )
    run = await carto.syncs.create("https://example.com/a.csv")
    sync = await run.wait(timeout=5)
    assert sync.state == "success"
    assert get.call_count == 3
    assert run.done
    assert run.result is sync


async def test_a_followed_run_ignores_the_success_of_an_earlier_run(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    earlier = "2014-08-05T13:00:00+00:00"
    get = respx_mock.get(SYNC_URL).mock(
        side_effect=[
            httpx.Response(200, json=sync_body("success", ran_at=earlier)),
            httpx.Response(200, json=sync_body("success", ran_at=earlier)),
            httpx.Response(200, json=sync_body("success", ran_at="2014-08-05T14:00:00+00:00")),
        ]
    )
    run = carto.syncs.run(SYNC_ID, since=parse_datetime(earlier))
    sync = await run.wait(timeout=5)
    assert get.call_count == 3
    assert sync.ran_at == parse_datetime("2014-08-05T14:00:00+00:00")


async def test_a_failed_run_raises_sync_failed_with_code_title_and_retries(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created_body()))
    respx_mock.get(SYNC_URL).mock(
        return_value=httpx.Response(
            200,
            json=sync_body("failure", error_code=1012, error_message=None, retried_times=1),
        )
    )
    run = await carto.syncs.create("https://example.com/a.csv")
    with pytest.raises(SyncFailed) as info:
        await run.wait(timeout=5)
    assert info.value.error_code == 1012
    assert info.value.title
    assert info.value.retried_times == 1
    assert info.value.job_id == SYNC_ID
    assert "1012" in str(info.value)


async def test_sync_now_enqueued_is_a_run_to_wait_on(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SYNC_URL).mock(
        side_effect=[
            httpx.Response(200, json=sync_body("success")),
            httpx.Response(200, json=sync_body("queued")),
            httpx.Response(200, json=sync_body("success", ran_at="2014-08-06T13:39:15+00:00")),
        ]
    )
    put = respx_mock.put(f"{SYNC_URL}/sync_now").mock(
        return_value=httpx.Response(200, json={"enqueued": True, "synchronization_id": SYNC_ID})
    )
    run = await carto.syncs.sync_now(SYNC_ID)
    assert run.enqueued
    assert run.refusal is None
    assert put.calls.last.request.url.params["api_key"] == KEY
    assert (await run.wait(timeout=5)).state == "success"


async def test_sync_now_is_never_retried_after_an_ambiguous_failure(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SYNC_URL).mock(return_value=httpx.Response(200, json=sync_body("success")))
    put = respx_mock.put(f"{SYNC_URL}/sync_now").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(Exception, match="timed out"):
        await carto.syncs.sync_now(SYNC_ID)
    assert put.call_count == 1


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        ({"state": "success", "ran_at": "2030-01-01T11:55:00+00:00"}, SyncNowRefusal.RAN_RECENTLY),
        (
            {"state": "failure", "ran_at": "2030-01-01T10:00:00+00:00"},
            SyncNowRefusal.CONCURRENCY,
        ),
    ],
)
async def test_sync_now_refused_says_why_and_its_wait_raises(
    carto: AsyncCarto,
    respx_mock: respx.MockRouter,
    before: dict[str, Any],
    reason: SyncNowRefusal,
) -> None:
    respx_mock.get(SYNC_URL).mock(return_value=httpx.Response(200, json=sync_body(**before)))
    respx_mock.put(f"{SYNC_URL}/sync_now").mock(
        return_value=httpx.Response(
            200,
            json={"enqueued": False, "synchronization_id": SYNC_ID},
            headers={"Date": "Tue, 01 Jan 2030 12:00:00 GMT"},
        )
    )
    run = await carto.syncs.sync_now(SYNC_ID)
    assert not run.enqueued
    assert run.refusal is reason
    assert run.done
    with pytest.raises(SyncFailed, match=reason.message):
        await run.wait()


async def test_sync_now_refused_while_syncing_follows_the_run_under_way(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SYNC_URL).mock(
        side_effect=[
            httpx.Response(200, json=sync_body("syncing")),
            httpx.Response(200, json=sync_body("success", ran_at="2014-08-06T13:39:15+00:00")),
        ]
    )
    respx_mock.put(f"{SYNC_URL}/sync_now").mock(
        return_value=httpx.Response(200, json={"enqueued": False, "synchronization_id": SYNC_ID})
    )
    run = await carto.syncs.sync_now(SYNC_ID)
    assert run.refusal is SyncNowRefusal.BUSY
    assert not run.done
    assert (await run.wait(timeout=5)).state == "success"


async def test_a_run_token_resumes_on_another_client(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(SYNCS_URL).mock(return_value=httpx.Response(200, json=created_body()))
    run = await carto.syncs.create("https://example.com/a.csv")
    token = run.token()
    assert KEY not in token
    again = carto.jobs.resume(token)
    assert type(again) is type(run)
    assert again.id == SYNC_ID
    respx_mock.get(SYNC_URL).mock(return_value=httpx.Response(200, json=sync_body("success")))
    assert (await again.wait(timeout=5)).state == "success"
    with pytest.raises(ValidationError, match="cannot be cancelled"):
        await run.cancel()


async def test_wait_all_hands_back_a_refused_run_as_its_sync_failed(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(SYNC_URL).mock(
        return_value=httpx.Response(
            200, json=sync_body("success", ran_at="2030-01-01T11:59:00+00:00")
        )
    )
    respx_mock.put(f"{SYNC_URL}/sync_now").mock(
        return_value=httpx.Response(
            200,
            json={"enqueued": False, "synchronization_id": SYNC_ID},
            headers={"Date": "Tue, 01 Jan 2030 12:00:00 GMT"},
        )
    )
    run = await carto.syncs.sync_now(SYNC_ID)
    [result] = await carto.jobs.wait_all([run], return_exceptions=True)
    assert isinstance(result, SyncFailed)
    assert result.job is run
