"""Report grouping over a store written through the real Recorder: every grouping's numbers,
the filters, local dates and the JSON shape, checked against sums made here from the seed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from agentwrap import paths
from agentwrap.trace.recorder import ROUTED, Recorder
from agentwrap.trace.report import ReportFilter, build_report, report_json
from agentwrap.trace.store import TraceStore
from tests.support.trace_seed import (
    T0,
    SeedCall,
    finish_call,
    first_byte,
    start_call,
    start_session,
)

# A fixed zone three hours behind UTC, no DST, no tz database needed: local days differ from
# UTC days for calls made late in the UTC evening.
TZ = "XYZ+3"


@pytest.fixture(autouse=True)
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", TZ)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(day: str, hour: int, minute: int = 0) -> float:
    """Epoch seconds of a local wall-clock time."""
    y, m, d = (int(p) for p in day.split("-"))
    return time.mktime((y, m, d, hour, minute, 0, 0, 0, -1))


@dataclass
class SeededSession:
    id: str
    agent: str
    cwd: str
    repo_root: str | None
    calls: list[tuple[SeedCall, float | None]]  # (call, would_cost_usd)
    is_demo: bool = False
    mode: str = "route"


OPUS = "claude-opus-4-1-20250805"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5"
KIMI = "kimi-k2-local"
GPT = "gpt-5-codex"


def call(
    cid: str,
    when: float,
    step: str | None,
    used: str,
    tokens: tuple[int, int, int, int],
    cost: float | None,
    baseline: float | None,
    requested: str = OPUS,
    **extra: Any,
) -> SeedCall:
    i, o, w, r = tokens
    return SeedCall(
        cid,
        step,
        requested,
        used,
        i,
        o,
        w,
        r,
        cost=cost,
        baseline=baseline,
        offset=when - T0,
        **extra,
    )


def sessions() -> list[SeededSession]:
    """Calls over two weeks and two months, five models, four step kinds, an unpriced model,
    a demo session and an observe-mode session."""
    return [
        SeededSession(
            "20251117-090000-aaaaaa",
            "claude",
            "/proj/alpha",
            "/proj/alpha",
            [
                (
                    call(
                        "a1",
                        at("2025-11-17", 9),
                        "plan",
                        OPUS,
                        (12_000, 1_500, 8_000, 0),
                        0.4125,
                        0.4125,
                    ),
                    None,
                ),
                (
                    call(
                        "a2",
                        at("2025-11-17", 9, 5),
                        "explore",
                        HAIKU,
                        (20_000, 800, 0, 15_000),
                        0.0255,
                        0.3825,
                    ),
                    None,
                ),
                # 22:30 local is 01:30 UTC the next day: counted on the local day.
                (
                    call(
                        "a3",
                        at("2025-11-17", 22, 30),
                        "implement",
                        SONNET,
                        (30_000, 2_000, 0, 20_000),
                        0.126,
                        0.63,
                    ),
                    None,
                ),
                (
                    call(
                        "a4",
                        at("2025-11-18", 10),
                        "implement",
                        KIMI,
                        (25_000, 1_200, 0, 0),
                        None,
                        0.465,
                        unpriced_reason="no price for model 'kimi-k2-local'",
                    ),
                    None,
                ),
                (
                    call(
                        "a5",
                        at("2025-11-18", 10, 2),
                        "implement",
                        SONNET,
                        (31_000, 0, 0, 0),
                        None,
                        None,
                        status="error",
                        http_status=500,
                        error="upstream 500",
                    ),
                    None,
                ),
            ],
        ),
        SeededSession(
            "20251125-080000-bbbbbb",
            "codex",
            "/proj/beta/sub",
            "/proj/beta",
            [
                # Ran on another model with no baseline known: priced, left out of savings.
                (
                    call(
                        "b1",
                        at("2025-11-25", 8),
                        "implement",
                        GPT,
                        (9_000, 700, 0, 4_000),
                        0.05,
                        None,
                        requested="gpt-5",
                    ),
                    None,
                ),
                (
                    call(
                        "b2", at("2025-11-25", 8, 10), None, HAIKU, (1_000, 90, 0, 0), 0.0013, 0.02
                    ),
                    None,
                ),
                # A day whose only call is unpriced.
                (
                    call(
                        "b3",
                        at("2025-11-26", 11),
                        "explore",
                        KIMI,
                        (3_000, 300, 0, 0),
                        None,
                        0.06,
                        unpriced_reason="no price for model 'kimi-k2-local'",
                    ),
                    None,
                ),
            ],
        ),
        SeededSession(
            "20251202-100000-cccccc",
            "claude",
            "/proj/alpha",
            "/proj/alpha",
            [
                (
                    call(
                        "c1",
                        at("2025-12-02", 10),
                        "implement",
                        OPUS,
                        (40_000, 3_000, 0, 10_000),
                        0.8,
                        0.8,
                    ),
                    0.2,
                ),
                (
                    call(
                        "c2",
                        at("2025-12-02", 10, 3),
                        "explore",
                        OPUS,
                        (15_000, 500, 0, 0),
                        0.26,
                        0.26,
                    ),
                    0.02,
                ),
            ],
            mode="observe",
        ),
        SeededSession(
            "20251118-120000-dddddd",
            "claude",
            "/proj/alpha",
            "/proj/alpha",
            [
                (
                    call("d1", at("2025-11-18", 12), "plan", OPUS, (50_000, 5_000, 0, 0), 9.0, 9.0),
                    None,
                ),
                (
                    call(
                        "d2",
                        at("2025-11-18", 12, 1),
                        "explore",
                        HAIKU,
                        (5_000, 100, 0, 0),
                        0.01,
                        0.5,
                    ),
                    None,
                ),
            ],
            is_demo=True,
        ),
    ]


def seed(chosen: list[SeededSession] | None = None) -> TraceStore:
    """Write the sessions through a real Recorder into this test's AGENTWRAP_HOME."""
    store = TraceStore(paths.trace_db())
    for s in chosen if chosen is not None else sessions():
        first = min(c.offset for c, _ in s.calls) + T0
        start_session(store, s.id, is_demo=s.is_demo, agent=s.agent, started_at=first)
        store.update_session(s.id, cwd=s.cwd, repo_root=s.repo_root, mode=s.mode)
        rec = Recorder(store, s.id)
        for seq, (c, would) in enumerate(s.calls, start=1):
            c = replace(c, id=f"{s.id}/{c.id}")
            start_call(rec, c, seq)
            if would is not None:
                rec.call_event(ROUTED, c.id, would_model=HAIKU, would_cost_usd=would)
            first_byte(rec, c)
            finish_call(rec, c)
        rec.close()
        store.update_session(s.id, ended_at=first + 600, exit_code=0)
    return store


