"""Deterministic trace data written through the real Recorder and TraceStore.

Timestamps, ids, tokens and costs are fixed so tables, totals and snapshots are stable.
Costs are given explicitly (as the proxy computes them with its price book) so the expected
numbers do not move when the bundled price table is updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agentwrap import paths
from agentwrap.trace.recorder import FINISHED, FIRST_BYTE, ROUTED, Recorder
from agentwrap.trace.store import TraceStore

T0 = 1_764_064_800.0  # 2025-11-25 10:00:00 UTC


@dataclass
class SeedCall:
    id: str
    step: str | None
    requested: str
    used: str
    input_tokens: int
    output_tokens: int
    cache_write: int = 0
    cache_read: int = 0
    cost: float | None = None
    baseline: float | None = None
    unpriced_reason: str | None = None
    status: str = "ok"
    http_status: int | None = 200
    error: str | None = None
    reason: str = ""
    rule: str = ""
    evidence: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    offset: float = 0.0  # seconds after T0
    ttfb_ms: float = 420.0
    total_ms: float = 2100.0


# A small routed session: main loop moved to a cheaper model, explore on haiku, a title call,
# one fallback after an overload, one unpriced model and one failed call.
SESSION_CALLS: list[SeedCall] = [
    SeedCall(
        "call-01",
        "plan",
        "claude-opus-4-1-20250805",
        "claude-opus-4-1-20250805",
        12_000,
        1_500,
        8_000,
        0,
        cost=0.4125,
        baseline=0.4125,
        reason="planning stays on the frontier model",
        rule="plan",
        evidence="plan mode reminder",
        offset=0,
        ttfb_ms=900,
        total_ms=14_200,
    ),
    SeedCall(
        "call-02",
        "background",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5",
        300,
        20,
        cost=0.0004,
        baseline=0.006,
        reason="title call: tiny, no tools",
        rule="background",
        evidence="tools=[] + title schema",
        offset=1,
        ttfb_ms=180,
        total_ms=350,
    ),
    SeedCall(
        "call-03",
        "explore",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5",
        20_000,
        800,
        0,
        15_000,
        cost=0.0255,
        baseline=0.3825,
        reason="explore subagent → fast model",
        rule="explore",
        evidence="x-claude-code-agent-id",
        offset=16,
        ttfb_ms=310,
        total_ms=3_900,
    ),
    SeedCall(
        "call-04",
        "implement",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-5-20250929",
        30_000,
        2_000,
        0,
        20_000,
        cost=0.126,
        baseline=0.63,
        reason="main loop → balanced model",
        rule="implement",
        evidence="main loop tools",
        attempts=[
            {
                "model": "claude-sonnet-4-5-20250929",
                "provider": "anthropic",
                "outcome": "http 529",
                "ms": 120.0,
            },
            {
                "model": "claude-sonnet-4-5-20250929",
                "provider": "bedrock",
                "outcome": "ok",
                "ms": 2400.0,
            },
        ],
        offset=21,
        ttfb_ms=1_300,
        total_ms=6_100,
    ),
    SeedCall(
        "call-05",
        "implement",
        "claude-opus-4-1-20250805",
        "kimi-k2-local",
        25_000,
        1_200,
        cost=None,
        baseline=0.465,
        unpriced_reason="no price for model 'kimi-k2-local'",
        reason="cheap retry model",
        rule="implement-retry",
        evidence="last edit failed",
        offset=30,
        ttfb_ms=700,
        total_ms=4_000,
    ),
    SeedCall(
        "call-06",
        "implement",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-5-20250929",
        31_000,
        0,
        status="error",
        http_status=500,
        error="upstream 500: internal error",
        cost=None,
        baseline=None,
        reason="main loop → balanced model",
        rule="implement",
        offset=40,
        ttfb_ms=None,
        total_ms=800,  # type: ignore[arg-type]
    ),
]


def start_session(
    store: TraceStore,
    session_id: str,
    *,
    is_demo: bool = False,
    pid: int | None = None,
    agent: str = "claude",
    started_at: float = T0,
) -> None:
    store.insert_session(
        id=session_id,
        agent=agent,
        argv=["claude"],
        cwd="/home/user/project",
        started_at=started_at,
        profile="balanced",
        mode="route",
        is_demo=int(is_demo),
        pid=pid,
    )


def start_call(rec: Recorder, c: SeedCall, seq: int) -> None:
    rec.call_started(
        c.id,
        seq=seq,
        started_at=T0 + c.offset,
        surface="anthropic",
        endpoint="/v1/messages",
        requested_model=c.requested,
        streamed=True,
        step=c.step,
        evidence=c.evidence,
        rule=c.rule,
        reason=c.reason,
        baseline_model=c.requested,
    )
    rec.call_event(ROUTED, c.id, model=c.used, provider="anthropic", provider_api="anthropic")


def first_byte(rec: Recorder, c: SeedCall) -> None:
    rec.call_event(FIRST_BYTE, c.id, ttfb_ms=c.ttfb_ms)


def finish_call(rec: Recorder, c: SeedCall) -> None:
    attempts = c.attempts or [
        {"model": c.used, "provider": "anthropic", "outcome": c.status, "ms": c.total_ms}
    ]
    rec.call_event(
        FINISHED if c.status == "ok" else "failed",
        c.id,
        status=c.status,
        http_status=c.http_status,
        error=c.error,
        model=c.used,
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        cache_creation_tokens=c.cache_write,
        cache_read_tokens=c.cache_read,
        cost_usd=c.cost,
        unpriced_reason=c.unpriced_reason,
        baseline_model=c.requested,
        baseline_cost_usd=c.baseline,
        ttfb_ms=c.ttfb_ms,
        total_ms=c.total_ms,
        attempts=attempts,
    )


def seed_session(
    session_id: str = "sess-0001",
    calls: list[SeedCall] | None = None,
    *,
    ended: bool = True,
    is_demo: bool = False,
    pid: int | None = None,
) -> TraceStore:
    """Write a whole session through a real Recorder; returns an open store on the same file."""
    store = TraceStore(paths.trace_db())
    start_session(store, session_id, is_demo=is_demo, pid=pid)
    rec = Recorder(store, session_id)
    chosen = calls if calls is not None else SESSION_CALLS
    if session_id != "sess-0001":
        # Call ids are global: other sessions get their own.
        chosen = [replace(c, id=f"{session_id}/{c.id}") for c in chosen]
    for seq, c in enumerate(chosen, start=1):
        start_call(rec, c, seq)
        if c.ttfb_ms is not None:
            first_byte(rec, c)
        finish_call(rec, c)
    if ended:
        rec.session_event("session_ended", exit_code=0)
    rec.close()
    if ended:
        store.update_session(session_id, ended_at=T0 + 125, exit_code=0)
    return store
