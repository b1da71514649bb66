"""Pass-through proxies that do nothing but copy: the floor under agentwrap's proxy.

Run one as `bench/run.py --proxy` to see what any proxy costs here before agentwrap's own
work (the body parsed, the step classified, the answer checked, tapped and recorded):

    .venv/bin/python bench/run.py --proxy "python bench/floor.py aiohttp"
    .venv/bin/python bench/run.py --proxy "python bench/floor.py raw"

`aiohttp`: aiohttp's web server and pooled client, the handler reads the body and copies the
answer's stream chunk by chunk. `raw`: asyncio streams and no HTTP library; it reads a request
head and its Content-Length body, forwards them on one kept-alive connection and relays the
chunked answer as it arrives, until its last chunk. Enough for the benchmark's requests and
nothing more. Both forward to AGENTWRAP_ANTHROPIC_UPSTREAM and print their base URL first.
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import urlsplit

UPSTREAM = os.environ["AGENTWRAP_ANTHROPIC_UPSTREAM"]


async def aiohttp_proxy() -> None:
    """aiohttp's server and client with nothing between them."""
    import aiohttp
    from aiohttp import web

    session = aiohttp.ClientSession(
        auto_decompress=True, skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type")
    )

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        hdrs = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with session.post(UPSTREAM + "/v1/messages", data=body, headers=hdrs) as up:
            ctype = up.headers.get("content-type", "")
            resp = web.StreamResponse(status=up.status, headers={"content-type": ctype})
            await resp.prepare(request)
            while chunk := await up.content.readany():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    app = web.Application(client_max_size=1 << 26)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/s/floor", flush=True)
    await asyncio.Event().wait()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    up = urlsplit(UPSTREAM)
    host, port = up.hostname or "127.0.0.1", up.port or 80
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            break
        lines = head.split(b"\r\n")
        out, length = [lines[0].split(b" ", 1)[0] + b" /v1/messages HTTP/1.1"], 0
        for line in filter(None, lines[1:]):
            name = line.partition(b":")[0].strip().lower()
            if name == b"content-length":
                length = int(line.partition(b":")[2])
            out.append(b"host: %s:%d" % (host.encode(), port) if name == b"host" else line)
        body = await reader.readexactly(length)
        if upstream is None:
            upstream = await asyncio.open_connection(host, port)
        up_reader, up_writer = upstream
        up_writer.write(b"\r\n".join(out) + b"\r\n\r\n" + body)
        writer.write(await up_reader.readuntil(b"\r\n\r\n"))
        tail = b""
        while chunk := await up_reader.read(1 << 16):
            writer.write(chunk)
            tail = (tail + chunk)[-5:]
            if tail == b"0\r\n\r\n":  # the chunked answer's last chunk
                break
    writer.close()


async def raw_proxy() -> None:
    """asyncio streams and no HTTP library."""
    server = await asyncio.start_server(_relay, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/s/floor", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    kinds = {"aiohttp": aiohttp_proxy, "raw": raw_proxy}
    if len(sys.argv) != 2 or sys.argv[1] not in kinds:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(kinds)}}}")
    asyncio.run(kinds[sys.argv[1]]())
