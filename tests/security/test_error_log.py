"""Unexpected errors go to a private, size-capped, rotating log file in the data directory,
never to the agent's terminal, with the session secret hidden; the summary says in one line
that something was logged and where."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentwrap import errorlog, paths
from tests.support.serve import serve, stop

# Requests aiohttp's parser refuses, each logged by aiohttp with its offending line.
MALFORMED = (
    "POST /s/{secret}/v1/messages HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "POST /s/{secret}/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
)

SEND_MALFORMED = """\
import os, socket
from urllib.parse import urlsplit
url = urlsplit(os.environ["ANTHROPIC_BASE_URL"])
secret = url.path.rsplit("/", 1)[1]
for raw in {malformed!r}:
    with socket.create_connection((url.hostname, url.port)) as s:
        s.sendall(raw.format(secret=secret).encode())
        s.settimeout(5)
        s.recv(100)
"""


def send_malformed(origin: str, secret: str) -> None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    for raw in MALFORMED:
        with socket.create_connection((parts.hostname, parts.port)) as s:
            s.sendall(raw.format(secret=secret).encode())
            s.settimeout(5)
            assert s.recv(100).startswith(b"HTTP/1.")


def test_parse_errors_go_to_the_log_file_with_the_secret_hidden(agentwrap_bin: str) -> None:
    with serve(agentwrap_bin) as served:
        send_malformed(served.origin, served.secret)
        err = stop(served)
    log = paths.log_file()
    text = log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert text.count("ERROR aiohttp.server") == len(MALFORMED)
    assert "POST /s/***/v1/messages HTTP/1.1 extra" in text
    assert served.secret not in text
    # The session's summary said where to look, once, and the terminal got nothing else of it.
    assert "Traceback" not in err and served.secret not in err
    assert [line for line in err.splitlines() if "unexpected" in line] == [
        f"{len(MALFORMED)} unexpected errors were logged to {log}"
    ]


def test_the_session_summary_says_something_was_logged(tmp_path: Path) -> None:
    script = SEND_MALFORMED.format(malformed=MALFORMED)
    exe = str(Path(sys.executable).parent / "agentwrap")
    done = subprocess.run(
        [exe, "run", "--panel", "off", "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BadHttpMessage" not in done.stderr
    assert f"{len(MALFORMED)} unexpected errors were logged to {paths.log_file()}" in " ".join(
        done.stderr.split()
    )


def test_a_thread_that_dies_is_logged_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    log = errorlog.ErrorLog("s-thread", ["hidden-secret"])
    log.install()
    try:

        def boom() -> None:
            raise RuntimeError("went wrong with hidden-secret inside")

        worker = threading.Thread(target=boom, name="worker-1")
        worker.start()
        worker.join()
        logging.getLogger("agentwrap.proxy").error("a record with hidden-secret in it")
    finally:
        log.uninstall()
    assert log.count == 2
    assert capfd.readouterr().err == ""
    text = paths.log_file().read_text()
    assert "uncaught in worker-1" in text and "RuntimeError: went wrong with *** inside" in text
    assert "[session s-thread]" in text and "hidden-secret" not in text
    assert threading.excepthook is not log._thread_exception  # put back


def test_the_file_is_capped_and_rotates_privately() -> None:
    log = errorlog.ErrorLog("s-big", [])
    log.install()
    try:
        for _ in range(3 * errorlog.MAX_BYTES // 1000 + 10):
            logging.getLogger("agentwrap").warning("x" * 1000)
    finally:
        log.uninstall()
    files = sorted(paths.data_dir().glob("agentwrap.log*"))
    assert [f.name for f in files] == ["agentwrap.log", "agentwrap.log.1", "agentwrap.log.2", "agentwrap.log.3"]  # fmt: skip
    for f in files:
        assert f.stat().st_size <= errorlog.MAX_BYTES
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert sum(f.stat().st_size for f in files) <= (errorlog.BACKUPS + 1) * errorlog.MAX_BYTES


def test_nothing_logged_leaves_no_file_and_no_line() -> None:
    log = errorlog.ErrorLog("s-quiet", [])
    log.install()
    log.uninstall()
    assert log.count == 0 and not paths.log_file().exists()
    assert os.environ["AGENTWRAP_HOME"] in str(paths.log_file())
