"""A lean HTTP/1.1 client for the benchmark's loads: keep-alive connections on asyncio
streams, requests encoded once as bytes, answers read by Content-Length or chunks.

A general client (httpx) spends some milliseconds of CPU on each request; on a 2-core
machine the load generator then takes as much CPU as the server it measures, and a fast
endpoint such as /livez measures the client instead. This one costs a few tens of
microseconds a request, so the server's rate is what the rows show. It speaks only what the
benchmark needs: one origin, no TLS, no redirects, no compression.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

__all__ = ["FAILURES", "Answer", "LeanClient", "ProtocolError"]


@dataclass(frozen=True)
class Answer:
    """What the server answered: its status and body."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


#: An idle connection older than this is closed, not reused: the server may be closing it
#: at the same moment (uvicorn closes one idle for 5 s), and a request sent on it then fails.
_IDLE_SECONDS = 4.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        return not self.reader.at_eof() and now - self.idle_since < _IDLE_SECONDS

    async def exchange(self, request: bytes) -> tuple[Answer, bool]:
        """Sends `request` and reads its answer; says whether the connection stays open."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, header_block = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = b"close" not in value.lower()
        if chunked:
            content = await self._chunks()
        elif length is not None:
            content = await self.reader.readexactly(length)
        elif status in (204, 304) or 100 <= status < 200:
            content = b""
        else:  # delimited by the end of the connection
            content, keep = await self.reader.read(), False
        return Answer(status, content), keep

    async def _chunks(self) -> bytes:
        body = bytearray()
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return bytes(body)
            body += await self.reader.readexactly(size + 2)
            del body[-2:]

    def close(self) -> None:
        self.writer.close()


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as this client reads it."""


#: What `LeanClient.send` raises when a request gets no answer: a load counts it as failed.
FAILURES = (ConnectionError, TimeoutError, ProtocolError)


class LeanClient:
    """Up to `connections` keep-alive connections to `base_url`; `send` takes an idle one
    (or opens one) for each request. `headers` go with every request. Errors are raised as
    ConnectionError, TimeoutError or ProtocolError, and the connection they happened on is
    dropped."""

    def __init__(
        self,
        base_url: str,
        *,
        connections: int,
        timeout: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"the benchmark's client speaks plain http only, not {base_url}")
        self.host = url.netloc
        self._address = (url.hostname, url.port or 80)
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    def encode(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, object] | None = None,
        body: object = None,
    ) -> bytes:
        """The request as sent on the wire (a JSON `body` when one is given)."""
        target = f"{path}?{urlencode(params)}" if params else path
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.host}"]
        lines += [
            f"{name}: {value}" for name, value in {**self._headers, **(headers or {})}.items()
        ]
        content = b""
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            lines += ["content-type: application/json"]
        if content or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(content)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content

    def _reusable(self) -> _Connection | None:
        """The idle connection used last, if one is still fit to use; stale ones closed."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    async def send(self, request: bytes) -> Answer:
        """The answer to `request` (bytes from `encode`)."""
        async with self._slots:
            connection = self._reusable()
            try:
                async with asyncio.timeout(self._timeout):
                    if connection is None:
                        connection = _Connection(*await asyncio.open_connection(*self._address))
                    answer, keep = await connection.exchange(request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                if connection is not None:
                    connection.close()
                raise ConnectionError(f"{type(error).__name__}: {error}") from error
            except (TimeoutError, ProtocolError, ValueError) as error:
                if connection is not None:
                    connection.close()
                if isinstance(error, ValueError):  # a status or length that is no number
                    raise ProtocolError(f"an unreadable answer: {error}") from error
                raise
            if keep:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return answer
