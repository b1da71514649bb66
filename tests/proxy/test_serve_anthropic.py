"""`agentwrap serve` between the official anthropic SDK and a real local upstream.

Tests that need no fresh proxy share the module's one `serve` (`shared_serve`); those that
start it with their own flags or upstream start their own."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import anthropic
import httpx
import pytest
from aiohttp import web

from agentwrap.fakes.anthropic import FakeAnthropic, Reply, Text, ToolUse
from agentwrap.pricing import PriceBook
from agentwrap.wire.common import Usage
from tests.proxy.conftest import running_serve, wait_calls

MODEL = "claude-sonnet-4-6"
MSGS = [{"role": "user", "content": "hello"}]


def client(url: str, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test-key", max_retries=0, **kw)


def test_non_streaming_message_equals_upstream_and_is_recorded(shared_serve):
    reply = Reply(
        "The answer is 42.", input_tokens=1200, output_tokens=9, cache_read_input_tokens=300
    )
    served = shared_serve.play([reply])
    fake, url = served.fake, served.url
    msg = client(url).messages.create(model=MODEL, max_tokens=50, messages=MSGS)
    direct_body = fake.requests[0].body
    assert direct_body["model"] == MODEL and direct_body["messages"] == MSGS
    assert [b.text for b in msg.content] == ["The answer is 42."]
    assert msg.usage.input_tokens == 1200 and msg.usage.output_tokens == 9
    (call,) = served.calls(1)
    assert call["status"] == "ok" and call["streamed"] == 0
    assert (call["input_tokens"], call["output_tokens"], call["cache_read_tokens"]) == (
        1200,
        9,
        300,
    )
    expected = PriceBook().cost(MODEL, Usage(1200, 9, 0, 300)).usd
    assert call["cost_usd"] == pytest.approx(expected) and expected > 0
    # Passed through: the baseline is the call itself, priced the same.
    assert call["baseline_model"] == MODEL and call["baseline_cost_usd"] == call["cost_usd"]
    assert call["requested_model"] == MODEL and call["model"] == MODEL
    assert call["surface"] == "anthropic" and call["http_status"] == 200


def test_streaming_final_message_equals_upstream(shared_serve):
    reply = Reply(
        [
            Text("Let me look."),
            ToolUse("Bash", {"command": "ls -la", "description": "list"}, id="toolu_01"),
        ],
        input_tokens=500,
        output_tokens=40,
        cache_creation_input_tokens=64,
    )
    served = shared_serve.play([reply, reply])
    with client(served.url).messages.stream(model=MODEL, max_tokens=100, messages=MSGS) as s:
        through = s.get_final_message()
    # The same reply fetched directly from the upstream is the reference.
    with anthropic.Anthropic(
        base_url=served.fake.base_url, api_key="k", max_retries=0
    ).messages.stream(model=MODEL, max_tokens=100, messages=MSGS) as s:
        direct = s.get_final_message()
    calls = served.calls(1)
    strip = lambda m: {k: v for k, v in m.model_dump().items() if k != "id"}  # noqa: E731
    assert strip(through) == strip(direct)
    assert through.stop_reason == "tool_use"
    assert through.content[1].input == {"command": "ls -la", "description": "list"}
    (call,) = calls
    assert call["streamed"] == 1 and call["status"] == "ok"
    assert (call["input_tokens"], call["output_tokens"], call["cache_creation_tokens"]) == (
        500,
        40,
        64,
    )
    assert (
        call["cost_usd"] > 0 and call["ttfb_ms"] is not None and call["total_ms"] >= call["ttfb_ms"]
    )


def test_first_event_arrives_before_upstream_sends_the_rest(shared_serve):
    release = threading.Event()
    reply = Reply("one two three", hold_after=1, release=release)
    served = shared_serve.play([reply])
    req = {"model": MODEL, "max_tokens": 20, "stream": True, "messages": MSGS}
    with httpx.stream(
        "POST", served.url + "/v1/messages", json=req, headers={"x-api-key": "k"}, timeout=20
    ) as r:
        lines = r.iter_lines()
        first = next(lines)
        assert first == "event: message_start"
        assert not release.is_set()  # the upstream is still holding everything else
        release.set()
        rest = list(lines)
    assert "event: message_stop" in rest
    served.calls(1)


def test_client_disconnect_mid_stream_is_recorded_as_aborted_with_tokens_seen(shared_serve):
    release = threading.Event()
    reply = Reply("never finished", input_tokens=777, hold_after=2, release=release, hold_timeout=5)
    served = shared_serve.play([reply])
    req = {"model": MODEL, "max_tokens": 20, "stream": True, "messages": MSGS}
    with httpx.stream(
        "POST", served.url + "/v1/messages", json=req, headers={"x-api-key": "k"}, timeout=20
    ) as r:
        next(r.iter_lines())
    # The client is gone; the upstream now sends the rest, which cannot be delivered.
    time.sleep(0.3)
    release.set()
    (call,) = served.calls(1, timeout=15)
    assert call["status"] == "aborted"
    assert call["input_tokens"] == 777  # from message_start, the usage seen before the abort


@pytest.mark.parametrize("status", [400, 404, 429, 500, 529])
def test_upstream_error_reaches_client_unchanged_and_is_recorded(shared_serve, status):
    served = shared_serve.play([Reply.error(status, f"boom {status}")])
    r = httpx.post(
        served.url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 5, "messages": MSGS},
        headers={"x-api-key": "k"},
        timeout=20,
    )
    assert r.status_code == status
    assert r.json() == Reply.error(status, f"boom {status}").error_body()
    (call,) = served.calls(1)
    assert call["status"] == "error" and call["http_status"] == status
    assert f"boom {status}" in call["error"]


@pytest.mark.parametrize("path", ["/s/wrong-secret/v1/messages", "/v1/messages", "/s//v1/messages"])
def test_wrong_or_missing_secret_is_refused_and_nothing_forwarded(shared_serve, path):
    served = shared_serve.play(["should not be sent"])
    origin = served.url.split("/s/")[0]
    r = httpx.post(
        origin + path, json={"model": MODEL, "max_tokens": 5, "messages": MSGS}, timeout=10
    )
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "permission_error"
    time.sleep(0.2)
    assert served.fake.requests == []


def test_headers_and_query_forwarded_faithfully(shared_serve):
    served = shared_serve.play(["ok"])
    body = {
        "model": MODEL,
        "max_tokens": 5,
        "messages": MSGS,
        "unknown_future_field": {"x": [1, 2]},
    }
    raw = json.dumps(body, indent=1).encode()
    r = httpx.post(
        served.url + "/v1/messages?beta=true",
        content=raw,
        headers={
            "x-api-key": "sk-ant-secret-123",
            "anthropic-beta": "interleaved-thinking-2025-05-14,context-1m",
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
            "connection": "keep-alive",
        },
        timeout=10,
    )
    assert r.status_code == 200
    (req,) = served.fake.requests
    calls = served.calls(1)
    assert req.path.endswith("/v1/messages?beta=true")
    assert req.headers["x-api-key"] == "sk-ant-secret-123"
    assert req.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-1m"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.raw == raw  # same API, same model: the body is forwarded byte for byte
    # Credentials are never written to the trace.
    assert "sk-ant-secret-123" not in json.dumps(calls)


def test_usage_read_from_a_gzip_compressed_answer(shared_serve):
    reply = Reply("compressed", input_tokens=321, output_tokens=12, gzip=True)
    served = shared_serve.play([reply, reply])
    c = client(served.url)
    with c.messages.stream(model=MODEL, max_tokens=5, messages=MSGS) as s:
        text = s.get_final_text()
    msg = c.messages.create(model=MODEL, max_tokens=5, messages=MSGS)
    calls = served.calls(2)
    # The upstream really compressed its answers (else this test proves nothing).
    assert all(r.headers.get("accept-encoding") for r in served.fake.requests)
    assert text == "compressed" and msg.content[0].text == "compressed"
    assert [(c["input_tokens"], c["output_tokens"]) for c in calls] == [(321, 12), (321, 12)]


def test_body_limits_are_refused_in_anthropic_format_and_recorded(agentwrap_bin):
    with (
        FakeAnthropic(["unused"]) as fake,
        running_serve(agentwrap_bin, fake.base_url, "--max-body", "2000") as url,
    ):
        big = {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x" * 5000}],
        }
        r1 = httpx.post(url + "/v1/messages", json=big, timeout=10)
        r2 = httpx.post(url + "/v1/messages", content=b"{not json", timeout=10)
        assert r1.status_code == 413 and r1.json()["type"] == "error"
        assert (
            r1.json()["error"]["type"] == "request_too_large"
            and "agentwrap" in r1.json()["error"]["message"]
        )
        assert r2.status_code == 400 and "agentwrap" in r2.json()["error"]["message"]
        assert r2.json()["error"]["type"] == "invalid_request_error"
        calls = wait_calls(2)
        assert fake.requests == []
    assert sorted((c["status"], c["http_status"]) for c in calls) == [
        ("refused", 400),
        ("refused", 413),
    ]


def test_count_tokens_and_models_are_forwarded(shared_serve):
    served = shared_serve.play([])
    c = client(served.url)
    n = c.messages.count_tokens(model=MODEL, messages=MSGS)
    models = c.models.list()
    assert n.input_tokens > 0
    assert [m.id for m in models.data] == served.fake.models
    assert {r.endpoint for r in served.fake.requests} == {"count_tokens", "models"}


def test_upstream_connections_are_kept_alive(agentwrap_bin):
    peers: list[tuple] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response(
            {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        )

    with _AiohttpServer(handler) as upstream, running_serve(agentwrap_bin, upstream) as url:
        c = client(url)
        for _ in range(3):
            c.messages.create(model=MODEL, max_tokens=5, messages=MSGS)
            time.sleep(0.2)  # an idle gap, as while the agent runs a tool
    assert len(peers) == 3
    assert len(set(peers)) == 1, f"each call opened a new upstream connection: {peers}"


class _AiohttpServer:
    """A one-route aiohttp server in a thread (for what the fake does not record)."""

    def __init__(self, handler) -> None:
        self.handler = handler

    def __enter__(self) -> str:
        ready = threading.Event()

        def serve() -> None:
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self.handler)
            self.runner = web.AppRunner(app)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_unknown_surface_answers_501(shared_serve):
    served = shared_serve.play([])
    r = httpx.post(served.url + "/v1/embeddings", json={"input": "x"}, timeout=10)
    assert r.status_code == 501 and "not served" in r.text
    assert served.fake.requests == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_a_given_port(agentwrap_bin):
    port = _free_port()
    with (
        FakeAnthropic(["hi"]) as fake,
        running_serve(agentwrap_bin, fake.base_url, "--port", str(port)) as url,
    ):
        assert url.startswith(f"http://127.0.0.1:{port}/s/")
        assert (
            client(url).messages.create(model=MODEL, max_tokens=5, messages=MSGS).content[0].text
            == "hi"
        )
