"""The overhead benchmark: agentwrap's proxy against a direct connection, in one run.

Starts the fake upstream (bench/upstream.py) and `agentwrap serve` as separate processes,
then sends streaming Anthropic requests of 1 KB, 100 KB and 300 KB, alternating direct and
through-the-proxy requests so both see the same machine state. Reports, per size: p50/p99
total latency and time to first byte for both paths and the difference (added by the proxy);
the proxy's CPU per request (from /proc), both what it spends while a request is open and all
it spends over the run (the record of each call, written after its answer, included); and
the proxy's resident memory.

    .venv/bin/python bench/run.py [--requests N] [--json] [--proxy COMMAND]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
SIZES = {"1KB": 1_000, "100KB": 100_000, "300KB": 300_000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int) -> None:
    """Until something listens on 127.0.0.1:`port` (the fake upstream starting), or 5 s."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def body_of(size: int) -> bytes:
    # A Claude-Code-like request: most of its bytes are tool definitions and history.
    filler = "x" * max(0, size - 300)
    doc = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "stream": True,
        "system": [{"type": "text", "text": "You are a coding agent."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": filler}]}],
    }
    return json.dumps(doc).encode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[float, float]:
    t0 = time.perf_counter()
    async with session.post(
        url + "/v1/messages",
        data=body,
        headers={
            "content-type": "application/json",
            "x-api-key": "bench",
            "anthropic-version": "2023-06-01",
            # Claude Code names its conversation on every call; agentwrap keys per-thread work on it.
            "x-claude-code-session-id": "bench-session",
        },
    ) as r:
        ttfb = None
        async for _chunk in r.content.iter_any():
            if ttfb is None:
                ttfb = time.perf_counter() - t0
        assert r.status == 200, r.status
    return (time.perf_counter() - t0) * 1000, (ttfb or 0) * 1000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def measure(direct: str, proxied: str, proxy_pid: int, n: int) -> dict:
    results: dict = {}
    conn = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as session:
        for name, size in SIZES.items():
            body = body_of(size)
            for _ in range(10):  # warm both paths and their connection pools
                await one(session, direct, body)
                await one(session, proxied, body)
            d_tot, d_ttfb, p_tot, p_ttfb = [], [], [], []
            cpu = 0.0
            cpu_start = cpu_seconds(proxy_pid)
            for i in range(n):
                order = [(direct, d_tot, d_ttfb), (proxied, p_tot, p_ttfb)]
                if i % 2:
                    order.reverse()
                for url, tot, ttfb in order:
                    c0 = cpu_seconds(proxy_pid) if url is proxied else 0.0
                    total, first = await one(session, url, body)
                    if url is proxied:
                        cpu += cpu_seconds(proxy_pid) - c0
                    tot.append(total)
                    ttfb.append(first)
            await asyncio.sleep(0.2)  # the proxy's work after the last answer (its record) is done
            cpu_all = cpu_seconds(proxy_pid) - cpu_start
            diffs = [p - d for p, d in zip(p_tot, d_tot, strict=True)]
            ttfb_diffs = [p - d for p, d in zip(p_ttfb, d_ttfb, strict=True)]
            results[name] = {
                "direct_p50_ms": statistics.median(d_tot),
                "direct_p99_ms": pct(d_tot, 99),
                "proxy_p50_ms": statistics.median(p_tot),
                "proxy_p99_ms": pct(p_tot, 99),
                # Added latency: per pair of back-to-back requests, proxy minus direct.
                "added_p50_ms": statistics.median(diffs),
                "added_p99_ms": pct(diffs, 99),
                "added_ttfb_p50_ms": statistics.median(ttfb_diffs),
                "added_ttfb_p99_ms": pct(ttfb_diffs, 99),
                "ratio_p50": statistics.median(p_tot) / statistics.median(d_tot),
                "proxy_cpu_ms_per_request": cpu / n * 1000,
                # All of it: what runs after an answer (the record, its writer) counted too.
                "proxy_cpu_all_ms_per_request": cpu_all / n * 1000,
            }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=300, help="requests per size and path")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument(
        "--proxy",
        help="measure this command instead of `agentwrap serve` (it gets the upstream in "
        "AGENTWRAP_ANTHROPIC_UPSTREAM and prints its base URL first; see bench/floor.py)",
    )
    args = ap.parse_args()

    port = free_port()
    up = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(port)])
    home = tempfile.mkdtemp(prefix="agentwrap-bench-")
    env = dict(
        os.environ, AGENTWRAP_HOME=home, AGENTWRAP_ANTHROPIC_UPSTREAM=f"http://127.0.0.1:{port}"
    )
    exe = Path(sys.executable).parent / "agentwrap"
    command = [str(exe), "serve", "--profile", "passthrough"]
    if args.proxy:
        command = [sys.executable if w == "python" else w for w in shlex.split(args.proxy)]
    proxy = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proxy.stdout is not None
        proxied = proxy.stdout.readline().strip()
        direct = f"http://127.0.0.1:{port}"
        wait_for_port(port)
        results = asyncio.run(measure(direct, proxied, proxy.pid, args.requests))
        results["proxy_rss_mb"] = rss_mb(proxy.pid)
    finally:
        proxy.send_signal(signal.SIGTERM)
        up.terminate()
        proxy.wait(20)
        up.wait(20)
        shutil.rmtree(home, ignore_errors=True)  # the run's store: nothing reads it later
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'size':>6} {'direct p50':>10} {'proxy p50':>9} {'added p50':>9} {'added p99':>9} "
        f"{'+ttfb p50':>9} {'+ttfb p99':>9} {'ratio':>6} {'cpu/req':>8} {'all/req':>8}"
    )
    for name in SIZES:
        r = results[name]
        print(
            f"{name:>6} {r['direct_p50_ms']:>8.2f}ms {r['proxy_p50_ms']:>7.2f}ms {r['added_p50_ms']:>7.2f}ms "
            f"{r['added_p99_ms']:>7.2f}ms {r['added_ttfb_p50_ms']:>7.2f}ms {r['added_ttfb_p99_ms']:>7.2f}ms "
            f"{r['ratio_p50']:>6.2f} {r['proxy_cpu_ms_per_request']:>6.2f}ms "
            f"{r['proxy_cpu_all_ms_per_request']:>6.2f}ms"
        )
    print(f"proxy RSS after the run: {results['proxy_rss_mb']:.1f} MB")


if __name__ == "__main__":
    main()
