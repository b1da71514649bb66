"""Counterfactual cost: the recorded history re-decided under another profile. An estimate.

`agentwrap report --compare PROFILE` takes every call a report covers, re-decides it under
PROFILE with the real `decide` (agentwrap.route.replay: the stored features, each session's
calls in order, so the sticky main loop and budgets act as they would have), and re-prices
it from its recorded token counts with PROFILE's price book. Beside it: the cost as run and
the baseline, per step kind and per pair of models (as run → under PROFILE).

**The assumption.** Each call is priced with exactly the token counts it was recorded with
(`ASSUMPTION`): another model's tokenizer and answer lengths differ, so the figure is an
estimate, and so is the prompt cache (a call re-decided onto another model keeps its recorded
cache reads and writes).

**Quality off the record.** Whether another model's steps would have failed is not in the
history; what is, is how the steps went on the model that ran. Among the labelled steps
(succeeded or failed) whose recorded model is the one PROFILE picks, each step is weighted
by the inverse of the probability its model was chosen with (`calls.propensity`, stored by
learned routing; 1 for a fixed choice): a self-normalised inverse propensity estimate of
PROFILE's failure rate. It is unbiased only where the recorded policy explored (gave the other
candidates a chance); `OffPolicy.randomised` says how many such steps it rests on, and the
steps where PROFILE picks a model the history never ran there add nothing (`unsupported`).
Learned routing in PROFILE decides on the evidence the store holds now, without exploring:
each step gets its settled choice. The figures under PROFILE leave its exploration out (an
explored step would cost what its candidate costs), and say so with the rates that apply;
replaying one seeded draw of it would give one sample of a random cost, not its expectation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from agentwrap.route.learn import Evidence
from agentwrap.route.profile import Profile
from agentwrap.route.replay import RecordedCall, Redecision, replay_session
from agentwrap.trace.queries import Source
from agentwrap.trace.report import CALL_FIELDS, ReportFilter, select_calls
from agentwrap.trace.tally import OK, Tally, model_key, step_key

ASSUMPTION = (
    "each call priced with its recorded token counts (input, output, cache writes and reads) "
    "on the model PROFILE picks: another model's counts differ (tokenizer, answer length), "
    "so this assumes a 0 % difference"
)
COMPARE_FIELDS = (*CALL_FIELDS, "surface", "endpoint", "evidence", "features", "propensity")
SUCCEEDED, FAILED = "succeeded", "failed"


@dataclass
class CompareSums:
    """Sums over some calls: as run (the recorded `Tally`) and under the other profile."""

    as_run: Tally = field(default_factory=Tally)
    moved: int = 0  # calls the profile sends to another model than the one that ran
    under_usd: float = 0.0
    under_priced: int = 0
    under_unpriced: int = 0
    stopped: int = 0  # calls the profile's budget would have refused (priced at $0)
    # Over the calls priced both ways: what the change is computed on.
    both_calls: int = 0
    both_as_run_usd: float = 0.0
    both_under_usd: float = 0.0

    def add(self, call: dict[str, Any], redecision: Redecision) -> None:
        self.as_run.add(Tally.of_call(call))
        if redecision.model != model_key(call):
            self.moved += 1
        if redecision.decision.stop:
            self.stopped += 1
        under = redecision.cost.usd
        if under is None:
            self.under_unpriced += 1
            return
        self.under_usd += under
        self.under_priced += 1
        if call.get("cost_usd") is not None:
            self.both_calls += 1
            self.both_as_run_usd += float(call["cost_usd"])
            self.both_under_usd += under

    @property
    def change_usd(self) -> float | None:
        """Under the profile minus as run, over the calls priced both ways."""
        return self.both_under_usd - self.both_as_run_usd if self.both_calls else None

    @property
    def change_pct(self) -> float | None:
        change = self.change_usd
        if change is None or self.both_as_run_usd <= 0:
            return None
        return 100.0 * change / self.both_as_run_usd


@dataclass
class OffPolicy:
    """PROFILE's failure rate estimated from how the recorded steps went (see the module)."""

    labelled: int = 0  # steps labelled succeeded or failed
    failed: int = 0
    matched: int = 0  # labelled steps whose recorded model is the one PROFILE picks
    randomised: int = 0  # of those, drawn with a probability below 1 (the policy could explore)
    weight: float = 0.0  # the sum of 1 / propensity over the matched steps
    weighted_failures: float = 0.0

    def add(self, call: dict[str, Any], redecision: Redecision) -> None:
        outcome = call.get("outcome")
        if outcome not in (SUCCEEDED, FAILED) or call.get("status") != OK:
            return
        self.labelled += 1
        self.failed += outcome == FAILED
        if redecision.model != model_key(call):
            return
        propensity = call.get("propensity")
        p = float(propensity) if propensity else 1.0
        self.matched += 1
        self.randomised += p < 1.0
        self.weight += 1.0 / p
        self.weighted_failures += (outcome == FAILED) / p

    @property
    def as_run_rate(self) -> float | None:
        return self.failed / self.labelled if self.labelled else None

    @property
    def estimate(self) -> float | None:
        """The self-normalised inverse propensity estimate of PROFILE's failure rate."""
        return self.weighted_failures / self.weight if self.weight else None

    @property
    def unsupported(self) -> int:
        """Labelled steps PROFILE would have sent to a model the history did not run them on."""
        return self.labelled - self.matched


