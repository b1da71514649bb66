"""`agentwrap serve` routing an Anthropic agent to an OpenAI Chat provider."""

from __future__ import annotations

import anthropic

from agentwrap.fakes.provider import FakeProvider, Reply
from tests.proxy.conftest import running_serve, wait_calls

PROFILE = """
[providers.chat]
api = "openai-chat"
base_url = "{url}"

[models.cheap]
provider = "chat"
model = "cheap-1"

[routing]
default = "cheap"
"""


def test_count_tokens_for_another_api_is_estimated_locally(agentwrap_bin, tmp_path):
    with FakeProvider("openai-chat", []) as chat:
        (tmp_path / "p.toml").write_text(PROFILE.format(url=chat.base_url))
        with running_serve(
            agentwrap_bin, "http://127.0.0.1:9", "--profile", str(tmp_path / "p.toml")
        ) as url:
            c = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
            short = c.messages.count_tokens(
                model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
            )
            long = c.messages.count_tokens(
                model="claude-sonnet-4-6", messages=[{"role": "user", "content": "word " * 2000}]
            )
            calls = wait_calls(2)
        assert chat.requests == []
    assert 0 < short.input_tokens < long.input_tokens
    assert all(c["attempts"][0]["outcome"] == "estimated locally" for c in calls)


def test_a_translated_answer_is_recorded_with_its_stop_reason(agentwrap_bin, tmp_path):
    with FakeProvider(
        "openai-chat", [Reply(text="hello", usage={"input": 50, "output": 3})]
    ) as chat:
        (tmp_path / "p.toml").write_text(PROFILE.format(url=chat.base_url))
        with running_serve(
            agentwrap_bin, "http://127.0.0.1:9", "--profile", str(tmp_path / "p.toml")
        ) as url:
            c = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
            msg = c.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=50,
                messages=[{"role": "user", "content": "hi"}],
            )
            (call,) = wait_calls(1)
        sent = chat.requests[0].body
    assert msg.content[0].text == "hello" and msg.model == "claude-sonnet-4-6"
    assert sent["model"] == "cheap-1" and sent["messages"][-1] == {"role": "user", "content": "hi"}
    assert (
        call["stop_reason"] == "end_turn"
        and call["input_tokens"] == 50
        and call["provider_api"] == "openai-chat"
    )
