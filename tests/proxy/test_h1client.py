"""The upstream pool's own HTTP/1.1 client, over real sockets to a scripted local origin.

`ScriptedOrigin` is an asyncio server on 127.0.0.1 that answers each request with the next
reply of its script, byte for byte (a chunked or close-delimited body, a 100 Continue first, a
cut, a reset, a hang-up), and records every request and on which connection it came. The pool
is the real one; what is checked is what the agent's calls depend on: keep-alive reuse only
when it is safe, the pool's limit and idle expiry, the errors callers catch, TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from agentwrap.proxy.upstream import FirstByteClock, UpstreamPool, UpstreamRequest
from tests.faults.test_proxy_faults import unanswered_port
from tests.proxy.test_transparent import _self_signed


@dataclass(frozen=True)
class Reply:
    """What the origin does with one request: send `raw`, then close (`close`), reset
    (`reset`), or keep the connection open."""

    raw: bytes = b""
    close: bool = False
    reset: bool = False


def ok(body: bytes = b"ok", extra: str = "") -> Reply:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return Reply(head.encode() + body)


@dataclass
class Seen:
    conn: int
    head: str
    body: bytes


@dataclass
class ScriptedOrigin:
    script: list[Reply] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed_by_client: list[int] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode()
                except asyncio.IncompleteReadError:
                    self.closed_by_client.append(conn)
                    return
                length = 0
                for line in head.split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.seen.append(Seen(conn, head, body))
                reply = self.script.pop(0) if self.script else ok()
                writer.write(reply.raw)
                await writer.drain()
                if reply.reset:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if reply.close:
                    writer.close()
                    return
        except ConnectionError:
            return


@contextlib.asynccontextmanager
async def origin(*script: Reply) -> AsyncIterator[ScriptedOrigin]:
    scripted = ScriptedOrigin(list(script))
    server = await asyncio.start_server(scripted.serve, "127.0.0.1", 0)
    scripted.port = server.sockets[0].getsockname()[1]
    try:
        yield scripted
    finally:
        server.close()


async def get(pool: UpstreamPool, url: str, method: str = "GET", **kw: object) -> bytes:
    resp = await pool.send(UpstreamRequest(method, url, kw.pop("headers", {}), **kw))  # type: ignore[arg-type]
    try:
        return await resp.read()
    finally:
        resp.release()


async def until(check: object, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_request_goes_out_with_its_headers_as_given_and_the_connection_is_reused():
    pool = UpstreamPool()
    async with origin() as up:
        headers = {"X-Api-Key": "k", "anthropic-version": "2023-06-01", "accept-encoding": "gzip"}
        assert (
            await get(
                pool, up.url + "/v1/messages?beta=true", "POST", headers=headers, body=b'{"a":1}'
            )
            == b"ok"
        )
        assert await get(pool, up.url + "/v1/models") == b"ok"
        await pool.close()
    first, second = up.seen
    assert first.conn == second.conn == 1  # kept alive
    lines = first.head.split("\r\n")
    assert lines[0] == "POST /v1/messages?beta=true HTTP/1.1"
    assert lines[1] == f"Host: 127.0.0.1:{up.port}"
    assert lines[2:5] == ["X-Api-Key: k", "anthropic-version: 2023-06-01", "accept-encoding: gzip"]
    assert lines[5:7] == ["Accept: */*", "Content-Length: 7"]
    assert first.body == b'{"a":1}'
    # Nothing the agent did not send: no user agent or content type of the client's own.
    names = {line.split(":")[0].lower() for line in lines[1:] if line}
    assert names.isdisjoint({"user-agent", "content-type", "connection"})
    assert "content-length" not in second.head.lower()  # a GET without a body


async def test_chunked_gzip_and_close_delimited_answers_and_a_100_continue_before_one():
    packed = gzip.compress(b'{"ok": true}')
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + f"{len(packed[:5]):x}\r\n".encode()
        + packed[:5]
        + b"\r\n"
        + f"{len(packed[5:]):x}\r\n".encode()
        + packed[5:]
        + b"\r\n0\r\n\r\n"
    )
    until_close = Reply(b"HTTP/1.1 200 OK\r\n\r\nto the end", close=True)
    pool = UpstreamPool()
    async with origin(Reply(chunked), until_close) as up:
        resp = await pool.send(UpstreamRequest("GET", up.url + "/a", {}))
        assert resp.status == 200 and resp.headers["content-encoding"] == "gzip"
        assert await resp.read() == b'{"ok": true}'
        resp.release()
        assert await get(pool, up.url + "/b") == b"to the end"
        assert await get(pool, up.url + "/c") == b"ok"
        await pool.close()
    assert [s.conn for s in up.seen] == [1, 1, 2]  # the close-delimited answer ended its connection


async def test_a_connection_is_reused_only_after_its_answer_was_read_and_kept_alive():
    long = ok(b"x" * 300_000)
    pool = UpstreamPool()
    async with origin(long, ok(extra="Connection: close\r\n"), ok(), ok()) as up:
        resp = await pool.send(UpstreamRequest("GET", up.url + "/", {}))
        assert await resp.readany()
        resp.release()  # left mid-answer
        assert await get(pool, up.url + "/") == b"ok"  # the server said it closes
        assert await get(pool, up.url + "/") == b"ok"
        assert await get(pool, up.url + "/") == b"ok"
        await pool.close()
    assert [s.conn for s in up.seen] == [1, 2, 3, 3]


async def test_a_pooled_connection_the_server_closed_is_not_used_even_for_a_post():
    pool = UpstreamPool()
    quietly_closed = Reply(ok().raw, close=True)  # kept alive, as far as its headers say
    async with origin(quietly_closed) as up:
        assert await get(pool, up.url + "/", "POST", body=b"1") == b"ok"
        await asyncio.sleep(0.1)  # the close reaches the client
        assert await get(pool, up.url + "/", "POST", body=b"2") == b"ok"
        await pool.close()
    assert [(s.conn, s.body) for s in up.seen] == [(1, b"1"), (2, b"2")]


async def test_a_reused_connection_dying_before_the_answer_retries_a_get_once_and_never_a_post():
    pool = UpstreamPool()
    hang_up = Reply(close=True)  # reads the request, answers nothing
    async with origin(ok(), hang_up, ok(), hang_up) as up:
        assert await get(pool, up.url + "/") == b"ok"
        assert await get(pool, up.url + "/") == b"ok"  # sent again on a new connection
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(pool, up.url + "/v1/messages", "POST", body=b"{}")
        await pool.close()
    assert [(s.conn, s.head.split(" ")[0]) for s in up.seen] == [
        (1, "GET"),
        (1, "GET"),
        (2, "GET"),
        (2, "POST"),
    ]


async def test_the_pool_limit_makes_a_call_wait_with_its_first_byte_clock_held():
    slow_pool = UpstreamPool(limit_per_host=1)
    big = b"x" * 1_000_000  # not read: the pool's one connection stays busy with it
    async with origin(ok(big)) as up:
        first = await slow_pool.send(UpstreamRequest("GET", up.url + "/1", {}))

        # The answer has a whole second once sent (a loaded machine); waiting is longer still.
        async def second() -> tuple[bytes, float]:
            async with asyncio.timeout(1.0) as deadline:
                clock = FirstByteClock(deadline, 1.0)
                resp = await slow_pool.send(UpstreamRequest("GET", up.url + "/2", {}, clock=clock))
                clock.stop()
            body = await resp.read()
            resp.release()
            return body, clock.held_ms

        waiting = asyncio.create_task(second())
        await asyncio.sleep(1.5)  # longer than its first-byte timeout, all of it waiting
        assert not waiting.done() and len(up.seen) == 1
        assert await first.read() == big
        first.release()
        body, held_ms = await waiting
        await slow_pool.close()
    assert body == b"ok" and held_ms >= 1400
    assert [s.conn for s in up.seen] == [1, 1]


async def test_an_idle_connection_is_closed_after_the_keepalive():
    pool = UpstreamPool(keepalive_s=0.2)
    async with origin() as up:
        assert await get(pool, up.url + "/") == b"ok"
        await until(lambda: up.closed_by_client == [1])
        assert await get(pool, up.url + "/") == b"ok"
        await pool.close()
    assert [s.conn for s in up.seen] == [1, 2]


async def test_connection_failures_are_aiohttps_errors():
    pool = UpstreamPool(connect_timeout=0.3)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    with pytest.raises(aiohttp.ClientConnectorError, match="Cannot connect to host 127.0.0.1"):
        await get(pool, refused)
    with unanswered_port() as url, pytest.raises(aiohttp.ConnectionTimeoutError):
        await get(pool, url + "/")
    with pytest.raises(aiohttp.ClientConnectorDNSError):
        await get(pool, "http://no-such-host.invalid/")
    await pool.close()


async def test_answers_that_break_are_aiohttps_errors():
    cut = Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close=True)
    bad_status = Reply(b"HTTP/1.1 20x OK\r\n\r\n")
    reset = Reply(b"", reset=True)
    bad_chunk = Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc")
    not_gzip = Reply(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope")
    pool = UpstreamPool()
    async with origin(cut, bad_status, reset, not_gzip, bad_chunk, ok()) as up:
        resp = await pool.send(UpstreamRequest("GET", up.url + "/", {}))
        with pytest.raises(aiohttp.ClientPayloadError, match="not completed"):
            await resp.read()
        resp.release()
        with pytest.raises(aiohttp.ClientResponseError):
            await get(pool, up.url + "/")
        with pytest.raises(aiohttp.ClientOSError):
            await get(pool, up.url + "/")
        with pytest.raises(aiohttp.ClientPayloadError, match="Can not decode content-encoding"):
            await get(pool, up.url + "/")
        resp = await pool.send(UpstreamRequest("GET", up.url + "/", {}))
        assert await resp.readany() == b"abc"
        up_task = asyncio.create_task(resp.read())
        await asyncio.sleep(0.1)
        resp.release()  # given up on mid-body: closed, not pooled
        with pytest.raises(aiohttp.ClientPayloadError):
            await up_task
        assert await get(pool, up.url + "/") == b"ok"
        await pool.close()
    assert [s.conn for s in up.seen] == [1, 2, 3, 4, 5, 6]


async def test_tls_is_verified_and_names_the_host(tmp_path):
    cert, key = _self_signed(tmp_path)
    names: list[str | None] = []
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)
    up = ScriptedOrigin()
    server = await asyncio.start_server(up.serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        pool = UpstreamPool(ssl_context=trusted)
        assert await get(pool, f"https://localhost:{port}/a") == b"ok"
        assert await get(pool, f"https://localhost:{port}/b") == b"ok"
        await pool.close()
        default = UpstreamPool()  # the system's CAs do not know the origin's certificate
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await get(default, f"https://localhost:{port}/")
        await default.close()
    finally:
        server.close()
    assert names[0] == "localhost"
    assert [s.conn for s in up.seen] == [1, 1]
    assert up.seen[0].head.split("\r\n")[1] == f"Host: localhost:{port}"


async def test_an_environment_proxy_gets_the_request_in_absolute_form(monkeypatch):
    async with origin() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        pool = UpstreamPool()
        assert await get(pool, "http://provider.test/v1/models") == b"ok"
        await pool.close()
    assert proxy.seen[0].head.startswith("GET http://provider.test/v1/models HTTP/1.1")
