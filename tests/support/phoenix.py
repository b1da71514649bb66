"""Arize Phoenix as a real OTLP backend for the end-to-end lane.

Phoenix is large (about 820 MB installed, with pandas, SQLAlchemy, grpcio, FastAPI), so it is
not a test dependency of agentwrap: the first test that needs it installs the pinned version
into its own virtual environment under a cache directory (`$AGENTWRAP_TEST_CACHE`, default
`~/.cache/agentwrap-tests`), once per machine. Each test run starts `phoenix serve` on free
ports of 127.0.0.1 with its own empty working directory (its own SQLite store), and reads the
spans back through Phoenix's own client, run with that environment's Python.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PHOENIX = "arize-phoenix==20.26.1"
PHOENIX_CLIENT = "arize-phoenix-client==3.5.0"

_READ_SPANS = """
import json, sys
from phoenix.client import Client
client = Client(base_url=sys.argv[1])
spans = client.spans.get_spans(project_identifier=sys.argv[2], limit=1000)
print(json.dumps(spans, default=str))
"""


def cache_dir() -> Path:
    base = os.environ.get("AGENTWRAP_TEST_CACHE") or str(Path.home() / ".cache" / "agentwrap-tests")
    return Path(base).expanduser()


def phoenix_env() -> Path:
    """The Python of a virtual environment with Phoenix installed (installing it once)."""
    venv = cache_dir() / ("phoenix-" + PHOENIX.split("==")[1])
    python = venv / "bin" / "python"
    ready = venv / ".installed"
    if ready.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / (venv.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs must not install it twice at once
        if not ready.exists():
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 PHOENIX, PHOENIX_CLIENT],
                check=True,
            )  # fmt: skip
            ready.touch()
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_phoenix(workdir: Path) -> Iterator[str]:
    """Start `phoenix serve` with its own store in `workdir`; yield its base URL."""
    python = phoenix_env()
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (workdir / "phoenix.log").open("w")
    proc = subprocess.Popen(
        [str(python.parent / "phoenix"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"phoenix exited: {(workdir / 'phoenix.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("phoenix did not answer /healthz within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def read_spans(url: str, project: str) -> list[dict[str, Any]]:
    """Every span of a project, as Phoenix's own client returns them."""
    out = subprocess.run(
        [str(phoenix_env()), "-c", _READ_SPANS, url, project],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    spans: list[dict[str, Any]] = json.loads(out.stdout)
    return spans
