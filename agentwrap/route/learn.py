"""Learned routing: pick the cheapest model whose failure rate is credibly within a tolerance.

Pure functions and small values; no I/O. The store keeps the counts, the profile states the
policy, and `choose` turns both into a choice with the probability it was made with.

**Evidence.** Per agent × step kind × model, a `Tally` of step outcomes as the agent's next
request labels them. Only two labels are evidence about the model:

- `succeeded` counts as a success and `failed` as a failure;
- `interrupted` is counted but is not evidence: a user who stops a tool changed their mind at
  least as often as they caught a mistake, so it moves neither way;
- `unknown` (a step with no tool results to read: a final answer, another API surface that
  carries no error flag) is counted and ignored for the same reason: nothing was observed.

The evidence stays recent: past `HORIZON` steps each new outcome scales the older ones down,
so a model that changes (a silent update, a degraded deployment) is noticed within a few
dozen steps instead of being outvoted by its whole history.

**Posterior.** The failure rate of a model at a step kind is Beta(prior failures + failures,
prior successes + successes). The prior is pseudo-counts a profile can state
(`prior = { failures = 1, successes = 9 }`: "expect about 10 %, worth ten steps"); the default
is one of each, a flat prior. The upper credible bound is the posterior's 95 % quantile,
computed here from the regularized incomplete beta function (no scipy).

**Choice.** Among the candidates the call can use, ranked by the call's cost on each (an
unpriced model ranks after every priced one), the cheapest whose upper bound is within
`max_failure_rate` is chosen. When none is, the *last* candidate the profile lists is used:
the one its author trusts most, until the evidence shows a cheaper one is good enough.

**Exploration.** With probability `explore` (at most `MAX_EXPLORE`) another candidate is
tried instead, so the evidence keeps coming: the cheapest candidate cheaper than the choice
that may still be within the tolerance (where the largest saving can come from), else, drawn
uniformly, any other that may be (so their evidence is fresh when the choice changes). A candidate that
is outside the tolerance with 99 % credibility is not tried again. Never on step kinds in
`NO_EXPLORE`: a plan decides what every later step does; it is not the place to experiment.

**Propensity.** Every choice carries the probability the policy gave it and the chances of
every possible draw, so any other policy can be evaluated on the recorded history without bias
(inverse propensity weighting). `decide` applies the sticky main loop to the exploited
candidate afterwards; `settle` recomputes the propensity of what was finally chosen (1 when
the main loop keeps its model and nothing was explored).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from random import Random
from typing import Any

from agentwrap import fmt
from agentwrap.route.step import STEP_KINDS
from agentwrap.route.tomlpos import LineIndex

SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"
UNKNOWN = "unknown"
OUTCOMES = (SUCCEEDED, FAILED, INTERRUPTED, UNKNOWN)

AUTO = "auto"  # the `use` value that asks for learned routing
LEVEL = 0.95  # the upper credible bound is the posterior's 95 % quantile
OUTSIDE_LEVEL = 0.99  # how sure exploring must be that a candidate is too poor to try again
MAX_EXPLORE = 0.2  # exploration stays a small minority of the calls of a step kind
NO_EXPLORE = ("plan",)  # step kinds that never explore, whatever the profile says
ANY_AGENT = "any"  # the agent key when the session's agent is not known
HORIZON = 500  # about how many recent steps of one model at one step kind the evidence weighs


@dataclass(frozen=True)
class Prior:
    """Pseudo-counts of failures and successes before any evidence (a Beta prior)."""

    failures: float = 1.0
    successes: float = 1.0

    def __post_init__(self) -> None:
        if not (self.failures > 0 and self.successes > 0):
            raise ValueError("a prior needs failures > 0 and successes > 0 (pseudo-counts)")

    @property
    def mean(self) -> float:
        """The failure rate the prior expects."""
        return self.failures / (self.failures + self.successes)


@dataclass(frozen=True)
class AutoPolicy:
    """What a profile says about one `use = "auto"` step kind or rule."""

    candidates: tuple[str, ...]  # model aliases; the last one is the trusted default
    max_failure_rate: float
    explore: float = 0.0
    prior: Prior = field(default_factory=Prior)

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("auto routing needs at least one candidate")
        if not 0.0 < self.max_failure_rate < 1.0:
            raise ValueError("max_failure_rate must be between 0 and 1 (exclusive)")
        if not 0.0 <= self.explore <= MAX_EXPLORE:
            raise ValueError(f"explore must be between 0 and {MAX_EXPLORE}")

    @property
    def fallback(self) -> str:
        """The candidate used while no cheaper one is credibly within the tolerance."""
        return self.candidates[-1]

    def summary(self, step: str | None = None) -> str:
        """ "auto: the cheapest of haiku, sonnet, opus within 10% failures (explore 5%,
        prior 1 failure / 9 successes)"; `step` says when that kind never explores."""
        explore = f"explore {fmt.rate(self.explore)}"
        if step in NO_EXPLORE:
            explore = f"{step} never explores"
        return (
            f"auto: the cheapest of {', '.join(self.candidates)} within "
            f"{fmt.rate(self.max_failure_rate)} failures ({explore}, prior "
            f"{self.prior.failures:g} failure{'s' * (self.prior.failures != 1)} / "
            f"{self.prior.successes:g} success{'es' * (self.prior.successes != 1)})"
        )

    def as_dict(self) -> dict[str, object]:
        """The policy as data (JSON, TOML)."""
        return {
            "candidates": list(self.candidates),
            "max_failure_rate": self.max_failure_rate,
            "explore": self.explore,
            "prior": {"failures": self.prior.failures, "successes": self.prior.successes},
        }


