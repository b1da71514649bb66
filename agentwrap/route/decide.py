"""Decisions: which model and provider handle a call, and why. Pure functions.

`decide(profile, call, step, state)` picks, in order:

1. a `--route STEP=MODEL` override of this run (the step's own, then `default`);
2. the first profile rule whose conditions all hold;
3. `routing.<step kind>`, then `routing.default`, then the requested model.

Then, in this order, policies that may change the choice — each says so in the reason:

- **Budget.** Once the session's cost reaches `budget.session_usd`: `warn` only notes it,
  `downgrade` sends the call to `budget.downgrade_to`, `stop` marks the decision `stop` (the
  proxy answers with an error instead of sending).
- **Can it serve the call?** A model is skipped when its provider's key is missing, it
  speaks another API and translation is unavailable, the call has server tools (web search:
  only Anthropic providers run them), images (needs `vision`), tools (needs `tools`), or a
  prompt larger than its context window. The next alias of its fallback chain is tried (an
  alias's fallbacks, then theirs, breadth first); when none fits, the call goes to the
  requested model on the agent's own provider. A decision carries at most three fallbacks.
- **Sticky main loop.** Switching the main loop's model mid-conversation throws away the
  provider's prompt cache: the next call pays to write the whole prefix again (for a 60k-token
  prompt, about as much as ten to twenty cached turns of reading it). So a main-loop call
  stays on the model the main loop is on, unless: the step kind changed (plan → implement is
  what routing is for), a rule, `--route` or the budget chose the new model, the agent itself
  asked for a different model, the current model cannot serve the call, the prompt is under
  `main_loop.free_switch_below_tokens` (little cache to lose), or the main loop has already
  made `main_loop.sticky_calls` calls on its model (the cache has paid for itself; e.g. an
  escalation after a failure lasts that long, then the step's own model returns).
  Compaction rewrites the conversation anyway, so after it the main loop may switch freely.

**Never dearer than requested.** A step never goes to a model that costs more, for this
call's size, than the model the agent asked for, unless it was asked for by name: a rule with
`escalate = true`, or `--route` for this run (and the main loop kept on such a model by the
sticky policy). Otherwise the call keeps the requested model, and the reason says so; a
fallback dearer than the requested model gives way to the requested model. A model either
side without a price is not compared.

**Learned routing.** A routing entry or rule with `use = "auto"` hands the choice to
`route.learn`: among its candidates that can serve the call, the cheapest for this call (from
the price book) whose failure rate at this step kind is credibly within `max_failure_rate`,
given the `evidence` passed in (the store's tallies; never read here), sometimes another one
to explore. The decision carries the probability it was made with (`propensity`); policies
that may change the choice apply as above and, when the sticky main loop keeps the model
whatever was drawn, the propensity is 1. An auto choice counts as a preference, not a forced
move: it never breaks the sticky main loop by itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from random import Random

from agentwrap.route.classify import classify, detect_agent
from agentwrap.route.dearer import note as dearer_note
from agentwrap.route.dearer import remedy
from agentwrap.route.features import Features, features
from agentwrap.route.learn import (
    ANY_AGENT,
    AutoPolicy,
    Choice,
    Evidence,
    Option,
    choose,
    exploit,
    settle,
)
from agentwrap.route.profile import REQUESTED, Profile, Provider, Rule
from agentwrap.route.step import STEP_KINDS, Step
from agentwrap.wire.call import ANTHROPIC, Call
from agentwrap.wire.common import Usage

MAX_TARGETS = 4  # the chosen model and up to three fallbacks: bounded retries on an outage
OUTPUT_ESTIMATE = 1000  # output tokens assumed when learned routing compares candidates' costs
PREVIEW_TOKENS = 20_000  # the prompt size `outlook` prices a step kind at

__all__ = [
    "Decision",
    "SessionState",
    "Step",
    "Target",
    "classify",
    "decide",
]


@dataclass
class Target:
    """Where a call goes: a model alias, the model id to send, and the provider."""

    alias: str | None  # None: the requested model (the reserved alias 'requested')
    model: str | None  # None: keep the requested model
    provider: Provider

    def model_for(self, call: Call) -> str | None:
        """The model id this target sends for a call."""
        return self.model if self.model is not None else call.model

    def label(self, call: Call | None = None) -> str:
        """ "sonnet (claude-sonnet-4-6 on anthropic)" or "requested (… on anthropic)"."""
        model = self.model if self.model is not None else (call.model if call else None)
        return (
            f"{self.alias or REQUESTED} ({model or 'the requested model'} on {self.provider.name})"
        )


@dataclass
class Decision:
    """The model chosen for a call, the rule that chose it, and why."""

    target: Target
    rule: str
    reason: str
    fallbacks: list[Target] = field(default_factory=list)
    baseline_model: str | None = None
    baseline_provider: str | None = None  # a price-book provider hint for the baseline
    step: Step | None = None
    stop: bool = False  # the budget says: do not send (answer the agent with an error)
    budget_exceeded: bool = False
    observed: Decision | None = None  # observe mode: what the profile would have chosen
    notes: list[str] = field(default_factory=list)  # the policy notes joined into `reason`
    propensity: float = 1.0  # the probability this target was chosen with (learned routing)
    policy: AutoPolicy | None = None  # the learned-routing policy that chose, if one did
    explored: bool = False  # learned routing tried another candidate than its best
    features: Features | None = None  # what the rules looked at (stored with the call)
    agent: str | None = None  # the agent CLI the rules saw (the session's, else detected)
    escalated: bool = False  # sent to a model dearer than the requested one, by name


@dataclass
class SessionState:
    """What the proxy knows about the session so far (one per session)."""

    cost_usd: float = 0.0
    main_model: str | None = None  # the model id the main loop is on
    last_failed: bool | None = None  # the previous step failed (when not visible in the call)
    main_target: Target | None = None
    main_step: str | None = None  # the step kind of the last main-loop call
    main_requested: str | None = None  # the model the agent asked for on that call
    main_calls: int = 0  # main-loop calls in a row on main_model
    main_escalated: bool = False  # main_model is dearer than requested, by an escalation
    agent: str | None = None  # the agent CLI of the session (claude, codex, ...)
    observe: bool = False  # forward unchanged, record what the profile would have chosen

    def record(
        self, call: Call, step: Step, decision: Decision, used: Target | None = None
    ) -> None:
        """Note a call that was sent, so the next decisions know the main loop's model.

        `used` is the target that answered when a fallback took over: its cache is the warm one.
        """
        if decision.observed is not None:
            # In observe mode the profile's own choices are followed, as if they had been applied.
            decision, used = decision.observed, None
        if decision.stop or not step.main_loop or decision.explored:
            # An explored call is an excursion: the main loop's model and its cache stay.
            return
        if step.kind == "compact":
            # The conversation is rewritten after compaction: no cache to keep.
            self.main_target = self.main_model = self.main_step = None
            self.main_calls = 0
            self.main_escalated = False
            return
        target = used or decision.target
        model = target.model_for(call)
        self.main_calls = self.main_calls + 1 if model == self.main_model else 1
        self.main_target = target
        self.main_model = model
        self.main_step = step.kind
        self.main_requested = call.model
        self.main_escalated = decision.escalated and used is None


def learning_agent(state: SessionState, call: Call) -> str:
    """The agent a call's learned-routing evidence is kept under."""
    return state.agent or detect_agent(call) or ANY_AGENT


