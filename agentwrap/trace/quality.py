"""Step quality across sessions: failure rates, human corrections, time and cost per success.

`agentwrap report quality` answers whether routing made the agent worse, not only cheaper.
Per agent × model × step kind: how many steps were answered, how many of them the agent's
next request labelled (succeeded or failed; interrupted and unknown steps say nothing about
the model, as in learned routing), the failure rate among the labelled ones with a 95 %
Wilson score interval, human corrections, the median time to the first byte and to the end
of the answer, and the cost per successful step (every call's cost over the successes, so
failed and retried steps weigh in). Per session: elapsed time, corrections, commits kept or
reverted.

A group with fewer than `MIN_LABELLED` labelled steps is flagged: its interval is too wide
to say anything. A signal the store does not record (an older store, or an agent whose
requests do not carry it) is None, shown as "—" and named in the notes, never counted as 0.

The calls are selected with the same filter as the cost report (agentwrap.trace.report);
money comes from the same `Tally` arithmetic; the table is drawn by agentwrap.cli.reporting.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from agentwrap.route.step import STEP_KINDS
from agentwrap.trace.queries import Source, connection
from agentwrap.trace.report import CALL_FIELDS, ReportFilter, select_calls
from agentwrap.trace.tally import OK, Tally, model_key, step_key

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: a two-sided 95 % interval
MIN_LABELLED = 10  # below this many labelled steps a failure rate says nothing
INTERVAL_METHOD = "Wilson score interval, 95 %"

SUCCEEDED, FAILED, INTERRUPTED = "succeeded", "failed", "interrupted"
# The column of the struggle signals a step's outcome came with (a JSON list of names), and
# the names that are a person correcting the agent; None where this store has no such column.
SIGNALS_COLUMN = "signals"
INTERRUPT_SIGNAL = "interrupt"
CORRECTION_SIGNALS = ("rejected", "corrective")
SIGNAL_NAMES = {
    "interrupts": "user interrupts",
    "rejected": "rejected tool calls",
    "corrective": "corrective messages",
    "commits": "session commits",
}
QUALITY_FIELDS = (*CALL_FIELDS, "ttfb_ms", "endpoint")
# What became of a session's commits, as last checked against its repository.
# (`unknown` also counts the commits not checked yet.)
KEPT, REVERTED, REWRITTEN, UNKNOWN = "kept", "reverted", "rewritten", "unknown"
FATES = (KEPT, REVERTED, REWRITTEN, UNKNOWN)


def wilson(failures: int, labelled: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a failure rate (None with nothing labelled)."""
    if labelled <= 0:
        return None
    p = failures / labelled
    z2n = z * z / labelled
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / labelled + z2n / (4 * labelled)) / (1 + z2n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Corrections:
    """Human corrections of a group of steps; None: this store does not record the signal."""

    interrupts: int = 0
    rejected: int | None = None
    corrective: int | None = None

    @property
    def total(self) -> int:
        """Every recorded correction (the signals not recorded add nothing)."""
        return self.interrupts + (self.rejected or 0) + (self.corrective or 0)

    def add(self, other: Corrections) -> None:
        self.interrupts += other.interrupts
        self.rejected = _plus(self.rejected, other.rejected)
        self.corrective = _plus(self.corrective, other.corrective)

    def as_dict(self) -> dict[str, Any]:
        return {
            "interrupts": self.interrupts,
            "rejected": self.rejected,
            "corrective": self.corrective,
            "total": self.total,
        }


def _plus(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


@dataclass
class QualityRow:
    """The quality of one agent's steps of one kind on one model."""

    agent: str
    model: str
    step: str
    calls: int = 0  # every call, answered or not
    steps: int = 0  # answered calls (the agent got an answer to act on)
    succeeded: int = 0
    failed: int = 0
    interrupted: int = 0
    corrections: Corrections = field(default_factory=Corrections)
    ttfb_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    money: Tally = field(default_factory=Tally)

    @property
    def labelled(self) -> int:
        """Steps whose next request said whether they worked."""
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.labelled if self.labelled else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.failed, self.labelled)

    @property
    def too_few(self) -> bool:
        """Too few labelled steps to say anything about the failure rate."""
        return self.labelled < MIN_LABELLED

    @property
    def ttfb_p50(self) -> float | None:
        return statistics.median(self.ttfb_ms) if self.ttfb_ms else None

    @property
    def total_p50(self) -> float | None:
        return statistics.median(self.total_ms) if self.total_ms else None

    @property
    def cost_per_success(self) -> float | None:
        """Every call's cost over the successful steps; None when there is no success or a
        call has no price (a partial sum per success would read as a real figure)."""
        m = self.money
        if not self.succeeded or not m.priced_calls or m.unpriced_calls:
            return None
        return m.cost_usd / self.succeeded


@dataclass
class SessionQuality:
    """One session's side of quality: how long it ran, its corrections, its commits."""

    session_id: str
    agent: str
    mode: str | None
    started_at: float | None
    elapsed_s: float | None
    steps: int = 0
    succeeded: int = 0
    failed: int = 0
    corrections: Corrections = field(default_factory=Corrections)
    money: Tally = field(default_factory=Tally)
    commits: dict[str, int] | None = None  # by fate (FATES); None: not recorded by this store


@dataclass
class QualityReport:
    """`report quality`: rows per agent × model × step kind, sessions, and the notes."""

    rows: list[QualityRow]
    sessions: list[SessionQuality]
    total: QualityRow
    not_recorded: list[str]
    demo_sessions_left_out: int = 0
    filter: ReportFilter = field(default_factory=ReportFilter)


def _columns(source: Source, table: str) -> set[str]:
    return {r[1] for r in connection(source).execute(f"PRAGMA table_info({table})")}


def _signals(call: dict[str, Any]) -> set[str]:
    raw = call.get(SIGNALS_COLUMN)
    if isinstance(raw, str):
        with suppress(ValueError):
            raw = json.loads(raw)
    return {str(s) for s in raw} if isinstance(raw, list) else set()


def _corrections(call: dict[str, Any], recorded: bool) -> Corrections:
    """One step's corrections: an interrupt, a rejected tool call, a corrective message."""
    if not recorded:
        return Corrections(interrupts=int(call.get("outcome") == INTERRUPTED))
    seen = _signals(call)
    interrupted = call.get("outcome") == INTERRUPTED or INTERRUPT_SIGNAL in seen
    return Corrections(
        interrupts=int(interrupted),
        rejected=int("rejected" in seen),
        corrective=int("corrective" in seen),
    )


def _fold(row: QualityRow | SessionQuality, call: dict[str, Any], fixes: Corrections) -> None:
    outcome = call.get("outcome")
    if call.get("status") == OK and call.get("endpoint") != "count_tokens":
        row.steps += 1
        row.succeeded += outcome == SUCCEEDED
        row.failed += outcome == FAILED
    row.corrections.add(fixes)
    row.money.add(Tally.of_call(call))


def build_quality(
    source: Source,
    filt: ReportFilter | None = None,
    check_commits: Callable[[list[str]], object] | None = None,
) -> QualityReport:
    """Select the calls a report covers and measure their steps' quality.

    `check_commits`, given the sessions' ids, brings the fate of their commits up to date
    before they are counted (agentwrap.repo asks git; this module reads only the store).
    """
    filt = filt or ReportFilter()
    recorded = SIGNALS_COLUMN in _columns(source, "calls")
    fields = (*QUALITY_FIELDS, SIGNALS_COLUMN) if recorded else QUALITY_FIELDS
    calls, sessions, demo_left = select_calls(source, filt, fields)
    if check_commits is not None and "fate" in _columns(source, "session_commits"):
        check_commits(sorted(sessions))
    commits = _commits(source, set(sessions))
    groups: dict[tuple[str, str, str], QualityRow] = {}
    per_session: dict[str, SessionQuality] = {}
    total = QualityRow("all", "all", "all")
    for call in calls:
        session = sessions.get(call["session_id"]) or {}
        agent = str(session.get("agent") or "?")
        key = (agent, model_key(call), step_key(call))
        row = groups.get(key)
        if row is None:
            row = groups[key] = QualityRow(*key)
        fixes = _corrections(call, recorded)
        row.calls += 1
        total.calls += 1
        _fold(row, call, fixes)
        _fold(total, call, fixes)
        if call.get("status") == OK and call.get("endpoint") != "count_tokens":
            for target in (row, total):
                if call.get("ttfb_ms") is not None:
                    target.ttfb_ms.append(float(call["ttfb_ms"]))
                if call.get("total_ms") is not None:
                    target.total_ms.append(float(call["total_ms"]))
        sq = per_session.get(call["session_id"])
        if sq is None:
            sq = per_session[call["session_id"]] = _session_quality(session, call, commits)
        _fold(sq, call, fixes)
    for sq in per_session.values():
        session = sessions.get(sq.session_id) or {}
        sq.elapsed_s = _elapsed(session, sq.money)
    not_recorded = [] if recorded else [SIGNAL_NAMES[k] for k in CORRECTION_SIGNALS]
    if commits is None:
        not_recorded.append(SIGNAL_NAMES["commits"])
    return QualityReport(
        rows=sorted(groups.values(), key=_row_order),
        sessions=sorted(per_session.values(), key=lambda s: (s.started_at or 0.0, s.session_id)),
        total=total,
        not_recorded=not_recorded,
        demo_sessions_left_out=demo_left,
        filter=filt,
    )


def _row_order(row: QualityRow) -> tuple[int, str, int, str]:
    kind = STEP_KINDS.index(row.step) if row.step in STEP_KINDS else len(STEP_KINDS)
    return kind, row.agent, -row.steps, row.model


def _session_quality(
    session: dict[str, Any], call: dict[str, Any], commits: dict[str, dict[str, int]] | None
) -> SessionQuality:
    sid = str(call["session_id"])
    made = None if commits is None else commits.get(sid, dict.fromkeys(FATES, 0))
    started = session.get("started_at")
    return SessionQuality(
        session_id=sid,
        agent=str(session.get("agent") or "?"),
        mode=session.get("mode"),
        started_at=float(started) if started is not None else None,
        elapsed_s=None,
        commits=made,
    )


def _elapsed(session: dict[str, Any], money: Tally) -> float | None:
    """From the session's start to its end, or to its last answer while it has not ended."""
    started = session.get("started_at")
    ended = session.get("ended_at") or money.last_finished
    if started is None or ended is None:
        return None
    return max(0.0, float(ended) - float(started))


def _commits(source: Source, session_ids: Iterable[str]) -> dict[str, dict[str, int]] | None:
    """Per session, its commits counted by fate (kept, reverted, rewritten, unknown: not known
    or not checked yet), or None when this store does not record the commits sessions made."""
    if not _columns(source, "session_commits") >= {"session_id", "fate"}:
        return None
    wanted = set(session_ids)
    out: dict[str, dict[str, int]] = {}
    for sid, fate, n in connection(source).execute(
        "SELECT session_id, fate, COUNT(*) FROM session_commits GROUP BY session_id, fate"
    ):
        if sid in wanted:
            counts = out.setdefault(sid, dict.fromkeys(FATES, 0))
            key = fate if fate in FATES else UNKNOWN
            counts[key] += n
    return out


def _rate(row: QualityRow) -> dict[str, Any]:
    interval = row.interval
    return {
        "failure_rate": None if row.failure_rate is None else round(row.failure_rate, 6),
        "failure_low": None if interval is None else round(interval[0], 6),
        "failure_high": None if interval is None else round(interval[1], 6),
        "too_few": row.too_few,
    }


def _money(tally: Tally) -> dict[str, Any]:
    return {
        "cost_usd": round(tally.cost_usd, 6) if tally.priced_calls else None,
        "unpriced_calls": tally.unpriced_calls,
    }


def row_json(row: QualityRow) -> dict[str, Any]:
    """One quality row as plain data (unknown values null, never 0)."""
    per_success = row.cost_per_success
    return {
        "agent": row.agent,
        "model": row.model,
        "step": row.step,
        "calls": row.calls,
        "steps": row.steps,
        "labelled": row.labelled,
        "succeeded": row.succeeded,
        "failed": row.failed,
        **_rate(row),
        "corrections": row.corrections.as_dict(),
        "ttfb_ms_p50": row.ttfb_p50,
        "total_ms_p50": row.total_p50,
        **_money(row.money),
        "cost_per_success_usd": None if per_success is None else round(per_success, 6),
    }


def quality_json(report: QualityReport) -> dict[str, Any]:
    """`report quality --json`: rows, totals, sessions, and what the figures mean."""
    filt = report.filter
    return {
        "report": "quality",
        "interval": INTERVAL_METHOD,
        "min_labelled": MIN_LABELLED,
        **filt.as_json(),
        "demo_sessions_left_out": report.demo_sessions_left_out,
        "not_recorded": list(report.not_recorded),
        "rows": [row_json(r) for r in report.rows],
        "totals": row_json(report.total),
        "sessions": [
            {
                "session_id": s.session_id,
                "agent": s.agent,
                "mode": s.mode,
                "started_at": s.started_at,
                "elapsed_s": None if s.elapsed_s is None else round(s.elapsed_s, 3),
                "steps": s.steps,
                "succeeded": s.succeeded,
                "failed": s.failed,
                "corrections": s.corrections.as_dict(),
                **_money(s.money),
                "commits": None if s.commits is None else dict(s.commits),
            }
            for s in report.sessions
        ],
    }
