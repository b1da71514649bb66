"""The routing benchmark: routing profiles played on a SIMULATED world, decided by agentwrap.

    .venv/bin/python bench/routing.py --world bench/worlds/published-figures.toml \\
        --profile bench/profiles/frontier-only.toml --profile bench/profiles/learned.toml [--json]

A world (a TOML file, see bench/README.md) states how many coding sessions to play, how many
steps of each kind a session has on average, how large they are, what each model costs and
how often it gets a step of each kind right, and optionally how those rates drift. Each
session is a sequence of steps: plan steps, explore steps, then implementation steps with
background calls among them and a compaction somewhere in the middle. A step that fails is
retried (another call, another bill); a session fails after `max_consecutive_failures`
failed calls in a row.

Every call is decided by agentwrap's own `decide` (and so its learned routing): the bench
builds the Call and Step the proxy would, keeps a SessionState per session, and labels each
step's outcome into the evidence the way the proxy's ledger does. Nothing here re-implements
a routing decision. Each profile plays the same sessions (same steps, same sizes).

Prices are the world's, not the profile's: the world is the truth the profiles are judged
on. Prompt caching is not simulated (every input token is billed at the input price), so a
model switch costs nothing extra here and the sticky main loop can only slow learning down.

For learned routing it also reports the regret against an oracle that knows the world's true
rates and follows the same rule (the cheapest candidate whose true failure rate is within the
tolerance, else the last candidate): the extra expected cost, and the extra expected failed
calls, of each learned choice over the oracle's, summed over the run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from agentwrap.route.decide import Decision, SessionState, decide  # noqa: E402
from agentwrap.route.learn import FAILED, SUCCEEDED, AutoPolicy, Evidence  # noqa: E402
from agentwrap.route.profile import Profile, ProfileError, load_profile  # noqa: E402
from agentwrap.route.step import STEP_KINDS, Step  # noqa: E402
from agentwrap.route.tomlpos import LineIndex  # noqa: E402
from agentwrap.wire.call import ANTHROPIC, Call  # noqa: E402

SIMULATED = "simulated"
AGENT = "claude"  # the simulated agent: Claude Code's request shapes, Anthropic's API
MAIN_LOOP_KINDS = ("plan", "implement", "compact")  # the agent's main conversation
SPREAD = 0.5  # a step's token counts vary uniformly within ±50 % of the world's mean

_TOP_KEYS = {
    "name": "a short name",
    "sessions": "a positive integer (sessions to play)",
    "seed": "an integer (the world's random seed)",
    "max_consecutive_failures": "a positive integer (failed calls in a row that end a session)",
    "steps": "a table: step kind → mean steps per session",
    "tokens": "a table: step kind → [input, output] mean tokens",
    "models": "a table of models: [models.ALIAS] with price and success",
    "drift": "an array of [[drift]] tables (after_session, model, success)",
}
_MODEL_KEYS = {
    "price": "a table {input, output} in USD per million tokens",
    "success": "a table: step kind → probability a step succeeds",
}
_DRIFT_KEYS = {
    "after_session": "a positive integer: the rates change for the sessions after this one",
    "model": "a model alias of the world",
    "success": "a table: step kind → the new probability a step succeeds",
}


class WorldError(ValueError):
    """A world file is wrong; the message names the file, the line and the key."""


@dataclass(frozen=True)
class WorldModel:
    """One model of the world: its list price and its true success rate per step kind."""

    alias: str
    input_price: float  # USD per million tokens
    output_price: float
    success: Mapping[str, float]

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one call of this size."""
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6


@dataclass(frozen=True)
class Drift:
    """From the session after `after_session` on, `model` succeeds at these rates instead."""

    after_session: int
    model: str
    success: Mapping[str, float]


@dataclass(frozen=True)
class World:
    """A simulated world: sessions, their steps, the models' prices and true rates."""

    name: str
    sessions: int
    seed: int
    max_consecutive_failures: int
    steps: Mapping[str, float]
    tokens: Mapping[str, tuple[int, int]]
    models: Mapping[str, WorldModel]
    drift: tuple[Drift, ...] = ()
    source: str = "<world>"

    def success(self, alias: str, kind: str, session: int) -> float:
        """The true probability that `alias` gets a `kind` step right in session `session`
        (numbered from 1)."""
        rate = self.models[alias].success[kind]
        for change in self.drift:
            if change.model == alias and session > change.after_session and kind in change.success:
                rate = change.success[kind]
        return rate

    def mean_cost(self, alias: str, kind: str) -> float:
        """The expected USD of one call of a `kind` step on `alias`."""
        input_tokens, output_tokens = self.tokens[kind]
        return self.models[alias].cost(input_tokens, output_tokens)