def decide(
    profile: Profile,
    call: Call,
    step: Step,
    state: SessionState | None = None,
    evidence: Evidence | None = None,
    rng: Random | None = None,
    facts: Features | None = None,
) -> Decision:
    """The model, provider, rule, reason, fallbacks and baseline for one call.

    `evidence` is what learned routing knows (per agent × step kind × model outcome tallies);
    `rng` is its only randomness (exploration), injected so runs can be replayed. Without one
    nothing is explored: the decision is learned routing's settled choice (an explanation).
    `facts` are the call's features when they are known already (a recorded call re-decided
    from the store, whose body is gone); None reads them from the call.
    """
    state = state or SessionState()
    facts = facts if facts is not None else features(call)
    learned = _Learned(evidence if evidence is not None else Evidence(), rng)
    decision = _decide(profile, call, step, state, facts, learned)
    decision.features = facts
    decision.agent = state.agent or detect_agent(call)
    if not state.observe:
        return decision
    passthrough = Target(None, None, profile.provider_for_api(call.surface))
    return Decision(
        target=passthrough,
        rule="observe",
        reason=f"observe mode: forwarded unchanged; the profile would send "
        f"{decision.target.label(call)} ({decision.rule})",
        baseline_model=decision.baseline_model,
        baseline_provider=decision.baseline_provider,
        step=step,
        observed=decision,
        features=facts,
        agent=decision.agent,
    )


