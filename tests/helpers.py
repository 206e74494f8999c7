"""Shared test data and helpers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

KEY = "k3y-0123456789abcdef0123456789abcdef"
BASE_URL = "https://demo.carto.com"
IMPORTS_URL = f"{BASE_URL}/api/v1/imports"
SQL_URL = f"{BASE_URL}/api/v2/sql"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IMPORT_ID = "efa9925c-31dd-11e4-a95e-0edbca4b5057"
IMPORT_ID_2 = "0c3e5a42-7d8e-4f0a-9b1c-2d3e4f5a6b7c"


def fixture(*parts: str) -> Any:
    return json.loads(FIXTURES.joinpath(*parts).read_text())


def status_body(state: str, import_id: str = IMPORT_ID, **extra: Any) -> dict[str, Any]:
    """A GET /api/v1/imports/:id body in the server's key order, from the real fixture."""
    body: dict[str, Any] = fixture("imports", "show_failure_1002.json")
    body.update(
        id=import_id,
        queue_id=import_id,
        state=state,
        error_code=None,
        get_error_text=None,
        table_name=None,
    )
    body.pop("success", None)
    if state in ("complete", "failure", "stuck"):
        body["success"] = state == "complete"
    if state == "complete":
        body["table_name"] = "stores"
    body.update(extra)
    return body


def created(import_id: str = IMPORT_ID) -> httpx.Response:
    return httpx.Response(200, json={"item_queue_id": import_id, "success": True})


def statuses(*states: str, import_id: str = IMPORT_ID, **extra: Any) -> list[httpx.Response]:
    return [httpx.Response(200, json=status_body(s, import_id, **extra)) for s in states]


class FakeClock:
    """Virtual monotonic time: ``sleep`` advances it and records the delay."""

    def __init__(self, real_sleep: Callable[[float], Any]) -> None:
        self.t = 1000.0
        self.slept: list[float] = []
        self._real_sleep = real_sleep

    def now(self) -> float:
        return self.t

    def _advance(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)

    async def async_sleep(self, seconds: float) -> None:
        self._advance(seconds)
        result = self._real_sleep(0)
        if isinstance(result, Awaitable):
            await result

    def sync_sleep(self, seconds: float) -> None:
        self._advance(seconds)