# ---------------------------------------------------------------- the world file


def load_world(path: Path) -> World:
    """Read and check a world file."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise WorldError(f"{path}: cannot read the world: {exc.strerror or exc}") from None
    return parse_world(text, str(path))


def parse_world(text: str, source: str = "<world>") -> World:
    """A world from TOML text; every error names the file, the line and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorldError(f"{source}: not valid TOML: {exc}") from None
    lines = LineIndex(text)

    def error(path: tuple[str | int, ...], message: str) -> WorldError:
        line = lines.line(path)
        return WorldError(f"{source}:{line}: {message}" if line else f"{source}: {message}")

    def dotted(path: tuple[str | int, ...]) -> str:
        return ".".join(f"[{p + 1}]" if isinstance(p, int) else p for p in path).replace(".[", "[")

    def check_keys(path: tuple[str | int, ...], raw: Mapping[str, Any], known: Mapping[str, str]):
        for key in raw:
            if key not in known:
                where = dotted((*path, key))
                raise error(
                    (*path, key), f"unknown key '{where}'; expected one of: {', '.join(known)}"
                )

    def table(path: tuple[str | int, ...], raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise error(path, f"{dotted(path)}: expected a table")
        return raw

    def integer(path: tuple[str | int, ...], raw: Any, minimum: int) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            raise error(path, f"{dotted(path)}: expected an integer >= {minimum}, got {raw!r}")
        return raw

    def number(path: tuple[str | int, ...], raw: Any, low: float, high: float) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
            raise error(
                path, f"{dotted(path)}: expected a number from {low:g} to {high:g}, got {raw!r}"
            )
        return float(raw)

    def kind_of(path: tuple[str | int, ...], kind: str, known: Sequence[str]) -> str:
        if kind not in known:
            raise error(
                path, f"{dotted(path)}: unknown step kind '{kind}'; known: {', '.join(known)}"
            )
        return kind

    def rates(path: tuple[str | int, ...], raw: Any, kinds: Sequence[str]) -> dict[str, float]:
        out = {}
        for kind, value in table(path, raw).items():
            kind_of((*path, kind), kind, kinds)
            out[kind] = number((*path, kind), value, 0.0, 1.0)
        return out

    check_keys((), data, _TOP_KEYS)
    for required in (
        "name",
        "sessions",
        "seed",
        "max_consecutive_failures",
        "steps",
        "tokens",
        "models",
    ):
        if required not in data:
            raise WorldError(f"{source}: {required}: missing; expected {_TOP_KEYS[required]}")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise error(("name",), "name: expected a non-empty string")
    sessions = integer(("sessions",), data["sessions"], 1)
    seed = integer(("seed",), data["seed"], 0)
    max_failures = integer(("max_consecutive_failures",), data["max_consecutive_failures"], 1)

    steps: dict[str, float] = {}
    for kind, mean in table(("steps",), data["steps"]).items():
        kind_of(("steps", kind), kind, STEP_KINDS)
        steps[kind] = number(("steps", kind), mean, 0.0, 10_000.0)
    if not any(steps.values()):
        raise error(("steps",), "steps: expected at least one step kind with a mean above 0")
    kinds = list(steps)

    tokens: dict[str, tuple[int, int]] = {}
    raw_tokens = table(("tokens",), data["tokens"])
    for kind, pair in raw_tokens.items():
        kind_of(("tokens", kind), kind, kinds)
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair)
        ):
            raise error(
                ("tokens", kind),
                f"tokens.{kind}: expected [input, output] token counts, got {pair!r}",
            )
        tokens[kind] = (pair[0], pair[1])
    for kind in kinds:
        if kind not in tokens:
            raise error(
                ("tokens",),
                f"tokens.{kind}: missing; every step kind in [steps] needs [input, output]",
            )

    models: dict[str, WorldModel] = {}
    for alias, raw in table(("models",), data["models"]).items():
        path: tuple[str | int, ...] = ("models", alias)
        raw = table(path, raw)
        check_keys(path, raw, _MODEL_KEYS)
        for required in ("price", "success"):
            if required not in raw:
                raise error(
                    path, f"models.{alias}.{required}: missing; expected {_MODEL_KEYS[required]}"
                )
        price = table((*path, "price"), raw["price"])
        check_keys((*path, "price"), price, {"input": "USD/MTok", "output": "USD/MTok"})
        for key in ("input", "output"):
            if key not in price:
                raise error(
                    (*path, "price"),
                    f"models.{alias}.price.{key}: missing (USD per million tokens)",
                )
        success = rates((*path, "success"), raw["success"], kinds)
        for kind in kinds:
            if kind not in success:
                raise error(
                    (*path, "success"),
                    f"models.{alias}.success.{kind}: missing; the world's steps are {', '.join(kinds)}",
                )
        models[alias] = WorldModel(
            alias,
            number((*path, "price", "input"), price["input"], 0.0, 1e6),
            number((*path, "price", "output"), price["output"], 0.0, 1e6),
            success,
        )
    if not models:
        raise error(("models",), "models: expected at least one [models.ALIAS] table")

    drifts: list[Drift] = []
    raw_drift = data.get("drift", [])
    if not isinstance(raw_drift, list):
        raise error(("drift",), f"drift: expected {_TOP_KEYS['drift']}")
    for i, raw in enumerate(raw_drift):
        path = ("drift", i)
        raw = table(path, raw)
        check_keys(path, raw, _DRIFT_KEYS)
        for required in _DRIFT_KEYS:
            if required not in raw:
                raise error(
                    path, f"drift[{i + 1}].{required}: missing; expected {_DRIFT_KEYS[required]}"
                )
        after = integer((*path, "after_session"), raw["after_session"], 1)
        if after >= sessions:
            raise error(
                (*path, "after_session"),
                f"drift[{i + 1}].after_session: {after} is not before the last session ({sessions})",
            )
        model = raw["model"]
        if model not in models:
            raise error(
                (*path, "model"),
                f"drift[{i + 1}].model: unknown model '{model}'; known: {', '.join(models)}",
            )
        drifts.append(Drift(after, model, rates((*path, "success"), raw["success"], kinds)))
    return World(name, sessions, seed, max_failures, steps, tokens, models, tuple(drifts), source)