# ---------------------------------------------------------------- the steps of a decision


@dataclass
class _Learned:
    evidence: Evidence
    rng: Random | None  # None: never explore


def _decide(
    profile: Profile,
    call: Call,
    step: Step,
    state: SessionState,
    facts: Features,
    learned: _Learned,
) -> Decision:
    alias, rule, why, policy, escalate = _choose(profile, call, step, state, facts)
    notes: list[str] = []
    stop = exceeded = False
    forced = rule != f"routing.{step.kind}" and not rule.startswith(
        ("routing.default", "passthrough")
    )
    choice: Choice | None = None
    if policy is not None:
        agent = learning_agent(state, call)
        choice, dearer = _auto(profile, policy, call, step, facts, agent, learned, escalate)
        forced = False  # a learned preference, like a routing entry: the cache policy holds
        if choice is None and dearer:
            # Every candidate that could take the call costs more: the request's own model.
            alias = REQUESTED
            why = (
                f"auto: every candidate that can take this call costs more than "
                f"{call.model} ({', '.join(t.alias or REQUESTED for t, _ in dearer)})"
            )
            cheapest, cost = dearer[0]
            notes.append(dearer_note(call.model or "", rule, cheapest.label(call), cost))
        elif choice is None:
            alias, why = policy.fallback, "auto: no candidate can take this call"
        else:
            # The policies below act on the candidate chosen without exploring.
            alias, why = choice.exploited, f"auto: {choice.reason}"

    budget = profile.budget
    if budget and state.cost_usd >= budget.session_usd:
        exceeded = True
        spent = f"session cost ${state.cost_usd:.2f} reached the ${budget.session_usd:.2f} budget"
        if budget.on_exceed == "downgrade" and budget.downgrade_to:
            alias, rule, why = budget.downgrade_to, "budget.downgrade", f"{spent}: downgrade"
            forced, choice, escalate = True, None, False
        elif budget.on_exceed == "stop":
            stop = True
            notes.append(f"{spent}: stop (the call is not sent)")
        else:
            notes.append(f"{spent} (warn)")

    usable, moved = _usable(profile, alias, call, facts, notes)
    forced = forced or moved
    target, fallbacks = usable[0], usable[1:]
    chosen_by = rule
    target, fallbacks, rule = _sticky(
        profile, call, step, state, facts, target, fallbacks, rule, forced, notes
    )
    if rule == "main_loop.sticky":
        escalate = state.main_escalated
    target, fallbacks, escalated = _cap(
        profile, call, facts, target, fallbacks, escalate, rule, notes
    )

    propensity, explored = 1.0, False
    if choice is not None and not stop:
        settled = settle(choice, target.alias or REQUESTED)
        propensity, explored = settled.propensity, settled.explored
        if explored:
            # One call on the explored candidate; the main loop's model keeps its warm cache.
            target, *fallbacks = _usable(profile, settled.alias, call, facts, [])[0]
            rule = chosen_by
            notes[:] = [n for n in notes if not n.startswith(("kept the main", "switches the"))]
            if state.main_model and target.model_for(call) != state.main_model:
                notes.append(f"explore: this call only; the main loop stays on {state.main_model}")

    baseline_model, baseline_provider = _baseline(profile, call)
    head = f"{rule}: {step.kind} → {target.label(call)}"
    if why:
        head = f"{rule} ({why}): {step.kind} → {target.label(call)}"
    return Decision(
        target=target,
        rule=rule,
        reason="; ".join([head, *notes]),
        fallbacks=fallbacks,
        baseline_model=baseline_model,
        baseline_provider=baseline_provider,
        step=step,
        stop=stop,
        budget_exceeded=exceeded,
        notes=notes,
        propensity=propensity,
        policy=policy if choice is not None else None,
        explored=explored,
        escalated=escalated,
    )


