"""Crush: how to launch it through the proxy, its step markers, and what else we know.

Crush (npm `@charmland/crush`, 0.96; a Go binary its postinstall downloads from the project's
release page) takes its built-in providers from a catalog whose endpoints are variables:
ANTHROPIC_API_ENDPOINT (the host: its SDK appends `/v1/messages`), OPENAI_API_ENDPOINT (with
`/v1`: it speaks the Responses API) and GEMINI_API_ENDPOINT (the host: `/v1beta/models/...`).
While Crush loads its providers, every CRUSH_<NAME> variable stands in for <NAME>, so a launch
sets both forms in Crush's environment and nothing else: its config files (crush.json,
.crush.json, crushrc) are only read. Keys (ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY,
an `api_key` in a config file) pass through untouched.

An endpoint the user had set in either form (a gateway) becomes that API's upstream, as
ANTHROPIC_BASE_URL does for Claude Code. A `base_url` written in a config file for one of those
providers wins over the variables, so Crush calls it directly; so do providers agentwrap has no
API for (OpenRouter, Bedrock, Crush's own Hyper, custom OpenAI-compatible ones). The launch says
so when a config file names one.

Step markers, from Crush's source (its prompt templates; the npm package could not be installed
here, see tests/fixtures/crush/README.md): every call carries
`user-agent: Charm-Crush/<version> (https://charm.land/crush)` and no session header. The main
loop's system prompt opens "You are Crush"; the session title (the small model) "You will
generate a short title"; compaction ("Summarize", or past the context window) "You are
summarizing a conversation to preserve context"; a subagent of the `agent` tool "You are an
agent for Crush"; the `agentic_fetch` tool's "You are a web content analysis agent for Crush".
`crush run` prints and exits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap.agents.base import Agent, LaunchPlan, first_word, is_our_url, with_no_proxy

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

# Crush's endpoint variables → (its provider id, the profile provider, what follows our URL).
ENDPOINTS = {
    "ANTHROPIC_API_ENDPOINT": ("anthropic", "anthropic", ""),
    "OPENAI_API_ENDPOINT": ("openai", "openai", "/v1"),
    "GEMINI_API_ENDPOINT": ("gemini", "gemini", ""),
}
CRUSH_PREFIX = "CRUSH_"  # CRUSH_<NAME> stands in for <NAME> while Crush loads its providers
USER_AGENT_PREFIX = "charm-crush/"

# Openings of Crush's system prompts → (step kind, what it is, main loop, subagent type).
PROMPTS = (
    ("you will generate a short title", "background", "session title", False, None),
    ("you are summarizing a conversation", "compact", "summary (compaction)", True, None),
    ("you are an agent for crush", "subagent", "agent tool", False, "agent"),
    ("you are a web content analysis agent", "subagent", "agentic_fetch", False, "agentic_fetch"),
    ("you are crush", "implement", "main loop", True, None),
)

_BATCH_COMMANDS = frozenset(
    {"run", "logs", "models", "update-providers", "schema", "dirs", "projects", "stats", "login"}
)
_BATCH_OPTIONS = frozenset({"-v", "--version", "-h", "--help"})
_VALUE_OPTIONS = frozenset({"-c", "--cwd", "-D", "--data-dir", "-s", "--session"})
_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


def _endpoint(env: Mapping[str, str], var: str) -> str:
    """The endpoint Crush would read for `var`: CRUSH_<var> first, then <var>."""
    return (env.get(CRUSH_PREFIX + var) or env.get(var) or "").strip()


def own_endpoints(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The user's own endpoints: profile provider → (the variable that set it, URL)."""
    found: dict[str, tuple[str, str]] = {}
    for var, (_, provider, _) in ENDPOINTS.items():
        url = _endpoint(env, var)
        if url and not is_our_url(url):
            where = CRUSH_PREFIX + var if env.get(CRUSH_PREFIX + var, "").strip() else var
            found[provider] = (where, url.rstrip("/"))
    return found


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """Endpoints the user had for Crush's providers stay where its calls go."""
    return {provider: url for provider, (_, url) in own_endpoints(env).items()}


def config_files(env: Mapping[str, str], cwd: Path | None = None) -> list[Path]:
    """Crush's JSON config files that exist: global, its data file, then the project's."""
    cwd = cwd or Path.cwd()
    home = Path(env.get("HOME") or Path.home())
    if env.get("CRUSH_GLOBAL_CONFIG"):
        config = Path(env["CRUSH_GLOBAL_CONFIG"]) / "crush.json"
    else:
        root = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        config = root / "crush" / "crush.json"
    if env.get("CRUSH_GLOBAL_DATA"):
        data = Path(env["CRUSH_GLOBAL_DATA"]) / "crush.json"
    elif env.get("XDG_DATA_HOME"):
        data = Path(env["XDG_DATA_HOME"]) / "crush" / "crush.json"
    else:
        data = home / ".local" / "share" / "crush" / "crush.json"
    found = [config, data]
    folders = [cwd, *cwd.parents]
    for i, folder in enumerate(folders):
        if (folder / ".git").exists():
            folders = folders[: i + 1]
            break
    else:
        folders = [cwd]
    for folder in reversed(folders):
        found += [folder / "crush.json", folder / ".crush.json"]
    found.append(cwd / ".crush" / "crush.json")  # the workspace's own, loaded last
    return [path for path in found if path.is_file()]