# -- expected numbers, summed here from the seed ---------------------------------------------


def baseline_of(c: SeedCall) -> float | None:
    # A call that ran on its baseline model (the requested one) cost exactly the baseline.
    if c.baseline is not None:
        return c.baseline
    return c.cost if c.cost is not None and c.used == c.requested else None


def expected(calls: list[tuple[SeedCall, float | None]]) -> dict[str, Any]:
    cs = [c for c, _ in calls]
    compared = [c for c in cs if c.cost is not None and baseline_of(c) is not None]
    out: dict[str, Any] = {
        "calls": len(cs),
        "input_tokens": sum(c.input_tokens for c in cs),
        "output_tokens": sum(c.output_tokens for c in cs),
        "cache_write_tokens": sum(c.cache_write for c in cs),
        "cache_read_tokens": sum(c.cache_read for c in cs),
        "priced_calls": sum(c.cost is not None for c in cs),
        "unpriced_calls": sum(c.cost is None and c.unpriced_reason is not None for c in cs),
        "cost_usd": sum(c.cost for c in cs if c.cost is not None),
        "baseline_usd": sum(b for c in cs if (b := baseline_of(c)) is not None),
        "compared_calls": len(compared),
        "saved_usd": sum(baseline_of(c) - c.cost for c in compared) if compared else None,  # type: ignore[operator]
        "would_calls": sum(w is not None for _, w in calls),
        "would_cost_usd": sum(w for _, w in calls if w is not None),
    }
    base = sum(baseline_of(c) for c in compared)  # type: ignore[misc]
    out["saved_pct"] = 100 * out["saved_usd"] / base if compared and base else None
    return out


