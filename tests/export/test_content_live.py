"""Prompt and completion text on the spans only with the conventions' opt-in, never the key;
and the agent's name and version from its User-Agent."""

from __future__ import annotations

import json

import anthropic

from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.proxy.conftest import running_serve, wait_calls
from tests.support.otlp_receiver import OtlpReceiver

PROMPT = "Where does the flux capacitor connect?"
ANSWER = "Between the time circuits and the reactor."
API_KEY = "sk-ant-api03-capture-test-0123456789"


def test_content_goes_out_only_when_the_user_opts_in(agentwrap_bin):
    replies = [Reply(ANSWER), Reply(ANSWER)]
    with OtlpReceiver() as collector, FakeAnthropic(replies) as fake:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url,
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        }
        with running_serve(agentwrap_bin, fake.base_url, env=env) as url:
            sdk = anthropic.Anthropic(base_url=url, api_key=API_KEY, max_retries=0)
            kwargs = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 64,
                "system": "You are terse.",
                "messages": [{"role": "user", "content": PROMPT}],
            }
            with sdk.messages.stream(**kwargs) as stream:
                assert stream.get_final_text() == ANSWER
            assert sdk.messages.create(**kwargs).content[0].text == ANSWER
            wait_calls(2)
        spans = collector.wait_spans(3)
        raw = collector.raw()

    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2
    for span in chats:
        a = span.attributes
        assert json.loads(a["gen_ai.system_instructions"]) == [
            {"type": "text", "content": "You are terse."}
        ]
        (asked,) = json.loads(a["gen_ai.input.messages"])
        assert asked["role"] == "user" and asked["parts"][0]["content"] == PROMPT
        (answered,) = json.loads(a["gen_ai.output.messages"])
        assert answered["role"] == "assistant"
        assert answered["parts"] == [{"type": "text", "content": ANSWER}]
        assert answered["finish_reason"] == "end_turn"
        # The official SDK says who it is: that is the "agent" and its version here.
        assert a["user_agent.original"].startswith("Anthropic/Python")
        assert a["agentwrap.agent.version"] == anthropic.__version__
    assert {bool(s.attributes["gen_ai.request.stream"]) for s in chats} == {True, False}
    assert PROMPT.encode() in raw  # the opt-in works...
    assert API_KEY.encode() not in raw  # ...and the key still never leaves


def test_without_the_opt_in_no_content_attribute_is_sent(agentwrap_bin):
    with OtlpReceiver() as collector, FakeAnthropic([Reply(ANSWER)]) as fake:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url}
        with running_serve(agentwrap_bin, fake.base_url, env=env) as url:
            sdk = anthropic.Anthropic(base_url=url, api_key=API_KEY, max_retries=0)
            sdk.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=64,
                system="You are terse.",
                messages=[{"role": "user", "content": PROMPT}],
            )
            wait_calls(1)
        spans = collector.wait_spans(2)
        raw = collector.raw()
    (chat,) = [s for s in spans if s.name.startswith("chat ")]
    assert not [k for k in chat.attributes if k.endswith(("messages", "instructions"))]
    for secret in (PROMPT, ANSWER, "You are terse.", API_KEY):
        assert secret.encode() not in raw
