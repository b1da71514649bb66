"""Live OTLP export through the real proxy: `agentwrap serve` (or `run`) between the official
anthropic SDK and local fake providers, a local OTLP/HTTP collector decoding the protobuf.

What the spans say (GenAI conventions, agentwrap.* attributes, session → call → attempt), what
they never carry (prompt text, API keys), and that a collector that refuses or stalls changes
nothing for the calls: they succeed, are recorded, and the spans are counted as dropped.
"""

from __future__ import annotations

import subprocess
import sys

import anthropic
import pytest

from agentwrap import paths
from agentwrap.export.stats import read_stats
from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.trace.store import TraceStore
from tests.proxy.conftest import running_serve, wait_calls
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.profiles import FALLBACK_PROFILE

PROMPT = "Summarise the design of the flux capacitor in one line"
API_KEY = "sk-ant-api03-very-secret-key-0123456789"
THREAD = "thread-7f3a"
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
]


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=url,
        api_key=API_KEY,
        max_retries=0,
        default_headers={"x-claude-code-session-id": THREAD},
    )


def by_name(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    out: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        out.setdefault(span.name.split(" ")[0], []).append(span)
    return out


def test_calls_become_genai_spans_under_the_session_with_attempts_as_children(
    agentwrap_bin, tmp_path
):
    tool = ToolUse("Bash", {"command": "ls"})
    overloaded = Reply.error(529, "overloaded")  # every call to the primary falls back
    second = [
        Reply([tool], input_tokens=1200, output_tokens=40, cache_read_input_tokens=800),
        Reply("Done.", input_tokens=1300, output_tokens=12),
    ]
    with (
        OtlpReceiver() as collector,
        FakeAnthropic([], default=overloaded) as primary,
        FakeAnthropic(second) as secondary,
    ):
        profile = tmp_path / "profile.toml"
        profile.write_text(
            FALLBACK_PROFILE.format(primary=primary.base_url, secondary=secondary.base_url)
        )
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url, "OTEL_SERVICE_NAME": "team-x"}
        with running_serve(
            agentwrap_bin, primary.base_url, "--profile", str(profile), env=env
        ) as url:
            sdk = client(url)
            messages: list[dict] = [{"role": "user", "content": PROMPT}]
            with sdk.messages.stream(
                model="claude-opus-4-6", max_tokens=64, messages=messages, tools=TOOLS
            ) as stream:
                answer = stream.get_final_message()
            assert answer.stop_reason == "tool_use"
            tool_id = answer.content[0].id
            messages += [
                {"role": "assistant", "content": [b.model_dump() for b in answer.content]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "a b"}],
                },
            ]
            done = sdk.messages.create(
                model="claude-opus-4-6", max_tokens=64, messages=messages, tools=TOOLS
            )
            assert done.content[0].text == "Done."
            calls = wait_calls(2)
        spans = collector.wait_spans(7)
        raw = collector.raw()

    kinds = by_name(spans)
    (session,) = kinds["invoke_agent"]
    chat = sorted(kinds["chat"], key=lambda s: s.attributes["agentwrap.call.seq"])
    assert len(spans) == 7 and len(chat) == 2 and len(kinds["attempt"]) == 4
    attempts = sorted(
        (s for s in kinds["attempt"] if s.parent_span_id == chat[0].span_id),
        key=lambda s: s.attributes["agentwrap.attempt.index"],
    )

    # One trace: the session at the root, the calls below it, the attempts below their call.
    assert session.parent_span_id == ""
    assert {s.trace_id for s in spans} == {session.trace_id}
    assert all(c.parent_span_id == session.span_id for c in chat)
    assert len(attempts) == 2
    assert {a.parent_span_id for a in kinds["attempt"]} == {c.span_id for c in chat}
    assert session.resource["service.name"] == "team-x"
    assert session.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert session.attributes["agentwrap.session.calls"] == 2
    assert session.attributes["agentwrap.session.id"] == calls[0]["session_id"]

    first_call, second_call = chat
    a = first_call.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-opus-4-6"
    assert a["gen_ai.response.model"] == "claude-haiku-4-5"
    # Cached tokens are part of the input in the conventions, and also given apart.
    assert a["gen_ai.usage.input_tokens"] == 2000
    assert a["gen_ai.usage.cache_read.input_tokens"] == 800
    assert a["gen_ai.usage.output_tokens"] == 40
    assert a["gen_ai.conversation.id"] == THREAD
    assert a["gen_ai.response.finish_reasons"] == ["tool_use"]
    assert a["agentwrap.step"] == calls[0]["step"] and a["agentwrap.rule"] == calls[0]["rule"]
    assert a["agentwrap.reason"] == calls[0]["reason"]
    assert a["agentwrap.cost_usd"] == calls[0]["cost_usd"] > 0
    assert a["agentwrap.baseline.cost_usd"] == calls[0]["baseline_cost_usd"]
    assert a["agentwrap.fallback.attempts"] == 2
    assert a["agentwrap.provider"] == "secondary"
    # The tool step's outcome came with the next request, and the span waited for it.
    assert a["agentwrap.outcome"] == "succeeded"
    assert "error.type" not in a and first_call.status_code == 0

    assert attempts[0].attributes["error.type"] == "529"
    assert attempts[0].attributes["agentwrap.provider"] == "primary"
    assert attempts[0].status_code == 2
    assert attempts[1].attributes["gen_ai.request.model"] == "claude-haiku-4-5"
    assert "error.type" not in attempts[1].attributes
    assert attempts[0].end_ns <= attempts[1].start_ns

    assert second_call.attributes["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert second_call.attributes["agentwrap.fallback.attempts"] == 2

    # Content and credentials never leave without the opt-in.
    assert PROMPT.encode() not in raw and b"flux capacitor" not in raw
    assert API_KEY.encode() not in raw and b"a b" not in raw


def test_a_failed_call_carries_its_error_type(agentwrap_bin):
    with (
        OtlpReceiver() as collector,
        FakeAnthropic([Reply.error(400, "prompt is malformed")]) as fake,
    ):
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.base_url + "/v1/traces"}
        with running_serve(agentwrap_bin, fake.base_url, env=env) as url:
            with pytest.raises(anthropic.BadRequestError):
                client(url).messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=5,
                    messages=[{"role": "user", "content": "x"}],
                )
            wait_calls(1)
        spans = collector.wait_spans(2)
    (call,) = by_name(spans)["chat"]
    assert call.attributes["error.type"] == "400"
    assert call.attributes["agentwrap.status"] == "error"
    assert "gen_ai.response.model" not in call.attributes
    assert call.status_code == 2 and "malformed" in call.status_message