def assert_tally(t: Any, exp: dict[str, Any]) -> None:
    for name in (
        "calls",
        "input_tokens",
        "output_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "priced_calls",
        "unpriced_calls",
        "compared_calls",
        "would_calls",
    ):
        assert getattr(t, name) == exp[name], name
    for name in ("cost_usd", "baseline_usd", "would_cost_usd"):
        assert getattr(t, name) == pytest.approx(exp[name]), name
    if exp["saved_usd"] is None:
        assert t.saved_usd is None
    else:
        assert t.saved_usd == pytest.approx(exp["saved_usd"])
        assert t.saved_pct == pytest.approx(exp["saved_pct"])


def visible(include_demo: bool = False) -> list[SeededSession]:
    return [s for s in sessions() if include_demo or not s.is_demo]


def all_calls(include_demo: bool = False) -> list[tuple[SeedCall, float | None]]:
    return [pair for s in visible(include_demo) for pair in s.calls]


def local_date(c: SeedCall) -> dt.date:
    lt = time.localtime(T0 + c.offset)
    return dt.date(lt.tm_year, lt.tm_mon, lt.tm_mday)


def groups(key_of: Any, include_demo: bool = False) -> dict[str, list[tuple[SeedCall, Any]]]:
    out: dict[str, list[tuple[SeedCall, Any]]] = {}
    for s in visible(include_demo):
        for pair in s.calls:
            out.setdefault(key_of(s, pair[0]), []).append(pair)
    return out


KEYS = {
    "daily": lambda s, c: local_date(c).isoformat(),
    "weekly": lambda s, c: (local_date(c) - dt.timedelta(days=local_date(c).weekday())).isoformat(),
    "monthly": lambda s, c: local_date(c).isoformat()[:7],
    "session": lambda s, c: s.id,
    "model": lambda s, c: c.used,
    "step": lambda s, c: c.step or "unknown",
}


@pytest.mark.parametrize("grouping", list(KEYS))
def test_every_grouping_adds_up_to_the_seeded_calls(grouping: str) -> None:
    store = seed()
    report = build_report(store, grouping)
    want = groups(KEYS[grouping])
    assert sorted(r.key for r in report.rows) == sorted(want)
    for row in report.rows:
        assert_tally(row.tally, expected(want[row.key]))
    assert_tally(report.total, expected(all_calls()))
    assert report.demo_sessions_left_out == 1
    if grouping in ("daily", "weekly", "monthly", "session"):
        # Time-ordered groupings list the oldest first.
        firsts = [min(T0 + c.offset for c, _ in want[r.key]) for r in report.rows]
        assert firsts == sorted(firsts)
    else:
        costs = [r.tally.cost_usd for r in report.rows]
        assert costs == sorted(costs, reverse=True)


def test_days_are_local_not_utc() -> None:
    store = seed()
    days = [r.key for r in build_report(store, "daily").rows]
    # a3 is on 2025-11-18 in UTC but 2025-11-17 locally; no call falls on 11-18 before 10:00.
    late = next(c for c, _ in sessions()[0].calls if c.id == "a3")
    assert time.gmtime(T0 + late.offset).tm_mday == 18
    assert days == ["2025-11-17", "2025-11-18", "2025-11-25", "2025-11-26", "2025-12-02"]
    nov17 = build_report(store, "daily").rows[0]
    assert nov17.tally.calls == 3


def test_weeks_start_on_monday_and_months_split() -> None:
    store = seed()
    assert [r.key for r in build_report(store, "weekly").rows] == [
        "2025-11-17",
        "2025-11-24",
        "2025-12-01",
    ]
    assert [r.key for r in build_report(store, "monthly").rows] == ["2025-11", "2025-12"]


def test_demo_sessions_only_with_include_demo() -> None:
    store = seed()
    report = build_report(store, "model", ReportFilter(include_demo=True))
    assert report.demo_sessions_left_out == 0
    assert_tally(report.total, expected(all_calls(include_demo=True)))
    want = groups(KEYS["model"], include_demo=True)
    for row in report.rows:
        assert_tally(row.tally, expected(want[row.key]))


