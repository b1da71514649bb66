"""The proxy's own side of faults: its timeouts and their names, who left when a connection
breaks, a full pool, an agent that hangs up, bad requests, and every call's row finished."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anthropic
import httpx
import pytest

from agentwrap.fakes.provider import Played, Reply
from agentwrap.fakes.server import Delivery
from agentwrap.proxy.forward import Forwarder
from agentwrap.proxy.ledger import CallLedger
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.upstream import UpstreamRequest
from agentwrap.route.profile import load_profile
from agentwrap.wire.call import ANTHROPIC
from tests.faults.rig import BACKUP_TEXT, Rig

MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
}


def client(url: str, timeout: float = 30.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0, timeout=timeout)


@contextmanager
def unanswered_port() -> Iterator[str]:
    """A port whose listener never accepts and whose backlog is full: connecting hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for s in fillers:
            s.close()
        server.close()


def test_a_connect_timeout_is_recorded_as_one_and_falls_back(tmp_path):
    with (
        unanswered_port() as url,
        Rig(
            ANTHROPIC, True, tmp_path, primary_url=url, connect_timeout=0.5, first_byte_timeout=5
        ) as rig,
    ):
        seen, call = rig.ask([], stream=True)
    assert seen.text == BACKUP_TEXT
    first = call["attempts"][0]
    assert first["outcome"] == "connect timeout"
    assert first["error"] == f"cannot connect to primary (main-model) at {url} within 0.5s"
    assert 400 <= first["ms"] < 5000  # the connect timeout ended it, not the first-byte one


def test_a_connect_timeout_without_fallback_is_a_504_naming_the_provider(tmp_path):
    with (
        unanswered_port() as url,
        Rig(ANTHROPIC, False, tmp_path, primary_url=url, connect_timeout=0.5) as rig,
    ):
        seen, call = rig.ask([], stream=False)
    assert seen.status == 504 and "cannot connect to primary" in (seen.error or "")
    assert call["status"] == "error" and call["http_status"] == 504


def test_an_error_body_that_never_arrives_is_bounded_and_falls_back(tmp_path):
    stuck = Played(Reply(), Delivery(status=429, error="busy", stall_after_headers=10))
    with Rig(ANTHROPIC, True, tmp_path) as rig:
        started = time.monotonic()
        seen, call = rig.ask([stuck], stream=True)
        took = time.monotonic() - started
    assert seen.text == BACKUP_TEXT and took < 10
    first = call["attempts"][0]
    assert first["outcome"] == "http 429"
    assert (
        first["error"]
        == "primary (main-model) answered HTTP 429, and its body did not arrive within 1s"
    )


def test_waiting_for_a_pooled_connection_is_not_the_providers_silence(tmp_path):
    # Two connections for four parallel streams, each slower than the first-byte timeout in
    # all: the two that wait for a connection must not time out.
    slow = Reply(text="slowly " * 8, delay=0.15)
    with Rig(ANTHROPIC, False, tmp_path, pool_size=2, first_byte_timeout=1.0) as rig:
        rig.primary.rescript([], default=slow)
        answers: list[str] = []

        def one() -> None:
            with client(rig.url).messages.stream(**MESSAGE) as s:
                answers.append(s.get_final_text())

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        calls = [rig.record(n) for n in range(1, 5)]
        calls = rig.store.calls(rig.session)
    assert answers == ["slowly " * 8] * 4
    assert [c["status"] for c in calls] == ["ok"] * 4
    waits = sorted(c["attempts"][0].get("wait_ms") or 0 for c in calls)
    assert waits[-1] > 1000  # a queued call waited longer than the first-byte timeout


def test_an_upstream_reset_mid_stream_is_the_providers_fault_not_the_agent_leaving(tmp_path):
    # drop_after closes the connection mid-stream, as a crashed host does.
    cut = Played(Reply(text="x " * 50), Delivery(drop_after=4, event_delay=0.02))
    with Rig(ANTHROPIC, True, tmp_path) as rig:
        seen, call = rig.ask([cut], stream=True)
    assert seen.error is not None and "stream ended early" in seen.error
    assert call["status"] == "error" and call["error"].startswith("upstream stream broke")


def test_an_agent_that_leaves_mid_stream_is_recorded_as_aborted(tmp_path):
    slow = Reply(text="word " * 40, delay=0.05)
    with Rig(ANTHROPIC, True, tmp_path) as rig:
        rig.primary.rescript([slow])
        with client(rig.url).messages.stream(**MESSAGE) as s:
            for _ in s.text_stream:
                break  # the agent has its first words and hangs up
        call = rig.record(1)
    assert call["status"] == "aborted"
    assert call["error"].startswith("the agent closed the connection")
    assert rig.backup.generating() == []


