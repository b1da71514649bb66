"""Sums over call rows: one call's contribution (`Tally`) and running totals (`Ledger`).

Every reader (the live panel, the statusline, the end-of-session summary, `agentwrap report`)
holds its sums in these, so they always agree: the statusline, the summary, the reports and
a panel following the store read sums SQLite makes as `Tally.of_call` does (trace.queries,
trace.sums; tests hold them to it), and the panel folds the call rows it is handed, and each
call that changes after, through `Ledger.upsert`. The ledger is incremental: `upsert` a call
row again when it changes and only that call's old contribution is replaced, which is what
lets the panel follow thousands of calls without re-summing them on every event.

Money rules, applied everywhere:
- a call's cost is `cost_usd`; None means *unpriced* (or not finished), never $0;
- a call's baseline cost is `baseline_cost_usd`; when the proxy left it empty but the call
  ran on its baseline model (the requested one by default) the baseline is the cost itself;
- savings are computed only over calls where both cost and baseline cost are known, and the
  number of calls left out is reported next to them.

Pure arithmetic over row dicts: the SQL that reads them is in `agentwrap.trace.queries`, the
way the sums are written out in `agentwrap.fmt`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentwrap.fmt import UNKNOWN_MODEL

# Call statuses as the recorder writes them.
STREAMING = "streaming"
OK = "ok"
ERROR_STATUSES = frozenset({"error", "proxy_error"})
ABORTED = "aborted"
REFUSED = "refused"
# The Tally field each call status and each step outcome counts in (errors: `failed`).
_STATUS_COUNTERS = {OK: "ok", STREAMING: "streaming", ABORTED: "aborted", REFUSED: "refused"}
_OUTCOME_COUNTERS = {
    "succeeded": "steps_succeeded",
    "failed": "steps_failed",
    "interrupted": "steps_interrupted",
}

UNKNOWN_STEP = "unknown"


def attempts_of(call: dict[str, Any]) -> list[Any]:
    """The call's attempts as a list, whatever shape the row holds."""
    attempts = call.get("attempts")
    return attempts if isinstance(attempts, list) else []


def is_unpriced(call: dict[str, Any]) -> bool:
    """True when the call has usage or a finished state but no price (shown as 'unpriced')."""
    if call.get("cost_usd") is not None:
        return False
    if call.get("unpriced_reason"):
        return True
    return call.get("status") == OK


def effective_baseline(call: dict[str, Any]) -> float | None:
    """The call's baseline cost in USD, or None when it is not known."""
    baseline = call.get("baseline_cost_usd")
    if baseline is not None:
        return float(baseline)
    cost = call.get("cost_usd")
    if cost is None:
        return None
    used = call.get("model")
    baseline_model = call.get("baseline_model") or call.get("requested_model")
    # A call that ran on the baseline model cost exactly the baseline.
    if used and baseline_model and used == baseline_model:
        return float(cost)
    return None


def model_key(call: dict[str, Any]) -> str:
    """The model a call is counted under: the model used, else the one requested."""
    return call.get("model") or call.get("requested_model") or UNKNOWN_MODEL


def step_key(call: dict[str, Any]) -> str:
    """The step kind a call is counted under."""
    return call.get("step") or UNKNOWN_STEP


