"""Recorded calls re-decided under another profile, by the real `decide`. Pure functions.

Each call's row keeps the features its decision used (`stored_features`: prompt size, images,
thinking, tools, server tools, whether the last step failed, the subagent type, whether it is
the main loop, and the agent), beside its step kind, evidence, API surface, endpoint and the
model the agent asked for. `replay_session` turns those back into the inputs of `decide` and
walks a session's calls in order with a `SessionState` of its own, so the sticky main loop,
budgets and learned routing act as they would have under the other profile. The request body
is never stored, so the `Call` given to `decide` carries only the requested model: every fact
a rule can read comes from the stored features.

A row written before features were stored is re-decided from its step kind, its requested
model and its recorded prompt tokens alone (not the main loop, no images, no thinking, no
tools); `Redecision.complete` says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentwrap.pricing import Cost
from agentwrap.route.decide import Decision, SessionState, Step, decide
from agentwrap.route.features import Features
from agentwrap.route.learn import Evidence
from agentwrap.route.profile import Profile
from agentwrap.route.step import DEFAULT_KIND
from agentwrap.wire.call import GEMINI, Call
from agentwrap.wire.common import Usage

FEATURES_FORMAT = 1  # the version of the dict `stored_features` writes


def stored_features(step: Step | None, decision: Decision) -> dict[str, Any]:
    """What a call's row keeps of the facts its decision used (its `features` column)."""
    facts = decision.features
    if facts is None:
        return {}
    return {
        "format": FEATURES_FORMAT,
        "tokens": facts.tokens,
        "images": facts.images,
        "thinking": facts.thinking,
        "tools": facts.tools,
        "server_tools": list(facts.server_tools),
        "last_failed": facts.last_failed,
        "subagent_type": step.subagent_type if step else None,
        "main_loop": step.main_loop if step else False,
        "matched": step.matched if step else True,
        "agent": decision.agent,
    }


@dataclass(frozen=True)
class RecordedCall:
    """A stored call as replay reads it."""

    id: str
    surface: str
    endpoint: str
    requested_model: str | None
    step: str | None
    evidence: str | None
    features: Mapping[str, Any]
    usage: Usage  # the recorded token counts
    answered: bool  # the call got an answer (only those move the main loop)

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> RecordedCall:
        """From a `calls` row (the features column decoded or not)."""
        features = row.get("features")
        usage = Usage(
            input_tokens=int(row.get("input_tokens") or 0),
            output_tokens=int(row.get("output_tokens") or 0),
            cache_creation_tokens=int(row.get("cache_creation_tokens") or 0),
            cache_read_tokens=int(row.get("cache_read_tokens") or 0),
        )
        return cls(
            id=str(row["id"]),
            surface=str(row.get("surface") or "anthropic"),
            endpoint=str(row.get("endpoint") or "messages"),
            requested_model=row.get("requested_model"),
            step=row.get("step"),
            evidence=row.get("evidence"),
            features=features if isinstance(features, Mapping) else {},
            usage=usage,
            answered=row.get("status") == "ok",
        )

    @property
    def complete(self) -> bool:
        """Whether the row has the features its decision used."""
        return self.features.get("format") == FEATURES_FORMAT

    @property
    def prompt_tokens(self) -> int:
        """The recorded prompt: input tokens with cache reads and writes."""
        u = self.usage
        return u.input_tokens + u.cache_creation_tokens + u.cache_read_tokens


@dataclass(frozen=True)
class Redecision:
    """What another profile would have done with one recorded call."""

    call: RecordedCall
    decision: Decision
    model: str | None  # the model id it would have sent
    provider: str  # the provider it would have sent it to
    cost: Cost  # the recorded token counts at that model's price (not sent: $0)

    @property
    def complete(self) -> bool:
        return self.call.complete


def _call(recorded: RecordedCall) -> Call:
    model = recorded.requested_model
    body: dict[str, Any] = {} if model is None else {"model": model}
    path_model = model if recorded.surface == GEMINI else None
    return Call(recorded.surface, recorded.endpoint, body, {}, path_model)


def _step(recorded: RecordedCall) -> Step:
    f = recorded.features
    return Step(
        kind=recorded.step or DEFAULT_KIND,
        evidence=recorded.evidence or "",
        subagent_type=f.get("subagent_type"),
        main_loop=bool(f.get("main_loop", False)),
        matched=bool(f.get("matched", True)),
    )


def _facts(recorded: RecordedCall) -> Features:
    f = recorded.features
    if not recorded.complete:
        return Features(recorded.prompt_tokens, False, False, False, (), None)
    last = f.get("last_failed")
    return Features(
        tokens=int(f.get("tokens") or 0),
        images=bool(f.get("images")),
        thinking=bool(f.get("thinking")),
        tools=bool(f.get("tools")),
        server_tools=tuple(str(t) for t in f.get("server_tools") or ()),
        last_failed=None if last is None else bool(last),
    )


def replay_session(
    profile: Profile,
    calls: Iterable[RecordedCall],
    agent: str | None,
    evidence: Evidence | None = None,
) -> Iterator[Redecision]:
    """Re-decide one session's calls, in order, under `profile`, and price each from its
    recorded token counts with the profile's price book (the same tokens on another model:
    an estimate).

    Each call is decided for the agent recorded with it, else `agent` (the session's). Learned
    routing decides on `evidence` without exploring. A budget sees the
    session's spending under `profile`.
    """
    book = profile.price_book()
    state = SessionState(agent=agent)
    for recorded in calls:
        call = _call(recorded)
        step = _step(recorded)
        state.agent = recorded.features.get("agent") or agent
        decision = decide(profile, call, step, state, evidence, None, _facts(recorded))
        target = decision.target
        model = target.model_for(call)
        if decision.stop:
            cost = Cost(0.0)
        else:
            cost = book.cost(model, recorded.usage, target.provider.name)
            state.cost_usd += cost.usd or 0.0
        yield Redecision(recorded, decision, model, target.provider.name, cost)
        if recorded.answered and not decision.stop:
            state.record(call, step, decision)
