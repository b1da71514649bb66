"""Fallback before the first byte, with real local servers: 429, 500, 529, timeout, refused."""

from __future__ import annotations

import threading

import anthropic
import httpx
import pytest

from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.proxy.conftest import running_serve, wait_calls
from tests.support.profiles import FALLBACK_PROFILE


def write_profile(tmp_path, primary: str, secondary: str) -> str:
    path = tmp_path / "profile.toml"
    path.write_text(FALLBACK_PROFILE.format(primary=primary, secondary=secondary))
    return str(path)


def ask(url: str, stream: bool) -> str:
    c = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    kw = {
        "model": "claude-opus-4-6",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if stream:
        with c.messages.stream(**kw) as s:
            return s.get_final_text()
    return c.messages.create(**kw).content[0].text


@pytest.mark.parametrize("status", [429, 500, 529])
@pytest.mark.parametrize("stream", [False, True])
def test_retryable_status_falls_back_to_the_next_model(agentwrap_bin, tmp_path, status, stream):
    with (
        FakeAnthropic([Reply.error(status)]) as primary,
        FakeAnthropic(["from backup"]) as secondary,
    ):
        profile = write_profile(tmp_path, primary.base_url, secondary.base_url)
        with running_serve(agentwrap_bin, primary.base_url, "--profile", profile) as url:
            assert ask(url, stream) == "from backup"
            (call,) = wait_calls(1)
    assert primary.message_requests[0].body["model"] == "claude-sonnet-4-6"
    assert secondary.message_requests[0].body["model"] == "claude-haiku-4-5"
    assert (
        call["status"] == "ok"
        and call["model"] == "claude-haiku-4-5"
        and call["provider"] == "secondary"
    )
    assert [(a["provider"], a["outcome"]) for a in call["attempts"]] == [
        ("primary", f"http {status}"),
        ("secondary", "http 200"),
    ]


def test_connection_refused_falls_back(agentwrap_bin, tmp_path, refused_url):
    with FakeAnthropic(["from backup"]) as secondary:
        profile = write_profile(tmp_path, refused_url, secondary.base_url)
        with running_serve(agentwrap_bin, secondary.base_url, "--profile", profile) as url:
            assert ask(url, True) == "from backup"
            (call,) = wait_calls(1)
    assert call["attempts"][0]["provider"] == "primary"
    assert call["attempts"][0]["outcome"].startswith("connection error")
    assert call["model"] == "claude-haiku-4-5"


def test_timeout_before_first_byte_falls_back(agentwrap_bin, tmp_path):
    slow = Reply("too late", first_byte_delay=5.0)
    with FakeAnthropic([slow]) as primary, FakeAnthropic(["from backup"]) as secondary:
        profile = write_profile(tmp_path, primary.base_url, secondary.base_url)
        with running_serve(
            agentwrap_bin, primary.base_url, "--profile", profile, "--first-byte-timeout", "0.5"
        ) as url:
            assert ask(url, False) == "from backup"
            (call,) = wait_calls(1)
    assert call["attempts"][0]["outcome"] == "timeout before first byte"
    assert call["model"] == "claude-haiku-4-5"


def test_non_retryable_error_is_not_hidden_by_a_fallback(agentwrap_bin, tmp_path):
    with (
        FakeAnthropic([Reply.error(400, "bad request")]) as primary,
        FakeAnthropic(["no"]) as secondary,
    ):
        profile = write_profile(tmp_path, primary.base_url, secondary.base_url)
        with running_serve(agentwrap_bin, primary.base_url, "--profile", profile) as url:
            r = httpx.post(
                url + "/v1/messages",
                json={
                    "model": "m",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "x"}],
                },
                timeout=10,
            )
            assert r.status_code == 400 and r.json()["error"]["message"] == "bad request"
            wait_calls(1)
        assert secondary.requests == []


def test_every_model_failing_returns_the_last_error(agentwrap_bin, tmp_path):
    with (
        FakeAnthropic([Reply.error(500)]) as primary,
        FakeAnthropic([Reply.error(529, "overloaded")]) as secondary,
    ):
        profile = write_profile(tmp_path, primary.base_url, secondary.base_url)
        with running_serve(agentwrap_bin, primary.base_url, "--profile", profile) as url:
            r = httpx.post(
                url + "/v1/messages",
                json={
                    "model": "m",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "x"}],
                },
                timeout=10,
            )
            (call,) = wait_calls(1)
    assert r.status_code == 529 and r.json()["error"]["message"] == "overloaded"
    assert call["status"] == "error" and call["http_status"] == 529 and len(call["attempts"]) == 2


def test_retry_after_on_the_last_model_is_honoured_once(agentwrap_bin, tmp_path):
    replies = [Reply.error(429, headers={"retry-after": "0.3"}), "after waiting"]
    with FakeAnthropic(replies) as only, running_serve(agentwrap_bin, only.base_url) as url:
        assert ask(url, False) == "after waiting"
        (call,) = wait_calls(1)
    assert [a["outcome"] for a in call["attempts"]] == ["http 429", "http 200"]
    gap = only.message_requests[1].received_at - only.message_requests[0].received_at
    assert gap >= 0.3


def test_mid_stream_failure_ends_with_an_anthropic_error_event(agentwrap_bin, tmp_path):
    fake = FakeAnthropic([Reply("partial answer that breaks", drop_after=3)])
    with fake, running_serve(agentwrap_bin, fake.base_url) as url:
        c = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        kw = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "x"}],
        }
        with pytest.raises(anthropic.APIStatusError) as err, c.messages.stream(**kw) as s:
            s.get_final_text()
        (call,) = wait_calls(1)
    assert "agentwrap" in str(err.value)
    assert call["status"] == "error"


def test_a_stalled_stream_is_ended_with_an_error_event_and_recorded(agentwrap_bin, tmp_path):
    release = threading.Event()
    stalled = Reply("starts then goes quiet", hold_after=3, release=release, hold_timeout=20)
    with FakeAnthropic([stalled]) as fake:
        with running_serve(agentwrap_bin, fake.base_url, "--stall-timeout", "0.5") as url:
            c = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
            kw = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "x"}],
            }
            with pytest.raises(anthropic.APIStatusError) as err, c.messages.stream(**kw) as s:
                s.get_final_text()
            (call,) = wait_calls(1)
        release.set()
    assert "sent nothing for 0.5s" in str(err.value)
    assert call["status"] == "error" and "sent nothing" in call["error"]
