"""The step classifier: what kind of move is this call?

Agent-specific markers live in agents/<agent>_hints.py (each a `classify(call) -> Step | None`
and a `detect(call) -> bool`);
this module picks the agent's hints, then applies generic markers, then the default — and
when it falls back to the default, the evidence says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agentwrap.route.step import DEFAULT_KIND, STEP_KINDS, Step
from agentwrap.wire.call import Call

# Agent name → module with its step hints. Other agents add their line here.
HINT_MODULES = {
    "claude": "agentwrap.agents.claude_hints",
    "codex": "agentwrap.agents.codex_hints",
    "gemini": "agentwrap.agents.gemini_hints",
}
PROBE_MAX_TOKENS = 16

__all__ = ["STEP_KINDS", "Step", "classify", "detect_agent"]


def _hints(agent: str) -> Callable[[Call], Step | None] | None:
    module_name = HINT_MODULES.get(agent)
    if module_name is None:
        return None
    module = importlib.import_module(module_name)
    return getattr(module, "classify", None)


def detect_agent(call: Call) -> str | None:
    """Which agent CLI sent the call, from its headers and body, when it is recognisable."""
    for agent, module_name in HINT_MODULES.items():
        module = importlib.import_module(module_name)
        detector = getattr(module, "detect", None)
        if detector is not None and detector(call):
            return agent
    return None


def classify(call: Call, agent: str | None = None) -> Step:
    """The step kind of a call with its evidence (see Step). `agent` None: detect it."""
    if call.endpoint == "count_tokens":
        return Step("background", "count_tokens endpoint → background")
    name = agent or detect_agent(call)
    hints = _hints(name) if name else None
    if hints is not None:
        step = hints(call)
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
