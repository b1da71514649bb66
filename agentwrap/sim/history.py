"""A synthetic history: many sessions of routed calls written through the real recorder.

The benchmark and the tests that check commands on a large store use it, so a store of a
thousand sessions looks like one agentwrap wrote: the same recorder, the same events, the
same columns. The numbers are deterministic for a seed; nothing here calls a provider.

    python -m agentwrap.sim.history --sessions 1000 --calls-per-session 100   # into AGENTWRAP_HOME
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

from agentwrap import paths
from agentwrap.trace.recorder import FINISHED, FIRST_BYTE, ROUTED, Recorder
from agentwrap.trace.store import TraceStore

T0 = 1_764_064_800.0  # 2025-11-25 10:00:00 UTC
DAY = 86_400.0

# Step kind, requested model, model used, share of the calls (weights).
_MIX: list[tuple[str, str, str, int]] = [
    ("implement", "claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929", 60),
    ("explore", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001", 20),
    ("background", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001", 10),
    ("plan", "claude-opus-4-1-20250805", "claude-opus-4-1-20250805", 7),
    ("compact", "claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929", 3),
]
# USD per million input / output tokens, for the recorded cost.
_PRICES = {
    "claude-opus-4-1-20250805": (15.0, 75.0),
    "claude-sonnet-4-5-20250929": (3.0, 15.0),
    "claude-haiku-4-5-20251001": (1.0, 5.0),
}


@dataclass(frozen=True)
class HistoryShape:
    sessions: int = 1000
    calls_per_session: int = 100
    seed: int = 7
    days: float = 60.0  # sessions are spread over this many days before T0 + days


def _cost(model: str, tokens_in: int, tokens_out: int) -> float:
    p_in, p_out = _PRICES[model]
    return (tokens_in * p_in + tokens_out * p_out) / 1e6


def write_history(store: TraceStore, shape: HistoryShape) -> int:
    """Write `shape.sessions` ended sessions into `store`; returns the number of calls."""
    rng = random.Random(shape.seed)
    kinds = [m for m in _MIX]
    weights = [m[3] for m in _MIX]
    written = 0
    for s in range(shape.sessions):
        session_id = f"hist-{s:05d}"
        started = T0 + shape.days * DAY * s / max(1, shape.sessions)
        store.insert_session(
            id=session_id,
            agent="claude",
            argv=["claude"],
            cwd=f"/home/user/project-{s % 7}",
            started_at=started,
            profile="balanced",
            mode="route",
            is_demo=0,
            pid=None,
        )
        rec = Recorder(store, session_id)
        t = started
        for c in range(shape.calls_per_session):
            step, requested, used, _ = rng.choices(kinds, weights)[0]
            call_id = f"{session_id}/c{c:04d}"
            tokens_in = rng.randint(2_000, 90_000)
            tokens_out = rng.randint(20, 2_500)
            ttfb = rng.uniform(150, 1500)
            total = ttfb + rng.uniform(100, 9000)
            rec.call_started(
                call_id,
                seq=c + 1,
                started_at=t,
                surface="anthropic",
                endpoint="/v1/messages",
                requested_model=requested,
                streamed=True,
                step=step,
                evidence="synthetic history",
                rule=step,
                reason=f"routing.{step}",
                baseline_model=requested,
            )
            rec.call_event(ROUTED, call_id, model=used, provider="anthropic")
            rec.call_event(FIRST_BYTE, call_id, ttfb_ms=ttfb)
            rec.call_event(
                FINISHED,
                call_id,
                status="ok",
                http_status=200,
                model=used,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=_cost(used, tokens_in, tokens_out),
                baseline_model=requested,
                baseline_cost_usd=_cost(requested, tokens_in, tokens_out),
                ttfb_ms=ttfb,
                total_ms=total,
                attempts=[{"model": used, "provider": "anthropic", "outcome": "ok", "ms": total}],
            )
            t += total / 1000 + rng.uniform(1, 20)
            written += 1
            if c % 5000 == 4999:
                # A long session: let the writer catch up, so close() never has a backlog
                # longer than its wait.
                rec.flush(timeout=600)
        rec.session_event("session_ended", exit_code=0)
        rec.close()
        store.update_session(session_id, ended_at=t, exit_code=0)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=HistoryShape.sessions)
    ap.add_argument("--calls-per-session", type=int, default=HistoryShape.calls_per_session)
    ap.add_argument("--seed", type=int, default=HistoryShape.seed)
    args = ap.parse_args()
    store = TraceStore(paths.trace_db())
    try:
        write_history(store, HistoryShape(args.sessions, args.calls_per_session, args.seed))
    finally:
        store.close()


if __name__ == "__main__":
    main()
