"""`agentwrap report --compare PROFILE` over stores written through the
Recorder (seeded here, and by a real `agentwrap serve` session): every call re-decided by the
real `decide`, re-priced from its recorded tokens, and the figures checked against arithmetic
done here by hand, in `--json` and in the table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import pytest

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.route.replay import FEATURES_FORMAT
from agentwrap.trace.recorder import FINISHED, FIRST_BYTE, OUTCOME, ROUTED, Recorder
from agentwrap.trace.store import TraceStore
from tests.proxy.conftest import running_serve, wait_calls
from tests.support.cli import Ran, agentwrap
from tests.support.trace_seed import T0

OPUS = "claude-opus-4-6"
SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5"
# USD per million input / output tokens, stated in the profiles so the figures below do not
# move with the bundled price table (cache tokens are priced as input when not stated).
PRICES = {OPUS: (5.0, 25.0), SONNET: (3.0, 15.0), HAIKU: (1.0, 5.0)}

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"

[models.big]
provider = "anthropic"
model = "claude-opus-4-6"
price = {{ input = 5, output = 25 }}

[models.mid]
provider = "anthropic"
model = "claude-sonnet-4-6"
price = {{ input = 3, output = 15 }}

[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"
price = {{ input = 1, output = 5 }}

[routing]
plan = "big"
implement = "{implement}"
explore = "small"
background = "small"
default = "requested"

[[rules]]
name = "long-prompts"
step = "implement"
tokens_above = 100000
use = "big"
"""


def profile_file(tmp_path: Path, implement: str, url: str = "http://127.0.0.1:9") -> str:
    path = tmp_path / f"{implement}.toml"
    path.write_text(PROFILE.format(url=url, implement=implement))
    return str(path)


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    p_in, p_out = PRICES[model]
    return (tokens_in * p_in + tokens_out * p_out) / 1e6


@dataclass
class Recorded:
    id: str
    step: str
    used: str
    tokens: tuple[int, int]
    features: dict[str, Any]  # empty: a row written before features were stored
    propensity: float | None = None
    outcome: str | None = None


def features(tokens: int, main_loop: bool, **extra: Any) -> dict[str, Any]:
    # The shape the proxy's ledger stores (agentwrap.route.replay.stored_features).
    return {
        "format": FEATURES_FORMAT,
        "tokens": tokens,
        "images": False,
        "thinking": False,
        "tools": True,
        "server_tools": [],
        "last_failed": None,
        "subagent_type": extra.get("subagent_type"),
        "main_loop": main_loop,
        "matched": True,
        "agent": "claude",
    }


def seed(session_id: str, calls: list[Recorded], demo: bool = False) -> None:
    """One session, every call written through the real Recorder as the proxy writes it."""
    store = TraceStore(paths.trace_db())
    store.insert_session(
        id=session_id,
        agent="claude",
        argv=["claude"],
        cwd="/p",
        started_at=T0,
        mode="route",
        is_demo=int(demo),
    )
    rec = Recorder(store, session_id)
    for seq, c in enumerate(calls, start=1):
        call_id = f"{session_id}/{c.id}"
        tokens_in, tokens_out = c.tokens
        rec.call_started(
            call_id,
            seq=seq,
            started_at=T0 + seq,
            surface="anthropic",
            endpoint="messages",
            requested_model=OPUS,
            streamed=True,
            step=c.step,
            evidence="seeded",
            baseline_model=OPUS,
            features=c.features,
            propensity=c.propensity,
        )
        rec.call_event(ROUTED, call_id, model=c.used, provider="anthropic")
        rec.call_event(FIRST_BYTE, call_id, ttfb_ms=100.0)
        rec.call_event(
            FINISHED,
            call_id,
            status="ok",
            http_status=200,
            model=c.used,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=price(c.used, tokens_in, tokens_out),
            baseline_model=OPUS,
            baseline_cost_usd=price(OPUS, tokens_in, tokens_out),
            total_ms=1000.0,
        )
        if c.outcome is not None:
            rec.call_event(OUTCOME, call_id, outcome=c.outcome)
    rec.close()
    store.update_session(session_id, ended_at=T0 + 100, exit_code=0)
    store.close()


def run(*args: str, columns: int = 80) -> Ran:
    return agentwrap("report", *args, COLUMNS=str(columns), NO_COLOR="1", FORCE_COLOR=None)