@dataclass(frozen=True)
class Tally:
    """Step outcomes counted for one agent × step kind × model.

    `successes` and `failures` are the evidence, weighted so that it stays recent: past
    `HORIZON` steps every new outcome scales the older ones down (exponential forgetting with
    a memory of about HORIZON steps). `labelled` counts every succeeded or failed step ever
    seen, unweighted, for people to read.
    """

    successes: float = 0.0
    failures: float = 0.0
    interrupted: int = 0
    unknown: int = 0
    labelled: int = 0

    @property
    def steps(self) -> float:
        """The weight of the evidence (succeeded and failed steps, older ones faded)."""
        return self.successes + self.failures

    def add(self, outcome: str | None, count: int = 1) -> Tally:
        """This tally with `count` more outcomes of one label (None counts as unknown)."""
        label = outcome or UNKNOWN
        if label == SUCCEEDED:
            return replace(
                self, successes=self.successes + count, labelled=self.labelled + count
            )._faded()
        if label == FAILED:
            return replace(
                self, failures=self.failures + count, labelled=self.labelled + count
            )._faded()
        if label == INTERRUPTED:
            return replace(self, interrupted=self.interrupted + count)
        if label == UNKNOWN:
            return replace(self, unknown=self.unknown + count)
        raise ValueError(f"unknown outcome '{outcome}'; known: {', '.join(OUTCOMES)}")

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.successes + other.successes,
            self.failures + other.failures,
            self.interrupted + other.interrupted,
            self.unknown + other.unknown,
            self.labelled + other.labelled,
        )._faded()

    def _faded(self) -> Tally:
        if self.steps <= HORIZON:
            return self
        keep = HORIZON / self.steps
        return replace(self, successes=self.successes * keep, failures=self.failures * keep)


@dataclass(frozen=True)
class ArmKey:
    """What a tally is about: an agent, a step kind and a model id (not an alias: aliases
    belong to one profile, model ids mean the same thing in every profile of a team)."""

    agent: str
    step: str
    model: str


class Evidence(Mapping[ArmKey, Tally]):
    """The tallies of every agent × step kind × model: the input learned routing decides on."""

    def __init__(self, tallies: Mapping[ArmKey, Tally] | None = None) -> None:
        self._tallies: dict[ArmKey, Tally] = dict(tallies or {})

    def __getitem__(self, key: ArmKey) -> Tally:
        return self._tallies[key]

    def __iter__(self) -> Iterator[ArmKey]:
        return iter(self._tallies)

    def __len__(self) -> int:
        return len(self._tallies)

    def tally(self, agent: str | None, step: str, model: str) -> Tally:
        """The tally of one arm (empty when nothing was seen)."""
        return self._tallies.get(ArmKey(agent or ANY_AGENT, step, model), Tally())

    def record(self, agent: str | None, step: str, model: str, outcome: str | None) -> None:
        """Count one labelled step."""
        key = ArmKey(agent or ANY_AGENT, step, model)
        self._tallies[key] = self._tallies.get(key, Tally()).add(outcome)

    def merge(self, other: Iterable[tuple[ArmKey, Tally]]) -> None:
        """Add another set of tallies to these (an import from a teammate)."""
        for key, tally in other:
            self._tallies[key] = self._tallies.get(key, Tally()) + tally


