"""Missing, empty and misplaced keys fail before anything is sent; the public user still reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from carto_async import AsyncCarto, ValidationError
from carto_async.testing import LocalCarto
from tests.datasets import stores_csv

pytestmark = [pytest.mark.integration]
# async-only:start
pytestmark.append(pytest.mark.anyio)
# async-only:end


async def test_an_upload_without_a_key_fails_before_any_request(
    local_server: LocalCarto, tmp_path: Path
) -> None:
    path = stores_csv(tmp_path)
    async with AsyncCarto(local_server.username, None, local_server.base_url) as carto:
        with pytest.raises(ValidationError, match="needs an API key") as caught:
            await carto.imports.upload(path)
        assert "public user" in str(caught.value)
        with pytest.raises(ValidationError, match="needs an API key"):
            await carto.imports.from_url("http://127.0.0.1:9/stores.csv")
        with pytest.raises(ValidationError, match="needs an API key"):
            await carto.imports.list()
    assert local_server.counters.requests == {}
    assert local_server.counters.jobs_created == 0


async def test_the_public_user_can_still_read_through_the_sql_api(
    local_server: LocalCarto,
) -> None:
    async with AsyncCarto(local_server.username, None, local_server.base_url) as carto:
        result = await carto.sql.query("select 1 + 1 as two")
    assert result.rows == [{"two": 2}]


@pytest.mark.parametrize("key", ["", "   ", "\n"])
async def test_an_empty_key_is_refused_when_the_client_is_made(
    local_server: LocalCarto, key: str
) -> None:
    with pytest.raises(ValidationError, match="api_key is empty"):
        AsyncCarto(local_server.username, key, local_server.base_url)
    assert local_server.counters.requests == {}


async def test_a_key_in_the_base_url_is_refused_and_not_repeated(
    local_server: LocalCarto,
) -> None:
    secret = "s3cr3t-0123456789abcdef"
    root = local_server.base_url.replace("http://", "")
    for url in (f"http://{local_server.username}:{secret}@{root}", f"http://{secret}@{root}"):
        with pytest.raises(ValidationError, match="must not carry credentials") as caught:
            AsyncCarto(local_server.username, None, url)
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
    assert local_server.counters.requests == {}
