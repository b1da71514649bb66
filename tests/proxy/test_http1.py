"""The front door's HTTP/1.1 server on its own, driven over real sockets byte by byte: keep-alive
and pipelining, chunked and compressed bodies, heads that come in pieces or never, clients
that hang up, and the answers' framing."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from agentwrap.proxy import http1

Handler = Callable[[http1.Request], Awaitable[http1.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler, idle_timeout: float = 30.0) -> AsyncIterator[int]:
    server = http1.Server(handler, idle_timeout=idle_timeout)
    port = await server.start("127.0.0.1", 0)
    try:
        yield port
    finally:
        await server.close()


async def echo(request: http1.Request) -> http1.StreamResponse:
    """Answers with what it read: method, path, the body's length and its first bytes."""
    body = b"".join([chunk async for chunk in request.content.iter_any()])
    text = f"{request.method} {request.raw_path} {len(body)} {body[:20].decode()}"
    return http1.Response(body=text.encode(), headers={"content-type": "text/plain"})


class Client:
    """A raw connection that reads answers as an HTTP client would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[str, dict[str, str], bytes]:
        """The next answer: its status line, headers (names lower-cased), whole body."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        status, *lines = head.decode().split("\r\n")[:-2]
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b"".join([piece async for piece in self.chunks()])
        else:
            body = await asyncio.wait_for(self.reader.read(), 5)
        return status, headers, body

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            size = int((await asyncio.wait_for(self.reader.readline(), 5)).strip(), 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return
            assert data.endswith(b"\r\n")
            yield data[:-2]

    async def closed(self) -> bool:
        """Whether the server closed the connection (read ends with nothing more)."""
        rest = await asyncio.wait_for(self.reader.read(), 5)
        self.close()
        return rest == b""

    def close(self) -> None:
        self.writer.close()


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_keep_alive_serves_requests_one_after_another_on_one_connection() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        for i in range(3):
            await client.send(post(f"/r{i}", b"x" * (i + 1)))
            status, headers, body = await client.answer()
            assert status == "HTTP/1.1 200 OK"
            assert body == f"POST /r{i} {i + 1} {'x' * (i + 1)}".encode()
            assert "connection" not in headers and headers["content-length"] == str(len(body))
        client.close()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        await client.send(b"".join(post(f"/p{i}", b"%d" % i) for i in range(5)))
        bodies = [(await client.answer())[2] for _ in range(5)]
        assert bodies == [f"POST /p{i} 1 {i}".encode() for i in range(5)]
        client.close()


async def test_a_chunked_request_body_is_read_whole() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        head = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        await client.send(head + b"5\r\nhello\r\n")
        await asyncio.sleep(0.05)
        await client.send(b"6\r\n world\r\n0\r\n\r\n")
        assert (await client.answer())[2] == b"POST /c 11 hello world"
        client.close()


async def test_a_compressed_request_body_is_read_decompressed() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        await client.send(post("/z", gzip.compress(b"squeezed" * 100), "Content-Encoding: gzip"))
        assert (await client.answer())[2] == b"POST /z 800 squeezedsqueezedsque"
        client.close()


async def test_a_head_split_across_packets_is_put_back_together() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        for piece in (
            b"PO",
            b"ST /split HT",
            b"TP/1.1\r\nHo",
            b"st: x\r\nContent-Le",
            b"ngth: 3\r",
        ):
            await client.send(piece)
            await asyncio.sleep(0.02)
        await client.send(b"\n\r\nabc")
        assert (await client.answer())[2] == b"POST /split 3 abc"
        client.close()


async def test_a_client_hanging_up_mid_body_cancels_the_handler() -> None:
    cancelled = asyncio.Event()

    async def reads_the_body(request: http1.Request) -> http1.StreamResponse:
        try:
            await request.content.read()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return http1.Response(status=200)

    async with serving(reads_the_body) as port:
        client = await Client.open(port)
        await client.send(post("/half", b"x" * 1000)[:-990])
        await asyncio.sleep(0.05)
        client.close()
        await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_client_hanging_up_mid_answer_cancels_the_handler() -> None:
    cancelled = asyncio.Event()

    async def streams_forever(request: http1.Request) -> http1.StreamResponse:
        resp = http1.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"data: tick\n\n")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serving(streams_forever) as port:
        client = await Client.open(port)
        await client.send(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.reader.readuntil(b"\r\n\r\n")
        chunks = client.chunks()
        assert await anext(chunks) == b"data: tick\n\n"
        client.close()
        await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_streamed_answer_is_chunked_and_ends_with_the_last_chunk() -> None:
    async def streams(request: http1.Request) -> http1.StreamResponse:
        resp = http1.StreamResponse(status=201, headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for piece in (b"one", b"", b"two" * 10_000):  # an empty write sends nothing
            await resp.write(piece)
        await resp.write_eof()
        return resp

    async with serving(streams) as port:
        client = await Client.open(port)
        await client.send(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        head = (await client.reader.readuntil(b"\r\n\r\n")).decode()
        assert head.startswith("HTTP/1.1 201 Created\r\n")
        assert "Transfer-Encoding: chunked\r\n" in head and "Content-Length" not in head
        assert [c async for c in client.chunks()] == [b"one", b"two" * 10_000]
        # The connection is kept for the next request.
        await client.send(post("/next", b""))
        status, _, body = await client.answer()
        assert status == "HTTP/1.1 201 Created" and body == b"one" + b"two" * 10_000
        client.close()


async def test_a_whole_answer_has_its_length_and_the_headers_given_as_given() -> None:
    async def whole(request: http1.Request) -> http1.StreamResponse:
        return http1.Response(status=400, body=b'{"a":1}', headers={"x-Kept": "yes"})

    async with serving(whole) as port:
        client = await Client.open(port)
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = (await client.reader.readuntil(b"\r\n\r\n")).decode()
        assert head.startswith("HTTP/1.1 400 Bad Request\r\nx-Kept: yes\r\n")
        assert "Content-Length: 7\r\n" in head and "Date: " in head
        assert "Content-Type: application/octet-stream\r\n" in head  # a body says what it is
        assert await client.reader.readexactly(7) == b'{"a":1}'
        client.close()


async def test_connection_close_is_honoured_after_the_answer() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        await client.send(post("/bye", b"ab", "Connection: close"))
        _, headers, body = await client.answer()
        assert headers["connection"] == "close" and body == b"POST /bye 2 ab"
        assert await client.closed()


async def test_an_http_1_0_client_gets_an_http_1_0_answer_and_its_end() -> None:
    async def streams(request: http1.Request) -> http1.StreamResponse:
        resp = http1.StreamResponse(headers={"content-type": "text/plain"})
        await resp.prepare(request)
        await resp.write(b"no chunks ")
        await resp.write(b"here")
        return resp

    async with serving(streams) as port:
        client = await Client.open(port)
        await client.send(b"GET / HTTP/1.0\r\n\r\n")
        status, headers, body = await client.answer()  # read to the connection's end
        assert status == "HTTP/1.0 200 OK" and "transfer-encoding" not in headers
        assert body == b"no chunks here"
        client.close()


async def test_head_gets_the_headers_only() -> None:
    async def json_answer(request: http1.Request) -> http1.StreamResponse:
        return http1.json_response({"ok": True})

    async with serving(json_answer) as port:
        client = await Client.open(port)
        await client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = (await client.reader.readuntil(b"\r\n\r\n")).decode()
        assert "Content-Length: 12\r\n" in head
        # No body follows: the next bytes are the GET's answer.
        status, headers, body = await client.answer()
        assert status == "HTTP/1.1 200 OK" and body == b'{"ok": true}'
        assert headers["content-type"] == "application/json; charset=utf-8"
        client.close()


async def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    async with serving(echo) as port:
        client = await Client.open(port)
        await client.send(
            post("/e", b"", "Expect: 100-continue").replace(b"Length: 0", b"Length: 4")
        )
        assert await client.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        await client.send(b"body")
        assert (await client.answer())[2] == b"POST /e 4 body"
        await client.send(post("/e", b"abc", "Expect: something-else"))
        status, _, body = await client.answer()
        assert status == "HTTP/1.1 417 Expectation Failed"
        assert body == b"Unknown Expect: something-else"
        client.close()


async def test_a_head_that_never_completes_is_closed_after_the_idle_timeout() -> None:
    async with serving(echo, idle_timeout=0.3) as port:
        client = await Client.open(port)
        await client.send(b"POST /slow HTTP/1.1\r\nHost: x\r\n")
        assert await client.closed()
        # Between requests too.
        client = await Client.open(port)
        await client.send(post("/one", b"1"))
        await client.answer()
        assert await client.closed()


async def test_an_oversize_head_is_refused_with_400_and_the_connection_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(echo) as port:
        for raw in (
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        ):
            client = await Client.open(port)
            await client.send(raw)
            status, headers, body = await client.answer()
            assert status == "HTTP/1.0 400 Bad Request"
            assert headers["content-type"] == "text/plain; charset=utf-8" and body
            assert await client.closed()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in errors] == ["aiohttp.server"] * 3


async def test_a_body_left_unread_is_drained_and_the_connection_reused() -> None:
    async def reads_nothing(request: http1.Request) -> http1.StreamResponse:
        return http1.Response(status=413, body=b"too big", content_type="text/plain")

    async with serving(reads_nothing) as port:
        client = await Client.open(port)
        await client.send(post("/big", b"z" * 300_000))
        assert (await client.answer())[0] == "HTTP/1.1 413 Content Too Large"
        await client.send(post("/again", b""))
        assert (await client.answer())[0] == "HTTP/1.1 413 Content Too Large"
        client.close()


async def test_a_handler_that_fails_gets_its_client_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails(request: http1.Request) -> http1.StreamResponse:
        raise RuntimeError("broken handler")

    async with serving(fails) as port:
        client = await Client.open(port)
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await client.answer()
        assert status == "HTTP/1.1 500 Internal Server Error" and headers["connection"] == "close"
        assert await client.closed()
    assert any("broken handler" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_closing_the_server_cancels_an_answer_in_flight() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def waits(request: http1.Request) -> http1.StreamResponse:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return http1.Response()

    server = http1.Server(waits, idle_timeout=30)
    port = await server.start()
    client = await Client.open(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(started.wait(), 5)
    await server.close()
    assert cancelled.is_set() and await client.closed()


async def test_a_body_that_never_comes_holds_neither_the_answer_nor_its_task() -> None:
    # The front door answers 408 to a body that does not arrive; agentwrap's stop waits on
    # the tasks of calls in flight, so the answer's task ends with the answer.
    tasks: list[asyncio.Task[object] | None] = []

    async def answers_at_once(request: http1.Request) -> http1.StreamResponse:
        tasks.append(asyncio.current_task())
        return http1.Response(status=408, body=b"late", content_type="text/plain")

    async with serving(answers_at_once) as port:
        client = await Client.open(port)
        await client.send(post("/slow", b"x" * 100)[:-60])
        status, _, body = await client.answer()
        assert status == "HTTP/1.1 408 Request Timeout" and body == b"late"
        await asyncio.sleep(0.05)
        (task,) = tasks
        assert task is not None and task.done()
        # The rest of the body still comes, and the connection serves the next request.
        await client.send(b"x" * 60 + post("/next", b""))
        assert (await client.answer())[0] == "HTTP/1.1 408 Request Timeout"
        assert len(tasks) == 2
        client.close()


async def test_an_answer_to_a_closing_request_with_its_body_unread_arrives_whole() -> None:
    async def reads_nothing(request: http1.Request) -> http1.StreamResponse:
        return http1.Response(status=413, body=b"n" * 50_000, content_type="text/plain")

    async with serving(reads_nothing) as port:
        client = await Client.open(port)
        await client.send(post("/big", b"z" * 200_000, "Connection: close"))
        _, headers, body = await client.answer()
        assert headers["connection"] == "close" and body == b"n" * 50_000
        assert await client.closed()