def _providers(path: Path) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    providers = doc.get("providers") if isinstance(doc, dict) else None
    if not isinstance(providers, dict):
        return {}
    return {name: entry for name, entry in providers.items() if isinstance(entry, dict)}


def config_notes(env: Mapping[str, str], cwd: Path | None = None) -> list[str]:
    """What in the user's config files takes Crush's calls past agentwrap."""
    ours = {crush_id: var for var, (crush_id, _, _) in ENDPOINTS.items()}
    notes = []
    others: set[str] = set()
    for path in config_files(env, cwd):
        for name, entry in _providers(path).items():
            if entry.get("disable") is True:
                continue
            url = entry.get("base_url")
            url = url.strip() if isinstance(url, str) else ""
            if name not in ours:
                others.add(name)
                continue
            named = _VARIABLE.match(url)
            if not url or (named and named.group(1) == ours[name]):
                continue  # the catalog's own variable: ours
            notes.append(
                f"{path} gives Crush's {name} provider base_url {url}: Crush calls it directly, "
                "so those calls will NOT pass through agentwrap (nothing is routed or recorded)"
            )
    if others:
        notes.append(
            f"Crush's provider(s) {', '.join(sorted(others))} call their services directly: "
            "their calls will NOT pass through agentwrap; anthropic, openai and gemini do"
        )
    return notes


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make Crush's model calls go to `base_url`."""
    child = dict(env)
    notes = [
        f"{where} was {url}: agentwrap forwards Crush's {provider} calls there"
        for provider, (where, url) in own_endpoints(env).items()
    ]
    notes += config_notes(env)
    for var, (_, _, suffix) in ENDPOINTS.items():
        child[var] = child[CRUSH_PREFIX + var] = base_url + suffix
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, notes)


def subcommand(args: Sequence[str]) -> str | None:
    """The first word that is neither an option nor its value."""
    return first_word(args, _VALUE_OPTIONS)


def is_batch(args: Sequence[str]) -> bool:
    """`crush run ...` and its other subcommands print and exit; bare `crush` is its TUI."""
    return any(a in _BATCH_OPTIONS for a in args) or subcommand(args) in _BATCH_COMMANDS


def is_crush(call: Call) -> bool:
    """Whether the request came from Crush (its user-agent)."""
    return (call.header("user-agent") or "").lower().startswith(USER_AGENT_PREFIX)


def _texts(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_texts(v) for v in value)
    if isinstance(value, dict):
        for key in ("text", "content", "parts"):
            if key in value:
                return _texts(value[key])
    return ""


def system_text(call: Call) -> str:
    """The system prompt of a call in any API Crush speaks (Messages, Responses, Chat, Gemini)."""
    body = call.body
    for key in ("system", "instructions", "systemInstruction", "system_instruction"):
        if body.get(key):
            return _texts(body[key])
    for message in call.messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            return _texts(message.get("content"))
    return ""


def classify(call: Call) -> Step | None:
    """The step kind of a Crush request, from the opening of its system prompt."""
    from agentwrap.route.step import Step

    if not is_crush(call):
        return None
    opening = system_text(call)[:300].lower()
    for needle, kind, what, main_loop, subagent_type in PROMPTS:
        if needle in opening:
            return Step(
                kind,
                f"Crush system prompt: {what} → {kind}",
                subagent_type=subagent_type,
                main_loop=main_loop,
            )
    return Step(
        "implement",
        "Crush request with no title, summary or subagent prompt → implement (default)",
        main_loop=True,
        matched=False,
    )


def detect(call: Call) -> bool:
    """Whether a request came from Crush."""
    return is_crush(call)


AGENT = Agent(
    name="crush",
    label="Crush ('crush')",
    binary="crush",
    install="npm install -g @charmland/crush",
    api="anthropic",
    help="Run Crush through agentwrap. Every argument after the options goes to crush "
    'untouched (e.g. agentwrap crush run "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    classify=classify,
    detect=detect,
    is_batch=is_batch,
    tested="0.96.1",
    package="@charmland/crush",
    wiring=(
        "ANTHROPIC_API_ENDPOINT, OPENAI_API_ENDPOINT (<proxy>/v1), GEMINI_API_ENDPOINT",
        "the same as CRUSH_ANTHROPIC_API_ENDPOINT, ...",
    ),
)