def by_key(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    found = [r for r in rows if r["key"] == key]
    assert len(found) == 1, (key, [r["key"] for r in rows])
    return found[0]


# A session that ran every call on the requested model (opus), as a passthrough profile does.
PASSTHROUGH_SESSION = [
    Recorded("c1", "plan", OPUS, (20_000, 1_000), features(30_000, True)),
    # plan → implement: a phase change, so the main loop may switch to mid.
    Recorded("c2", "implement", OPUS, (30_000, 2_000), features(40_000, True)),
    # The rule long-prompts sends it to big (a forced move).
    Recorded("c3", "implement", OPUS, (100_000, 500), features(150_000, True)),
    # routing.implement says mid, but the main loop is on big since c3, one call ago: its
    # prompt cache is kept (main_loop.sticky), so it stays on big.
    Recorded("c4", "implement", OPUS, (40_000, 1_000), features(50_000, True)),
    Recorded("c5", "explore", OPUS, (8_000, 500), features(10_000, False, subagent_type="Explore")),
    Recorded("c6", "background", OPUS, (300, 20), features(400, False)),
    # Recorded before features were stored: re-decided from its step kind, requested model
    # and recorded prompt tokens, outside the main loop: routing.implement → mid.
    Recorded("c7", "implement", OPUS, (5_000, 100), {}),
]


def test_compare_re_decides_and_re_prices_every_call(tmp_path: Path) -> None:
    seed("cmp-1", PASSTHROUGH_SESSION)
    out = run("--compare", profile_file(tmp_path, "mid"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["estimate"] is True and "0 % difference" in data["assumption"]
    assert data["calls_without_features"] == 1
    assert data["inverse_propensity_weighted"] is False

    as_run = {c.id: price(OPUS, *c.tokens) for c in PASSTHROUGH_SESSION}
    # By hand: c1 0.125, c2 0.2, c3 0.5125, c4 0.225, c5 0.0525, c6 0.002, c7 0.0275.
    assert as_run == pytest.approx(
        {
            "c1": 0.125,
            "c2": 0.2,
            "c3": 0.5125,
            "c4": 0.225,
            "c5": 0.0525,
            "c6": 0.002,
            "c7": 0.0275,
        }
    )
    under = {
        "c1": price(OPUS, 20_000, 1_000),  # plan → big: 0.125
        "c2": price(SONNET, 30_000, 2_000),  # 0.09 + 0.03 = 0.12
        "c3": price(OPUS, 100_000, 500),  # the rule: 0.5125
        "c4": price(OPUS, 40_000, 1_000),  # kept on big: 0.225
        "c5": price(HAIKU, 8_000, 500),  # 0.008 + 0.0025 = 0.0105
        "c6": price(HAIKU, 300, 20),  # 0.0003 + 0.0001 = 0.0004
        "c7": price(SONNET, 5_000, 100),  # 0.015 + 0.0015 = 0.0165
    }
    assert under["c2"] == pytest.approx(0.12) and under["c7"] == pytest.approx(0.0165)

    implement = by_key(data["by_step"], "implement")
    assert implement["calls"] == 4 and implement["moved"] == 2  # c2 and c7
    assert implement["cost_as_run_usd"] == pytest.approx(0.2 + 0.5125 + 0.225 + 0.0275)
    assert implement["cost_under_profile_usd"] == pytest.approx(0.12 + 0.5125 + 0.225 + 0.0165)
    assert implement["baseline_usd"] == pytest.approx(0.965)
    plan = by_key(data["by_step"], "plan")
    assert (plan["moved"], plan["cost_under_profile_usd"]) == (0, pytest.approx(0.125))
    explore = by_key(data["by_step"], "explore")
    assert explore["cost_under_profile_usd"] == pytest.approx(0.0105)
    background = by_key(data["by_step"], "background")
    assert background["cost_under_profile_usd"] == pytest.approx(0.0004)

    kept = by_key(data["by_model"], f"{OPUS} → {OPUS}")
    assert kept["calls"] == 3 and kept["moved"] == 0  # c1, c3, c4
    to_mid = by_key(data["by_model"], f"{OPUS} → {SONNET}")
    assert to_mid["calls"] == 2
    assert to_mid["cost_under_profile_usd"] == pytest.approx(0.12 + 0.0165)
    to_small = by_key(data["by_model"], f"{OPUS} → {HAIKU}")
    assert to_small["cost_as_run_usd"] == pytest.approx(0.0525 + 0.002)

    totals = data["totals"]
    total_as_run = 0.125 + 0.2 + 0.5125 + 0.225 + 0.0525 + 0.002 + 0.0275  # 1.1445
    total_under = 0.125 + 0.12 + 0.5125 + 0.225 + 0.0105 + 0.0004 + 0.0165  # 1.0099
    assert totals["cost_as_run_usd"] == pytest.approx(total_as_run)
    assert totals["cost_under_profile_usd"] == pytest.approx(total_under)
    assert totals["change_usd"] == pytest.approx(total_under - total_as_run)  # -0.1346
    assert totals["change_pct"] == pytest.approx(
        100 * (total_under - total_as_run) / total_as_run, abs=0.01
    )

    table = run("--compare", profile_file(tmp_path, "mid"))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    assert "an estimate" in lines[0]
    assert "assumes a 0 % difference" in " ".join(table.stdout.split())
    total_line = next(line for line in lines if line.startswith("total"))
    # calls, moved, as run, under the profile, change, baseline
    assert total_line.split() == ["total", "7", "4", "$1.14", "$1.01", "-$0.13", "(-12%)", "$1.14"]
    impl = next(line for line in lines if line.startswith("implement"))
    assert impl.split()[1:5] == ["4", "2", "$0.96", "$0.87"]
    assert "1 call was recorded before features were stored" in table.stdout


def test_the_headline_names_the_filter_and_no_calls_names_the_demo_sessions_left_out(
    tmp_path: Path,
) -> None:
    seed("cmp-demo", PASSTHROUGH_SESSION, demo=True)
    profile = profile_file(tmp_path, "mid")
    # As `report` says it: nothing recorded outside the demo, and how to see the demo.
    empty = run("--compare", profile)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.splitlines() == [
        "No calls recorded yet. Start a session with: agentwrap claude (or try: agentwrap demo)",
        "1 demo session left out; add --demo to include",
    ]
    # T0 is 2025-11-25: the dates, the agent and the demo named as `report`'s headline does.
    shown = run(
        "--compare", profile, "--demo", "--agent", "claude", "--since", "2025-11-20", columns=200
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == (
        "agentwrap report · compare with profile mid.toml · 2025-11-20 → … · agent claude"
        " · demo sessions included · an estimate"
    )
    assert "demo session left out" not in shown.stdout


# A learned-routing history: implement steps on haiku or opus, each with the probability it
# was chosen with, and how it went.
LEARNED_SESSION = [
    Recorded("d1", "implement", HAIKU, (10_000, 100), features(12_000, False), 0.2, "failed"),
    Recorded("d2", "implement", OPUS, (10_000, 100), features(12_000, False), 0.8, "succeeded"),
    Recorded("d3", "implement", HAIKU, (10_000, 100), features(12_000, False), 0.5, "succeeded"),
    Recorded("d4", "implement", OPUS, (10_000, 100), features(12_000, False), 0.5, "failed"),
    Recorded("d5", "implement", HAIKU, (10_000, 100), features(12_000, False), 0.5, "succeeded"),
    Recorded("d6", "implement", OPUS, (10_000, 100), features(12_000, False), 1.0, "succeeded"),
]


def test_failure_rates_under_another_profile_are_inverse_propensity_weighted(
    tmp_path: Path,
) -> None:
    seed("cmp-2", LEARNED_SESSION)
    small = json.loads(run("--compare", profile_file(tmp_path, "small"), "--json").stdout)
    assert small["inverse_propensity_weighted"] is True
    failures = small["totals"]["failures"]
    assert (failures["labelled"], failures["failed"]) == (6, 2)
    assert failures["as_run_rate"] == pytest.approx(2 / 6)
    # small keeps d1, d3, d5: weights 1/0.2 = 5, 1/0.5 = 2, 2; failed: d1.
    # (5 × 1 + 2 × 0 + 2 × 0) / (5 + 2 + 2) = 5 / 9, where the plain share would be 1 / 3.
    assert (failures["matched"], failures["randomised"], failures["unsupported"]) == (3, 3, 3)
    assert failures["estimate_under_profile"] == pytest.approx(5 / 9, abs=1e-6)

    big = json.loads(run("--compare", profile_file(tmp_path, "big"), "--json").stdout)
    failures = big["totals"]["failures"]
    # big keeps d2, d4, d6: weights 1.25, 2, 1; failed: d4 → 2 / 4.25.
    assert (failures["matched"], failures["randomised"]) == (3, 2)
    assert failures["estimate_under_profile"] == pytest.approx(2 / 4.25, abs=1e-6)
    # Every step on opus: the haiku ones re-priced at opus's price, the opus ones kept.
    assert big["totals"]["cost_under_profile_usd"] == pytest.approx(6 * price(OPUS, 10_000, 100))
    assert big["totals"]["moved"] == 3

    table = run("--compare", profile_file(tmp_path, "small"))
    text = " ".join(table.stdout.split())
    assert "failures as run: 33.3% of 6 labelled steps" in text
    assert "(estimated): 55.6%, from the 3 labelled steps that ran on the model it picks" in text
    assert "inverse propensity weighted: 3 of them were drawn with a probability below 1" in text
    assert "3 labelled steps go to a model the history did not run them on" in text


LEARNED_PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"

[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"
price = {{ input = 1, output = 5 }}

[models.big]
provider = "anthropic"
model = "claude-opus-4-6"
price = {{ input = 5, output = 25 }}

[routing]
implement = {{ use = "auto", candidates = ["small", "big"], max_failure_rate = 0.1, explore = 0.2 }}
"""


def test_a_learned_profile_is_replayed_on_its_settled_choices_and_says_what_it_leaves_out(
    tmp_path: Path,
) -> None:
    seed("cmp-3", LEARNED_SESSION)
    learned = tmp_path / "learned.toml"
    learned.write_text(LEARNED_PROFILE.format(url="http://127.0.0.1:9"))
    data = json.loads(run("--compare", str(learned), "--json").stdout)
    assert data["learned_routing"] is True
    assert data["learned_routing_explore_left_out"] == {"routing.implement": 0.2}
    # Nothing learned here: every step settles on the last candidate, big, none explored.
    assert data["totals"]["cost_under_profile_usd"] == pytest.approx(6 * price(OPUS, 10_000, 100))
    text = " ".join(run("--compare", str(learned), columns=200).stdout.split())
    assert (
        "learned routing decides on the evidence the store holds now, without exploring: each "
        "step gets its settled choice, and the cost under the profile leaves its exploration "
        "out (routing.implement explores 20% of its steps; an explored step costs what its "
        "candidate costs)"
    ) in text
    # A fixed profile has nothing to leave out.
    fixed = json.loads(run("--compare", profile_file(tmp_path, "small"), "--json").stdout)
    assert fixed["learned_routing_explore_left_out"] == {}


TOOLS = [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}]
BASH = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}


def test_a_served_learned_session_compared_with_a_fixed_profile(
    agentwrap_bin: str, tmp_path: Path
) -> None:
    # What earlier sessions learned: small is credibly within 10%, so it is the choice
    # (probability 0.8) and big is explored (0.2).
    store = TraceStore(paths.trace_db())
    try:
        from agentwrap.route.learn import ArmKey, Tally

        store.merge_evidence([(ArmKey("claude", "implement", HAIKU), Tally(300, 3, labelled=303))])
    finally:
        store.close()
    outcomes = [True, False, True, False, False, None]  # is_error of each step's tool result
    replies: list[Reply | str] = [
        Reply(
            [ToolUse("Bash", {"command": "ls"})],
            input_tokens=9_000 + 1_000 * i,
            output_tokens=50 * (i + 1),
        )
        for i in range(len(outcomes) - 1)
    ]
    replies.append(Reply("done", input_tokens=20_000, output_tokens=10))
    with FakeAnthropic(replies) as fake:
        learned = tmp_path / "learned.toml"
        learned.write_text(LEARNED_PROFILE.format(url=fake.base_url))
        with running_serve(agentwrap_bin, fake.base_url, "--profile", str(learned)) as url:
            client = anthropic.Anthropic(
                base_url=url,
                api_key="k",
                max_retries=0,
                default_headers={"x-claude-code-session-id": "conv-1"},
            )
            history: list[dict[str, Any]] = [{"role": "user", "content": "fix the build"}]
            for i in range(len(outcomes)):
                if i:
                    history += [
                        {"role": "assistant", "content": [BASH]},
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "tool_result",
                                    "tool_use_id": "toolu_1",
                                    "content": "boom" if outcomes[i - 1] else "ok",
                                    "is_error": bool(outcomes[i - 1]),
                                }
                            ],
                        },
                    ]
                client.messages.create(model=OPUS, max_tokens=300, tools=TOOLS, messages=history)
            calls = wait_calls(len(outcomes))
    # The proxy stored what each decision looked at.
    for call in calls:
        assert call["features"]["format"] == FEATURES_FORMAT
        assert call["features"]["main_loop"] is True and call["features"]["tools"] is True
        assert call["features"]["tokens"] > 0
        assert call["propensity"] in (0.8, 0.2, 1.0)
    assert [c["outcome"] for c in calls[:-1]] == [
        "failed" if e else "succeeded" for e in outcomes[:-1]
    ]

    out = run("--compare", profile_file(tmp_path, "big"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    totals = data["totals"]
    # Every call re-priced on opus from its recorded tokens.
    under = sum(price(OPUS, c["input_tokens"], c["output_tokens"]) for c in calls)
    as_run = sum(price(c["model"], c["input_tokens"], c["output_tokens"]) for c in calls)
    assert totals["cost_under_profile_usd"] == pytest.approx(under, abs=1e-6)
    assert totals["cost_as_run_usd"] == pytest.approx(as_run, abs=1e-6)
    assert totals["moved"] == sum(c["model"] != OPUS for c in calls)
    # The failure estimate: the labelled steps that ran on opus, each weighted by 1 / p.
    on_opus = [c for c in calls if c["outcome"] in ("succeeded", "failed") and c["model"] == OPUS]
    failures = totals["failures"]
    assert failures["matched"] == len(on_opus)
    if on_opus:
        weight = sum(1 / c["propensity"] for c in on_opus)
        failed = sum((c["outcome"] == "failed") / c["propensity"] for c in on_opus)
        assert failures["estimate_under_profile"] == pytest.approx(failed / weight, abs=1e-6)
    else:
        assert failures["estimate_under_profile"] is None
    assert data["inverse_propensity_weighted"] is any(c["propensity"] < 1 for c in on_opus)


def test_observed_calls_feed_the_comparison_and_match_the_proxys_own_estimate(
    agentwrap_bin: str, tmp_path: Path
) -> None:
    replies: list[Reply | str] = [
        Reply([ToolUse("Bash", {"command": "ls"})], input_tokens=12_000, output_tokens=300),
        Reply("done", input_tokens=13_000, output_tokens=40),
    ]
    with FakeAnthropic(replies) as fake:
        mid = profile_file(tmp_path, "mid", fake.base_url)
        with running_serve(agentwrap_bin, fake.base_url, "--profile", mid, "--observe") as url:
            client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
            history: list[dict[str, Any]] = [{"role": "user", "content": "fix it"}]
            client.messages.create(model=OPUS, max_tokens=300, tools=TOOLS, messages=history)
            history += [
                {"role": "assistant", "content": [BASH]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
                },
            ]
            client.messages.create(model=OPUS, max_tokens=300, tools=TOOLS, messages=history)
            calls = wait_calls(2)
    # Forwarded unchanged (opus), the profile's choice recorded beside it.
    assert [c["model"] for c in calls] == [OPUS, OPUS]
    assert [c["would_model"] for c in calls] == [SONNET, SONNET]
    assert all(c["features"]["format"] == FEATURES_FORMAT for c in calls)
    data = json.loads(run("--compare", mid, "--json").stdout)
    assert data["observe_mode_calls"] == 2
    totals = data["totals"]
    # By hand: 12,000 × $3 + 300 × $15 = $0.0405; 13,000 × $3 + 40 × $15 = $0.0396.
    assert totals["cost_under_profile_usd"] == pytest.approx(0.0405 + 0.0396)
    # Opus at $5 / $25 as run: $0.0675 and $0.066.
    assert totals["cost_as_run_usd"] == pytest.approx(0.0675 + 0.066)
    # The same figure the proxy recorded as the observed calls' would-cost.
    assert totals["cost_under_profile_usd"] == pytest.approx(
        sum(c["would_cost_usd"] for c in calls)
    )
