"""`agentwrap serve` as a real process: stopping with streams in flight, a terminal kept free of
tracebacks and of the session secret, and limits refused before anything starts."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import anthropic
import httpx
import pytest

from agentwrap import paths
from agentwrap.fakes.provider import FakeProvider, Played, Reply
from agentwrap.fakes.server import Delivery
from tests.proxy.conftest import wait_calls

MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
}


@contextmanager
def serve(
    agentwrap_bin: str, upstream: str, *args: str, **env: str
) -> Iterator[tuple[str, list[str]]]:
    """`agentwrap serve` against `upstream`: its base URL, and its stderr (complete once the
    block ends, when the process has been stopped with SIGTERM)."""
    proc = subprocess.Popen(
        [agentwrap_bin, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "AGENTWRAP_ANTHROPIC_UPSTREAM": upstream, **env},
        text=True,
    )
    stderr: list[str] = []
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
        yield url, stderr
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        stderr.append(err)


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0, timeout=30)


def test_sigterm_gives_each_call_in_flight_an_error_in_its_api_and_records_it(agentwrap_bin):
    release = threading.Event()
    streaming = Reply(text="word " * 30)
    held = Played(streaming, Delivery(hold_after=3, release=release, hold_timeout=30))
    waiting = Played(Reply(text="late"), Delivery(first_byte_delay=30))
    seen: dict[str, BaseException] = {}

    def stream(url: str) -> None:
        try:
            with client(url).messages.stream(**MESSAGE) as s:
                s.get_final_text()
        except anthropic.APIError as exc:
            seen["stream"] = exc

    def wait(url: str) -> None:
        try:
            client(url).messages.create(**MESSAGE)
        except anthropic.APIError as exc:
            seen["wait"] = exc

    with FakeProvider("anthropic", [held, waiting]) as fake:
        with serve(agentwrap_bin, fake.base_url, AGENTWRAP_SHUTDOWN_GRACE="0.3") as (url, _):
            first = threading.Thread(target=stream, args=(url,))
            first.start()
            fake.wait_for_requests(1)
            second = threading.Thread(target=wait, args=(url,))
            second.start()
            fake.wait_for_requests(2)
        first.join(10)
        second.join(10)
        release.set()
    calls = sorted(wait_calls(2), key=lambda c: c["seq"])
    assert "agentwrap stopped while this answer streamed" in str(seen["stream"])
    assert isinstance(seen["wait"], anthropic.APIStatusError)
    assert seen["wait"].status_code == 503
    assert "agentwrap stopped while the call was in flight" in str(seen["wait"])
    assert [c["status"] for c in calls] == ["aborted", "aborted"]
    assert calls[0]["ttfb_ms"] is not None and calls[0]["response_bytes"] > 0
    assert all(c["error"] == "agentwrap stopped while the call was in flight" for c in calls)


def test_nothing_reaches_the_terminal_and_never_the_secret(agentwrap_bin):
    bad_gzip = Played(Reply(text="hi"), Delivery(false_encoding="gzip"))
    with (
        FakeProvider("anthropic", [bad_gzip, bad_gzip]) as fake,
        serve(agentwrap_bin, fake.base_url) as (url, stderr),
    ):
        secret_path = urlsplit(url).path
        for stream in (False, True):
            with pytest.raises(anthropic.APIStatusError):
                c = client(url)
                if stream:
                    with c.messages.stream(**MESSAGE) as s:
                        s.get_final_text()
                else:
                    c.messages.create(**MESSAGE)
        deep = b'{"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert httpx.post(url + "/v1/messages", content=deep, timeout=10).status_code == 400
        host, port = urlsplit(url).hostname, urlsplit(url).port
        with socket.create_connection((host, port), timeout=10) as s:
            # A request aiohttp cannot parse, whose request line carries the secret.
            s.sendall(f"POST {secret_path}/v1/messages HTTP/1.1\r\nBad\x01Header\r\n\r\n".encode())
            s.recv(65536)
        assert httpx.get(url + "/_agentwrap/health", timeout=10).status_code == 200
    (err,) = stderr
    assert "Traceback" not in err
    assert secret_path.split("/")[-1] not in err
    # "session ...; Ctrl-C", then the session's summary, which says where the unparsable
    # request was logged (once) and how to see the session's calls.
    lines = err.strip().splitlines()
    assert lines[0].startswith("agentwrap: session ") and lines[0].endswith("; Ctrl-C to stop")
    session = lines[0].removeprefix("agentwrap: session ").split(";")[0]
    assert lines[1].startswith("agentwrap · serve · ") and " 3 calls " in lines[1]
    assert [line for line in lines if "unexpected error" in line] == [
        f"1 unexpected error was logged to {paths.log_file()}"
    ]
    assert f"agentwrap log --session {session}" in lines[-1]


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--first-byte-timeout", "0"], {}, "--first-byte-timeout"),
        (["--first-byte-timeout", "-1"], {}, "must be a number of seconds above 0"),
        (["--stall-timeout", "0"], {}, "--stall-timeout"),
        (["--max-body", "-1"], {}, "--max-body"),
        (["--max-body", "0"], {}, "must be a number of bytes of at least 1, not 0"),
        (
            [],
            {"AGENTWRAP_FIRST_BYTE_TIMEOUT": "0"},
            "first-byte-timeout must be a number of seconds above 0, not 0",
        ),
        ([], {"AGENTWRAP_POOL_SIZE": "lots"}, "AGENTWRAP_POOL_SIZE='lots' is not a number"),
        (
            [],
            {"AGENTWRAP_EXPLORE_SEED": "0.5"},
            "AGENTWRAP_EXPLORE_SEED='0.5' is not a whole number",
        ),
    ],
)
def test_unusable_limits_are_refused_before_anything_starts(agentwrap_bin, args, env, says):
    proc = subprocess.run(
        [agentwrap_bin, "serve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""  # no URL: nothing started
    assert says in " ".join(re.sub("[│╭╮╰╯─]", " ", proc.stderr).split())
