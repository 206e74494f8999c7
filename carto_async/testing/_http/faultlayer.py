"""The outermost ASGI layer: counts requests and applies the configured faults.

It must wrap the application directly under the server, because dropping a connection needs
the server's transport, which it finds behind the ``send`` callable the server passes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carto_async.testing._faults import Counters, Faults
from carto_async.testing._http.routing import ROUTE_SCOPE_KEY, RouteMatch
from carto_async.testing._wire import CORS_HEADERS, SQL_RATE_LIMIT_BODY, express_json, server_error

__all__ = ["FaultLayer"]

log = logging.getLogger("carto_async.testing")

_SLOW_BODY_PIECES = 4


def _abort_of(send: Send) -> Callable[[], object] | None:
    # uvicorn's send is a bound method of its request/response cycle (h11 and httptools
    # alike), which holds the connection's transport; abort() closes the socket at once.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None


class FaultLayer:
    """Counts every request and response and injects the configured faults."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resolve: Callable[[Scope], RouteMatch | None],
        faults: Faults,
        counters: Counters,
    ) -> None:
        self.app = app
        self.resolve = resolve
        self.faults = faults
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = self.resolve(scope)
        scope[ROUTE_SCOPE_KEY] = match
        template = match.template if match is not None else "(unmatched)"
        self.counters.count_request(f"{scope['method']} {template}")
        faults = self.faults
        if match is None or faults.empty:
            await self.app(scope, receive, self._counting(send, []))
            return
        group = match.group
        delay = faults.delay_for(group)
        if delay > 0:
            await anyio.sleep(delay)
        decision = faults.throttle(group)
        limit_headers = decision.headers() if decision is not None else {}
        extra = [(k.encode(), v.encode()) for k, v in limit_headers.items()]
        if decision is not None and not decision.allowed:
            headers = dict(limit_headers)
            if match.service == "sql":
                headers.update(CORS_HEADERS)
            response = express_json(SQL_RATE_LIMIT_BODY, 429, headers)
            await response(scope, receive, self._counting(send, []))
            return
        if faults.fire("drop_before", group) is not None:
            await self._drop(send, receive)
            return
        if (rule := faults.fire("error", group)) is not None:
            response = server_error(faults.pick_status(rule), service=match.service)
            await response(scope, receive, self._counting(send, extra))
            return
        if faults.fire("drop_after", group) is not None:

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await self._drop(send, receive)
            return
        out = self._counting(send, extra)
        if (slow := faults.fire("slow_body", group)) is not None:
            out = self._slow(out, slow.seconds)
        await self.app(scope, receive, out)

    def _counting(self, send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counters.count_response(int(message["status"]))
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return counting_send

    @staticmethod
    def _slow(send: Send, seconds: float) -> Send:
        async def slow_send(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            step = max(1, -(-len(body) // _SLOW_BODY_PIECES))
            pieces = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
            for index, piece in enumerate(pieces):
                await anyio.sleep(seconds / len(pieces))
                last = index == len(pieces) - 1
                message = {
                    "type": "http.response.body",
                    "body": piece,
                    "more_body": more or not last,
                }
                await send(message)

        return slow_send

    async def _drop(self, send: Send, receive: Receive) -> None:
        self.counters.count_drop()
        abort = _abort_of(send)
        if abort is None:
            # Not under uvicorn: promise a body and never send it, so the server has to close
            # the connection mid-response; the closest a plain ASGI app can get to a drop.
            log.warning("no transport to drop; answering with a truncated response instead")
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-length", b"1")],
                }
            )
            return
        abort()
        # Let the server notice the disconnect before the app returns, or it would try to
        # answer with a 500 on the dead connection and log an error.
        with anyio.move_on_after(1.0):
            while (await receive())["type"] != "http.disconnect":
                pass