# ---------------------------------------------------------------- sessions


def _poisson(rng: Random, mean: float) -> int:
    """A Poisson draw (Knuth's product of uniforms; the means here are small)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def session_steps(world: World, number: int) -> list[tuple[str, int, int]]:
    """The steps of session `number` as (kind, input tokens, output tokens); the same for every
    profile (the session's own random stream)."""
    rng = Random(f"{world.seed}/session/{number}")
    counts = {kind: _poisson(rng, mean) for kind, mean in world.steps.items()}
    head = ["plan"] * counts.get("plan", 0) + ["explore"] * counts.get("explore", 0)
    work = [
        kind
        for kind, count in counts.items()
        if kind not in ("plan", "explore", "compact")
        for _ in range(count)
    ]
    rng.shuffle(work)
    for _ in range(counts.get("compact", 0)):
        work.insert(rng.randrange(len(work) + 1), "compact")
    out = []
    for kind in head + work:
        mean_in, mean_out = world.tokens[kind]
        out.append(
            (
                kind,
                max(1, round(mean_in * rng.uniform(1 - SPREAD, 1 + SPREAD))),
                max(1, round(mean_out * rng.uniform(1 - SPREAD, 1 + SPREAD))),
            )
        )
    return out


def outcome_draw(world: World, session: int, step: int, attempt: int) -> float:
    """The uniform draw that decides one call's outcome: the same for every profile at the same
    point of the same session, so profiles are compared on common random numbers."""
    return Random(f"{world.seed}/outcome/{session}/{step}/{attempt}").random()


def simulated_call(model: str, input_tokens: int, last_failed: bool | None) -> Call:
    """The request the proxy would see for a step: its size and the previous tool result."""
    if last_failed is None:
        content: list[dict[str, Any]] = [{"type": "text", "text": "simulated task"}]
    else:
        content = [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_sim",
                "is_error": last_failed,
                "content": "simulated tool output",
            }
        ]
    body = {
        "model": model,
        "max_tokens": 8192,
        "stream": True,
        "messages": [{"role": "user", "content": content}],
    }
    # The proxy estimates a prompt's tokens from the body's size: four bytes a token.
    return Call(ANTHROPIC, "messages", body, {}, raw_size=input_tokens * 4)


# ---------------------------------------------------------------- playing a profile


@dataclass
class KindStats:
    """What happened on one step kind: calls per model, failed calls, cost."""

    calls: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    cost: float = 0.0
    explored: int = 0  # calls where learned routing tried another candidate
    tolerance: float | None = None  # max_failure_rate of the learned routing that decided

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True)
class CallLog:
    """One simulated call: where it went, with what probability, and how it went."""

    session: int
    kind: str
    alias: str
    propensity: float
    explored: bool
    learned: bool  # decided by a use = "auto" policy
    ok: bool