def test_since_and_until_are_whole_local_days() -> None:
    store = seed()
    filt = ReportFilter(since=dt.date(2025, 11, 18), until=dt.date(2025, 11, 25))
    report = build_report(store, "daily", filt)
    inside = [
        pair
        for pair in all_calls()
        if dt.date(2025, 11, 18) <= local_date(pair[0]) <= dt.date(2025, 11, 25)
    ]
    assert [r.key for r in report.rows] == ["2025-11-18", "2025-11-25"]
    assert_tally(report.total, expected(inside))
    only_first = build_report(store, "daily", ReportFilter(until=dt.date(2025, 11, 17)))
    assert [r.key for r in only_first.rows] == ["2025-11-17"]
    # Including the 22:30 call, which is already the 18th in UTC.
    assert only_first.total.calls == 3


def test_agent_and_project_filters() -> None:
    store = seed()
    codex = build_report(store, "session", ReportFilter(agent="codex"))
    assert [r.key for r in codex.rows] == ["20251125-080000-bbbbbb"]
    assert_tally(codex.total, expected(sessions()[1].calls))
    alpha = build_report(store, "session", ReportFilter(project=Path("/proj/alpha")))
    assert [r.key for r in alpha.rows] == ["20251117-090000-aaaaaa", "20251202-100000-cccccc"]
    # A repository root matches sessions started in a folder below it.
    beta = build_report(store, "session", ReportFilter(project=Path("/proj/beta")))
    assert [r.key for r in beta.rows] == ["20251125-080000-bbbbbb"]
    # A sibling with a shared name prefix does not.
    assert not build_report(store, "daily", ReportFilter(project=Path("/proj/al"))).rows


def test_unpriced_states_and_observe_mode() -> None:
    store = seed()
    rows = {r.key: r.tally for r in build_report(store, "daily").rows}
    # 11-26: only an unpriced call; 11-18: an unpriced call and a failed one, nothing priced.
    assert rows["2025-11-26"].priced_calls == 0 and rows["2025-11-26"].unpriced_calls == 1
    assert rows["2025-11-17"].unpriced_calls == 0
    assert rows["2025-11-18"].priced_calls == 0 and rows["2025-11-18"].unpriced_calls == 1
    assert rows["2025-11-18"].failed == 1
    observe = rows["2025-12-02"]
    assert observe.would_calls == 2
    assert observe.would_cost_usd == pytest.approx(0.22)
    assert observe.would_actual_usd == pytest.approx(1.06)


def test_json_shape_numbers_and_nulls() -> None:
    store = seed()
    data = report_json(build_report(store, "daily"))
    assert data["grouping"] == "daily" and data["demo_sessions_left_out"] == 1
    assert isinstance(data["rows"], list) and isinstance(data["totals"], dict)
    want = groups(KEYS["daily"])
    for row in data["rows"]:
        exp = expected(want[row["key"]])
        assert row["calls"] == exp["calls"]
        assert isinstance(row["input_tokens"], int)
        if exp["priced_calls"]:
            assert row["cost_usd"] == pytest.approx(exp["cost_usd"], abs=1e-6)
        else:
            # Unknown money is null, never 0.
            assert row["cost_usd"] is None
        assert row["unpriced_calls"] == exp["unpriced_calls"]
    totals = data["totals"]
    exp = expected(all_calls())
    assert totals["cost_usd"] == pytest.approx(exp["cost_usd"], abs=1e-6)
    assert totals["saved_usd"] == pytest.approx(exp["saved_usd"], abs=1e-6)
    assert totals["would_cost_usd"] == pytest.approx(exp["would_cost_usd"], abs=1e-6)
    assert totals["uncompared_calls"] == exp["calls"] - exp["compared_calls"]
    assert data["unpriced"] == {KIMI: "no price for model 'kimi-k2-local'"}
    sessions_json = report_json(build_report(store, "session"))
    first = sessions_json["rows"][0]
    assert first["agent"] == "claude" and first["mode"] == "route" and first["is_demo"] is False
    assert sessions_json["rows"][-1]["mode"] == "observe"


def test_empty_store_has_no_rows() -> None:
    store = TraceStore(paths.trace_db())
    report = build_report(store, "daily")
    assert report.rows == [] and report.total.calls == 0
    assert report_json(report)["totals"]["cost_usd"] is None
