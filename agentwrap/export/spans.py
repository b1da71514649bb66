"""A recorded call as spans, following the OpenTelemetry GenAI semantic conventions.

One trace per session: the session is the root span (`invoke_agent <agent>`), each call a
client span below it (`chat <requested model>`, `generate_content ...` for Gemini), and when a
call went through more than one attempt (a fallback chain, a retry) each attempt is a child
of the call. The standard attributes say what any GenAI dashboard reads (operation, provider,
models, tokens, conversation, finish reasons, error type); agentwrap's own facts (step kind,
evidence, rule, reason, cost, baseline, outcome, attempts, agent, repository) sit under the one
prefix `agentwrap.`.

Ids are derived from the session and call ids, so the live export and a later
`agentwrap export --format otlp` of the same session send the same trace and span ids.
Prompt and completion text appear only when the caller passes them (the user opted in);
error texts are scrubbed of anything that looks like a credential.

Pure: rows in, `SpanRecord`s out; no OpenTelemetry import, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentwrap import __version__

PREFIX = "agentwrap."
SESSION_OPERATION = "invoke_agent"
# Tokens a call's input counted beside the uncached ones: the conventions include them.
CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE = "gen_ai.usage.cache_creation.input_tokens"

# The API surface a provider speaks → the conventions' provider name.
PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "openai_chat": "openai",
    "openai_responses": "openai",
    "gemini": "gcp.gemini",
}
# Endpoints recorded as calls → the conventions' operation name.
OPERATIONS = {
    "generate": "generate_content",
    "stream_generate": "generate_content",
    "count_tokens": "count_tokens",
}
DEFAULT_OPERATION = "chat"
# The opt-in prompt and completion texts a call span may carry.
CONTENT_KEYS = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages")

AttributeValue = str | bool | int | float | Sequence[str]

_SECRET = re.compile(
    r"(?i)(\bsk-[a-z0-9_\-]{8,}|\bAIza[0-9a-z_\-]{20,}|\bbearer\s+[^\s,;\"']+"
    r"|\b(?:api[_-]?key|token|secret|password)\s*[=:]\s*[^\s,;\"']+)"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")
_MAX_TEXT = 1000


@dataclass
class SpanRecord:
    """One span, ready for any exporter: ids as integers, times in epoch nanoseconds."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start_ns: int
    end_ns: int
    kind: str  # "client" or "internal"
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    error: str | None = None  # the status description of a failed span; None: not an error


def trace_id(session_id: str) -> int:
    """The trace of a session (128 bits, never zero)."""
    return _hash_id("agentwrap-session:" + session_id, 16)


def session_span_id(session_id: str) -> int:
    """The root span of a session (64 bits, never zero)."""
    return _hash_id("agentwrap-session-span:" + session_id, 8)


def call_span_id(call_id: str) -> int:
    """The span of a call."""
    return _hash_id("agentwrap-call:" + call_id, 8)


def attempt_span_id(call_id: str, index: int) -> int:
    """The span of one attempt of a call."""
    return _hash_id(f"agentwrap-attempt:{call_id}:{index}", 8)