SCRIPT = """
import os, anthropic
c = anthropic.Anthropic(base_url=os.environ["ANTHROPIC_BASE_URL"], api_key="{key}", max_retries=0)
for i in range({n}):
    r = c.messages.create(model="claude-sonnet-4-6", max_tokens=20,
                          messages=[{{"role": "user", "content": "{prompt}"}}])
    print(r.content[0].text)
"""


# A collector that refuses or stalls fails each export within this (in ms), not the default 10 s,
# and the session's end stops waiting on it at once instead of after the close's grace.
FAILS_FAST = {"OTEL_EXPORTER_OTLP_TIMEOUT": "300"}


def run_with_collector(agentwrap_bin: str, fake_url: str, env: dict[str, str], n: int):
    code = SCRIPT.format(key=API_KEY, n=n, prompt=PROMPT)
    full = {**subprocess_env(), "AGENTWRAP_ANTHROPIC_UPSTREAM": fake_url, **FAILS_FAST, **env}
    return subprocess.run(
        [agentwrap_bin, "run", "--panel", "off", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def subprocess_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["COLUMNS"] = "200"
    return env


def newest_session(store: TraceStore) -> dict:
    session = store.resolve_session("last")
    assert session is not None
    return session


@pytest.mark.slow
def test_a_collector_that_refuses_connections_changes_nothing_for_the_calls(
    agentwrap_bin, refused_url
):
    with FakeAnthropic(default="fine") as fake:
        result = run_with_collector(
            agentwrap_bin, fake.base_url, {"OTEL_EXPORTER_OTLP_ENDPOINT": refused_url}, 3
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fine", "fine", "fine"]
    store = TraceStore(paths.trace_db())
    session = newest_session(store)
    calls = store.calls(session["id"])
    assert [c["status"] for c in calls] == ["ok", "ok", "ok"]
    stats = read_stats(store, session["id"])
    assert stats is not None and stats.sent == 0 and stats.dropped == 4  # 3 calls + the session
    # The summary says so, in one line.
    (line,) = [ln for ln in result.stderr.splitlines() if "OTLP export" in ln]
    assert "0 spans sent" in line and "4 dropped" in line
    assert result.stderr.count("Traceback") == 0


@pytest.mark.slow
def test_a_collector_that_stalls_changes_nothing_for_the_calls(agentwrap_bin):
    with OtlpReceiver(stall=True) as collector, FakeAnthropic(default="fine") as fake:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        result = run_with_collector(agentwrap_bin, fake.base_url, env, 3)
        tried = collector.spans()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fine", "fine", "fine"]
    store = TraceStore(paths.trace_db())
    session = newest_session(store)
    assert [c["status"] for c in store.calls(session["id"])] == ["ok", "ok", "ok"]
    stats = read_stats(store, session["id"])
    assert stats is not None and stats.sent == 0 and stats.dropped == 4
    assert tried, "the stalled collector was sent something"
    (line,) = [ln for ln in result.stderr.splitlines() if "OTLP export" in ln]
    assert "4 dropped" in line


@pytest.mark.slow
def test_a_full_queue_drops_and_counts_instead_of_waiting(agentwrap_bin):
    with OtlpReceiver(stall=True) as collector, FakeAnthropic(default="fine") as fake:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url,
            "OTEL_BSP_MAX_QUEUE_SIZE": "1",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves the queue before the end
        }
        result = run_with_collector(agentwrap_bin, fake.base_url, env, 4)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fine"] * 4
    store = TraceStore(paths.trace_db())
    session = newest_session(store)
    assert len(store.calls(session["id"])) == 4
    stats = read_stats(store, session["id"])
    assert stats is not None and stats.sent == 0 and stats.dropped == 5
    assert "queue was full" in (stats.error or "")
