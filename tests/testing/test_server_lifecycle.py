"""LocalCarto starts on an ephemeral loopback port and leaves nothing behind when it stops."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from carto_async import PollPolicy
from carto_async.testing import LocalCarto
from carto_async.testing import _server as server_module
from carto_async.testing._http import batch as batch_http
from tests.testing.conftest import import_file, sql


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_context_manager_serves_on_loopback_and_releases_port_and_threads() -> None:
    before = _threads()
    with LocalCarto() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/user/demo"
        port = server.port
        response = httpx.get(server.base_url + "/api/v2/sql", params={"q": "select 1 as x"})
        assert response.status_code == 200
    assert _threads() == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_stop_closes_keep_alive_connections_of_clients() -> None:
    with LocalCarto() as server, httpx.Client(base_url=server.base_url) as client:
        assert client.get("/api/v2/sql", params={"q": "select 1"}).status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/api/v2/sql", params={"q": "select 1"})


def test_idle_keep_alive_connections_outlive_the_clients_own_expiry() -> None:
    # httpx drops idle connections after 5 s, aiohttp after 15 s: a server that closed first
    # would race the client reusing the connection and lose requests (a create among them).
    assert LocalCarto().keep_alive == 75.0
    with pytest.raises(ValueError, match="keep_alive"):
        LocalCarto(keep_alive=0)


def test_an_idle_keep_alive_connection_is_closed_after_keep_alive_seconds() -> None:
    with (
        LocalCarto(keep_alive=0.2) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=2) as conn,
    ):
        conn.sendall(b"GET /api/v2/sql?q=select%201 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        # The server answered, then closed the idle connection by itself (recv saw the FIN).
        assert received.startswith(b"HTTP/1.1 200")


def test_stop_says_so_when_a_handler_blocks_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, release = threading.Event(), threading.Event()
    real = batch_http.batch_queue

    def blocking(ctx: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(ctx)

    monkeypatch.setattr(batch_http, "batch_queue", blocking)
    monkeypatch.setattr(server_module, "_STOP_TIMEOUT", 0.5)
    server = LocalCarto().start()

    def post() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                server.base_url + "/api/v2/sql/job",
                params={"api_key": server.api_key},
                json={"query": "select 1"},
                timeout=30,
            )

    poster = threading.Thread(target=post)
    poster.start()
    try:
        assert entered.wait(10)
        with pytest.raises(RuntimeError, match=r"did not stop within 0\.5 s"):
            server.stop()
    finally:
        release.set()
        server.stop()
        poster.join()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port


def test_async_context_manager_works_under_anyio() -> None:
    async def main() -> int:
        async with LocalCarto() as server, httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.get("/api/v2/sql", params={"q": "select 1 as x"})
            return response.status_code

    assert anyio.run(main) == 200


def test_keys_are_master_regular_and_default_public() -> None:
    server = LocalCarto(username="alice", api_key="secret")
    assert server.api_key == "secret"
    assert server.default_public_key == "default_public"
    assert server.regular_api_key not in ("secret", "default_public")
    assert len(LocalCarto().api_key) == 40


def test_invalid_username_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid username"):
        LocalCarto(username="a/b")


def test_database_file_persists_tables_across_servers(tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite"
    with LocalCarto(db=path) as server, httpx.Client(base_url=server.base_url) as client:
        body = import_file(client, server.api_key, "kept.csv", "a\n1\n2\n")
        assert body["state"] == "complete"
    with LocalCarto(db=str(path)) as server, httpx.Client(base_url=server.base_url) as client:
        assert server.db.table_exists("kept")
        assert sql(client, server.api_key, "select count(*) as n from kept").json()["rows"] == [
            {"n": 2}
        ]


def test_stopped_server_has_no_port() -> None:
    server = LocalCarto()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
    assert "stopped" in repr(server)


def test_start_twice_is_an_error() -> None:
    with LocalCarto() as server, pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_accepted_connections_do_not_wait_for_delayed_acks(server: LocalCarto) -> None:
    # Without TCP_NODELAY on accepted sockets each keep-alive response stalls ~40 ms (Nagle
    # and the client's delayed ACK).
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/api/v2/sql", params={"q": "select 1"}).status_code == 200
        uvicorn_server = server._server
        assert uvicorn_server is not None
        connections = list(uvicorn_server.server_state.connections)
        assert connections
        for connection in connections:
            sock = connection.transport.get_extra_info("socket")  # type: ignore[attr-defined]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_serve_runs_in_the_foreground_until_ctrl_c(tmp_path: Path) -> None:
    script = (
        "from carto_async.testing import serve\n"
        f"serve(port=0, api_key='secret', db={str(tmp_path / 'cli.sqlite')!r}, log_level='warning',"
        " ready=lambda server: print(server.base_url, flush=True))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            assert base_url.endswith("/user/demo")
            response = httpx.get(base_url + "/api/v1/imports", params={"api_key": "secret"})
            assert response.json() == {"imports": [], "success": True}
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (tmp_path / "cli.sqlite").exists()


def test_ready_made_sdk_clients_talk_to_the_server(server: LocalCarto, tmp_path: Path) -> None:
    path = tmp_path / "sdk_rows.csv"
    path.write_text("name\na\nb\n")
    with server.client(poll=PollPolicy(initial=0.02, factor=1.5, cap=0.1)) as carto:
        carto.imports.upload(path).wait(timeout=10)
        assert carto.sql.query("select count(*) as n from sdk_rows").rows == [{"n": 2}]

    async def main() -> list[dict[str, object]]:
        async with server.async_client() as carto:
            return (await carto.sql.query("select 1 as x")).rows

    assert anyio.run(main) == [{"x": 1}]


def test_public_names_are_exported_sorted_and_documented() -> None:
    import carto_async.testing as testing  # noqa: PLC0415 - the module under test

    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        obj = getattr(testing, name)
        assert obj.__doc__, name