def _costs_more(
    profile: Profile, target: Target, call: Call, facts: Features
) -> tuple[float, float] | None:
    """(the target's cost, the requested model's) for this call when the target costs more,
    or None when it costs no more or either side has no price."""
    model = target.model_for(call)
    if target.alias is None or not call.model or model == call.model or model is None:
        return None
    book = profile.price_book()
    provider = profile.models[target.alias].provider
    mine = book.estimate(model, facts.tokens, OUTPUT_ESTIMATE, provider)
    home = profile.provider_for_api(call.surface).name
    theirs = book.estimate(call.model, facts.tokens, OUTPUT_ESTIMATE, home)
    if mine is None or theirs is None or mine <= theirs:
        return None
    return mine, theirs


def _dearer(profile: Profile, target: Target, call: Call, facts: Features) -> str | None:
    """How much more a target costs than the requested model for this call ("~$0.0420 vs
    ~$0.0310"), or None when it costs no more or either side has no price."""
    costs = _costs_more(profile, target, call, facts)
    return None if costs is None else f"~${costs[0]:.4f} vs ~${costs[1]:.4f}"


def _cap(
    profile: Profile,
    call: Call,
    facts: Features,
    target: Target,
    fallbacks: list[Target],
    escalate: bool,
    rule: str,
    notes: list[str],
) -> tuple[Target, list[Target], bool]:
    """Never dearer than the requested model unless asked for by name (see the module
    docstring): (target, fallbacks, whether the target is a dearer model by escalation).
    `rule` is what chose the target: the note names it and the change that would allow it."""
    dearer = _dearer(profile, target, call, facts)
    if escalate:
        return target, fallbacks, dearer is not None
    requested = _target(profile, REQUESTED, call)
    if dearer is not None:
        notes.append(dearer_note(call.model or "", rule, target.label(call), dearer))
        target = requested
    cheaper = [f for f in fallbacks if _dearer(profile, f, call, facts) is None]
    gave_way = len(cheaper) < len(fallbacks)
    if gave_way and target.alias is not None and all(f.alias is not None for f in cheaper):
        cheaper.append(requested)
    if target.alias is None:
        cheaper = [f for f in cheaper if f.alias is not None]
    return target, cheaper[: MAX_TARGETS - 1], False


def _usable(
    profile: Profile, alias: str, call: Call, facts: Features, notes: list[str]
) -> tuple[list[Target], bool]:
    """The targets of an alias's chain that can take the call (at most MAX_TARGETS), and
    whether the call had to move off the alias itself (then it is not a preference)."""
    usable: list[Target] = []
    for item in _chain(profile, alias):
        problem = _unusable(profile, item, call, facts)
        if problem is None:
            usable.append(_target(profile, item, call))
            if len(usable) == MAX_TARGETS:
                break
        elif not usable:
            notes.append(f"skipped {item}: {problem}")
    if not usable:
        notes.append("no model in the chain can take this call → the requested model")
        return [_target(profile, REQUESTED, call)], True
    return usable, usable[0].alias != (None if alias == REQUESTED else alias)


