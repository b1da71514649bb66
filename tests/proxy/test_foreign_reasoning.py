"""Reasoning another provider issued is taken out before a same-API call goes to its provider."""

from __future__ import annotations

import httpx

from agentwrap.fakes.anthropic import FakeAnthropic
from tests.proxy.conftest import running_serve, wait_calls

FOREIGN = {"type": "thinking", "thinking": "from a Chat model", "signature": ""}
OWN = {"type": "thinking", "thinking": "from Claude", "signature": "RXJpY1NpZw=="}


def _body(thinking_block: dict) -> dict:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 50,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [thinking_block, {"type": "text", "text": "hello"}]},
            {"role": "user", "content": "go on"},
        ],
    }


def test_a_resumed_conversation_is_scrubbed_and_own_reasoning_kept_byte_for_byte(agentwrap_bin):
    with FakeAnthropic(["a", "b"]) as fake, running_serve(agentwrap_bin, fake.base_url) as url:
        headers = {"x-api-key": "k", "x-claude-code-session-id": "thread-1"}
        # The first call of a conversation brings its whole history: it is checked.
        httpx.post(url + "/v1/messages", json=_body(FOREIGN), headers=headers, timeout=10)
        raw_own = httpx.Request("POST", "http://x", json=_body(OWN)).content
        httpx.post(
            url + "/v1/messages",
            content=raw_own,
            headers={
                **headers,
                "x-claude-code-session-id": "thread-2",
                "content-type": "application/json",
            },
            timeout=10,
        )
        wait_calls(2)
        first, second = fake.message_requests
    sent = first.body["messages"][1]["content"]
    assert [b["type"] for b in sent] == ["text"]  # the unsigned thinking block is gone
    assert second.raw == raw_own  # nothing foreign: forwarded untouched


PROFILE = """
[providers.chat]
api = "openai-chat"
base_url = "{chat}"

[models.cheap]
provider = "chat"
model = "cheap-1"

[[rules]]
name = "small-to-chat"
requested_model = "claude-haiku-*"
use = "cheap"

[routing]
default = "requested"
"""


def test_after_a_translated_turn_every_call_of_the_thread_is_checked_again(agentwrap_bin, tmp_path):
    from agentwrap.fakes.provider import FakeProvider, Reply

    with (
        FakeAnthropic(["one", "three"]) as fake,
        FakeProvider("openai-chat", [Reply(text="two")]) as chat,
    ):
        (tmp_path / "p.toml").write_text(PROFILE.format(chat=chat.base_url))
        with running_serve(
            agentwrap_bin, fake.base_url, "--profile", str(tmp_path / "p.toml")
        ) as url:
            headers = {"x-api-key": "k", "x-claude-code-session-id": "thread-1"}
            clean = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            }
            httpx.post(
                url + "/v1/messages", json=clean, headers=headers, timeout=10
            )  # thread checked
            small = {**clean, "model": "claude-haiku-4-5"}
            httpx.post(url + "/v1/messages", json=small, headers=headers, timeout=10)  # translated
            httpx.post(url + "/v1/messages", json=_body(FOREIGN), headers=headers, timeout=10)
            wait_calls(3)
        assert len(chat.requests) == 1
        third = fake.message_requests[1]
    assert [b["type"] for b in third.body["messages"][1]["content"]] == ["text"]
