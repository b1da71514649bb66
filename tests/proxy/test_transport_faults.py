"""Faults injected at the upstream transport, below the proxy, with the proxy in-process.

`FaultyTransport` sends through the real pooled client to real local fake providers, except
for the hosts a test names, whose requests fail the way a network does: a connection error
before any byte, a provider that never answers, a stream that breaks off. The official SDK is
the agent, and the recorded call is read back from the real store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anthropic
import pytest

from agentwrap.fakes.anthropic import FakeAnthropic
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.upstream import UpstreamPool, UpstreamRequest, UpstreamResponse
from agentwrap.route.profile import load_profile
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore
from tests.support.profiles import FALLBACK_PROFILE

Fault = Callable[[UpstreamRequest, UpstreamPool], Awaitable[UpstreamResponse]]


class FaultyTransport:
    """The real pool, except for the hosts in `faults`, whose requests go to their fault."""

    def __init__(self, faults: Mapping[str, Fault]) -> None:
        self.pool = UpstreamPool()
        self.faults = dict(faults)
        self.sent: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.sent.append(request)
        fault = self.faults.get(urlsplit(request.url).netloc)
        if fault is not None:
            return await fault(request, self.pool)
        return await self.pool.send(request)

    async def close(self) -> None:
        await self.pool.close()


async def refuse_connection(request: UpstreamRequest, pool: UpstreamPool) -> UpstreamResponse:
    raise aiohttp.ClientConnectionError("connection refused by the test transport")


async def never_answer(request: UpstreamRequest, pool: UpstreamPool) -> UpstreamResponse:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class _BreaksAfterFirstChunk:
    """A real response whose body breaks off after its first chunk."""

    def __init__(self, inner: UpstreamResponse) -> None:
        self.inner = inner
        self.status = inner.status
        self.headers = inner.headers
        self.chunks = 0

    async def read(self) -> bytes:
        return await self.inner.read()

    async def readany(self) -> bytes:
        self.chunks += 1
        if self.chunks > 1:
            raise aiohttp.ClientPayloadError("the provider hung up mid-stream")
        return await self.inner.readany()

    def release(self) -> None:
        self.inner.release()


async def break_mid_stream(request: UpstreamRequest, pool: UpstreamPool) -> UpstreamResponse:
    return _BreaksAfterFirstChunk(await pool.send(request))


def run_call(
    tmp_path: Path,
    primary_url: str,
    secondary_url: str,
    faults: Mapping[str, Fault],
    ask: Callable[[str], Awaitable[Any]],
    options: ProxyOptions | None = None,
) -> tuple[Any, dict[str, Any], FaultyTransport]:
    """One call through an in-process proxy: (what `ask` returned, the recorded call, transport)."""
    profile_path = tmp_path / "profile.toml"
    profile_path.write_text(FALLBACK_PROFILE.format(primary=primary_url, secondary=secondary_url))
    transport = FaultyTransport(faults)

    async def run() -> Any:
        profile = load_profile(None, str(profile_path), {})
        store = TraceStore(tmp_path / "trace.db")
        store.insert_session(id="s", agent="test", started_at=time.time())
        recorder = Recorder(store, "s")
        proxy = Proxy(profile, recorder, options=options, transport=transport)
        url = await proxy.start()
        try:
            return await ask(url)
        finally:
            await proxy.stop()
            recorder.close()

    answer = asyncio.run(run())
    (call,) = TraceStore(tmp_path / "trace.db").calls("s")
    return answer, call, transport


async def ask_text(url: str) -> str:
    client = anthropic.AsyncAnthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    async with client.messages.stream(
        model="claude-opus-4-6", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return await stream.get_final_text()


def test_a_connection_error_before_any_byte_falls_back_and_is_recorded(tmp_path):
    with FakeAnthropic(["from backup"]) as secondary:
        answer, call, transport = run_call(
            tmp_path,
            "http://primary.invalid",
            secondary.base_url,
            {"primary.invalid": refuse_connection},
            ask_text,
        )
    assert answer == "from backup"
    assert [urlsplit(r.url).netloc for r in transport.sent] == [
        "primary.invalid",
        urlsplit(secondary.base_url).netloc,
    ]
    assert secondary.message_requests[0].body["model"] == "claude-haiku-4-5"
    assert call["status"] == "ok" and call["provider"] == "secondary"
    assert call["model"] == "claude-haiku-4-5" and call["requested_model"] == "claude-opus-4-6"
    assert [(a["provider"], a["model"], a["outcome"]) for a in call["attempts"]] == [
        (
            "primary",
            "claude-sonnet-4-6",
            "connection error: connection refused by the test transport",
        ),
        ("secondary", "claude-haiku-4-5", "http 200"),
    ]


def test_a_provider_silent_past_the_first_byte_timeout_falls_back(tmp_path):
    with FakeAnthropic(["from backup"]) as secondary:
        answer, call, _ = run_call(
            tmp_path,
            "http://primary.invalid",
            secondary.base_url,
            {"primary.invalid": never_answer},
            ask_text,
            ProxyOptions(first_byte_timeout=0.3),
        )
    assert answer == "from backup"
    assert [a["outcome"] for a in call["attempts"]] == ["timeout before first byte", "http 200"]
    assert call["attempts"][0]["ms"] >= 300
    assert call["status"] == "ok" and call["provider"] == "secondary"


def test_a_stream_that_breaks_after_bytes_reached_the_agent_is_not_retried(tmp_path):
    async def ask_expecting_error(url: str) -> Exception | None:
        try:
            await ask_text(url)
        except anthropic.APIError as exc:
            return exc
        return None

    with (
        FakeAnthropic(["a long answer " * 50]) as primary,
        FakeAnthropic(["from backup"]) as secondary,
    ):
        error, call, _ = run_call(
            tmp_path,
            primary.base_url,
            secondary.base_url,
            {urlsplit(primary.base_url).netloc: break_mid_stream},
            ask_expecting_error,
        )
        assert secondary.requests == []
    assert error is not None and "stream ended early" in str(error)
    assert call["status"] == "error" and call["provider"] == "primary"
    assert call["error"] == (
        "upstream stream broke: ClientPayloadError: the provider hung up mid-stream"
    )
    assert [a["outcome"] for a in call["attempts"]] == ["http 200"]
    assert call["ttfb_ms"] is not None and call["response_bytes"] > 0


@pytest.mark.parametrize("status", [429, 529])
def test_a_retryable_status_from_the_transport_falls_back(tmp_path, status):
    async def overloaded(request: UpstreamRequest, pool: UpstreamPool) -> UpstreamResponse:
        return _Canned(status, b'{"type":"error","error":{"type":"x","message":"busy"}}')

    with FakeAnthropic(["from backup"]) as secondary:
        answer, call, _ = run_call(
            tmp_path,
            "http://primary.invalid",
            secondary.base_url,
            {"primary.invalid": overloaded},
            ask_text,
        )
    assert answer == "from backup"
    assert [a["outcome"] for a in call["attempts"]] == [f"http {status}", "http 200"]


class _Canned:
    """A whole answer made up by the test, released like a pooled one."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.headers = {"content-type": "application/json"}
        self.body = body
        self.released = False

    async def read(self) -> bytes:
        return self.body

    async def readany(self) -> bytes:
        body, self.body = self.body, b""
        return body

    def release(self) -> None:
        self.released = True
