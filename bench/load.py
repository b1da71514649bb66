"""Load on the proxy: does every call get recorded, does nothing time out that should not, and
does the proxy give back its files and memory?

Starts a fake Anthropic upstream (agentwrap.fakes, in a process of its own: this file run with
--upstream) and `agentwrap serve --profile passthrough` against it, with a trace store of its
own, then plays, one after another:

- parallel: 128 streams at once, 32 of whose clients hang up halfway;
- sequential: 2,000 streamed calls, one after another;
- slow: 70 parallel streams of 5 s each, against a 2 s first-byte timeout and a pool of 64
  connections (the six calls beyond the pool wait for a connection);
- big: three 50 MB whole (non-streamed) answers, one after another;
- parallel again: the pool is warm, so open files and memory should not move.

After each, it compares the calls recorded with the requests sent and their statuses with
what the clients saw, counts false timeouts, and reads the proxy's open files and resident
memory from /proc. The request's model names the upstream's answer ("fast", "slow", "big").

    .venv/bin/python bench/load.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
BIG = 50 * 1024 * 1024


# -- the upstream (run with --upstream PORT) --------------------------------------------------


def serve_upstream(port: int) -> None:
    """The fake provider: a short stream, a 5 s stream, or a 50 MB whole answer by model name."""
    from agentwrap.fakes.anthropic import FakeAnthropic
    from agentwrap.fakes.content import Answer, Text, Tokens
    from agentwrap.fakes.server import Delivery, Outcome, Received

    tokens = Tokens(input=1_000, output=40)
    fast = Answer("claude-sonnet-4-6", (Text("word " * 40, chunk=8),), tokens, id="fast")
    slow = Answer("claude-sonnet-4-6", (Text("word " * 40, chunk=20),), tokens, id="slow")
    big = Answer("claude-sonnet-4-6", (Text("x" * BIG),), tokens, id="big")

    class ByModel:
        def outcome(self, request: Received, number: int) -> Outcome:
            if request.model == "slow":
                return Outcome(slow, Delivery(event_delay=5.0 / 12))
            if request.model == "big":
                return Outcome(big, Delivery(stream=False))
            if request.model == "halting":
                return Outcome(slow, Delivery(event_delay=0.1))
            return Outcome(fast, Delivery(burst_after=1))

    with FakeAnthropic(default=ByModel(), port=port, keep_bodies=False):
        threading.Event().wait()


# -- the proxy as a process, read from /proc --------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def body(model: str, stream: bool = True) -> bytes:
    doc = {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "hello " * 200}],
    }
    return json.dumps(doc).encode()


HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "k"}


async def one_stream(session: aiohttp.ClientSession, url: str, model: str, hang_up: bool) -> str:
    """One streamed call: "ok", "error" (an error event or status), or "left" (hung up)."""
    async with session.post(url, data=body(model), headers=HEADERS) as r:
        if r.status != 200:
            await r.read()
            return "error"
        seen = bytearray()
        async for chunk in r.content.iter_any():
            seen += chunk
            if hang_up and seen.count(b"content_block_delta") >= 6:
                r.close()
                return "left"
        return "error" if b"event: error" in seen else "ok"


async def one_whole(session: aiohttp.ClientSession, url: str, model: str) -> str:
    async with session.post(url, data=body(model, stream=False), headers=HEADERS) as r:
        size = 0
        async for chunk in r.content.iter_any():
            size += len(chunk)
        return "ok" if r.status == 200 and size > BIG else "error"


def recorded(db: Path, since: float) -> dict[str, int]:
    """Statuses of the calls recorded since `since`, and how many attempts timed out."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT status, attempts FROM calls WHERE started_at >= ?", (since,)
    ).fetchall()
    conn.close()
    out: dict[str, int] = {"calls": len(rows), "timeouts": 0, "wait_ms": 0}
    for status, attempts in rows:
        out[status] = out.get(status, 0) + 1
        tried = json.loads(attempts or "[]")
        out["timeouts"] += sum("timeout" in a["outcome"] for a in tried)
        out["wait_ms"] = max([out["wait_ms"], *(int(a.get("wait_ms") or 0) for a in tried)])
    return out


def settled(db: Path, since: float, count: int, timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        got = recorded(db, since)
        done = got["calls"] >= count and not got.get("streaming")
        if done or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


async def scenario(name: str, url: str, pid: int, db: Path) -> dict[str, Any]:
    since = time.time()
    files0, rss0 = open_files(pid), rss_mb(pid)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if name == "parallel":
            jobs = [one_stream(session, url, "halting", hang_up=i % 4 == 0) for i in range(128)]
            seen = await asyncio.gather(*jobs)
        elif name == "sequential":
            seen = [await one_stream(session, url, "fast", False) for _ in range(2000)]
        elif name == "slow":
            seen = await asyncio.gather(
                *[one_stream(session, url, "slow", False) for _ in range(70)]
            )
        else:
            seen = [await one_whole(session, url, "big") for _ in range(3)]
    took = time.perf_counter() - started
    rec = settled(db, since, len(seen))
    await asyncio.sleep(1.0)  # let closed connections go
    return {
        "scenario": name,
        "requests": len(seen),
        "client ok": seen.count("ok"),
        "client hung up": seen.count("left"),
        "client errors": seen.count("error"),
        "recorded": rec["calls"],
        "recorded ok": rec.get("ok", 0),
        "recorded aborted": rec.get("aborted", 0),
        "recorded other": rec["calls"] - rec.get("ok", 0) - rec.get("aborted", 0),
        "timeouts": rec["timeouts"],
        "longest wait for a connection ms": rec["wait_ms"],
        "seconds": round(took, 1),
        "open files": f"{files0} → {open_files(pid)}",
        "RSS MB": f"{rss0:.0f} → {rss_mb(pid):.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(args.upstream)
        return
    home = Path(tempfile.mkdtemp(prefix="agentwrap-load-"))
    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream", str(up_port)])
    env = {
        **os.environ,
        "AGENTWRAP_HOME": str(home),
        "AGENTWRAP_ANTHROPIC_UPSTREAM": f"http://127.0.0.1:{up_port}",
        "AGENTWRAP_POOL_SIZE": "64",
    }
    exe = str(Path(sys.executable).parent / "agentwrap")
    proxy = subprocess.Popen(
        [exe, "serve", "--profile", "passthrough", "--first-byte-timeout", "2"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None
        base = proxy.stdout.readline().strip()
        url = base + "/v1/messages"
        time.sleep(1.0)
        db = next(home.rglob("trace.db"))
        results = []
        for name in ("parallel", "sequential", "slow", "big", "parallel"):
            results.append(asyncio.run(scenario(name, url, proxy.pid, db)))
            if not args.json:
                print(json.dumps(results[-1]), flush=True)
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(30)
        upstream.terminate()
        upstream.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