@dataclass
class CompareRow:
    """One row: a step kind, or a pair of models (as run → under the profile)."""

    key: str
    sums: CompareSums = field(default_factory=CompareSums)
    quality: OffPolicy = field(default_factory=OffPolicy)
    step: str | None = None
    model_as_run: str | None = None
    model_under: str | None = None


@dataclass
class CompareReport:
    """`report --compare PROFILE`: rows per step kind and per pair of models, and totals."""

    profile: str
    by_step: list[CompareRow]
    by_model: list[CompareRow]
    total: CompareRow
    incomplete: int  # calls re-decided without recorded features
    observed: int  # calls of sessions run with --observe
    learned: bool  # the profile uses learned routing
    demo_sessions_left_out: int = 0
    # Its learned entries that explore, and how often (left out of the replay: see the module).
    exploring: dict[str, float] = field(default_factory=dict)
    filter: ReportFilter = field(default_factory=ReportFilter)


def _decoded(call: dict[str, Any]) -> dict[str, Any]:
    raw = call.get("features")
    if isinstance(raw, str):
        with suppress(ValueError):
            call["features"] = json.loads(raw)
    return call


def build_compare(
    source: Source,
    profile: Profile,
    filt: ReportFilter | None = None,
    evidence: Evidence | None = None,
) -> CompareReport:
    """Re-decide and re-price the calls a report covers under `profile` (see the module)."""
    filt = filt or ReportFilter()
    calls, sessions, demo_left = select_calls(source, filt, COMPARE_FIELDS)
    # An estimate needs no keys: every provider of the profile counts as available.
    profile = replace(profile, unavailable={})
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        by_session[call["session_id"]].append(_decoded(call))
    steps: dict[str, CompareRow] = {}
    models: dict[tuple[str, str], CompareRow] = {}
    total = CompareRow("total")
    incomplete = observed = 0
    for sid, session_calls in by_session.items():
        session = sessions.get(sid) or {}
        session_calls.sort(key=lambda c: (c.get("seq") or 0, c.get("started_at") or 0.0))
        recorded = [RecordedCall.of_row(c) for c in session_calls]
        replayed = replay_session(profile, recorded, session.get("agent"), evidence)
        for call, redecision in zip(session_calls, replayed, strict=True):
            incomplete += not redecision.complete
            observed += session.get("mode") == "observe"
            kind = step_key(call)
            ran, under = model_key(call), redecision.model or "?"
            rows = (
                steps.setdefault(kind, CompareRow(kind, step=kind)),
                models.setdefault(
                    (ran, under),
                    CompareRow(f"{ran} → {under}", model_as_run=ran, model_under=under),
                ),
                total,
            )
            for row in rows:
                row.sums.add(call, redecision)
                row.quality.add(call, redecision)
    return CompareReport(
        profile=profile.name,
        by_step=_ordered(steps.values()),
        by_model=_ordered(models.values()),
        total=total,
        incomplete=incomplete,
        observed=observed,
        learned=profile.learns(),
        demo_sessions_left_out=demo_left,
        filter=filt,
        exploring=exploring(profile),
    )


