"""The memory benchmark: the resident memory of agentwrap's proxy process after a session's calls.

Two processes hold the proxy: `agentwrap serve` (what bench/run.py measures) and the process of
a launch, `agentwrap claude`, whose agent here is a stand-in (this interpreter running a small
script) that sends the calls through its ANTHROPIC_BASE_URL and then reads its parent's
VmRSS. Each is run twice in one fresh data directory: a first session, and a second one that
finds what the first remembered (agentwrap.knownprices). The calls are bench/run.py's
streaming requests of 1 KB, 100 KB and 300 KB, answered by bench/upstream.py.

    .venv/bin/python bench/rss.py [--calls N] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
AGENTWRAP = str(BIN / "agentwrap")
sys.path.insert(0, str(HERE))

from run import SIZES, body_of, free_port, rss_mb, wait_for_port  # noqa: E402

# The agent's stand-in: sends each body (the files BENCH_BODIES names) BENCH_CALLS times through
# the proxy, reading every answer to its end, then writes its parent's (agentwrap's) VmRSS to
# BENCH_RSS (its arguments are the launch's own).
STAND_IN = """
import http.client, os, sys, urllib.parse
base = urllib.parse.urlsplit(os.environ["ANTHROPIC_BASE_URL"])
bodies = [open(p, "rb").read() for p in os.environ["BENCH_BODIES"].split(os.pathsep)]
conn = http.client.HTTPConnection(base.hostname, base.port)
for _ in range(int(os.environ["BENCH_CALLS"])):
    for body in bodies:
        conn.request("POST", base.path.rstrip("/") + "/v1/messages", body, {
            "content-type": "application/json", "x-api-key": "bench",
            "anthropic-version": "2023-06-01", "x-claude-code-session-id": "bench-session"})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
status = open(f"/proc/{os.getppid()}/status").read().splitlines()
rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
open(os.environ["BENCH_RSS"], "w").write(str(rss / 1024))
"""


def _send(base_url: str, bodies: list[Path], calls: int) -> None:
    """The stand-in's calls, from this process (for `serve`)."""
    env = dict(os.environ, ANTHROPIC_BASE_URL=base_url, **_calls(bodies, calls))
    script = STAND_IN.rsplit("status = ", 1)[0]
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def _calls(bodies: list[Path], calls: int) -> dict[str, str]:
    return {"BENCH_BODIES": os.pathsep.join(map(str, bodies)), "BENCH_CALLS": str(calls)}


def serve_rss(env: dict[str, str], bodies: list[Path], calls: int) -> float:
    """`agentwrap serve --profile passthrough`'s RSS after the calls."""
    proxy = subprocess.Popen(
        [AGENTWRAP, "serve", "--profile", "passthrough"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proxy.stdout is not None
        _send(proxy.stdout.readline().strip(), bodies, calls)
        return rss_mb(proxy.pid)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(20)


def launch_rss(env: dict[str, str], home: Path, bodies: list[Path], calls: int) -> float:
    """`agentwrap claude --quiet`'s RSS (its default profile) after its stand-in's calls."""
    agent = home / "claude-stand-in"
    agent.write_text(f"#!{sys.executable}\n{STAND_IN}")
    agent.chmod(0o755)
    out = home / "rss"
    run_env = dict(
        env, AGENTWRAP_CLAUDE_BIN=str(agent), BENCH_RSS=str(out), **_calls(bodies, calls)
    )
    run_env.pop("TMUX", None)  # no panel
    subprocess.run(
        [AGENTWRAP, "claude", "--quiet"],
        env=run_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return float(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=100, help="calls per size and session")
    ap.add_argument("--runs", type=int, default=3, help="fresh data directories per process")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    port = free_port()
    up = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(port)])
    scratch = Path(tempfile.mkdtemp(prefix="agentwrap-rss-"))
    figures: dict[str, list[float]] = {}
    try:
        wait_for_port(port)
        bodies = []
        for name, size in SIZES.items():
            bodies.append(scratch / name)
            bodies[-1].write_bytes(body_of(size))
        for run in range(args.runs):
            # In turns: serve's two sessions, then a launch's two, each in a fresh directory.
            for kind in ("serve", "claude"):
                home = scratch / f"{kind}-{run}"
                home.mkdir()
                env = dict(
                    os.environ,
                    AGENTWRAP_HOME=str(home / "data"),
                    AGENTWRAP_ANTHROPIC_UPSTREAM=f"http://127.0.0.1:{port}",
                )
                for session in ("first", "second"):
                    if kind == "serve":
                        rss = serve_rss(env, bodies, args.calls)
                    else:
                        rss = launch_rss(env, home, bodies, args.calls)
                    figures.setdefault(f"{kind}_{session}_mb", []).append(rss)
    finally:
        up.terminate()
        up.wait(20)
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, values in figures.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:>18}: median {statistics.median(values):.1f} MB ({shown})")


if __name__ == "__main__":
    main()
