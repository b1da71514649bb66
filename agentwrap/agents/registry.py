"""The agents agentwrap knows, by name: one line per agent module.

The CLI makes `agentwrap <name>` from each; the router reads their step hints and detection;
the proxy reads their conversation ids. Importing this module loads only the small agent
modules (their step hints load on the first call that needs them).
"""

from __future__ import annotations

from collections.abc import Mapping

from agentwrap.agents import aider, claude, cline, codex, crush, gemini, opencode, qwen
from agentwrap.agents.base import Agent, ConversationIds

_AGENTS: dict[str, Agent] = {}


def register(agent: Agent) -> None:
    """Add an agent (or replace the one of the same name); the CLI built after it has it."""
    _AGENTS[agent.name] = agent


def unregister(name: str) -> None:
    """Remove the agent called `name`, if registered."""
    _AGENTS.pop(name, None)


def agents() -> tuple[Agent, ...]:
    """Every registered agent, in registration order."""
    return tuple(_AGENTS.values())


def get(name: str | None) -> Agent | None:
    """The agent called `name`, or None."""
    return _AGENTS.get(name) if name else None


def conversation_ids(headers: Mapping[str, str], agent: str | None = None) -> ConversationIds:
    """The conversation and subagent a call belongs to, from its lower-case headers.

    The named agent's reading is tried first, then every other agent's (a `serve` or `run`
    session does not know which agent calls it).
    """
    named = get(agent)
    for candidate in (named, *(a for a in _AGENTS.values() if a is not named)):
        if candidate is None:
            continue
        thread, subagent = candidate.conversation(headers)
        if thread or subagent:
            return thread, subagent
    return None, None


for _agent in (
    claude.AGENT,
    codex.AGENT,
    gemini.AGENT,
    aider.AGENT,
    cline.AGENT,
    opencode.AGENT,
    qwen.AGENT,
    crush.AGENT,
):
    register(_agent)
