"""The step classifier: what kind of move is this call?

Agent-specific markers belong to the agent (agents/registry.py: each agent's
`classify(call) -> Step | None` and `detect(call) -> bool`); this module picks the agent's
hints, then applies generic markers, then the default — and when it falls back to the
default, the evidence says so.
"""

from __future__ import annotations

from agentwrap.agents import registry
from agentwrap.route.step import DEFAULT_KIND, STEP_KINDS, Step
from agentwrap.wire.call import Call

PROBE_MAX_TOKENS = 16

__all__ = ["STEP_KINDS", "Step", "classify", "detect_agent"]


def detect_agent(call: Call) -> str | None:
    """Which agent CLI sent the call, from its headers and body, when it is recognisable."""
    for agent in registry.agents():
        if agent.detect(call):
            return agent.name
    return None


def classify(call: Call, agent: str | None = None) -> Step:
    """The step kind of a call with its evidence (see Step). `agent` None: detect it."""
    if call.endpoint == "count_tokens":
        return Step("background", "count_tokens endpoint → background")
    name = agent or detect_agent(call)
    known = registry.get(name)
    if known is not None:
        step = known.classify(call)
        if step is not None:
            return step
    max_tokens = call.body.get("max_tokens", call.body.get("max_output_tokens"))
    if isinstance(max_tokens, int) and max_tokens <= PROBE_MAX_TOKENS:
        return Step("background", f"max_tokens={max_tokens} (a probe) → background")
    who = f"{name} " if name else ""
    return Step(
        DEFAULT_KIND,
        f"no {who}step marker matched → {DEFAULT_KIND} (default)",
        main_loop=True,
        matched=False,
    )