@dataclass
class Tally:
    """Sums over a set of calls. Tallies add and subtract, so a ledger can replace one call."""

    calls: int = 0
    ok: int = 0
    streaming: int = 0
    failed: int = 0
    aborted: int = 0
    refused: int = 0
    fallbacks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    priced_calls: int = 0
    unpriced_calls: int = 0
    baseline_usd: float = 0.0
    baseline_calls: int = 0
    # Cost and baseline over the calls where both are known: what savings are computed on.
    compared_calls: int = 0
    compared_cost_usd: float = 0.0
    compared_baseline_usd: float = 0.0
    # Observe mode: what routing would have cost, over calls where that and the cost are known.
    would_calls: int = 0
    would_cost_usd: float = 0.0
    would_actual_usd: float = 0.0
    # Step outcomes, learned from the agent's next request (its tool results).
    steps_succeeded: int = 0
    steps_failed: int = 0
    steps_interrupted: int = 0
    first_started: float | None = None
    last_finished: float | None = None

    @classmethod
    def of_call(cls, call: dict[str, Any]) -> Tally:
        """The contribution of one call row."""
        t = cls(calls=1)
        status = call.get("status")
        counter = "failed" if status in ERROR_STATUSES else _STATUS_COUNTERS.get(str(status))
        if counter:
            setattr(t, counter, 1)
        if len(attempts_of(call)) > 1:
            t.fallbacks = 1
        counter = _OUTCOME_COUNTERS.get(str(call.get("outcome")))
        if counter:
            setattr(t, counter, 1)
        t.input_tokens = int(call.get("input_tokens") or 0)
        t.output_tokens = int(call.get("output_tokens") or 0)
        t.cache_write_tokens = int(call.get("cache_creation_tokens") or 0)
        t.cache_read_tokens = int(call.get("cache_read_tokens") or 0)
        cost = call.get("cost_usd")
        if cost is not None:
            t.cost_usd = float(cost)
            t.priced_calls = 1
        elif is_unpriced(call):
            t.unpriced_calls = 1
        baseline = effective_baseline(call)
        if baseline is not None:
            t.baseline_usd = baseline
            t.baseline_calls = 1
            if cost is not None:
                t.compared_calls = 1
                t.compared_cost_usd = float(cost)
                t.compared_baseline_usd = baseline
        would = call.get("would_cost_usd")
        if would is not None and cost is not None:
            t.would_calls = 1
            t.would_cost_usd = float(would)
            t.would_actual_usd = float(cost)
        started = call.get("started_at")
        if started is not None:
            t.first_started = float(started)
            total_ms = call.get("total_ms")
            if total_ms is not None:
                t.last_finished = float(started) + float(total_ms) / 1000.0
        return t

    def add(self, other: Tally, sign: int = 1) -> None:
        """Add (sign=1) or remove (sign=-1) another tally's sums in place."""
        # Through the instance dicts: a ledger adds three tallies per call, 100,000s of times.
        mine, theirs = self.__dict__, other.__dict__
        for name in _SUMMED:
            mine[name] += sign * theirs[name]
        if sign > 0:
            # Time bounds only grow; a replaced call keeps the old bound (harmless, rare).
            if other.first_started is not None and (
                self.first_started is None or other.first_started < self.first_started
            ):
                self.first_started = other.first_started
            if other.last_finished is not None and (
                self.last_finished is None or other.last_finished > self.last_finished
            ):
                self.last_finished = other.last_finished

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_tokens
            + self.cache_read_tokens
        )

    @property
    def saved_usd(self) -> float | None:
        """Baseline minus cost over the compared calls; None when no call can be compared."""
        if not self.compared_calls:
            return None
        return self.compared_baseline_usd - self.compared_cost_usd

    @property
    def saved_pct(self) -> float | None:
        """The saving as a percentage of the compared baseline; None when not computable."""
        saved = self.saved_usd
        if saved is None or self.compared_baseline_usd <= 0:
            return None
        return 100.0 * saved / self.compared_baseline_usd

    @property
    def would_save_pct(self) -> float | None:
        """Observe mode: the share of the actual cost routing would have saved."""
        if not self.would_calls or self.would_actual_usd <= 0:
            return None
        return 100.0 * (self.would_actual_usd - self.would_cost_usd) / self.would_actual_usd

    @property
    def uncompared_calls(self) -> int:
        """Finished calls left out of the savings (cost or baseline unknown)."""
        return max(0, self.calls - self.streaming - self.refused - self.compared_calls)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view, money rounded to 1e-6 USD."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _SUMMED}
        for name in ("cost_usd", "baseline_usd", "compared_cost_usd", "compared_baseline_usd"):
            out[name] = round(out[name], 6)
        saved = self.saved_usd
        pct = self.saved_pct
        out["saved_usd"] = None if saved is None else round(saved, 6)
        out["saved_pct"] = None if pct is None else round(pct, 2)
        for name in ("would_cost_usd", "would_actual_usd"):
            out[name] = round(out[name], 6)
        would = self.would_save_pct
        out["would_save_pct"] = None if would is None else round(would, 2)
        out["tokens"] = self.tokens
        return out


_SUMMED = [
    "steps_succeeded",
    "steps_failed",
    "steps_interrupted",
    "calls",
    "ok",
    "streaming",
    "failed",
    "aborted",
    "refused",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
    "priced_calls",
    "unpriced_calls",
    "baseline_usd",
    "baseline_calls",
    "compared_calls",
    "compared_cost_usd",
    "compared_baseline_usd",
    "would_calls",
    "would_cost_usd",
    "would_actual_usd",
]


