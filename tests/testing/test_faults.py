"""Fault injection, rate limiting and counters, each observed by a plain httpx client."""

from __future__ import annotations

import time

import httpx
import pytest

from carto_async.testing import Clock, Faults, LocalCarto, RateLimit
from tests.testing.conftest import fixture, serving, upload, wait_final

CSV = "name,value\na,1\n"


def _statuses(server: LocalCarto, n: int) -> list[int]:
    with httpx.Client(base_url=server.base_url) as http:
        return [http.get("/api/v2/sql", params={"q": "select 1"}).status_code for _ in range(n)]


# -- latency, errors, slow bodies ----------------------------------------------------------


def test_latency_applies_to_the_matching_group_only() -> None:
    faults = Faults()
    rule = faults.latency(0.2, group="sql")
    with serving(faults=faults) as (server, http):
        started = time.perf_counter()
        http.get("/api/v2/sql", params={"q": "select 1"})
        assert time.perf_counter() - started >= 0.2
        assert rule.fired == 1
        http.get("/api/v1/imports", params={"api_key": server.api_key})
        # Not delayed: the rule did not apply (a duration bound would race a busy machine).
        assert rule.fired == 1


def test_injected_5xx_have_realistic_bodies(server: LocalCarto, http: httpx.Client) -> None:
    rule = server.faults.error("sql", status=503, count=1)
    response = http.get("/api/v2/sql", params={"q": "select 1"})
    assert response.status_code == 503
    assert "<center><h1>503 Service Unavailable</h1></center>" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert http.get("/api/v2/sql", params={"q": "select 1"}).status_code == 200
    assert rule.fired == 1
    server.faults.error("sql", status=500, count=1)
    assert http.get("/api/v2/sql", params={"q": "select 1"}).json() == {
        "error": ["Internal Server Error"]
    }
    server.faults.error("imports", status=500, count=1)
    rails = http.get("/api/v1/imports", params={"api_key": server.api_key})
    assert rails.status_code == 500
    assert "We're sorry, but something went wrong." in rails.text


def test_error_on_create_creates_no_job(server: LocalCarto, http: httpx.Client) -> None:
    server.faults.error("imports.create", status=502)
    assert upload(http, server.api_key, "e.csv", CSV).status_code == 502
    assert server.counters.jobs_created == 0


def test_slow_body_sends_headers_then_trickles_the_body(
    server: LocalCarto, http: httpx.Client
) -> None:
    server.faults.slow_body("sql", seconds=0.4)
    started = time.perf_counter()
    with http.stream("GET", "/api/v2/sql", params={"q": "select 1 as a"}) as response:
        assert response.status_code == 200
        # The headers came first: the body was still on its way, a piece every 0.1 s.
        pieces = list(response.iter_raw())
    assert time.perf_counter() - started >= 0.4
    assert len(pieces) > 1
    assert b'"a"' in b"".join(pieces)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/api/v2/sql", params={"q": "select 1"}, timeout=httpx.Timeout(5.0, read=0.05))


# -- dropped connections -------------------------------------------------------------------


