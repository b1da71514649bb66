"""Recorded calls as spans: the mapping itself, on rows written by the real Recorder."""

from __future__ import annotations

from agentwrap.export import spans
from tests.support.trace_seed import seed_session


def seeded() -> tuple[dict, list[dict]]:
    store = seed_session()
    session = store.session("sess-0001")
    calls = store.calls("sess-0001")
    store.close()
    assert session is not None
    return session, calls


def test_ids_are_derived_so_a_session_exported_twice_keeps_its_ids():
    session, calls = seeded()
    root = spans.session_span(session)
    again = spans.session_span(dict(session))
    assert (root.trace_id, root.span_id) == (again.trace_id, again.span_id)
    assert root.parent_id is None and root.trace_id.bit_length() > 64
    first = spans.call_spans(session, calls[0])[0]
    assert first.parent_id == root.span_id and first.trace_id == root.trace_id
    assert first.span_id == spans.call_spans(session, dict(calls[0]))[0].span_id
    assert spans.trace_id("sess-0002") != root.trace_id


def test_a_call_maps_to_the_genai_conventions_and_agentwraps_own_prefix():
    session, calls = seeded()
    (plan,) = spans.call_spans(session, calls[0])
    a = plan.attributes
    assert plan.name == "chat claude-opus-4-1-20250805" and plan.kind == "client"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == "claude-opus-4-1-20250805"
    assert a["gen_ai.usage.input_tokens"] == 12_000 + 8_000  # cache writes count as input
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 8_000
    assert a["gen_ai.usage.output_tokens"] == 1_500
    assert a["agentwrap.step"] == "plan" and a["agentwrap.evidence"] == "plan mode reminder"
    assert a["agentwrap.rule"] == "plan"
    assert a["agentwrap.cost_usd"] == 0.4125 and a["agentwrap.baseline.cost_usd"] == 0.4125
    assert a["agentwrap.session.id"] == "sess-0001" and a["agentwrap.agent"] == "claude"
    assert a["agentwrap.repository"] == "project"
    assert plan.start_ns == int(calls[0]["started_at"] * 1e9)
    assert plan.end_ns - plan.start_ns == 14_200 * 1_000_000
    assert plan.error is None
    # Every attribute is something OTLP can carry: no None, no empty string.
    assert all(v is not None and v != "" for v in a.values())
    assert all(k.startswith(("gen_ai.", "agentwrap.", "http.", "error.")) for k in a)


def test_a_fallback_call_has_one_child_per_attempt_in_order():
    session, calls = seeded()
    call, first, second = spans.call_spans(session, calls[3])
    assert call.attributes["agentwrap.fallback.attempts"] == 2
    assert first.parent_id == second.parent_id == call.span_id
    assert first.attributes["error.type"] == "529" and first.error == "http 529"
    assert second.attributes.get("error.type") is None and second.error is None
    assert second.attributes["agentwrap.provider"] == "bedrock"
    assert first.end_ns == second.start_ns
    assert first.end_ns - first.start_ns == 120 * 1_000_000


def test_a_learned_choice_carries_its_propensity():
    session, calls = seeded()
    call = dict(calls[0], propensity=0.25)
    (span,) = spans.call_spans(session, call)
    assert span.attributes["agentwrap.propensity"] == 0.25


def test_a_labelled_step_carries_its_outcome_and_the_names_of_its_signals():
    session, calls = seeded()
    call = dict(
        calls[0],
        outcome="failed",
        signals=["edit_retry", "same_error"],
        outcome_evidence="Edit failed: String to replace not found in file.",
    )
    (span,) = spans.call_spans(session, call)
    assert span.attributes["agentwrap.outcome"] == "failed"
    assert span.attributes["agentwrap.outcome.signals"] == ["edit_retry", "same_error"]
    assert not any("evidence" in k and "String" in str(v) for k, v in span.attributes.items())
    (calm,) = spans.call_spans(session, dict(calls[0], outcome="succeeded", signals=[]))
    assert "agentwrap.outcome.signals" not in calm.attributes


def test_unpriced_and_failed_calls_say_so_instead_of_zero():
    session, calls = seeded()
    (unpriced,) = spans.call_spans(session, calls[4])
    assert "agentwrap.cost_usd" not in unpriced.attributes
    assert unpriced.attributes["agentwrap.unpriced_reason"] == "no price for model 'kimi-k2-local'"
    (failed,) = spans.call_spans(session, calls[5])
    assert failed.attributes["error.type"] == "500"
    assert "gen_ai.response.model" not in failed.attributes
    assert failed.error == "upstream 500: internal error"


def test_credentials_in_error_texts_are_scrubbed():
    session, calls = seeded()
    call = dict(calls[5])
    call["error"] = (
        "Incorrect API key provided: sk-proj-abcdefgh12345678 for https://u:pw@h.example/v1"
    )
    call["reason"] = "routed with api_key=abc123secret"
    (span,) = spans.call_spans(session, call)
    assert "abcdefgh12345678" not in (span.error or "") and "pw@" not in (span.error or "")
    assert "abc123secret" not in str(span.attributes["agentwrap.reason"])


def test_the_session_span_carries_the_agent_and_the_sums():
    session, calls = seeded()
    root = spans.session_span(session, totals=spans.session_totals(calls), repository_url="u")
    a = root.attributes
    assert root.name == "invoke_agent claude" and root.kind == "internal"
    assert a["gen_ai.operation.name"] == "invoke_agent" and a["gen_ai.agent.name"] == "claude"
    assert a["agentwrap.session.calls"] == 6
    assert a["agentwrap.session.cost_usd"] == round(0.4125 + 0.0004 + 0.0255 + 0.126, 6)
    assert a["vcs.repository.url.full"] == "u"
    assert root.end_ns - root.start_ns == 125 * 1_000_000_000


def test_agent_version_comes_from_the_user_agent():
    assert spans.agent_version("claude-cli/2.0.14 (external, cli)") == "2.0.14"
    assert spans.agent_version("codex_cli_rs/0.46.0 (Mac OS 15.0; arm64)") == "0.46.0"
    assert spans.agent_version("GeminiCLI/0.61.0 (linux; x64)") == "0.61.0"
    assert spans.agent_version("Anthropic/Python 0.75.0") == "0.75.0"
    assert spans.agent_version("curl") is None and spans.agent_version(None) is None
