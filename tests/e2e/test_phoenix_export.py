"""A real backend receives agentwrap's spans: Arize Phoenix, started here with its own store,
queried back through its own client.

Calls go through `agentwrap serve` with the official anthropic SDK against local fake
providers (one overloaded, so the first call falls back); agentwrap exports live over
OTLP/HTTP to Phoenix; after the session ends the spans are read from Phoenix and checked:
the GenAI attributes, agentwrap's own, the session → call → attempt structure, and that no
prompt text or key was stored. Then a backfill (`agentwrap export --format otlp`) of the same
session lands on the same span ids. Phoenix is installed on first use (see
tests/support/phoenix.py).
"""

from __future__ import annotations

import json
import os
import subprocess

import anthropic
import pytest

from agentwrap.export import spans as mapping
from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.proxy.conftest import running_serve, wait_calls
from tests.support.phoenix import read_spans, running_phoenix
from tests.support.profiles import FALLBACK_PROFILE

PROJECT = "agentwrap-e2e"
PROMPT = "Explain the flux capacitor wiring in one sentence"
API_KEY = "sk-ant-api03-phoenix-secret-0123456789"


@pytest.mark.timeout(1200)  # the first run installs Phoenix
def test_phoenix_receives_the_spans_and_returns_their_attributes(agentwrap_bin, tmp_path):
    with (
        running_phoenix(tmp_path) as phoenix,
        FakeAnthropic([], default=Reply.error(529, "overloaded")) as primary,
        FakeAnthropic(
            [Reply("It routes the flux.", input_tokens=900, output_tokens=30,
                   cache_read_input_tokens=400)]
        ) as secondary,
    ):  # fmt: skip
        profile = tmp_path / "profile.toml"
        profile.write_text(
            FALLBACK_PROFILE.format(primary=primary.base_url, secondary=secondary.base_url)
        )
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
        }
        with running_serve(
            agentwrap_bin, primary.base_url, "--profile", str(profile), env=env
        ) as url:
            sdk = anthropic.Anthropic(
                base_url=url,
                api_key=API_KEY,
                max_retries=0,
                default_headers={"x-claude-code-session-id": "thread-phoenix"},
            )
            answer = sdk.messages.create(
                model="claude-opus-4-6",
                max_tokens=64,
                messages=[{"role": "user", "content": PROMPT}],
            )
            assert answer.content[0].text == "It routes the flux."
            (call,) = wait_calls(1)
        stored = read_spans(phoenix, PROJECT)

        by_kind = {s["name"].split(" ")[0]: [] for s in stored}
        for s in stored:
            by_kind[s["name"].split(" ")[0]].append(s)
        (session,) = by_kind["invoke_agent"]
        (chat,) = by_kind["chat"]
        attempts = sorted(
            by_kind["attempt"], key=lambda s: s["attributes"]["agentwrap.attempt.index"]
        )
        assert len(stored) == 4 and len(attempts) == 2

        ids = {s["context"]["span_id"] for s in stored}
        assert (
            session["context"]["span_id"] == f"{mapping.session_span_id(call['session_id']):016x}"
        )
        assert chat["parent_id"] == session["context"]["span_id"]
        assert {a["parent_id"] for a in attempts} == {chat["context"]["span_id"]}
        assert {s["context"]["trace_id"] for s in stored} == {
            f"{mapping.trace_id(call['session_id']):032x}"
        }

        a = chat["attributes"]
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "anthropic"
        assert a["gen_ai.request.model"] == "claude-opus-4-6"
        assert a["gen_ai.response.model"] == "claude-haiku-4-5"
        assert a["gen_ai.usage.input_tokens"] == 1300
        assert a["gen_ai.usage.cache_read.input_tokens"] == 400
        assert a["gen_ai.usage.output_tokens"] == 30
        assert a["gen_ai.conversation.id"] == "thread-phoenix"
        assert list(a["gen_ai.response.finish_reasons"]) == ["end_turn"]
        assert a["agentwrap.step"] == call["step"] and a["agentwrap.rule"] == call["rule"]
        assert a["agentwrap.cost_usd"] == pytest.approx(call["cost_usd"])
        assert a["agentwrap.fallback.attempts"] == 2
        assert attempts[0]["attributes"]["error.type"] == "529"
        assert attempts[0]["status_code"] == "ERROR"
        assert session["attributes"]["gen_ai.agent.name"] == "serve"
        assert session["attributes"]["agentwrap.session.calls"] == 1
        dumped = json.dumps(stored)
        assert "flux capacitor" not in dumped and API_KEY not in dumped

        # A backfill of the same session sends the same ids: Phoenix still holds four spans.
        out = subprocess.run(
            [agentwrap_bin, "export", "--format", "otlp", "--session", call["session_id"]],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "4 spans from 1 session(s)" in out.stderr
        again = read_spans(phoenix, PROJECT)
        assert len(again) == 4 and {s["context"]["span_id"] for s in again} == ids