def _choose(
    profile: Profile, call: Call, step: Step, state: SessionState, facts: Features
) -> tuple[str, str, str, AutoPolicy | None, bool]:
    """(alias, rule, why, policy, escalate) before any policy; alias is AUTO when `policy`
    decides; `escalate`: the choice may cost more than the requested model (named for it)."""
    for key in (step.kind, "default"):
        if key in profile.overrides:
            override = profile.overrides[key]
            return override, f"--route {key}={override}", "", None, True
    agent = state.agent or detect_agent(call)
    for rule in profile.rules:
        matched = _match(rule, call, step, state, facts, agent)
        if matched is not None:
            return rule.use, f"rule '{rule.name}'", matched, rule.auto, rule.escalate
    for key in (step.kind, "default"):
        if key in profile.routing:
            return profile.routing[key], f"routing.{key}", "", profile.auto.get(key), False
    return REQUESTED, "passthrough", "the requested model, unchanged", None, False


def _auto(
    profile: Profile,
    policy: AutoPolicy,
    call: Call,
    step: Step,
    facts: Features,
    agent: str,
    learned: _Learned,
    escalate: bool = False,
) -> tuple[Choice | None, list[tuple[Target, str]]]:
    """Learned routing's choice among the candidates that can serve this call (and, unless
    `escalate`, cost no more than the requested model), and the candidates that could serve
    it but cost more, cheapest first, each with what it would cost against the requested
    model ("~$0.0750 vs ~$0.0250")."""
    usable: list[str] = []
    priced: list[tuple[float, Target, str]] = []
    for alias in policy.candidates:
        if _unusable(profile, alias, call, facts) is not None:
            continue
        target = _target(profile, alias, call)
        costs = None if escalate else _costs_more(profile, target, call, facts)
        if costs is None:
            usable.append(alias)
        else:
            priced.append((costs[0], target, f"~${costs[0]:.4f} vs ~${costs[1]:.4f}"))
    dearer = [(target, cost) for _, target, cost in sorted(priced, key=lambda item: item[0])]
    options = _options(profile, usable, step.kind, agent, learned.evidence, facts.tokens)
    if not options:
        return None, dearer
    if learned.rng is None:
        return choose(replace(policy, explore=0.0), options, step.kind, Random(0)), dearer
    return choose(policy, options, step.kind, learned.rng), dearer


def _options(
    profile: Profile,
    aliases: list[str],
    kind: str,
    agent: str,
    evidence: Evidence,
    tokens: int,
) -> list[Option]:
    """The candidates as learned routing weighs them: evidence, and the cost of a call of
    `tokens` prompt tokens on each (from the profile's price book)."""
    book = profile.price_book()
    usage = Usage(input_tokens=tokens, output_tokens=OUTPUT_ESTIMATE)
    out = []
    for alias in aliases:
        model = profile.models[alias]
        tally = evidence.tally(agent, kind, model.model)
        out.append(Option(alias, tally, book.cost(model.model, usage, model.provider).usd))
    return out


@dataclass(frozen=True)
class RuledOut:
    """A learned-routing candidate the never-dearer rule rules out for a requested model."""

    alias: str
    model: str
    cost: str  # "~$0.1250 vs ~$0.1000" (the candidate's against the requested model's)


@dataclass(frozen=True)
class Outlook:
    """What learned routing would choose now for one step kind, without exploring, and why."""

    kind: str
    where: str  # routing.implement, routing.default, rule 'long-prompts'
    policy: AutoPolicy
    alias: str | None  # None: no candidate's provider is available; "requested": all cost more
    reason: str
    ruled_out: tuple[RuledOut, ...] = ()  # dearer than the requested model, no escalation


