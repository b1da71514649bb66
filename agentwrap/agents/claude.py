"""Claude Code: how to launch it through the proxy, and everything else agentwrap knows of it.

Claude Code honours ANTHROPIC_BASE_URL; requests then arrive at
`<base>/v1/messages?beta=true` with the user's own credentials (x-api-key from
ANTHROPIC_API_KEY, a bearer token from ANTHROPIC_AUTH_TOKEN or an OAuth login), which pass
through to Anthropic untouched. Its step markers live in claude_hints.py; `-p`/`--print`
runs it headless; our status line travels in its `--settings` flag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap.agents.base import Agent, LaunchPlan, headers_ids, is_our_url, with_no_proxy

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

BASE_URL_ENV = "ANTHROPIC_BASE_URL"
SESSION_HEADER = "x-claude-code-session-id"
AGENT_ID_HEADER = "x-claude-code-agent-id"


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """An ANTHROPIC_BASE_URL the user had (a gateway) stays where Anthropic calls go."""
    existing = env.get(BASE_URL_ENV)
    if existing and not is_our_url(existing):
        return {"anthropic": existing.rstrip("/")}
    return {}


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make Claude Code call `base_url`."""
    child = dict(env)
    notes: list[str] = []
    upstream = upstreams(env).get("anthropic")
    if upstream:
        notes.append(f"ANTHROPIC_BASE_URL was {upstream}: agentwrap forwards Anthropic calls there")
    for var, service in (
        ("CLAUDE_CODE_USE_BEDROCK", "Amazon Bedrock"),
        ("CLAUDE_CODE_USE_VERTEX", "Google Vertex AI"),
    ):
        if env.get(var, "").strip() not in ("", "0", "false"):
            notes.append(
                f"{var} is set: Claude Code will call {service} directly, so its calls will "
                "NOT pass through agentwrap (nothing is routed or recorded)"
            )
    child[BASE_URL_ENV] = base_url
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, notes)


def is_batch(args: Sequence[str]) -> bool:
    """`-p`/`--print` prints one answer and exits."""
    return any(a in ("-p", "--print") or a.startswith("--print=") for a in args)


def classify(call: Call) -> Step | None:
    """Claude Code's step markers (claude_hints.py, loaded on the first call)."""
    from agentwrap.agents import claude_hints

    return claude_hints.classify(call)


def detect(call: Call) -> bool:
    """Whether a request came from Claude Code."""
    from agentwrap.agents import claude_hints

    return claude_hints.is_claude_code(call)


def _load_settings(value: str, cwd: Path) -> dict[str, Any] | None:
    """A --settings value: inline JSON or a path to a JSON file (None when unreadable)."""
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = (cwd / value).expanduser().read_text()
        except OSError:
            return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _user_has_statusline(env: Mapping[str, str], cwd: Path) -> bool:
    home = Path(env.get("HOME") or Path.home())
    config = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home / ".claude"
    for path in (
        config / "settings.json",
        cwd / ".claude" / "settings.json",
        cwd / ".claude" / "settings.local.json",
    ):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("statusLine"):
            return True
    return False


def with_statusline(args: list[str], env: Mapping[str, str], cwd: Path | None = None) -> list[str]:
    """The agent's arguments plus our statusLine, merged into its --settings.

    The user's own files are never edited: the setting travels in the `--settings` flag. A
    statusLine the user already has (in their settings files or their own --settings) wins.
    """
    from agentwrap.statusline import statusline_command

    cwd = cwd or Path.cwd()
    ours = {"type": "command", "command": statusline_command(), "padding": 0}
    out = list(args)
    for i, arg in enumerate(out):
        value = None
        if arg == "--settings" and i + 1 < len(out):
            value, at, joined = out[i + 1], i + 1, False
        elif arg.startswith("--settings="):
            value, at, joined = arg.split("=", 1)[1], i, True
        if value is None:
            continue
        doc = _load_settings(value, cwd)
        if doc is None or doc.get("statusLine") or _user_has_statusline(env, cwd):
            return out  # theirs stands as given
        merged = json.dumps({**doc, "statusLine": ours})
        out[at] = f"--settings={merged}" if joined else merged
        return out
    if _user_has_statusline(env, cwd):
        return out
    return ["--settings", json.dumps({"statusLine": ours}), *out]


AGENT = Agent(
    name="claude",
    label="Claude Code ('claude')",
    binary="claude",
    install="npm install -g @anthropic-ai/claude-code",
    api="anthropic",
    help="Run Claude Code through agentwrap: agentwrap claude [OPTIONS] [CLAUDE ARGS]... Every "
    "argument after these options goes to claude untouched (claude's own help: agentwrap claude "
    "-- --help).",
    plan=plan,
    upstreams=upstreams,
    classify=classify,
    detect=detect,
    conversation=headers_ids(SESSION_HEADER, AGENT_ID_HEADER),
    is_batch=is_batch,
    statusline=with_statusline,
    tested="2.1.332",
    package="@anthropic-ai/claude-code",
    wiring=("ANTHROPIC_BASE_URL", "--settings statusLine"),
)
