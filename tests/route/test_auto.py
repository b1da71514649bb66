"""`use = "auto"`: the profile's learned routing, its errors, and how decide applies it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from random import Random

import pytest

from agentwrap.route.decide import Decision, SessionState, classify, decide
from agentwrap.route.learn import ArmKey, Evidence, Prior, Tally
from agentwrap.route.profile import Profile, ProfileError, parse_profile_text
from agentwrap.wire.call import Call
from tests.route import claude_wire as cw

AUTO = """\
[models.opus]
provider = "anthropic"
model = "claude-opus-4-8"

[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-4-6"

[models.haiku]
provider = "anthropic"
model = "claude-haiku-4-5"

[auto]
candidates = ["haiku", "sonnet", "opus"]
max_failure_rate = 0.10
explore = 0.05

[routing]
plan = "auto"
implement = "auto"
background = "haiku"

[routing.explore]
use = "auto"
candidates = ["haiku", "opus"]
max_failure_rate = 0.05
explore = 0
prior = { failures = 1, successes = 9 }

[[rules]]
name = "long-prompts"
tokens_above = 150000
use = "auto"
candidates = ["sonnet", "opus"]
max_failure_rate = 0.2
"""


def profile(text: str = AUTO) -> Profile:
    return parse_profile_text(textwrap.dedent(text), "p.toml", env={}, translation=False)


def error_of(text: str) -> str:
    with pytest.raises(ProfileError) as info:
        profile(text)
    return str(info.value)


# ---------------------------------------------------------------- the profile


def test_auto_in_routing_tables_and_rules() -> None:
    p = profile()
    assert p.routing["implement"] == "auto" and p.routing["background"] == "haiku"
    implement = p.auto["implement"]
    assert implement.candidates == ("haiku", "sonnet", "opus")
    assert (implement.max_failure_rate, implement.explore, implement.prior) == (0.1, 0.05, Prior())
    explore = p.auto["explore"]
    assert explore.candidates == ("haiku", "opus")
    assert (explore.max_failure_rate, explore.explore, explore.prior) == (0.05, 0.0, Prior(1, 9))
    rule = p.rules[0].auto
    assert rule is not None and rule.candidates == ("sonnet", "opus") and rule.explore == 0.05
    assert set(p.routed_aliases()) == {"opus", "sonnet", "haiku"}
    assert p.origin("routing.explore").line == 23


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('candidates = ["haiku", "opus"]', 'candidates = ["haiku", "gpt"]'),
            "p.toml:25: unknown model alias 'gpt' in routing.explore.candidates; "
            "known: opus, sonnet, haiku",
        ),
        (
            ('candidates = ["haiku", "opus"]', 'candidates = ["haiku", "requested"]'),
            "p.toml:25: unknown model alias 'requested' in routing.explore.candidates; "
            "known: opus, sonnet, haiku (name the model",
        ),
        (
            ('candidates = ["haiku", "opus"]', 'candidates = ["haiku", "haiku"]'),
            "p.toml:25: routing.explore.candidates: 'haiku' is listed twice",
        ),
        (
            ("max_failure_rate = 0.05", "max_failure_rate = 1.5"),
            "p.toml:26: routing.explore.max_failure_rate: expected a number between 0 and 1, "
            "got 1.5",
        ),
        (
            ("explore = 0\n", "explore = 0.5\n"),
            "p.toml:27: routing.explore.explore: expected a number from 0 to 0.2, got 0.5",
        ),
        (
            ('plan = "auto"', 'plan = { use = "auto", explore = 0.1 }'),
            "p.toml:19: routing.plan.explore: plan steps never explore",
        ),
        (
            (
                'use = "auto"\ncandidates = ["haiku", "opus"]',
                'use = "opus"\ncandidates = ["haiku"]',
            ),
            "p.toml:24: routing.explore: a table is for learned routing and needs use = 'auto'",
        ),
        (
            ("prior = { failures = 1, successes = 9 }", "prior = { failures = 0, successes = 9 }"),
            "p.toml:28: routing.explore.prior.failures: expected a number > 0, got 0",
        ),
        (
            ("prior = { failures = 1, successes = 9 }", "prior = { fails = 1 }"),
            "p.toml:28: unknown key 'routing.explore.prior.fails'; expected one of: failures,",
        ),
        (
            (
                'use = "auto"\ncandidates = ["sonnet", "opus"]',
                'use = "opus"\ncandidates = ["sonnet"]',
            ),
            "p.toml:34: rules[1].candidates: only for use = 'auto' (learned routing)",
        ),
        (
            ("[models.haiku]", "[models.auto]"),
            "p.toml:9: models.auto: 'auto' is reserved",
        ),
        (
            ("max_failure_rate = 0.10\n", ""),
            "p.toml:18: routing.plan: use = 'auto' needs max_failure_rate (a number between 0 "
            "and 1 (the failure rate to stay credibly under)), set here or in [auto]",
        ),
    ],
)
def test_auto_errors_name_the_line_and_the_key(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in AUTO
    assert error_of(AUTO.replace(old, new, 1)).startswith(expected)


# ---------------------------------------------------------------- decisions

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-6"
OPUS = "claude-opus-4-8"


def main_loop(messages: list[dict[str, object]] | None = None) -> Call:
    """Claude Code's main loop asks for its frontier model: no candidate costs more."""
    return cw.main_loop(messages, model=OPUS)


def evidence(**tallies: Tally) -> Evidence:
    """Evidence about the claude agent's implement steps, by model id."""
    out = Evidence()
    ids = {"haiku": HAIKU, "sonnet": SONNET, "opus": OPUS}
    for alias, tally in tallies.items():
        out.merge([(ArmKey("claude", "implement", ids[alias]), tally)])
    return out


def run(
    p: Profile,
    call: Call,
    state: SessionState | None = None,
    known: Evidence | None = None,
    rng: Random | None = None,
) -> Decision:
    return decide(p, call, classify(call, "claude"), state, known, rng or Random(0))


def test_the_reason_names_the_posterior_it_used() -> None:
    known = evidence(haiku=Tally(successes=206, failures=6), sonnet=Tally(successes=50))
    d = run(profile(), main_loop(), known=known)
    assert d.target.alias == "haiku" and d.rule == "routing.implement"
    assert d.reason.startswith(
        "routing.implement (auto: haiku: 2.8% failures (≤ 5.5%, 212 steps) within 10%): "
        "implement → haiku (claude-haiku-4-5 on anthropic)"
    )
    assert d.policy == profile().auto["implement"]
    assert d.propensity in (0.95, 0.05 / 2)


def test_the_evidence_is_an_input() -> None:
    call = main_loop()
    assert run(profile(), call, known=Evidence()).target.alias == "opus"
    good = evidence(haiku=Tally(successes=300, failures=3))
    assert run(profile(), call, known=good).target.alias == "haiku"
    # Another agent's evidence is not this agent's.
    other = Evidence()
    other.merge([(ArmKey("codex", "implement", HAIKU), Tally(300, 3))])
    assert run(profile(), call, known=other).target.alias == "opus"


def test_every_decision_carries_a_propensity() -> None:
    rng = Random(7)
    known = evidence(haiku=Tally(successes=300, failures=3))
    seen = {}
    for _ in range(400):
        d = run(profile(), main_loop(), known=known, rng=rng)
        seen[d.target.alias] = d.propensity
        assert d.explored == (d.target.alias != "haiku")
    assert seen == {"haiku": 0.95, "sonnet": 0.025, "opus": 0.025}
    # A fixed route is certain.
    assert run(profile(), cw.title_call()).propensity == 1.0


def test_plan_steps_never_explore() -> None:
    rng = Random(3)
    for _ in range(500):
        d = run(profile(), cw.subagent(cw.PLAN_PROMPT, model=OPUS), rng=rng)
        assert (d.step.kind, d.target.alias, d.propensity, d.explored) == (
            "plan",
            "opus",
            1.0,
            False,
        )


def test_the_sticky_main_loop_holds_an_auto_choice_and_the_propensity_says_so() -> None:
    p = profile()
    state = SessionState(agent="claude")
    big = main_loop([{"role": "user", "content": "x" * 80_000}])
    first = run(p, big, state, Evidence())
    state.record(big, first.step, first)
    assert first.target.alias == "opus"
    # Now haiku is credibly good, but the main loop's cache is on opus: it stays there unless
    # exploring, and that was 0.95 + 0.025 likely.
    good = evidence(haiku=Tally(successes=300, failures=3))
    rng = Random(11)
    kept = [run(p, big, state, good, rng) for _ in range(200)]
    stays = [d for d in kept if not d.explored]
    assert stays and all(d.target.alias == "opus" for d in stays)
    assert all(d.rule == "main_loop.sticky" for d in stays)
    assert all(d.propensity == pytest.approx(0.975) for d in stays)
    # Nothing is cheaper than haiku, so the others are tried evenly; trying opus, where the
    # main loop already is, is no excursion (and is counted in the 0.975 above).
    tried = [d for d in kept if d.explored]
    assert tried and {d.target.alias for d in tried} == {"sonnet"}
    assert all(d.propensity == 0.025 for d in tried)
    assert all(
        "explore: this call only; the main loop stays on claude-opus-4-8" in d.reason for d in tried
    )


def test_an_explored_call_leaves_the_main_loop_where_it_was() -> None:
    p = profile()
    state = SessionState(agent="claude")
    big = main_loop([{"role": "user", "content": "x" * 80_000}])
    first = run(p, big, state, Evidence())
    state.record(big, first.step, first)
    rng = Random(0)
    while True:
        d = run(p, big, state, Evidence(), rng)
        if d.explored:
            break
    state.record(big, d.step, d)
    assert state.main_model == OPUS and state.main_calls == 1


def test_learned_routing_counts_as_a_preference_not_a_forced_switch() -> None:
    # The rule's auto choice does not break the sticky main loop (a fixed rule would).
    p = profile()
    state = SessionState(agent="claude")
    big = main_loop([{"role": "user", "content": "x" * 80_000}])
    first = run(p, big, state, Evidence())
    state.record(big, first.step, first)
    huge = main_loop([{"role": "user", "content": "x" * 700_000}])
    good = evidence(sonnet=Tally(successes=300, failures=3))
    d = run(p, huge, state, good, Random(1))
    assert d.target.alias == "opus" and d.rule == "main_loop.sticky"
    assert "rule 'long-prompts'" not in d.rule


def test_the_documented_example_is_a_valid_profile() -> None:
    doc = Path(__file__).parents[2] / "docs" / "profiles.md"
    section = doc.read_text().split("### Learned routing", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    p = profile('extends = "balanced"\n' + example)
    assert p.auto["implement"].candidates == ("haiku", "sonnet", "opus")
    assert p.auto["explore"].max_failure_rate == 0.05
    assert p.rules[0].auto is not None and p.rules[0].auto.candidates == ("sonnet", "opus")


def test_learned_routing_never_picks_a_candidate_dearer_than_the_requested_model() -> None:
    # The agent asks for Sonnet: opus, the trusted last candidate, costs more; neither the
    # settled choice nor an explored one goes there.
    call = cw.main_loop()
    assert call.model == SONNET
    settled = run(profile(), call, known=Evidence(), rng=None)
    assert settled.target.model_for(call) == SONNET
    rng = Random(5)
    drawn = [run(profile(), call, known=Evidence(), rng=rng) for _ in range(300)]
    assert {d.target.model_for(call) for d in drawn} <= {SONNET, HAIKU}
    assert any(d.explored for d in drawn)
