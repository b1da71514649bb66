"""What live OTLP export costs a call: four `agentwrap serve` proxies side by side.

One proxy exports nothing; the others export every call to a collector that is up (answers
each export at once), down (refuses connections) or stalled (accepts and never answers). The
same 100 KB streaming request goes through each proxy in turn, in a rotating order, so all
four see the same machine state. Reports, per exporting proxy, the added latency against the
proxy that does not export (per round, its time minus the plain proxy's; p50 and p99), its
CPU per request, and afterwards what its summary would say (spans sent and dropped).

    .venv/bin/python bench/export.py [--requests N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import body_of, cpu_seconds, free_port, one, pct, wait_for_port  # noqa: E402

from agentwrap.export.stats import read_stats  # noqa: E402
from agentwrap.trace.store import TraceStore  # noqa: E402

MODES = ("off", "up", "down", "stalled")


def collector(stall: bool) -> ThreadingHTTPServer:
    """A collector on 127.0.0.1 that answers every export at once, or never."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if stall:
                release.wait(600)
                return
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_proxy(upstream: int, home: str, otel: str | None) -> tuple[subprocess.Popen, str]:
    env = dict(
        os.environ, AGENTWRAP_HOME=home, AGENTWRAP_ANTHROPIC_UPSTREAM=f"http://127.0.0.1:{upstream}"
    )
    for var in [k for k in env if k.startswith("OTEL_")]:
        del env[var]
    if otel:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otel
        env["OTEL_BSP_SCHEDULE_DELAY"] = "200"  # export often: the worst case for the proxy
    exe = Path(sys.executable).parent / "agentwrap"
    proc = subprocess.Popen(
        [str(exe), "serve", "--profile", "passthrough"], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


async def measure(urls: dict[str, str], pids: dict[str, int], n: int) -> dict:
    body = body_of(100_000)
    times: dict[str, list[float]] = {m: [] for m in urls}
    cpu = dict.fromkeys(urls, 0.0)
    conn = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as session:
        for _ in range(10):
            for url in urls.values():
                await one(session, url, body)
        modes = list(urls)
        for i in range(n):
            order = modes[i % len(modes) :] + modes[: i % len(modes)]
            for mode in order:
                c0 = cpu_seconds(pids[mode])
                total, _ = await one(session, urls[mode], body)
                cpu[mode] += cpu_seconds(pids[mode]) - c0
                times[mode].append(total)
    out: dict = {"off_p50_ms": statistics.median(times["off"])}
    for mode in modes:
        diffs = [t - b for t, b in zip(times[mode], times["off"], strict=True)]
        out[mode] = {
            "p50_ms": statistics.median(times[mode]),
            "added_p50_ms": statistics.median(diffs),
            "added_p99_ms": pct(diffs, 99),
            "cpu_ms_per_request": cpu[mode] / n * 1000,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=300, help="requests per proxy")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    port = free_port()
    up = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(port)])
    live, stalled = collector(stall=False), collector(stall=True)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    targets = {
        "off": None,
        "up": f"http://127.0.0.1:{live.server_address[1]}",
        "down": down,
        "stalled": f"http://127.0.0.1:{stalled.server_address[1]}",
    }
    homes = {m: tempfile.mkdtemp(prefix=f"agentwrap-bench-{m}-") for m in MODES}
    procs: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    try:
        wait_for_port(port)
        for mode in MODES:
            procs[mode], urls[mode] = start_proxy(port, homes[mode], targets[mode])
        results = asyncio.run(measure(urls, {m: p.pid for m, p in procs.items()}, args.requests))
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(30)
        up.terminate()
        up.wait(20)
    for mode in MODES[1:]:
        store = TraceStore(Path(homes[mode]) / "data" / "trace.db")
        session = store.resolve_session("last")
        stats = read_stats(store, session["id"]) if session else None
        store.close()
        results[mode]["spans_sent"] = stats.sent if stats else None
        results[mode]["spans_dropped"] = stats.dropped if stats else None
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
    live.shutdown()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"plain proxy p50 (no export): {results['off_p50_ms']:.2f} ms, 100 KB streaming")
    print(
        f"{'collector':>9} {'added p50':>9} {'added p99':>9} {'cpu/req':>8} {'sent':>6} {'dropped':>7}"
    )
    for mode in MODES[1:]:
        r = results[mode]
        print(
            f"{mode:>9} {r['added_p50_ms']:>7.2f}ms {r['added_p99_ms']:>7.2f}ms "
            f"{r['cpu_ms_per_request']:>6.2f}ms {r['spans_sent']!s:>6} {r['spans_dropped']!s:>7}"
        )
    print(f"{'off':>9} cpu/req {results['off']['cpu_ms_per_request']:.2f}ms")


if __name__ == "__main__":
    main()
