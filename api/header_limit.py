"""A limit on the size of a request's head (its target and header fields), enforced before
any route, token check or store sees the request."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import refusal


class HeadTooLarge:
    """ASGI middleware: header fields over `max_bytes` in all get a 431 problem, a request
    target (path and query) over it a 414; the connection is closed after the answer.

    The server has parsed the head by then, but nothing of the app has run: no token is
    verified, no tenant looked up, nothing read from a store or written to a log.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        target_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
        if header_bytes > self.max_bytes:
            refused = refusal(
                scope,
                431,
                "headers-too-large",
                "Request header fields too large",
                f"the request's header fields exceed the limit of {self.max_bytes} bytes in "
                "all; send fewer or shorter headers (a bearer token is well under 1 KB)",
                headers={"Connection": "close"},
            )
        elif target_bytes > self.max_bytes:
            refused = refusal(
                scope,
                414,
                "uri-too-long",
                "Request target too long",
                f"the request's path and query exceed the limit of {self.max_bytes} bytes",
                headers={"Connection": "close"},
            )
        else:
            await self.app(scope, receive, send)
            return
        await refused(scope, receive, send)