def _hash_id(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1


def scrub(text: Any, limit: int = _MAX_TEXT) -> str:
    """Text safe to send away: key-looking strings and URL credentials replaced, length capped."""
    out = _USERINFO.sub(r"\1***@", str(text))
    out = _SECRET.sub("***", out)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def agent_version(user_agent: str | None) -> str | None:
    """The version of the first product in a User-Agent: `claude-cli/2.0.14 (...)` → 2.0.14,
    and `Anthropic/Python 0.75.0` (the official SDKs) → 0.75.0."""
    if not user_agent:
        return None
    match = re.match(r"\s*[^/\s]+/(\S+)(?:\s+(\d[^\s;()]*))?", user_agent)
    if not match:
        return None
    first, second = match.group(1), match.group(2)
    if first[:1].isdigit():
        return first.rstrip(";,")
    return second


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _put(attrs: dict[str, AttributeValue], key: str, value: Any) -> None:
    # Attributes cannot be null; an unknown fact is left out, never sent as 0 or "".
    if value is None or value == "":
        return
    attrs[key] = value


def repository_name(session: Mapping[str, Any]) -> str | None:
    """The repository a session ran in: its root's name, else the working directory's."""
    for key in ("repo_root", "cwd"):
        value = session.get(key)
        if value:
            return str(value).rstrip("/").rsplit("/", 1)[-1] or None
    return None


def session_attributes(
    session: Mapping[str, Any], repository_url: str | None = None
) -> dict[str, AttributeValue]:
    """The facts every span of a session carries (agent, repository, session id)."""
    attrs: dict[str, AttributeValue] = {}
    _put(attrs, PREFIX + "session.id", session.get("id"))
    _put(attrs, PREFIX + "agent", session.get("agent"))
    _put(attrs, PREFIX + "repository", repository_name(session))
    _put(attrs, "vcs.repository.url.full", repository_url)
    return attrs


def session_span(
    session: Mapping[str, Any],
    *,
    end: float | None = None,
    totals: Mapping[str, Any] | None = None,
    repository_url: str | None = None,
) -> SpanRecord:
    """The root span of a session; `end` when the row has no end yet, `totals` to add the
    session's sums (calls, tokens, cost) as attributes."""
    sid = str(session["id"])
    started = float(session.get("started_at") or 0.0)
    finished = session.get("ended_at") or end or started
    attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": SESSION_OPERATION}
    _put(attrs, "gen_ai.agent.name", session.get("agent"))
    attrs.update(session_attributes(session, repository_url))
    _put(attrs, PREFIX + "profile", session.get("profile"))
    _put(attrs, PREFIX + "mode", session.get("mode"))
    _put(attrs, PREFIX + "exit_code", session.get("exit_code"))
    attrs[PREFIX + "version"] = __version__
    if session.get("is_demo"):
        attrs[PREFIX + "demo"] = True
    for key, value in (totals or {}).items():
        _put(attrs, PREFIX + "session." + key, value)
    return SpanRecord(
        name=f"{SESSION_OPERATION} {session.get('agent') or 'agent'}",
        trace_id=trace_id(sid),
        span_id=session_span_id(sid),
        parent_id=None,
        start_ns=_ns(started),
        end_ns=_ns(max(float(finished), started)),
        kind="internal",
        attributes=attrs,
    )


def error_type(call: Mapping[str, Any]) -> str | None:
    """The conventions' error.type of a call: the HTTP status, else what went wrong; None if ok."""
    status = call.get("status")
    if status == "ok":
        return None
    http = call.get("http_status")
    if isinstance(http, int) and http >= 400:
        return str(http)
    if status == "error":
        return "stream_error"  # a 2xx whose stream broke
    if status == "streaming":
        return "unfinished"
    return str(status or "_OTHER")


def call_spans(
    session: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    repository_url: str | None = None,
    content: Mapping[str, str] | None = None,
) -> list[SpanRecord]:
    """The span of a call, then one child per attempt when there was more than one.

    `content` (only when the user opted in) may hold `gen_ai.input.messages`,
    `gen_ai.output.messages` and `gen_ai.system_instructions` as JSON text."""
    sid = str(session["id"])
    started, finished = _call_window(call)
    provider_api = call.get("provider_api") or call.get("surface")
    operation = OPERATIONS.get(str(call.get("endpoint")), DEFAULT_OPERATION)
    requested = call.get("requested_model")
    used = call.get("model") or requested
    attempts = [a for a in call.get("attempts") or [] if isinstance(a, Mapping)]

    attrs = _genai_attributes(call, operation, provider_api)
    attrs.update(session_attributes(session, repository_url))
    attrs.update(_agentwrap_attributes(call, provider_api))
    attrs[PREFIX + "fallback.attempts"] = len(attempts)
    if content:
        for key in CONTENT_KEYS:
            _put(attrs, key, content.get(key))

    ok = call.get("status") == "ok"
    failure = None if ok else scrub(call.get("error") or error_type(call) or "error")
    spans = [
        SpanRecord(
            name=f"{operation} {requested or used or 'model'}",
            trace_id=trace_id(sid),
            span_id=call_span_id(str(call["id"])),
            parent_id=session_span_id(sid),
            start_ns=_ns(started),
            end_ns=_ns(max(finished, started)),
            kind="client",
            attributes=attrs,
            error=failure,
        )
    ]
    if len(attempts) > 1:
        at = started
        for index, attempt in enumerate(attempts):
            spans.append(_attempt_span(sid, call, provider_api, operation, index, attempt, at))
            at += float(attempt.get("ms") or 0.0) / 1000.0
    return spans


def _call_window(call: Mapping[str, Any]) -> tuple[float, float]:
    """When a call started and ended, in epoch seconds (a live row ends at its last update)."""
    started = float(call.get("started_at") or 0.0)
    total_ms = call.get("total_ms")
    if total_ms is not None:
        return started, started + float(total_ms) / 1000.0
    return started, float(call.get("updated_at") or started)


def _genai_attributes(
    call: Mapping[str, Any], operation: str, provider_api: Any
) -> dict[str, AttributeValue]:
    """The conventions' own attributes of a call: what any GenAI dashboard reads."""
    requested = call.get("requested_model")
    attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": operation}
    _put(attrs, "gen_ai.provider.name", PROVIDER_NAMES.get(str(provider_api)))
    _put(attrs, "gen_ai.request.model", requested)
    if call.get("status") == "ok":
        _put(attrs, "gen_ai.response.model", call.get("model") or requested)
    # A live row leaves out columns still at their default: not streamed.
    attrs["gen_ai.request.stream"] = bool(call.get("streamed"))
    tokens = [call.get(k) for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens")]
    if any(t is not None for t in tokens):
        # The conventions count cached tokens inside the input; agentwrap records them apart.
        attrs["gen_ai.usage.input_tokens"] = sum(int(t or 0) for t in tokens)
        attrs[CACHE_READ] = int(call.get("cache_read_tokens") or 0)
        attrs[CACHE_WRITE] = int(call.get("cache_creation_tokens") or 0)
    _put(attrs, "gen_ai.usage.output_tokens", call.get("output_tokens"))
    _put(attrs, "gen_ai.conversation.id", call.get("thread_id"))
    if call.get("stop_reason"):
        attrs["gen_ai.response.finish_reasons"] = [str(call["stop_reason"])]
    ttfb = call.get("ttfb_ms")
    if ttfb is not None and call.get("streamed"):
        attrs["gen_ai.response.time_to_first_chunk"] = float(ttfb) / 1000.0
    _put(attrs, "error.type", error_type(call))
    _put(attrs, "http.response.status_code", call.get("http_status"))
    _put(attrs, "user_agent.original", call.get("user_agent"))
    return attrs


def _agentwrap_attributes(call: Mapping[str, Any], provider_api: Any) -> dict[str, AttributeValue]:
    """agentwrap's own facts about a call, under its prefix: step, route, cost, outcome."""
    attrs: dict[str, AttributeValue] = {}
    _put(attrs, PREFIX + "agent.version", agent_version(call.get("user_agent")))
    _put(attrs, PREFIX + "call.id", str(call["id"]))
    _put(attrs, PREFIX + "call.seq", call.get("seq"))
    _put(attrs, PREFIX + "surface", call.get("surface"))
    _put(attrs, PREFIX + "status", call.get("status"))
    _put(attrs, PREFIX + "step", call.get("step"))
    _put(attrs, PREFIX + "evidence", call.get("evidence"))
    _put(attrs, PREFIX + "rule", call.get("rule"))
    _put(attrs, PREFIX + "propensity", call.get("propensity"))
    _put(attrs, PREFIX + "reason", scrub(call["reason"]) if call.get("reason") else None)
    _put(attrs, PREFIX + "outcome", call.get("outcome"))
    # Names only (route.outcome.SIGNALS); the evidence line stays in the store.
    _put(attrs, PREFIX + "outcome.signals", list(call.get("signals") or []) or None)
    _put(attrs, PREFIX + "model", call.get("model") or call.get("requested_model"))
    _put(attrs, PREFIX + "model.alias", call.get("model_alias"))
    _put(attrs, PREFIX + "provider", call.get("provider"))
    _put(attrs, PREFIX + "provider.api", provider_api)
    _put(attrs, PREFIX + "cost_usd", call.get("cost_usd"))
    _put(attrs, PREFIX + "unpriced_reason", call.get("unpriced_reason"))
    _put(attrs, PREFIX + "baseline.model", call.get("baseline_model"))
    _put(attrs, PREFIX + "baseline.cost_usd", call.get("baseline_cost_usd"))
    _put(attrs, PREFIX + "would.model", call.get("would_model"))
    _put(attrs, PREFIX + "would.cost_usd", call.get("would_cost_usd"))
    _put(attrs, PREFIX + "subagent.id", call.get("agent_id"))
    _put(attrs, PREFIX + "ttfb_ms", call.get("ttfb_ms"))
    return attrs


def _attempt_span(
    session_id: str,
    call: Mapping[str, Any],
    provider_api: Any,
    operation: str,
    index: int,
    attempt: Mapping[str, Any],
    start: float,
) -> SpanRecord:
    model = attempt.get("model") or call.get("requested_model")
    outcome = str(attempt.get("outcome") or "")
    failure = _attempt_error(outcome)
    attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": operation}
    if attempt.get("provider") == call.get("provider"):
        _put(attrs, "gen_ai.provider.name", PROVIDER_NAMES.get(str(provider_api)))
    _put(attrs, "gen_ai.request.model", model)
    _put(attrs, "error.type", failure)
    _put(attrs, PREFIX + "attempt.index", index)
    _put(attrs, PREFIX + "attempt.outcome", scrub(outcome) if outcome else None)
    _put(attrs, PREFIX + "provider", attempt.get("provider"))
    _put(attrs, PREFIX + "session.id", session_id)
    _put(attrs, PREFIX + "call.id", call.get("id"))
    ms = float(attempt.get("ms") or 0.0)
    return SpanRecord(
        name=f"attempt {index + 1} {model or 'model'}",
        trace_id=trace_id(session_id),
        span_id=attempt_span_id(str(call["id"]), index),
        parent_id=call_span_id(str(call["id"])),
        start_ns=_ns(start),
        end_ns=_ns(start + ms / 1000.0),
        kind="client",
        attributes=attrs,
        error=scrub(outcome) if failure else None,
    )


def _attempt_error(outcome: str) -> str | None:
    """error.type of one attempt from its recorded outcome, None when it got an answer."""
    if outcome.startswith("http "):
        code = outcome[5:].strip()
        return code if code.isdigit() and int(code) >= 400 else None
    if outcome.startswith("connection error"):
        return "connection_error"
    if outcome.startswith("timeout"):
        return "timeout"
    if outcome.startswith("refused"):
        return "refused"
    if outcome in ("", "ok", "estimated locally"):
        return None
    return "_OTHER"


def session_totals(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sums a session span carries: calls, tokens and the priced cost."""
    priced = [c["cost_usd"] for c in calls if c.get("cost_usd") is not None]
    return {
        "calls": len(calls),
        "input_tokens": sum(int(c.get("input_tokens") or 0) for c in calls),
        "output_tokens": sum(int(c.get("output_tokens") or 0) for c in calls),
        "cost_usd": round(sum(float(p) for p in priced), 6) if priced else None,
    }