def outlook(
    profile: Profile,
    evidence: Evidence,
    agent: str,
    tokens: int = PREVIEW_TOKENS,
    requested: str | None = None,
    api: str | None = None,
) -> list[Outlook]:
    """For each step kind a `use = "auto"` entry routes (rules with a step condition, then
    routing), what it would choose now for a call of `tokens` prompt tokens, and why.

    With a `requested` model, the never-dearer rule applies as in `decide`: a candidate that
    costs more than it for such a call (asked for on `api`, by default the profile's agent
    API) is ruled out unless the entry escalates."""
    out: list[Outlook] = []
    sites: list[tuple[str, str, AutoPolicy, bool]] = []
    for rule in profile.rules:
        if rule.auto is not None:
            sites += [(k, f"rule '{rule.name}'", rule.auto, rule.escalate) for k in rule.step]
    for kind in STEP_KINDS:
        key = kind if kind in profile.routing else "default"
        policy = profile.auto.get(key)
        if policy is not None and profile.routing.get(key) is not None:
            sites.append((kind, f"routing.{key}", policy, False))
    for kind, where, policy, escalate in sites:
        available = [
            a for a in policy.candidates if profile.provider_of(a).name not in profile.unavailable
        ]
        dearer = (
            []
            if escalate or requested is None
            else _ruled_out(profile, available, requested, api or profile.agent_api)
        )
        usable = [a for a in available if a not in {r.alias for r in dearer}]
        options = _options(profile, usable, kind, agent, evidence, tokens)
        if dearer and not options:
            why = f"every candidate costs more than {requested}: it keeps {requested}"
            out.append(Outlook(kind, where, policy, REQUESTED, why, tuple(dearer)))
        elif not options:
            out.append(Outlook(kind, where, policy, None, "no candidate's provider is available"))
        else:
            best, why = exploit(policy, options)
            out.append(Outlook(kind, where, policy, best.alias, why, tuple(dearer)))
    return out


def _ruled_out(profile: Profile, aliases: list[str], requested: str, api: str) -> list[RuledOut]:
    """The aliases that cost more than `requested`, asked for on `api`, for a PREVIEW_TOKENS
    prompt (as `routes_up` prices them)."""
    book = profile.price_book()
    usage = Usage(input_tokens=PREVIEW_TOKENS, output_tokens=OUTPUT_ESTIMATE)
    theirs = book.cost(requested, usage, profile.provider_for_api(api).name).usd
    out: list[RuledOut] = []
    for alias in aliases:
        model = profile.models[alias]
        mine = book.cost(model.model, usage, model.provider).usd
        if theirs is not None and mine is not None and mine > theirs and model.model != requested:
            out.append(RuledOut(alias, model.model, f"~${mine:.4f} vs ~${theirs:.4f}"))
    return out


def _match(
    rule: Rule, call: Call, step: Step, state: SessionState, facts: Features, agent: str | None
) -> str | None:
    """A short description of the conditions that held, or None when one does not."""
    held: list[str] = []
    for holds, said in _conditions(rule, call, step, state, facts, agent):
        if not holds:
            return None
        held.append(said)
    return ", ".join(held) or "no conditions"


def _conditions(
    rule: Rule, call: Call, step: Step, state: SessionState, facts: Features, agent: str | None
) -> Iterator[tuple[bool, str]]:
    """Each condition the rule sets, in order: whether it holds, and how to say it did."""
    if rule.step:
        yield step.kind in rule.step, f"step {step.kind}"
    if rule.requested_model:
        model = call.model or ""
        found = any(fnmatchcase(model, glob) for glob in rule.requested_model)
        yield found, f"requested {model}"
    if rule.tokens_above is not None:
        yield facts.tokens > rule.tokens_above, f"~{facts.tokens} tokens > {rule.tokens_above}"
    if rule.tokens_below is not None:
        yield facts.tokens < rule.tokens_below, f"~{facts.tokens} tokens < {rule.tokens_below}"
    for name, wanted, actual in (
        ("thinking", rule.thinking, facts.thinking),
        ("images", rule.images, facts.images),
        ("tools", rule.tools, facts.tools),
    ):
        if wanted is not None:
            yield wanted == actual, name if wanted else f"no {name}"
    if rule.subagent:
        kinds = {s.lower() for s in rule.subagent}
        yield (step.subagent_type or "").lower() in kinds, f"subagent {step.subagent_type}"
    if rule.last_failed is not None:
        failed = facts.last_failed if facts.last_failed is not None else state.last_failed
        said = "last step failed" if rule.last_failed else "last step did not fail"
        yield bool(failed) == rule.last_failed, said
    if rule.agent:
        yield agent in rule.agent, f"agent {agent}"