def test_an_agent_that_hangs_up_before_the_first_byte_cancels_the_chain(tmp_path):
    slow = Played(Reply(), Delivery(first_byte_delay=3))
    with Rig(ANTHROPIC, True, tmp_path, first_byte_timeout=1.5) as rig:
        rig.primary.rescript([slow])
        with pytest.raises(anthropic.APITimeoutError):
            client(rig.url, timeout=0.4).messages.create(**MESSAGE)
        call = rig.record(1)
        time.sleep(1.5)  # past the first-byte timeout: no fallback may follow
        assert rig.backup.generating() == []
    assert call["status"] == "aborted"
    assert call["error"] == "the agent closed the connection before the answer began"
    assert [(a["provider"], a["outcome"]) for a in call["attempts"]] == [("primary", "cancelled")]


def test_json_nested_100000_levels_gets_a_400_in_the_agents_api_and_a_record(tmp_path):
    deep = b'{"model":"m","messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with Rig(ANTHROPIC, False, tmp_path) as rig:
        r = httpx.post(rig.url + "/v1/messages", content=deep, timeout=10)
        call = rig.record(1)
        assert rig.alive()
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    assert r.json()["error"]["message"] == (
        "agentwrap: request body is not valid JSON: it is nested too deeply"
    )
    assert call["status"] == "refused" and call["http_status"] == 400
    assert call["request_bytes"] == len(deep)


def test_a_body_shorter_than_its_content_length_is_refused_in_time(tmp_path):
    with Rig(ANTHROPIC, False, tmp_path, request_timeout=0.5) as rig:
        host, port = rig.url.split("//")[1].split("/")[0].split(":")
        path = rig.url.split(str(port), 1)[1] + "/v1/messages"
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                'Content-Length: 100\r\n\r\n{"model":'.encode()
            )
            reply = s.recv(65536)
        call = rig.record(1)
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 0.5s" in reply
    assert call["status"] == "refused" and call["http_status"] == 408


def test_a_request_head_that_never_arrives_is_dropped_in_time(tmp_path):
    with Rig(ANTHROPIC, False, tmp_path, idle_timeout=0.5) as rig:
        host, port = rig.url.split("//")[1].split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /s/")  # and nothing more, as a client sending a byte at a time
            assert s.recv(65536) == b""  # closed by the proxy, long before the socket's 10 s
        assert rig.alive()
    assert rig.store.calls(rig.session) == []


def test_an_exception_before_the_chain_still_finishes_the_row(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("the recorder is broken")

    monkeypatch.setattr(CallLedger, "started", broken)
    with Rig(ANTHROPIC, False, tmp_path) as rig:
        with pytest.raises(anthropic.APIStatusError) as err:
            client(rig.url).messages.create(**MESSAGE)
        call = rig.record(1)
        assert rig.alive()
    assert err.value.status_code == 502
    assert err.value.body["error"]["message"] == (
        "agentwrap: internal error: RuntimeError: the recorder is broken"
    )
    assert call["status"] == "proxy_error" and call["http_status"] == 502
    assert call["total_ms"] is not None and call["surface"] == ANTHROPIC
    assert rig.primary.generating() == []


def test_a_budget_stop_goes_through_the_finish_step(tmp_path):
    budget = '\n[budget]\nsession_usd = 0.5\non_exceed = "stop"\n'
    with Rig(ANTHROPIC, False, tmp_path, profile_extra=budget) as rig:
        rig.proxy.state.cost_usd = 1.0  # spent past the budget by earlier calls
        with pytest.raises(anthropic.BadRequestError) as err:
            client(rig.url).messages.create(**MESSAGE)
        call = rig.record(1)
    assert "stop" in str(err.value)
    assert call["status"] == "refused" and call["http_status"] == 400
    # Finished like any other call: priced against its baseline, timed, its model named.
    assert call["total_ms"] is not None and call["model"] == "main-model"
    assert call["baseline_model"] == "claude-sonnet-4-6"


def test_the_models_listing_does_not_follow_redirects(tmp_path):
    sent: list[UpstreamRequest] = []

    class Recording:
        async def send(self, request: UpstreamRequest):
            sent.append(request)
            raise ConnectionRefusedError  # noqa: B904 -- any failure: only the request matters

        async def close(self) -> None:
            pass

    profile_path = tmp_path / "p.toml"
    profile_path.write_text(
        '[providers.anthropic]\napi = "anthropic"\nbase_url = "http://127.0.0.1:9"\n'
    )
    profile = load_profile(None, str(profile_path), {})
    forwarder = Forwarder(profile, Recording(), ProxyOptions())
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(forwarder.list_models({"x-api-key": "k"}, ""))
    assert [r.method for r in sent] == ["GET"] and sent[0].allow_redirects is False
