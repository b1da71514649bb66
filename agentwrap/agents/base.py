"""What every agent launcher shares: finding the binary, the env that points it at us."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class LaunchPlan:
    """How to start one agent through the proxy."""

    argv: list[str]
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)  # things to tell the user before launch
    anthropic_upstream: str | None = None  # a gateway the user had set, kept as our upstream
    openai_upstream: str | None = None  # where the agent's own OpenAI credentials belong
    gemini_upstream: str | None = None  # a Gemini endpoint the user had set, kept as upstream


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
    return bool(url) and "/s/" in url and url.startswith(("http://127.0.0.1:", "http://localhost:"))