@dataclass
class Result:
    """One profile's run on one world."""

    profile: str
    sessions: int = 0
    succeeded: int = 0
    cost: float = 0.0
    calls: int = 0
    kinds: dict[str, KindStats] = field(default_factory=lambda: defaultdict(KindStats))
    log: list[CallLog] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    learned: bool = False
    regret_usd: float = 0.0
    regret_failures: float = 0.0
    regret_by_half: list[float] = field(default_factory=lambda: [0.0, 0.0])
    cost_by_half: list[float] = field(default_factory=lambda: [0.0, 0.0])
    succeeded_by_half: list[int] = field(default_factory=lambda: [0, 0])
    sessions_by_half: list[int] = field(default_factory=lambda: [0, 0])

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.sessions if self.sessions else 0.0


def _world_alias(profile: Profile, decision: Decision, requested: str, world: World) -> str:
    """The world model a decision sends the call to (by alias; 'requested' is the frontier)."""
    alias = decision.target.alias or requested
    if alias not in world.models:
        raise WorldError(
            f"{world.source}: profile '{profile.name}' sends calls to '{alias}', which the world "
            f"does not know; its models: {', '.join(world.models)}"
        )
    return alias


def frontier(world: World) -> str:
    """The world's most expensive model: what the simulated agent asks for."""
    return max(
        world.models, key=lambda a: (world.models[a].input_price, world.models[a].output_price)
    )


def oracle(world: World, policy: AutoPolicy, kind: str, session: int) -> str:
    """What learned routing would choose if it knew the world's true rates."""
    candidates = [a for a in policy.candidates if a in world.models]
    for alias in sorted(candidates, key=lambda a: world.mean_cost(a, kind)):
        if 1 - world.success(alias, kind, session) <= policy.max_failure_rate:
            return alias
    return policy.fallback


def _expected(world: World, alias: str, kind: str, session: int) -> tuple[float, float]:
    """(expected USD, expected failure) of a call: a failed call is paid again on its retry."""
    success = world.success(alias, kind, session)
    cost = world.mean_cost(alias, kind) / success if success > 0 else math.inf
    return cost, 1 - success


def play(world: World, profile: Profile, sessions: int | None = None) -> Result:
    """Play every session of the world under one profile.

    The profile's learned routing starts with no evidence and learns from every call's
    outcome, in order, as the proxy's ledger would label them.
    """
    result = Result(profile.name.removesuffix(".toml"))
    rng = Random(f"{world.seed}/policy")
    requested = frontier(world)
    requested_id = profile.models[requested].model if requested in profile.models else requested
    total = sessions or world.sessions
    for number in range(1, total + 1):
        state = SessionState(agent=AGENT)
        failures_in_a_row = 0
        last_failed: bool | None = None
        failed_session = False
        for index, (kind, input_tokens, output_tokens) in enumerate(session_steps(world, number)):
            for attempt in range(1, 1_000_000):
                call = simulated_call(requested_id, input_tokens, last_failed)
                step = Step(kind, SIMULATED, main_loop=kind in MAIN_LOOP_KINDS)
                decision = decide(profile, call, step, state, result.evidence, rng)
                state.record(call, step, decision)
                alias = _world_alias(profile, decision, requested, world)
                cost = world.models[alias].cost(input_tokens, output_tokens)
                ok = outcome_draw(world, number, index, attempt) < world.success(
                    alias, kind, number
                )
                stats = result.kinds[kind]
                stats.calls[alias] += 1
                stats.cost += cost
                result.cost += cost
                result.cost_by_half[number > total / 2] += cost
                result.calls += 1
                model = decision.target.model_for(call) or alias
                result.evidence.record(AGENT, kind, model, SUCCEEDED if ok else FAILED)
                result.log.append(
                    CallLog(
                        number,
                        kind,
                        alias,
                        decision.propensity,
                        decision.explored,
                        decision.policy is not None,
                        ok,
                    )
                )
                if decision.policy is not None:
                    result.learned = True
                    stats.explored += decision.explored
                    stats.tolerance = decision.policy.max_failure_rate
                    best = oracle(world, decision.policy, kind, number)
                    cost, failure = _expected(world, alias, kind, number)
                    best_cost, best_failure = _expected(world, best, kind, number)
                    result.regret_usd += cost - best_cost
                    result.regret_failures += failure - best_failure
                    result.regret_by_half[number > total / 2] += cost - best_cost
                if ok:
                    failures_in_a_row, last_failed = 0, False
                    break
                stats.failed += 1
                failures_in_a_row, last_failed = failures_in_a_row + 1, True
                if failures_in_a_row >= world.max_consecutive_failures:
                    failed_session = True
                    break
            if failed_session:
                break
        result.sessions += 1
        result.succeeded += not failed_session
        result.sessions_by_half[number > total / 2] += 1
        result.succeeded_by_half[number > total / 2] += not failed_session
    return result