@dataclass(frozen=True)
class Posterior:
    """The Beta posterior of a failure rate: Beta(alpha, beta) with alpha counting failures."""

    tally: Tally
    prior: Prior

    @property
    def alpha(self) -> float:
        return self.prior.failures + self.tally.failures

    @property
    def beta(self) -> float:
        return self.prior.successes + self.tally.successes

    @property
    def mean(self) -> float:
        """The expected failure rate."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def upper(self) -> float:
        """The failure rate the model stays under with 95 % credibility."""
        return beta_quantile(LEVEL, self.alpha, self.beta)

    def outside(self, tolerance: float) -> bool:
        """Whether the failure rate is above `tolerance` with 99 % credibility (stricter than
        the 95 % bound: a good model's unlucky first steps must not rule it out for good)."""
        return beta_quantile(1.0 - OUTSIDE_LEVEL, self.alpha, self.beta) > tolerance

    def describe(self, alias: str) -> str:
        """ "haiku: 3.1% failures (≤ 7.9%, 212 steps)"; "(…, last 200 of 1,250 steps)" once
        older evidence fades."""
        tally = self.tally
        if tally.steps == 0:
            return f"{alias}: no outcomes yet (prior ≤ {fmt.rate(self.upper)})"
        rate = tally.failures / tally.steps
        weight = round(tally.steps)
        steps = f"{weight} steps"
        if tally.labelled > weight:
            steps = f"last {weight} of {tally.labelled:,} steps"
        return f"{alias}: {fmt.rate(rate)} failures (≤ {fmt.rate(self.upper)}, {steps})"


@dataclass(frozen=True)
class Option:
    """A candidate the call can use: its alias, the evidence about it, its cost for this call."""

    alias: str
    tally: Tally
    cost: float | None  # USD for this call on this model (estimated); None when unpriced


@dataclass(frozen=True)
class Choice:
    """What learned routing picked, with the probability it was picked with, and why."""

    alias: str
    propensity: float
    reason: str
    exploited: str  # the candidate chosen when not exploring
    explored: bool = False
    chances: tuple[tuple[str, float], ...] = ()  # every possible draw and its probability


def ranked(options: Sequence[Option]) -> list[Option]:
    """The options cheapest first; unpriced after every priced one; ties keep profile order."""
    order = {o.alias: i for i, o in enumerate(options)}
    return sorted(options, key=lambda o: (o.cost is None, o.cost or 0.0, order[o.alias]))


def exploit(policy: AutoPolicy, options: Sequence[Option]) -> tuple[Option, str]:
    """The option learned routing settles on with no exploration, and the reason."""
    if not options:
        raise ValueError("no candidate can take this call")
    tolerance = fmt.rate(policy.max_failure_rate)
    checked: list[str] = []
    for option in ranked(options):
        post = Posterior(option.tally, policy.prior)
        if post.upper <= policy.max_failure_rate:
            head = f"{post.describe(option.alias)} within {tolerance}"
            if checked:
                head += "; cheaper: " + "; ".join(checked)
            return option, head
        checked.append(f"{post.describe(option.alias)} above {tolerance}")
    by_alias = {o.alias: o for o in options}
    trusted = by_alias.get(policy.fallback, options[-1])
    return trusted, (
        f"none credibly within {tolerance} → {trusted.alias}, the last candidate: "
        + "; ".join(checked)
    )


def explore_targets(policy: AutoPolicy, options: Sequence[Option], best: Option) -> list[Option]:
    """The candidates exploring may try instead of `best`.

    The cheapest candidate cheaper than `best` that may still be within the tolerance: that
    is where the largest saving can come from, and giving it all the exploration learns it
    soonest. When there is none, every other candidate that may be within it, evenly, so their
    evidence stays fresh for the day `best` changes. A candidate outside the tolerance with
    99 % credibility is not tried again.
    """
    order = ranked(options)
    position = {o.alias: i for i, o in enumerate(order)}
    plausible = [
        o
        for o in order
        if o.alias != best.alias
        and not Posterior(o.tally, policy.prior).outside(policy.max_failure_rate)
    ]
    cheaper = [o for o in plausible if position[o.alias] < position[best.alias]]
    return cheaper[:1] or plausible


def choose(policy: AutoPolicy, options: Sequence[Option], step: str, rng: Random) -> Choice:
    """Pick a candidate for one call (see the module docstring); `rng` is the only randomness.

    `options` are the candidates that can take this call, in the profile's order.
    """
    best, why = exploit(policy, options)
    targets = [] if step in NO_EXPLORE else explore_targets(policy, options, best)
    rate = policy.explore if targets else 0.0
    if rate == 0.0:
        return Choice(best.alias, 1.0, why, best.alias, chances=((best.alias, 1.0),))
    share = rate / len(targets)
    chances = ((best.alias, 1.0 - rate), *((t.alias, share) for t in targets))
    if rng.random() < rate:
        tried = targets[rng.randrange(len(targets))]
        post = Posterior(tried.tally, policy.prior)
        return Choice(
            tried.alias,
            share,
            f"explore (p = {share:.3g}): {post.describe(tried.alias)}; otherwise {why}",
            best.alias,
            explored=True,
            chances=chances,
        )
    return Choice(best.alias, 1.0 - rate, why, best.alias, chances=chances)


def settle(choice: Choice, base: str) -> Choice:
    """The choice once a later policy has replaced its exploited candidate with `base` (the
    sticky main loop keeping its model): an explored candidate stays, anything else becomes
    `base`, and the propensity adds up every draw that ends on the final alias."""
    final = choice.alias if choice.explored else base
    propensity = sum(
        chance
        for alias, chance in choice.chances
        if (base if alias == choice.exploited else alias) == final
    )
    # Exploring onto `base` itself ends where not exploring would: nothing was tried.
    explored = choice.explored and final != base
    return replace(choice, alias=final, propensity=propensity, explored=explored)


# ---------------------------------------------------------------- sharing evidence

EVIDENCE_FORMAT = 1  # the version of the document `learn export` writes
_TALLY_KEYS = {
    "agent": "an agent name (claude, codex, gemini, ... or any)",
    "step": f"a step kind ({', '.join(STEP_KINDS)})",
    "model": "a model id",
    "successes": "a number >= 0 (weighted succeeded steps)",
    "failures": "a number >= 0 (weighted failed steps)",
    "interrupted": "an integer >= 0",
    "unknown": "an integer >= 0",
    "labelled": "an integer >= 0 (every succeeded or failed step counted)",
}


class EvidenceError(ValueError):
    """An evidence file is wrong; the message names the file, the line and the key."""


def evidence_document(evidence: Evidence) -> dict[str, Any]:
    """Evidence as a document to write as TOML: one [[tally]] per agent × step kind × model."""
    return {
        "format": EVIDENCE_FORMAT,
        "horizon": HORIZON,
        "tally": [
            {
                "agent": key.agent,
                "step": key.step,
                "model": key.model,
                "successes": tally.successes,
                "failures": tally.failures,
                "interrupted": tally.interrupted,
                "unknown": tally.unknown,
                "labelled": tally.labelled,
            }
            for key, tally in sorted(
                evidence.items(), key=lambda item: (item[0].agent, item[0].step, item[0].model)
            )
        ],
    }


def _check_tally_keys(
    raw: dict[str, Any],
    i: int,
    error: Callable[[tuple[str | int, ...], str], EvidenceError],
) -> None:
    """Every key of tally `i` known, present and of its type, or the error naming it."""
    where = f"tally[{i + 1}]"
    for key in raw:
        if key not in _TALLY_KEYS:
            raise error(
                ("tally", i, key),
                f"unknown key '{where}.{key}'; expected one of: {', '.join(_TALLY_KEYS)}",
            )
    for key in _TALLY_KEYS:
        if key not in raw:
            raise error(("tally", i), f"{where}.{key}: missing; expected {_TALLY_KEYS[key]}")
        value = raw[key]
        if not _tally_value_ok(key, value):
            raise error(
                ("tally", i, key),
                f"{where}.{key}: expected {_TALLY_KEYS[key]}, got {value!r}",
            )


def _tally_value_ok(key: str, value: Any) -> bool:
    if key in ("agent", "step", "model"):
        return isinstance(value, str) and bool(value)
    if isinstance(value, bool):
        return False
    if key in ("successes", "failures"):
        return isinstance(value, int | float) and value >= 0
    return isinstance(value, int) and value >= 0


def parse_evidence(text: str, source: str) -> list[tuple[ArmKey, Tally]]:
    """The tallies of an evidence file (`learn export`'s TOML); errors name file:line: key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EvidenceError(f"{source}: not valid TOML: {exc}") from None
    lines = LineIndex(text)

    def error(path: tuple[str | int, ...], message: str) -> EvidenceError:
        line = lines.line(path)
        return EvidenceError(f"{source}:{line}: {message}" if line else f"{source}: {message}")

    known = {"format", "horizon", "tally"}
    for key in data:
        if key not in known:
            raise error((key,), f"unknown key '{key}'; expected one of: {', '.join(known)}")
    if data.get("format") != EVIDENCE_FORMAT:
        raise error(
            ("format",),
            f"format: expected {EVIDENCE_FORMAT} (a file written by `agentwrap learn export`), "
            f"got {data.get('format')!r}",
        )
    tallies = data.get("tally", [])
    if not isinstance(tallies, list):
        raise error(("tally",), "tally: expected an array of [[tally]] tables")
    out: list[tuple[ArmKey, Tally]] = []
    for i, raw in enumerate(tallies):
        where = f"tally[{i + 1}]"
        if not isinstance(raw, dict):
            raise error(("tally", i), f"{where}: expected a table")
        _check_tally_keys(raw, i, error)
        if raw["step"] not in STEP_KINDS:
            raise error(
                ("tally", i, "step"),
                f"{where}.step: unknown step kind '{raw['step']}'; known: {', '.join(STEP_KINDS)}",
            )
        arm = ArmKey(raw["agent"], raw["step"], raw["model"])
        tally = Tally(
            float(raw["successes"]),
            float(raw["failures"]),
            raw["interrupted"],
            raw["unknown"],
            raw["labelled"],
        )
        out.append((arm, tally))
    return out


# ---------------------------------------------------------------- the Beta distribution

_EPS = 1e-14
_TINY = 1e-300
_MAX_TERMS = 500


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated by the modified Lentz method.

    Converges quickly for x < (a + 1) / (a + b + 2); `betainc` uses the symmetry
    I_x(a, b) = 1 − I_{1−x}(b, a) for the other side.
    """

    def guard(v: float) -> float:
        return v if abs(v) > _TINY else _TINY

    numerator_c = 1.0
    denominator_d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    result = denominator_d
    for m in range(1, _MAX_TERMS + 1):
        # Even term: m (b − m) x / ((a + 2m − 1)(a + 2m)).
        term = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        denominator_d = 1.0 / guard(1.0 + term * denominator_d)
        numerator_c = guard(1.0 + term / numerator_c)
        result *= denominator_d * numerator_c
        # Odd term: −(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        term = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        denominator_d = 1.0 / guard(1.0 + term * denominator_d)
        numerator_c = guard(1.0 + term / numerator_c)
        step = denominator_d * numerator_c
        result *= step
        if abs(step - 1.0) < _EPS:
            break
    return result


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b): the CDF of Beta(a, b) at x."""
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, 1.0 - x) / b


def _beta_pdf(a: float, b: float, x: float) -> float:
    return math.exp((a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - _log_beta(a, b))


@lru_cache(maxsize=4096)
def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q: Newton's method kept inside a shrinking bisection bracket."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("a quantile's probability must be between 0 and 1")
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive")
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    low, high = 0.0, 1.0
    x = a / (a + b)
    for _ in range(200):
        error = betainc(a, b, x) - q
        if abs(error) < 1e-12:
            return x
        if error > 0:
            high = x
        else:
            low = x
        density = _beta_pdf(a, b, x)
        guess = x - error / density if density > 0 else -1.0
        # A Newton step that leaves the bracket (or barely moves it) falls back to bisection.
        x = guess if low < guess < high else (low + high) / 2.0
        if high - low <= 1e-15 * high:  # relative: tiny quantiles need tiny brackets
            break
    return x
