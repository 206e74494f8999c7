"""The official carto-python SDK, unmodified, against LocalCarto.

carto-python warns (UserWarning) whenever a base URL is not https; LocalCarto serves plain
http on loopback, so that one warning is ignored by message in these tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from carto.auth import APIKeyAuthClient
from carto.exceptions import CartoException, CartoRateLimitException
from carto.file_import import FileImportJob, FileImportJobManager
from carto.sql import SQLClient

from carto_async.testing import LocalCarto, RateLimit
from tests.testing.conftest import FileServer

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")

CSV = "name,value\nalpha,1\nbeta,2\ngamma,3\n"


@pytest.fixture
def auth(server: LocalCarto) -> Iterator[APIKeyAuthClient]:
    # carto-python parses the user from "/user/<name>/"; the trailing slash matters for urljoin.
    client = APIKeyAuthClient(server.base_url + "/", server.api_key)
    assert client.username == "demo"
    try:
        yield client
    finally:
        client.session.close()


def _wait(job: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    job.refresh()
    while job.state not in ("complete", "failure"):
        assert time.monotonic() < deadline, job.state
        time.sleep(0.02)
        job.refresh()


def test_file_import_with_polling_then_sql_sees_the_rows(
    server: LocalCarto, auth: APIKeyAuthClient, tmp_path: Path
) -> None:
    path = tmp_path / "cp_stores.csv"
    path.write_text(CSV)
    with path.open("rb") as archive:
        job = FileImportJob(archive, auth)
        job.run(type_guessing="true")
    assert job.success is True
    assert job.item_queue_id
    _wait(job)
    assert (job.state, job.success, job.table_name, job.error_code) == (
        "complete",
        True,
        "cp_stores",
        None,
    )
    assert job.display_name == "cp_stores.csv"
    assert job.user_defined_limits == '{"twitter_credits_limit":0}'
    result = SQLClient(auth).send("select name, value from cp_stores order by name")
    assert result["total_rows"] == 3
    assert [row["name"] for row in result["rows"]] == ["alpha", "beta", "gamma"]
    assert server.counters.jobs_created == 1


def test_failed_import_reports_code_and_text(auth: APIKeyAuthClient, tmp_path: Path) -> None:
    path = tmp_path / "streets.cpg"
    path.write_text("UTF-8")
    with path.open("rb") as archive:
        job = FileImportJob(archive, auth)
        job.run()
    _wait(job)
    assert (job.state, job.success, job.error_code) == ("failure", False, 1002)


def test_url_import_and_listing_imports(
    server: LocalCarto, auth: APIKeyAuthClient, file_server: FileServer
) -> None:
    url = file_server.add("/remote.csv", CSV)
    job = FileImportJob(url, auth)
    job.run()
    listed = FileImportJobManager(auth).filter()
    assert [j.item_queue_id for j in listed] in ([job.item_queue_id], [])
    _wait(job)
    assert (job.state, job.table_name) == ("complete", "remote")


def test_sql_client_get_and_errors(server: LocalCarto, auth: APIKeyAuthClient) -> None:
    sql = SQLClient(auth)
    assert sql.send("select 1 as one", do_post=False)["rows"] == [{"one": 1}]
    with pytest.raises(CartoException):
        sql.send("select * from no_such_table")


def test_sql_client_sees_rate_limits(server: LocalCarto, auth: APIKeyAuthClient) -> None:
    server.faults.rate_limit("sql", RateLimit(1, period=60.0, burst=0))
    sql = SQLClient(auth)
    sql.send("select 1")
    with pytest.raises(CartoRateLimitException) as caught:
        sql.send("select 1")
    assert (caught.value.limit, caught.value.remaining) == (1, 0)
    assert caught.value.retry_after >= 1
