"""The front door alone: aiohttp's web server against agentwrap's own (proxy/http1.py).

Each server runs in its own process with the same handler, which reads the request body and
streams a three-piece answer, as the proxy's relay does; a client sends them the same
requests on one kept-alive connection, the servers taking turns by rounds, and reads each
server's CPU from /proc. Nothing upstream, no routing, no record: only HTTP in and out.

    .venv/bin/python bench/door.py                      # 100 KB bodies, 8 rounds of 2,000
    .venv/bin/python bench/door.py --body 1000 --rounds 8 --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys

SERVER = r"""
import asyncio, sys

PIECES = [b"event: a\ndata: {}\n\n" * 3] * 3


async def main(kind):
    if kind == "aiohttp":
        from aiohttp import web

        async def handle(request):
            async for _ in request.content.iter_any():
                pass
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            for piece in PIECES:
                await resp.write(piece)
            await resp.write_eof()
            return resp

        app = web.Application(client_max_size=1 << 26)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
    else:
        from agentwrap.proxy import http1

        async def handle(request):
            async for _ in request.content.iter_any():
                pass
            resp = http1.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            for piece in PIECES:
                await resp.write(piece)
            await resp.write_eof()
            return resp

        port = await http1.Server(handle, idle_timeout=300).start()
    print(port, flush=True)
    await asyncio.Event().wait()


asyncio.run(main(sys.argv[1]))
"""
KINDS = ("aiohttp", "http1")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


async def send(port: int, n: int, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /s/x/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\nx-api-key: k\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    request = head.encode() + body
    for _ in range(n):
        writer.write(request)
        await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"0\r\n\r\n")  # the answer's last chunk
    writer.close()
    await writer.wait_closed()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--body", type=int, default=100_000, help="request body size in bytes")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2000, help="requests per round and server")
    args = ap.parse_args()
    body = b'{"x":"' + b"a" * args.body + b'"}'
    procs = {
        k: subprocess.Popen([sys.executable, "-c", SERVER, k], stdout=subprocess.PIPE, text=True)
        for k in KINDS
    }
    try:
        ports = {k: int(p.stdout.readline()) for k, p in procs.items() if p.stdout}
        for kind in KINDS:  # warm up
            asyncio.run(send(ports[kind], 200, body))
        per_request: dict[str, list[float]] = {k: [] for k in KINDS}
        for i in range(args.rounds):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                before = cpu_seconds(procs[kind].pid)
                asyncio.run(send(ports[kind], args.requests, body))
                used = cpu_seconds(procs[kind].pid) - before
                per_request[kind].append(used / args.requests * 1000)
        for kind in KINDS:
            xs = per_request[kind]
            print(
                f"{kind:>8}: {statistics.median(xs):.3f} ms of CPU per request "
                f"({min(xs):.3f}-{max(xs):.3f}), RSS {rss_mb(procs[kind].pid):.1f} MB"
            )
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