# ---------------------------------------------------------------- the report


def summary(world: World, results: Sequence[Result]) -> dict[str, Any]:
    """The figures of a run, as the JSON output carries them."""
    base = results[0]
    out: dict[str, Any] = {
        "simulated": True,
        "world": world.name,
        "world_file": world.source,
        "sessions": base.sessions,
        "seed": world.seed,
        "baseline": base.profile,
        "profiles": [],
    }

    def saved(cost: float, baseline: float) -> float:
        return 1 - cost / baseline if baseline else 0.0

    for r in results:
        entry: dict[str, Any] = {
            "profile": r.profile,
            "session_success": r.success_rate,
            "cost_usd": r.cost,
            "saved_vs_baseline": saved(r.cost, base.cost),
            "calls": r.calls,
            "second_half": {
                "session_success": r.succeeded_by_half[1] / r.sessions_by_half[1]
                if r.sessions_by_half[1]
                else 0.0,
                "cost_usd": r.cost_by_half[1],
                "saved_vs_baseline": saved(r.cost_by_half[1], base.cost_by_half[1]),
            },
            "steps": {
                kind: {
                    "calls": dict(s.calls),
                    "failure_rate": s.failed / s.total if s.total else 0.0,
                    "cost_usd": s.cost,
                    "explored": s.explored,
                    "max_failure_rate": s.tolerance,
                }
                for kind in STEP_KINDS
                if (s := r.kinds.get(kind)) is not None
            },
        }
        if r.learned:
            entry["regret"] = {
                "usd": r.regret_usd,
                "failed_calls": r.regret_failures,
                "usd_first_half": r.regret_by_half[0],
                "usd_second_half": r.regret_by_half[1],
            }
        out["profiles"].append(entry)
    return out


def lines(report: Mapping[str, Any]) -> list[str]:
    """The report as text; every line says the world is simulated."""
    tag = f"[simulated world '{report['world']}']"
    out = [
        f"{tag} {report['sessions']} sessions, seed {report['seed']}: every figure is simulated; "
        "every profile plays the same sessions"
    ]
    for p in report["profiles"]:
        half = p["second_half"]
        saved = (
            "the baseline"
            if p["profile"] == report["baseline"]
            else f"saved {p['saved_vs_baseline']:.1%} vs {report['baseline']}"
        )
        out.append(
            f"{tag} {p['profile']}: sessions succeeded {p['session_success']:.1%}, "
            f"cost ${p['cost_usd']:,.2f} ({saved}), {p['calls']} calls"
        )
        if "regret" in p:
            out.append(
                f"{tag}   second half of the sessions: succeeded {half['session_success']:.1%}, "
                f"saved {half['saved_vs_baseline']:.1%} vs {report['baseline']}"
            )
        for kind, s in p["steps"].items():
            total = sum(s["calls"].values())
            mix = ", ".join(
                f"{alias} {n / total:.0%}"
                for alias, n in sorted(s["calls"].items(), key=lambda item: -item[1])
            )
            line = f"{tag}   {kind}: {mix}; failed calls {s['failure_rate']:.1%}"
            if s["max_failure_rate"] is not None:
                line += (
                    f" (tolerance {s['max_failure_rate']:.0%}); "
                    f"explored {s['explored'] / total:.1%} of calls"
                )
            out.append(line)
        if "regret" in p:
            r = p["regret"]
            out.append(
                f"{tag}   regret vs an oracle that knows the true rates: ${r['usd']:,.2f} "
                f"(first half ${r['usd_first_half']:,.2f}, second ${r['usd_second_half']:,.2f}), "
                f"{r['failed_calls']:+.1f} expected failed calls"
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", required=True, type=Path, help="a world file (TOML)")
    parser.add_argument(
        "--profile",
        action="append",
        required=True,
        help="a profile (preset name or path); repeat it; the first is the baseline",
    )
    parser.add_argument("--sessions", type=int, help="play only this many sessions")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        world = load_world(args.world)
        profiles = [
            load_profile(Path.cwd(), ref, env={}, translation=False) for ref in args.profile
        ]
        results = [play(world, p, args.sessions) for p in profiles]
    except (WorldError, ProfileError) as exc:
        print(f"[simulated] error: {exc}", file=sys.stderr)
        return 2
    report = summary(world, results)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
