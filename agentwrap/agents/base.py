"""What every agent shares: the Agent description, finding its binary, pointing it at us."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hints read Call views; importing wire here would slow the CLI's start
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

# A conversation and, inside it, the subagent a call belongs to (either may be unknown).
ConversationIds = tuple[str | None, str | None]


@dataclass
class LaunchPlan:
    """How to start one agent through the proxy."""

    argv: list[str]
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)  # things to tell the user before launch


def _never_batch(args: Sequence[str]) -> bool:
    return False


def _no_conversation(headers: Mapping[str, str]) -> ConversationIds:
    return None, None


@dataclass(frozen=True)
class Agent:
    """Everything agentwrap knows about one agent CLI; one per module in agents/.

    The registry (agents/registry.py) lists them; the CLI makes `agentwrap <name>` from each,
    the router reads its step hints, the proxy its conversation ids.
    """

    name: str  # the command (`agentwrap <name>`) and the session's agent
    label: str  # how messages name it: "Claude Code ('claude')"
    binary: str  # the executable looked up on PATH
    install: str  # the command that installs it, shown when it is missing
    api: str  # the API surface it speaks (agentwrap.wire.call: ANTHROPIC, ...)
    help: str  # the `agentwrap <name>` command's help text
    # (exe, args, proxy base URL, env) → the command, environment and notes that point it at us
    plan: Callable[[str, list[str], str, Mapping[str, str]], LaunchPlan]
    # env → the user's own endpoints, kept as upstreams: provider name → base URL
    upstreams: Callable[[Mapping[str, str]], dict[str, str]]
    classify: Callable[[Call], Step | None]  # its step markers; None: none matched
    detect: Callable[[Call], bool]  # whether a request came from this agent
    # lower-case request headers → (conversation id, subagent id)
    conversation: Callable[[Mapping[str, str]], ConversationIds] = _no_conversation
    # its arguments → True when it prints and exits (no person at it, so no panel beside it)
    is_batch: Callable[[Sequence[str]], bool] = _never_batch
    # (args, env) → args that show agentwrap's status line in the agent, if it has one
    statusline: Callable[[list[str], Mapping[str, str]], list[str]] | None = None

    @property
    def binary_env(self) -> str:
        """The variable that names the executable instead of PATH: AGENTWRAP_<NAME>_BIN."""
        return f"AGENTWRAP_{self.name.upper().replace('-', '_')}_BIN"

    def find_binary(self, env: Mapping[str, str]) -> str | None:
        """The agent's executable: `binary_env` if set, else `binary` on PATH."""
        return find_binary(self.binary, self.binary_env, env)

    def launch_plan(
        self, exe: str, args: list[str], base_url: str, env: Mapping[str, str]
    ) -> LaunchPlan:
        """The agent's own plan, with its status line hook applied to the arguments."""
        if self.statusline is not None:
            args = self.statusline(args, env)
        return self.plan(exe, args, base_url, env)


def upstream_env(provider: str) -> str:
    """The variable through which a launch hands the profile a provider's base URL."""
    return f"AGENTWRAP_{provider.upper()}_UPSTREAM"


def headers_ids(
    thread_header: str, subagent_header: str | None = None
) -> Callable[[Mapping[str, str]], ConversationIds]:
    """A `conversation` reader for agents that name both ids in request headers."""

    def ids(headers: Mapping[str, str]) -> ConversationIds:
        return headers.get(thread_header), headers.get(subagent_header) if subagent_header else None

    return ids


def find_binary(name: str, override_var: str, env: Mapping[str, str]) -> str | None:
    """The agent's executable: `override_var` if set, else `name` on PATH."""
    override = env.get(override_var)
    if override:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which(name, path=env.get("PATH"))


def with_no_proxy(env: dict[str, str]) -> None:
    """Make sure loopback never goes through an HTTP(S) proxy."""
    for var in ("NO_PROXY", "no_proxy"):
        current = [p.strip() for p in env.get(var, "").split(",") if p.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in current:
                current.append(host)
        env[var] = ",".join(current)


def is_our_url(url: str | None) -> bool:
    """True for a URL of an agentwrap proxy (a nested `agentwrap` inside a session)."""
    if not url:
        return False
    return "/s/" in url and url.startswith(("http://127.0.0.1:", "http://localhost:"))