def _chain(profile: Profile, alias: str) -> list[str]:
    """The alias, its fallbacks, then theirs (breadth first, each alias once)."""
    chain = [alias]
    for item in chain:  # the list grows while we walk it
        for fallback in profile.fallbacks.get(item, []):
            if fallback not in chain:
                chain.append(fallback)
    return chain


def _target(profile: Profile, alias: str, call: Call) -> Target:
    if alias == REQUESTED:
        return Target(None, None, profile.provider_for_api(call.surface))
    model = profile.models[alias]
    return Target(alias, model.model, profile.providers[model.provider])


def _unusable(profile: Profile, alias: str, call: Call, facts: Features) -> str | None:
    """Why a model cannot take this call, or None when it can."""
    if alias == REQUESTED:
        return None
    model = profile.models[alias]
    provider = profile.providers[model.provider]
    if provider.name in profile.unavailable:
        return f"provider {provider.name} is unavailable ({profile.unavailable[provider.name]})"
    if provider.api != call.surface and not profile.translation:
        return (
            f"{provider.name} speaks {provider.api}, the agent {call.surface}, "
            "and translation is not available"
        )
    if facts.server_tools and (
        provider.api != ANTHROPIC or not model.can("server_tools", provider.api)
    ):
        return (
            f"{facts.server_tools[0]} is a server tool that only Anthropic providers run "
            "→ re-routed"
        )
    if facts.images and not model.can("vision", provider.api):
        return "the call has images and the model has no vision"
    if facts.tools and not model.can("tools", provider.api):
        return "the call has tools and the model has no tool use"
    if model.context_window is not None and facts.tokens > model.context_window:
        return f"~{facts.tokens} prompt tokens exceed its {model.context_window}-token window"
    return None


def _sticky(
    profile: Profile,
    call: Call,
    step: Step,
    state: SessionState,
    facts: Features,
    target: Target,
    fallbacks: list[Target],
    rule: str,
    forced: bool,
    notes: list[str],
) -> tuple[Target, list[Target], str]:
    """Apply the sticky-main-loop policy (see the module docstring)."""
    current = state.main_target
    if not (step.main_loop and step.kind != "compact" and current is not None and state.main_model):
        return target, fallbacks, rule
    new_model = target.model_for(call)
    if new_model == state.main_model and target.provider.name == current.provider.name:
        return target, fallbacks, rule
    cache = f"~{facts.tokens:,} tokens"  # as fmt.count writes a count: ~5,373
    if not profile.sticky_main_loop:
        why = "main_loop.sticky = false"
    elif forced:
        why = f"chosen by {rule}"
    elif state.main_step and state.main_step != step.kind:
        why = f"phase change {state.main_step} → {step.kind}"
    elif state.main_requested and call.model != state.main_requested:
        why = f"the agent now asks for {call.model}"
    elif facts.tokens < profile.free_switch_below_tokens:
        why = f"the prompt is small ({cache})"
    elif state.main_calls >= profile.sticky_calls:
        why = f"after {state.main_calls} calls on it (main_loop.sticky_calls)"
    elif _unusable(profile, current.alias or REQUESTED, call, facts) is not None:
        why = f"{current.alias or REQUESTED} cannot take this call"
    else:
        notes.append(
            f"kept the main loop on {state.main_model}: switching to {new_model} would throw "
            f"away its prompt cache ({cache}) (main_loop.sticky, call {state.main_calls + 1} "
            f"of {profile.sticky_calls})"
        )
        alias = current.alias or REQUESTED
        stay = Target(current.alias, current.model, current.provider)
        rest = [
            _target(profile, a, call)
            for a in _chain(profile, alias)[1:]
            if _unusable(profile, a, call, facts) is None
        ][: MAX_TARGETS - 1]
        return stay, rest, "main_loop.sticky"
    notes.append(
        f"switches the main loop from {state.main_model} to {new_model}: the prompt cache "
        f"({cache}) is written again ({why})"
    )
    return target, fallbacks, rule