@dataclass
class Ledger:
    """Running totals over call rows, updated in place as calls change."""

    total: Tally = field(default_factory=Tally)
    by_model: dict[str, Tally] = field(default_factory=dict)
    by_step: dict[str, Tally] = field(default_factory=dict)
    # Per call: its current contribution and the group keys it is counted under.
    _calls: dict[str, tuple[Tally, str, str]] = field(default_factory=dict)
    # Unpriced reasons by model, for footnotes.
    unpriced_reasons: dict[str, str] = field(default_factory=dict)
    # Calls counted in sums made elsewhere (of_groups) and not upserted since.
    _summed: int = 0

    @classmethod
    def of_groups(
        cls, groups: Iterable[tuple[str, str, Tally]], unpriced_reasons: dict[str, str]
    ) -> Ledger:
        """A ledger holding sums made elsewhere (SQL): one Tally per (model key, step key).

        It knows no call's own contribution: `upsert` a call it covers with the row as it was
        summed (`previous`) so that contribution can be replaced.
        """
        ledger = cls(unpriced_reasons=dict(unpriced_reasons))
        for model, step, tally in groups:
            ledger.total.add(tally)
            ledger.by_model.setdefault(model, Tally()).add(tally)
            ledger.by_step.setdefault(step, Tally()).add(tally)
            ledger._summed += tally.calls
        return ledger

    def upsert(self, call: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        """Count a new call row, or replace the contribution of a call seen before.

        `previous`: for a call counted in sums the ledger was made with (`of_groups`), the
        row as it was summed; columns it lacks are taken from `call` (a finished call's row
        changes only by its outcome label, so the outcome and the group keys are enough).
        """
        call_id = call["id"]
        old = self._calls.get(call_id)
        if old is None and previous is not None:
            summed = {**call, **previous}
            old = (Tally.of_call(summed), model_key(summed), step_key(summed))
            self._summed -= 1
        if old is not None:
            tally, model, step = old
            self.total.add(tally, -1)
            self.by_model[model].add(tally, -1)
            self.by_step[step].add(tally, -1)
        tally = Tally.of_call(call)
        model, step = model_key(call), step_key(call)
        self.total.add(tally)
        self.by_model.setdefault(model, Tally()).add(tally)
        self.by_step.setdefault(step, Tally()).add(tally)
        self._calls[call_id] = (tally, model, step)
        if call.get("cost_usd") is None and call.get("unpriced_reason"):
            self.unpriced_reasons.setdefault(model, str(call["unpriced_reason"]))
        # Groups emptied by a call that changed model (routed) disappear.
        if old is not None:
            for groups, key in ((self.by_model, old[1]), (self.by_step, old[2])):
                if groups[key].calls == 0:
                    del groups[key]

    def __len__(self) -> int:
        return len(self._calls) + self._summed

    def models(self) -> list[tuple[str, Tally]]:
        """Per-model tallies, most expensive (then most used) first."""
        return sorted(self.by_model.items(), key=lambda kv: (-kv[1].cost_usd, -kv[1].calls, kv[0]))

    def steps(self) -> list[tuple[str, Tally]]:
        """Per-step tallies, most expensive (then most used) first."""
        return sorted(self.by_step.items(), key=lambda kv: (-kv[1].cost_usd, -kv[1].calls, kv[0]))


def ledger_of(calls: Iterable[dict[str, Any]]) -> Ledger:
    """A ledger over the given call rows."""
    ledger = Ledger()
    for call in calls:
        ledger.upsert(call)
    return ledger


def cost_series(
    calls: Iterable[dict[str, Any]],
    buckets: int,
    start: float | None = None,
    end: float | None = None,
) -> list[float]:
    """Spend per time bucket, each call's cost counted when it finished."""
    points: list[tuple[float, float]] = []
    for call in calls:
        cost = call.get("cost_usd")
        started = call.get("started_at")
        if cost is None or started is None:
            continue
        finished = float(started) + float(call.get("total_ms") or 0) / 1000.0
        points.append((finished, float(cost)))
    if buckets <= 0:
        return []
    if not points:
        return [0.0] * buckets
    lo = start if start is not None else min(t for t, _ in points)
    hi = end if end is not None else max(t for t, _ in points)
    series = [0.0] * buckets
    span = max(hi - lo, 1e-9)
    for t, cost in points:
        index = int((t - lo) / span * buckets)
        series[min(max(index, 0), buckets - 1)] += cost
    return series
