"""Learned routing's core: the Beta bound against exact values, the chooser, exploration."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap import fmt
from agentwrap.route.learn import (
    HORIZON,
    MAX_EXPLORE,
    ArmKey,
    AutoPolicy,
    Choice,
    Evidence,
    Option,
    Posterior,
    Prior,
    Tally,
    beta_quantile,
    betainc,
    choose,
    exploit,
    ranked,
    settle,
)

# ---------------------------------------------------------------- the Beta distribution


def binomial_tail(a: int, b: int, x: float) -> float:
    """I_x(a, b) for whole a, b: the chance of at least a successes in a + b − 1 trials."""
    n = a + b - 1
    return sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))


@pytest.mark.parametrize(
    ("a", "b", "x"),
    [(1, 1, 0.3), (2, 3, 0.4), (3, 98, 0.02), (10, 10, 0.5), (5, 200, 0.05), (40, 7, 0.9)],
)
def test_betainc_matches_the_binomial_tail(a: int, b: int, x: float) -> None:
    assert betainc(a, b, x) == pytest.approx(binomial_tail(a, b, x), abs=1e-12)


def test_betainc_closed_forms_and_symmetry() -> None:
    # I_x(1, b) = 1 − (1 − x)^b and I_x(a, 1) = x^a, for any positive a, b.
    assert betainc(1, 7.5, 0.2) == pytest.approx(1 - 0.8**7.5, abs=1e-13)
    assert betainc(2.5, 1, 0.6) == pytest.approx(0.6**2.5, abs=1e-13)
    # Beta(a, a) is symmetric about one half.
    assert betainc(3.7, 3.7, 0.5) == pytest.approx(0.5, abs=1e-13)
    assert betainc(2.5, 7.5, 0.3) == pytest.approx(1 - betainc(7.5, 2.5, 0.7), abs=1e-13)
    assert betainc(2, 2, 0.0) == 0.0 and betainc(2, 2, 1.0) == 1.0


def test_betainc_agrees_with_the_integrated_density() -> None:
    # Non-whole parameters: Simpson's rule over the density, independent of the fraction.
    a, b, x, n = 2.5, 7.5, 0.35, 20_000
    log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def pdf(t: float) -> float:
        return math.exp((a - 1) * math.log(t) + (b - 1) * math.log1p(-t) - log_b) if t > 0 else 0

    h = x / n
    total = pdf(0) + pdf(x) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, n))
    assert betainc(a, b, x) == pytest.approx(total * h / 3, abs=1e-9)


def test_beta_quantile_known_values() -> None:
    # Zero failures in n steps under a flat prior: Beta(1, n + 1), bound 1 − 0.05^(1/(n+1)).
    for n in (0, 9, 28, 299):
        assert beta_quantile(0.95, 1, n + 1) == pytest.approx(1 - 0.05 ** (1 / (n + 1)), abs=1e-10)
    # Beta(a, 1): q^(1/a).  Beta(½, ½) is the arcsine law: sin²(πq/2).
    assert beta_quantile(0.95, 4, 1) == pytest.approx(0.95**0.25, abs=1e-10)
    assert beta_quantile(0.05, 0.5, 0.5) == pytest.approx(math.sin(math.pi * 0.025) ** 2, abs=1e-10)
    assert beta_quantile(0.5, 6, 6) == pytest.approx(0.5, abs=1e-12)
    assert beta_quantile(0.0, 2, 3) == 0.0 and beta_quantile(1.0, 2, 3) == 1.0


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(0.2, 500),
    b=st.floats(0.5, 5000),  # below ½ the 0.999 quantile is closer to 1 than a float resolves
    q=st.floats(0.001, 0.999),
)
def test_beta_quantile_inverts_betainc(a: float, b: float, q: float) -> None:
    x = beta_quantile(q, a, b)
    assert 0.0 <= x <= 1.0
    assert betainc(a, b, x) == pytest.approx(q, abs=1e-9)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        betainc(0, 1, 0.5)
    with pytest.raises(ValueError):
        beta_quantile(1.5, 1, 1)
    with pytest.raises(ValueError):
        Prior(failures=0, successes=9)
    with pytest.raises(ValueError):
        AutoPolicy(("haiku",), max_failure_rate=0.1, explore=MAX_EXPLORE + 0.01)
    with pytest.raises(ValueError):
        AutoPolicy(("haiku",), max_failure_rate=1.0)
    with pytest.raises(ValueError):
        AutoPolicy((), max_failure_rate=0.1)


# ---------------------------------------------------------------- evidence and posteriors


def test_only_succeeded_and_failed_are_evidence() -> None:
    tally = Tally()
    for label in ("succeeded", "succeeded", "failed", "interrupted", "unknown", None):
        tally = tally.add(label)
    assert tally == Tally(successes=2, failures=1, interrupted=1, unknown=2, labelled=3)
    assert tally.steps == 3
    # Interrupted and unknown steps leave the posterior where it was.
    assert Posterior(tally, Prior()).alpha == 2 and Posterior(tally, Prior()).beta == 3
    with pytest.raises(ValueError, match="unknown outcome 'maybe'"):
        tally.add("maybe")


def test_evidence_is_kept_per_agent_step_and_model() -> None:
    evidence = Evidence()
    evidence.record("claude", "implement", "claude-haiku-4-5", "failed")
    evidence.record("claude", "implement", "claude-haiku-4-5", "succeeded")
    evidence.record("codex", "implement", "claude-haiku-4-5", "succeeded")
    evidence.record(None, "explore", "claude-haiku-4-5", "succeeded")
    assert evidence.tally("claude", "implement", "claude-haiku-4-5") == Tally(1, 1, labelled=2)
    assert evidence.tally("codex", "implement", "claude-haiku-4-5") == Tally(1, 0, labelled=1)
    assert evidence.tally("claude", "explore", "claude-haiku-4-5") == Tally()
    assert evidence.tally(None, "explore", "claude-haiku-4-5") == Tally(1, 0, labelled=1)
    assert len(evidence) == 3
    key = ArmKey("claude", "implement", "claude-haiku-4-5")
    evidence.merge([(key, Tally(10, 2, 1, 0, labelled=12))])
    assert evidence[key] == Tally(11, 3, 1, 0, labelled=14)


def test_old_evidence_fades_past_the_horizon() -> None:
    tally = Tally()
    for _ in range(HORIZON * 4):
        tally = tally.add("succeeded")
    assert tally.steps == pytest.approx(HORIZON)
    assert tally.labelled == HORIZON * 4
    # A model that starts failing half its steps is noticed within a few dozen steps,
    # however long its good record was.
    policy = AutoPolicy(("haiku", "opus"), max_failure_rate=0.10)
    steps = 0
    while Posterior(tally, policy.prior).upper <= policy.max_failure_rate:
        tally = tally.add("failed" if steps % 2 else "succeeded")
        steps += 1
    assert 20 < steps < 100
    text = Posterior(tally, policy.prior).describe("haiku")
    assert f"last {HORIZON} of {HORIZON * 4 + steps:,} steps)" in text


def test_posterior_describes_itself() -> None:
    post = Posterior(Tally(successes=205, failures=7), Prior(1, 9))
    assert post.mean == pytest.approx(8 / 222)
    assert post.describe("haiku") == f"haiku: 3.3% failures (≤ {fmt.rate(post.upper)}, 212 steps)"
    assert 0.033 < post.upper < 0.07
    assert (
        Posterior(Tally(), Prior(1, 9)).describe("haiku")
        == "haiku: no outcomes yet (prior ≤ 28.3%)"
    )
    assert fmt.rate(0.1) == "10%" and fmt.rate(0.079) == "7.9%" and fmt.rate(0.004) == "0.4%"


# ---------------------------------------------------------------- the chooser

POLICY = AutoPolicy(("haiku", "sonnet", "opus"), max_failure_rate=0.10, explore=0.05)
NOTHING = Tally()


def options(haiku: Tally, sonnet: Tally, opus: Tally = NOTHING) -> list[Option]:
    return [Option("haiku", haiku, 0.06), Option("sonnet", sonnet, 0.18), Option("opus", opus, 0.3)]


def test_without_evidence_the_last_candidate_is_used() -> None:
    best, why = exploit(POLICY, options(Tally(), Tally()))
    assert best.alias == "opus"
    assert why.startswith("none credibly within 10% → opus, the last candidate: haiku: no outcomes")


def test_the_cheapest_candidate_credibly_within_the_tolerance_wins() -> None:
    haiku = Tally(successes=180, failures=20)  # 10%: its bound is above the tolerance
    sonnet = Tally(successes=206, failures=6)
    best, why = exploit(POLICY, options(haiku, sonnet, Tally(500, 5)))
    assert best.alias == "sonnet"
    assert why.startswith("sonnet: 2.8% failures (≤ ")
    assert "212 steps) within 10%; cheaper: haiku: 10% failures (≤ 1" in why
    assert why.endswith("200 steps) above 10%")
    best, _ = exploit(POLICY, options(Tally(successes=300, failures=6), sonnet))
    assert best.alias == "haiku"


def test_cost_ranks_candidates_not_their_order() -> None:
    opts = [
        Option("opus", Tally(), 0.3),
        Option("mini", Tally(), None),
        Option("haiku", Tally(), 0.06),
    ]
    assert [o.alias for o in ranked(opts)] == ["haiku", "opus", "mini"]
    policy = AutoPolicy(("opus", "mini", "haiku"), max_failure_rate=0.2)
    good = Tally(successes=100)
    best, _ = exploit(
        policy, [Option("opus", good, 0.3), Option("mini", good, None), Option("haiku", good, 0.06)]
    )
    assert best.alias == "haiku"


def test_choices_carry_their_propensity() -> None:
    rng = Random(1)
    good = Tally(successes=300, failures=3)
    seen: Counter[str] = Counter()
    for _ in range(20_000):
        choice = choose(POLICY, options(good, good, good), "implement", rng)
        seen[choice.alias] += 1
        # Nothing is cheaper than haiku: the others are tried, evenly, to keep them known.
        expected = {"haiku": 0.95, "sonnet": 0.025, "opus": 0.025}[choice.alias]
        assert choice.propensity == pytest.approx(expected)
        assert dict(choice.chances) == pytest.approx(
            {"haiku": 0.95, "sonnet": 0.025, "opus": 0.025}
        )
        assert choice.exploited == "haiku"
        assert choice.explored == (choice.alias != "haiku")
    # The propensities are the frequencies the chooser really has.
    assert seen["haiku"] / 20_000 == pytest.approx(0.95, abs=0.01)
    assert seen["sonnet"] / 20_000 == pytest.approx(0.025, abs=0.005)


def test_exploring_tries_the_cheapest_candidate_that_may_save_money() -> None:
    rng = Random(3)
    sonnet = Tally(successes=300, failures=3)
    choices = [choose(POLICY, options(Tally(), sonnet), "implement", rng) for _ in range(400)]
    assert {c.exploited for c in choices} == {"sonnet"}
    explored = [c for c in choices if c.explored]
    assert explored, "5% of 400 calls explore"
    # Only haiku can save money over sonnet: it gets all of the exploration.
    assert {c.alias for c in explored} == {"haiku"}
    first = explored[0]
    assert first.propensity == 0.05
    assert first.reason.startswith("explore (p = 0.05): haiku: no outcomes yet (prior ≤ 95%)")
    assert "; otherwise sonnet: 1.0% failures (≤ " in first.reason


def test_a_candidate_credibly_outside_the_tolerance_is_not_tried_again() -> None:
    rng = Random(4)
    poor = Tally(successes=60, failures=40)
    good = Tally(successes=300, failures=3)
    for _ in range(2000):
        choice = choose(POLICY, options(poor, good, good), "implement", rng)
        assert choice.alias in ("sonnet", "opus")
        assert dict(choice.chances).keys() == {"sonnet", "opus"}


def test_settle_adds_up_the_draws_that_end_on_the_final_choice() -> None:
    choice = Choice(
        "haiku",
        0.95,
        "",
        "haiku",
        chances=(("haiku", 0.95), ("sonnet", 0.025), ("opus", 0.025)),
    )
    # The sticky main loop keeps opus unless exploring: opus is 0.95 + 0.025 likely.
    kept = settle(choice, "opus")
    assert (kept.alias, kept.propensity) == ("opus", pytest.approx(0.975))
    assert settle(choice, "haiku").propensity == pytest.approx(0.95)
    tried = replace(choice, alias="sonnet", propensity=0.025, explored=True)
    assert (settle(tried, "opus").alias, settle(tried, "opus").propensity) == ("sonnet", 0.025)
    assert settle(tried, "opus").explored
    # Exploring onto the model the main loop keeps anyway is no excursion.
    onto = settle(tried, "sonnet")
    assert (onto.alias, onto.propensity, onto.explored) == ("sonnet", pytest.approx(0.975), False)
    certain = Choice("opus", 1.0, "", "opus", chances=(("opus", 1.0),))
    assert settle(certain, "sonnet").propensity == 1.0


def test_plan_steps_and_explore_zero_never_explore() -> None:
    rng = Random(5)
    quiet = AutoPolicy(("haiku", "opus"), max_failure_rate=0.10, explore=0.0)
    for _ in range(2000):
        plan = choose(POLICY, options(Tally(), Tally()), "plan", rng)
        assert (plan.alias, plan.propensity, plan.explored) == ("opus", 1.0, False)
        other = choose(quiet, options(Tally(), Tally())[::2], "implement", rng)
        assert (other.alias, other.propensity, other.explored) == ("opus", 1.0, False)


def test_a_single_usable_candidate_is_certain() -> None:
    choice = choose(POLICY, [Option("opus", Tally(), 0.3)], "implement", Random(0))
    assert (choice.alias, choice.propensity) == ("opus", 1.0)
