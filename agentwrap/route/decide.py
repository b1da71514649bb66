"""Decisions: which model and provider handle a call, and why. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentwrap.route.profile import Profile, Provider
from agentwrap.wire.call import Call


@dataclass
class Step:
    kind: str  # plan | explore | implement | subagent | background | compact | search
    evidence: str


@dataclass
class Target:
    alias: str | None
    model: str | None  # None: keep the requested model
    provider: Provider


@dataclass
class Decision:
    target: Target
    rule: str
    reason: str
    fallbacks: list[Target] = field(default_factory=list)
    baseline_model: str | None = None


@dataclass
class SessionState:
    cost_usd: float = 0.0
    main_model: str | None = None


def classify(call: Call, agent: str | None = None) -> Step:
    return Step("implement", "no step markers checked yet → implement (default)")


def decide(profile: Profile, call: Call, step: Step, state: SessionState | None = None) -> Decision:
    provider = profile.provider_for_api(call.surface)
    return Decision(
        target=Target(None, None, provider),
        rule="passthrough",
        reason="passthrough: the requested model, unchanged",
        baseline_model=call.model,
    )