def exploring(profile: Profile) -> dict[str, float]:
    """The profile's learned-routing entries that explore ("routing.implement" → 0.05): the
    replay leaves their exploration out (plan never explores, whatever they say)."""
    out = {f"routing.{kind}": p.explore for kind, p in profile.auto.items() if kind != "plan"}
    for rule in profile.rules:
        if rule.auto is not None and set(rule.step) != {"plan"}:
            out[f"rule '{rule.name}'"] = rule.auto.explore
    return {where: rate for where, rate in out.items() if rate > 0}


def _ordered(rows: Iterable[CompareRow]) -> list[CompareRow]:
    """Most expensive as run first (then most calls), as the cost report orders models."""
    return sorted(rows, key=lambda r: (-r.sums.as_run.cost_usd, -r.sums.as_run.calls, r.key))


def _round(value: float | None, places: int = 6) -> float | None:
    return None if value is None else round(value, places)


def row_json(row: CompareRow) -> dict[str, Any]:
    """One row as plain data; unknown money is null, never 0."""
    s, q, t = row.sums, row.quality, row.sums.as_run
    out: dict[str, Any] = {"key": row.key}
    if row.step is not None:
        out["step"] = row.step
    if row.model_as_run is not None:
        out["model_as_run"] = row.model_as_run
        out["model_under_profile"] = row.model_under
    out.update(
        calls=t.calls,
        moved=s.moved,
        stopped=s.stopped,
        cost_as_run_usd=round(t.cost_usd, 6) if t.priced_calls else None,
        unpriced_as_run=t.unpriced_calls,
        cost_under_profile_usd=round(s.under_usd, 6) if s.under_priced else None,
        unpriced_under_profile=s.under_unpriced,
        baseline_usd=round(t.baseline_usd, 6) if t.baseline_calls else None,
        compared_calls=s.both_calls,
        compared_as_run_usd=round(s.both_as_run_usd, 6),
        compared_under_profile_usd=round(s.both_under_usd, 6),
        change_usd=_round(s.change_usd),
        change_pct=_round(s.change_pct, 2),
        failures={
            "labelled": q.labelled,
            "failed": q.failed,
            "as_run_rate": _round(q.as_run_rate),
            "matched": q.matched,
            "randomised": q.randomised,
            "unsupported": q.unsupported,
            "estimate_under_profile": _round(q.estimate),
        },
    )
    return out


def compare_json(report: CompareReport) -> dict[str, Any]:
    """`report --compare PROFILE --json`."""
    filt = report.filter
    return {
        "report": "compare",
        "estimate": True,
        "assumption": ASSUMPTION,
        "profile": report.profile,
        "learned_routing": report.learned,
        # Replayed on its settled choices: the exploration these entries do is left out.
        "learned_routing_explore_left_out": report.exploring,
        "inverse_propensity_weighted": report.total.quality.randomised > 0,
        **filt.as_json(),
        "demo_sessions_left_out": report.demo_sessions_left_out,
        "calls_without_features": report.incomplete,
        "observe_mode_calls": report.observed,
        "by_step": [row_json(r) for r in report.by_step],
        "by_model": [row_json(r) for r in report.by_model],
        "totals": row_json(report.total),
    }