def test_drop_before_processing_closes_the_connection_and_creates_nothing(
    server: LocalCarto, http: httpx.Client
) -> None:
    server.faults.drop_connection("imports.create", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        upload(http, server.api_key, "dropped.csv", CSV)
    assert server.counters.jobs_created == 0
    assert server.counters.connections_dropped == 1
    assert server.counters.requests["POST /api/v1/imports"] == 1
    assert server.counters.responses == {}
    assert upload(http, server.api_key, "after.csv", CSV).status_code == 200


def test_drop_after_processing_leaves_the_job_without_an_answer(
    server: LocalCarto, http: httpx.Client
) -> None:
    server.faults.drop_connection("imports.create", after=True, count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        upload(http, server.api_key, "ghost.csv", CSV)
    assert server.counters.jobs_created == 1
    (job,) = server.jobs()
    body = wait_final(http, job.id, server.api_key)
    assert (body["state"], body["table_name"]) == ("complete", "ghost")


def test_drop_on_sql_reads_are_transport_errors_not_timeouts(
    server: LocalCarto, http: httpx.Client
) -> None:
    server.faults.drop_connection("sql", rate=1.0)
    for _ in range(3):
        with pytest.raises(httpx.TransportError) as caught:
            http.get("/api/v2/sql", params={"q": "select 1"})
        assert not isinstance(caught.value, httpx.TimeoutException)
    assert server.counters.connections_dropped == 3


# -- rate limits ---------------------------------------------------------------------------


def test_rate_limit_headers_on_allowed_and_429_when_blocked() -> None:
    # The buckets read the server's clock: frozen, the three requests are simultaneous.
    faults = Faults(rate_limits={"sql": RateLimit(1, period=0.3, burst=1)})
    with serving(faults=faults, clock=Clock(frozen=True)) as (server, http):
        first, second, third = (http.get("/api/v2/sql", params={"q": "select 1"}) for _ in range(3))
        assert first.status_code == second.status_code == 200
        assert first.headers["carto-rate-limit-limit"] == "2"
        assert (
            first.headers["carto-rate-limit-remaining"],
            second.headers["carto-rate-limit-remaining"],
        ) == ("1", "0")
        assert "retry-after" not in first.headers
        assert third.status_code == 429
        assert third.json() == fixture("sql", "error_rate_limit_429.json")
        # redis-cell's whole seconds of the 0.3 s wait (0) plus one
        assert third.headers["retry-after"] == "1"
        assert third.headers["carto-rate-limit-remaining"] == "0"
        assert third.headers["access-control-allow-origin"] == "*"
        imports = http.get("/api/v1/imports", params={"api_key": server.api_key})
        assert "carto-rate-limit-limit" not in imports.headers
        server.advance(0.3)
        assert http.get("/api/v2/sql", params={"q": "select 1"}).status_code == 200


def test_gcra_matches_redis_cell() -> None:
    now = [100.0]
    faults = Faults(rate_limits={"*": RateLimit(30, period=60.0, burst=15)})
    faults.clock = lambda: now[0]
    first = faults.throttle("sql.query")
    assert first is not None
    assert (first.allowed, first.limit, first.remaining, int(first.reset_after)) == (
        True,
        16,
        15,
        2,
    )
    decisions = [faults.throttle("sql.query") for _ in range(16)]
    assert [d.allowed for d in decisions if d] == [True] * 15 + [False]
    blocked = decisions[-1]
    assert blocked is not None
    # One emission interval (2 s) to wait; the services send redis-cell's seconds plus one.
    assert blocked.headers()["Retry-After"] == "3"
    now[0] += 2.0
    again = faults.throttle("sql.query")
    assert again is not None
    assert (again.allowed, again.remaining) == (True, 0)


def test_rate_limit_can_be_lifted_at_runtime(server: LocalCarto) -> None:
    server.faults.rate_limit("sql", RateLimit(1, burst=0))
    assert _statuses(server, 2) == [200, 429]
    server.faults.rate_limit("sql", None)
    assert _statuses(server, 2) == [200, 200]


# -- determinism and configuration ---------------------------------------------------------


def test_same_seed_same_faults_different_seed_different_faults() -> None:
    def run(seed: int) -> list[int]:
        with LocalCarto(faults=Faults(seed, error_rates={"sql": 0.5})) as server:
            return _statuses(server, 24)

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first != other
    assert {200, 500, 502, 503} >= set(first) > {200}


def test_rules_can_be_added_and_removed_while_running(server: LocalCarto) -> None:
    rule = server.faults.error("sql", status=(502,))
    assert _statuses(server, 2) == [502, 502]
    server.faults.remove(rule)
    assert _statuses(server, 1) == [200]
    server.faults.error("*", status=503)
    assert _statuses(server, 1) == [503]
    server.faults.clear()
    assert server.faults.rules == []
    assert _statuses(server, 1) == [200]


def test_invalid_fault_settings_are_refused() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="rate"):
        faults.error("sql", rate=1.5)
    with pytest.raises(ValueError, match="5xx"):
        faults.error("sql", status=404)


def test_stuck_imports_by_predicate() -> None:
    with serving(clock=Clock(frozen=True)) as (server, http):
        server.faults.stuck_imports(predicate=lambda info: info.display_name.startswith("stuck"))
        stuck = upload(http, server.api_key, "stuck_one.csv", CSV).json()["item_queue_id"]
        fine = upload(http, server.api_key, "fine.csv", CSV).json()["item_queue_id"]
        server.advance(1.0)
        assert wait_final(http, fine, server.api_key)["state"] == "complete"
        show = http.get(f"/api/v1/imports/{stuck}", params={"api_key": server.api_key}).json()
        assert show["state"] == "unpacking"
        listing = http.get("/api/v1/imports", params={"api_key": server.api_key}).json()
        assert listing["imports"] == [stuck]


def test_stuck_imports_hold_slots() -> None:
    with serving(faults=Faults(stuck_imports=1.0), import_slots=1) as (server, http):
        assert upload(http, server.api_key, "a.csv", CSV).status_code == 200
        assert upload(http, server.api_key, "b.csv", CSV).status_code == 429


# -- counters ------------------------------------------------------------------------------


def test_counters_by_route_status_and_jobs_and_reset(
    server: LocalCarto, http: httpx.Client
) -> None:
    key = server.api_key
    import_id = upload(http, key, "c.csv", CSV).json()["item_queue_id"]
    wait_final(http, import_id, key)
    http.get("/api/v2/sql", params={"q": "select 1"})
    http.get("/api/v2/sql", params={"q": "select 1", "api_key": "bad"})
    httpx.get(server.root_url + "/u/demo/api/v1/imports/", params={"api_key": key})
    snap = server.counters.snapshot()
    assert snap.requests["POST /api/v1/imports"] == 1
    assert snap.requests["GET /api/v1/imports/{id}"] >= 1
    assert snap.requests["GET /api/{version}/sql"] == 2
    assert snap.requests["GET /api/v1/imports"] == 1
    assert snap.responses[401] == 1
    assert sum(snap.responses.values()) == sum(snap.requests.values())
    assert snap.jobs_created == 1
    server.counters.reset()
    assert server.counters.snapshot().requests == {}
    assert server.counters.jobs_created == 0
    assert "requests=0" in repr(server.counters)


def test_advancing_the_running_clock_makes_a_stuck_import_stale(
    server: LocalCarto, http: httpx.Client
) -> None:
    server.faults.stuck_imports(count=1)
    import_id = upload(http, server.api_key, "late.csv", CSV).json()["item_queue_id"]
    server.advance(1.0)
    show = http.get(f"/api/v1/imports/{import_id}", params={"api_key": server.api_key})
    assert show.json()["state"] == "unpacking"
    server.advance(300.0)
    body = wait_final(http, import_id, server.api_key)
    assert (body["state"], body["error_code"]) == ("failure", 6671)
    assert server.clock.advanced == 301.0
