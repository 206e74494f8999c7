"""The manifest is written ahead: on disk before the first byte of a create request's body."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx

from carto_async import AsyncCarto
from carto_async.cli._batch import Batch, Item, Phase, plan
from carto_async.cli._manifest import Account, Manifest
from carto_async.cli._progress import _Silent
from carto_async.cli._sources import Source, file_source, url_source
from tests.helpers import BASE_URL, IMPORT_ID, KEY, status_body

Seen = list[tuple[str, dict[str, str]]]


class _Recorder(httpx.AsyncBaseTransport):
    """Reads each create request's body chunk by chunk, noting what the manifest on disk
    said when each chunk was handed over, then answers like CARTO."""

    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.seen: Seen = []

    def _states(self) -> dict[str, str]:
        if not self.manifest.exists():
            return {}
        return {e.label: e.state.value for e in Manifest.read(str(self.manifest)).entries.values()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.seen.append(("headers", self._states()))
            assert isinstance(request.stream, httpx.AsyncByteStream)
            async for _chunk in request.stream:
                self.seen.append(("chunk", self._states()))
            return httpx.Response(200, json={"item_queue_id": IMPORT_ID, "success": True})
        if request.url.path.endswith("/imports"):
            return httpx.Response(200, json={"imports": [], "success": True})
        return httpx.Response(200, json=status_body("complete"))


def _run(tmp_path: Path, source_label: str, sources: list[Source]) -> Seen:
    path = tmp_path / "m.json"
    recorder = _Recorder(path)
    manifest = Manifest.open(str(path), Account("demo", BASE_URL))
    items = plan(sources, manifest, retry_unknown=False)

    async def main() -> list[Item]:
        async with (
            httpx.AsyncClient(transport=recorder) as http,
            AsyncCarto("demo", KEY, BASE_URL, http_client=http) as carto,
        ):
            await Batch(carto, items, manifest=manifest, reporter=_Silent(), options={}).run()
        return items

    done = anyio.run(main)
    manifest.close()
    assert [i.phase for i in done] == [Phase.COMPLETE]
    assert recorder._states() == {source_label: "done"}
    return recorder.seen


def test_an_upload_is_recorded_started_before_its_first_body_byte(tmp_path: Path) -> None:
    (tmp_path / "stores.csv").write_text("name\nx\n")
    label = "stores.csv"
    seen = _run(tmp_path, label, [file_source(str(tmp_path / "stores.csv"), label)])
    chunks = [states for what, states in seen if what == "chunk"]
    assert chunks, "the body was never read"
    assert all(states == {label: "started"} for states in chunks)


def test_a_url_import_is_recorded_started_before_its_request(tmp_path: Path) -> None:
    url = "https://example.com/stores.csv"
    seen = _run(tmp_path, url, [url_source(url)])
    assert seen[0] == ("headers", {url: "started"})
