"""The benchmark's lean HTTP client reads every answer framing a server may use, and a
connection that breaks fails only its own request."""

from __future__ import annotations

import asyncio

import pytest

from bench import http_client
from bench.http_client import LeanClient, ProtocolError

ANSWERS = {
    b"/length": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
    b"/chunks": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n",
    b"/close": b"HTTP/1.1 503 Busy\r\nconnection: close\r\n\r\nbusy",
    b"/empty": b"HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n",
    b"/broken": b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\ncut short",
    b"/garbled": b"HTTP/1.1 2xx OK\r\n\r\n",
}


async def _server(connections: list[int]) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length")),
                    0,
                )  # fmt: skip
                await reader.readexactly(length)
                path = head.split(b" ")[1]
                writer.write(ANSWERS[path])
                await writer.drain()
                if path in (b"/close", b"/broken", b"/garbled"):
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def test_the_bench_client_reads_lengths_chunks_and_closes_and_reuses_its_connections() -> None:
    async def run() -> tuple[list[tuple[int, bytes]], int, list[int]]:
        connections: list[int] = []
        server = await _server(connections)
        port = server.sockets[0].getsockname()[1]
        async with server, LeanClient(f"http://127.0.0.1:{port}", connections=1, timeout=5) as c:
            answers = []
            for path in ("/length", "/chunks", "/empty", "/length", "/close", "/length"):
                body = {"n": 1} if path == "/chunks" else None
                method = "POST" if body else "GET"
                answer = await c.send(c.encode(method, path, body=body))
                answers.append((answer.status_code, answer.content))
            before_break = len(connections)
            with pytest.raises(ConnectionError):
                await c.send(c.encode("GET", "/broken"))
            after = await c.send(c.encode("GET", "/length"))
            with pytest.raises(ProtocolError, match="unreadable"):
                await c.send(c.encode("GET", "/garbled"))
            return answers, before_break, [after.status_code, len(connections)]

    answers, opened, after = asyncio.run(run())

    assert answers == [
        (200, b"hello"), (201, b"hello"), (304, b""), (200, b"hello"), (503, b"busy"),
        (200, b"hello"),
    ]  # fmt: skip
    assert opened == 2  # one kept alive until the server closed it
    assert after == [200, 3]  # the broken connection dropped, a new one opened


def test_the_bench_client_never_reuses_a_connection_the_server_may_be_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_client, "_IDLE_SECONDS", 0.0)  # every idle one is too old

    async def run() -> tuple[list[int], int]:
        connections: list[int] = []
        server = await _server(connections)
        port = server.sockets[0].getsockname()[1]
        async with server, LeanClient(f"http://127.0.0.1:{port}", connections=1, timeout=5) as c:
            statuses = [(await c.send(c.encode("GET", "/length"))).status_code for _ in range(3)]
            return statuses, len(connections)

    assert asyncio.run(run()) == ([200, 200, 200], 3)