def _baseline(profile: Profile, call: Call) -> tuple[str | None, str | None]:
    if profile.baseline == REQUESTED:
        return call.model, profile.provider_for_api(call.surface).name
    model = profile.models[profile.baseline]
    return model.model, model.provider


@dataclass(frozen=True)
class RouteUp:
    """A place in a profile that routes to a model dearer than one the agent asks for, with
    no escalation to allow it (decide keeps the requested model there)."""

    where: str  # routing.plan, rule 'long-prompts', fallbacks.sonnet, budget.downgrade_to
    alias: str
    model: str
    requested: str
    cost: str  # "~$0.1050 vs ~$0.1000"

    def __str__(self) -> str:
        return (
            f"{self.where} sends steps to {self.alias} ({self.model}), which costs more than "
            f"{self.requested} ({self.cost} for a {PREVIEW_TOKENS}-token prompt); agentwrap "
            f"keeps {self.requested} there unless escalate = true: "
            f"{remedy(self.where, self.alias)}"
        )


def routes_up(
    profile: Profile,
    requested: list[str],
    agents: Mapping[str, tuple[str, list[str]]] | None = None,
) -> list[RouteUp]:
    """Where the profile would send a step to a model dearer than a `requested` model without
    an escalation (a rule's `escalate = true`): routing entries, learned-routing candidates,
    rules, the budget's downgrade, and their fallbacks.

    `agents` gives, per agent CLI, its API and the models it asks for: a rule that names an
    agent (`agent = ["gemini"]`) is checked against that agent's models too, priced on the
    provider of its API (a route that suits Claude Code's Opus may be dearer than the model
    Gemini CLI asks for)."""
    sites: list[tuple[str, str]] = []
    for kind, alias in profile.routing.items():
        policy = profile.auto.get(kind)
        aliases = list(policy.candidates) if policy else [alias]
        sites += [(f"routing.{kind}", a) for a in aliases]
    for rule in profile.rules:
        if not rule.escalate:
            aliases = list(rule.auto.candidates) if rule.auto else [rule.use]
            sites += [(f"rule '{rule.name}'", a) for a in aliases]
    if profile.budget and profile.budget.downgrade_to:
        sites.append(("budget.downgrade_to", profile.budget.downgrade_to))
    # The fallbacks of what is reached without an escalation (an escalation's own may cost more).
    reached = [REQUESTED, *dict.fromkeys(alias for _, alias in sites)]
    for alias in reached:
        sites += [(f"fallbacks.{alias}", a) for a in _chain(profile, alias)[1:]]
    checks = [(model_id, profile.agent_api, list(dict.fromkeys(sites))) for model_id in requested]
    for rule in profile.rules:
        for name in rule.agent if not rule.escalate else []:
            api, models = (agents or {}).get(name, (profile.agent_api, []))
            own = [s for s in dict.fromkeys(sites) if s[0] == f"rule '{rule.name}'"]
            checks += [(model_id, api, own) for model_id in models if model_id not in requested]
    out: list[RouteUp] = []
    for model_id, api, checked in checks:
        out += _dearer_sites(profile, checked, model_id, api)
    return list(dict.fromkeys(out))


def _dearer_sites(
    profile: Profile, sites: list[tuple[str, str]], model_id: str, api: str
) -> list[RouteUp]:
    """The (where, alias) sites whose model costs more than `model_id`, asked for on `api`."""
    book = profile.price_book()
    usage = Usage(input_tokens=PREVIEW_TOKENS, output_tokens=OUTPUT_ESTIMATE)
    theirs = book.cost(model_id, usage, profile.provider_for_api(api).name).usd
    out: list[RouteUp] = []
    for where, alias in sites:
        model = profile.models.get(alias)
        if theirs is None or model is None or model.model == model_id:
            continue
        mine = book.cost(model.model, usage, model.provider).usd
        if mine is not None and mine > theirs:
            out.append(
                RouteUp(where, alias, model.model, model_id, f"~${mine:.4f} vs ~${theirs:.4f}")
            )
    return out
