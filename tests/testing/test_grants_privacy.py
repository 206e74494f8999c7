"""Table privacy decides what the public user reads: an import's ``privacy``, the account's
default, the dataset page's ``PUT``."""

from __future__ import annotations

from pathlib import Path

import httpx

from carto_async.testing import LocalCarto
from tests.testing.conftest import wait_final

CSV = "name,value\nalpha,1\nbeta,2\n"


def _import(http: httpx.Client, key: str, path: Path, **params: str) -> str:
    with path.open("rb") as data:
        created = http.post(
            "/api/v1/imports", params={"api_key": key, **params}, files={"file": data}
        )
    assert created.status_code == 200, created.text
    final = wait_final(http, created.json()["item_queue_id"], key)
    assert final["state"] == "complete", final
    return str(final["table_name"])


def _public_count(http: httpx.Client, table: str) -> httpx.Response:
    return http.get("/api/v2/sql", params={"q": f"select count(*) as n from {table}"})


def test_an_import_records_its_privacy_and_the_default_is_private(tmp_path: Path) -> None:
    (tmp_path / "open.csv").write_text(CSV)
    (tmp_path / "closed.csv").write_text(CSV)
    (tmp_path / "linked.csv").write_text(CSV)
    with LocalCarto() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        key = server.api_key
        assert _import(http, key, tmp_path / "open.csv", privacy="public") == "open"
        assert _import(http, key, tmp_path / "linked.csv", privacy="link") == "linked"
        assert _import(http, key, tmp_path / "closed.csv") == "closed"
        assert _public_count(http, "open").json()["rows"] == [{"n": 2}]
        assert _public_count(http, "linked").json()["rows"] == [{"n": 2}]
        refused = _public_count(http, "closed")
        assert refused.status_code == 403
        assert refused.json() == {"error": ["permission denied for table closed"]}
        # the dataset page's privacy is the table's
        table = server.visualizations.table("closed")
        assert table is not None
        changed = http.put(
            f"/api/v1/viz/{table.visualization_id}",
            params={"api_key": key},
            json={"privacy": "public"},
        )
        assert changed.status_code == 200, changed.text
        assert _public_count(http, "closed").json()["rows"] == [{"n": 2}]


def test_a_free_account_makes_public_tables(tmp_path: Path) -> None:
    (tmp_path / "free.csv").write_text(CSV)
    with (
        LocalCarto(private_tables=False) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        assert _import(http, server.api_key, tmp_path / "free.csv") == "free"
        assert _public_count(http, "free").json()["rows"] == [{"n": 2}]
