"""Cline CLI: how to launch it through the proxy, its step markers, and what else we know.

Cline (npm `cline`, 3.0) keeps its providers in a settings file, `providers.json` in its data
folder (CLINE_DATA_DIR, else $CLINE_DIR/data, else ~/.cline/data; `--data-dir` and `--config`
move it), and reads the file CLINE_PROVIDER_SETTINGS_PATH names instead when that is set. A
launch copies the user's file into a private scratch folder, points every provider whose API
agentwrap serves at the proxy (`baseUrl`; Cline appends `/messages`, `/chat/completions`,
`/responses` to it, so it ends in `/v1`), and hands Cline the copy through that variable; the
copy is removed when the run ends and the user's own file is never edited (settings Cline saves
during the run, such as a new `cline auth`, go to the copy and are lost with it). Credentials
stay in the settings as the user wrote them and pass through untouched. The session runs in
Cline's own process (CLINE_SESSION_BACKEND_MODE=local): otherwise Cline starts a hub daemon
that outlives the run, keeping the copy's path, or hands the session to a running one that
reads the user's file and calls past agentwrap.

A `baseUrl` the user had set on such a provider (a gateway) becomes that API's upstream, as
ANTHROPIC_BASE_URL does for Claude Code. Cline's own account provider (`cline`) and others
agentwrap has no API for keep calling their services directly; the launch says so.

Step markers, seen on the wire from Cline 3.0.65 (tests/fixtures/cline/): no header of its
own (the AI SDK's user-agent), so the markers are its system prompt and tools. The main loop's
system prompt opens "You are Cline"; in plan mode (`--plan`) its `editor` tool is gone; a
subagent (the `spawn_agent` tool) runs with the system prompt the main loop wrote for it and
Cline's tools (read_files, run_commands, ...) but none of the team_* ones. Compaction
(`--compaction agentic`, past 90 % of the model's context by Cline's own estimate) was not
seen on the wire here, so it has no marker yet and falls to the default step.

Outcomes: Cline's tools answer with JSON, one `{"query", "result", "error", "success"}` per
item asked for, and flag no error when an item fails (`success` is false, `error` says why:
"Command exited with code 1"); route/outcome.py reads that on every surface.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap.agents.base import (
    Agent,
    LaunchPlan,
    first_word,
    is_our_url,
    scratch_dir,
    with_no_proxy,
)

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

SETTINGS_ENV = "CLINE_PROVIDER_SETTINGS_PATH"
BACKEND_ENV = "CLINE_SESSION_BACKEND_MODE"
# Cline's provider ids whose API agentwrap serves → the profile's provider of that API.
PROVIDERS = {"anthropic": "anthropic", "openai-native": "openai", "openai": "openai"}
IDENTITY = "you are cline"
EDIT_TOOL = "editor"
SUBAGENT_TOOLS = frozenset({"read_files", "run_commands", "search_codebase"})
TEAM_TOOL_PREFIX = "team_"

# Cline options that end the run without a model call, or run it headless.
_INTERACTIVE_OPTIONS = frozenset({"-i", "--tui", "--acp", "-z", "--zen", "--kanban"})
_VALUE_OPTIONS = frozenset(
    {
        "--auto-approve",
        "-c",
        "--cwd",
        "--thinking",
        "--compaction",
        "--id",
        "-P",
        "--provider",
        "-k",
        "--key",
        "-m",
        "--model",
        "-s",
        "--system",
        "--retries",
        "-t",
        "--timeout",
        "--config",
        "--data-dir",
        "--hooks-dir",
    }
)


def _option(args: Sequence[str], *names: str) -> str | None:
    value = None
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            value = args[i + 1]
        elif any(arg.startswith(n + "=") for n in names if n.startswith("--")):
            value = arg.split("=", 1)[1]
    return value


def settings_path(env: Mapping[str, str], args: Sequence[str] = ()) -> Path:
    """The providers file Cline would read for these arguments and environment."""
    if env.get(SETTINGS_ENV, "").strip():
        return Path(env[SETTINGS_ENV].strip()).expanduser()
    data = _option(args, "--data-dir") or env.get("CLINE_DATA_DIR", "").strip()
    if data:
        return Path(data).expanduser() / "settings" / "providers.json"
    root = _option(args, "--config") or env.get("CLINE_DIR", "").strip()
    home = Path(env.get("HOME") or Path.home())
    base = Path(root).expanduser() if root else home / ".cline"
    return base / "data" / "settings" / "providers.json"


def read_settings(path: Path) -> dict[str, Any]:
    """The providers file as JSON ({} when missing or unreadable)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _providers(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    providers = doc.get("providers")
    if not isinstance(providers, dict):
        return {}
    out = {}
    for name, entry in providers.items():
        settings = entry.get("settings") if isinstance(entry, dict) else None
        if isinstance(settings, dict):
            out[name] = settings
    return out


def _upstream(provider: str, base_url: str) -> str:
    url = base_url.rstrip("/")
    # Anthropic's base URL is the host's (agentwrap appends /v1/...); OpenAI's keeps its /v1.
    return url.removesuffix("/v1") if provider == "anthropic" else url


def own_endpoints(doc: Mapping[str, Any]) -> dict[str, str]:
    """The user's own base URLs on the providers we carry: profile provider → upstream URL."""
    found: dict[str, str] = {}
    for name, settings in _providers(doc).items():
        provider = PROVIDERS.get(str(settings.get("provider") or name))
        url = settings.get("baseUrl")
        if provider and isinstance(url, str) and url.strip() and not is_our_url(url):
            found.setdefault(provider, _upstream(provider, url))
    return found


def upstreams_in_args(args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """Base URLs in the providers file these arguments select stay where calls go."""
    return own_endpoints(read_settings(settings_path(env, args)))


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """Base URLs in the user's providers file stay where Cline's calls go."""
    return own_endpoints(read_settings(settings_path(env)))


def pointed_at(doc: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A copy of the providers file whose providers we carry call `base_url`."""
    out = json.loads(json.dumps(doc)) if doc else {"version": 1, "providers": {}}
    for name, settings in _providers(out).items():
        if PROVIDERS.get(str(settings.get("provider") or name)):
            settings["baseUrl"] = base_url.rstrip("/") + "/v1"
    return out


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make Cline call `base_url`, with a scratch config."""
    child = dict(env)
    source = settings_path(env, args)
    doc = read_settings(source)
    notes = [
        f"Cline's {provider} provider had baseUrl {url}: agentwrap forwards its calls there"
        for provider, url in own_endpoints(doc).items()
    ]
    selected = _option(args, "-P", "--provider") or doc.get("lastUsedProvider")
    if isinstance(selected, str) and selected and selected not in PROVIDERS:
        notes.append(
            f"Cline's provider '{selected}' calls its own service directly: its calls will NOT "
            "pass through agentwrap (nothing is routed or recorded); use anthropic, openai or "
            "openai-native (cline auth) to go through it"
        )
    folder = scratch_dir("cline")
    copy = folder / "providers.json"
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(pointed_at(doc, base_url), out, indent=2)
    child[SETTINGS_ENV] = str(copy)
    backend = env.get(BACKEND_ENV, "").strip().lower()
    if backend in ("", "auto"):
        # In-process: a hub daemon started now would outlive the run with our settings, and
        # one already running would take the session past agentwrap with its own.
        child[BACKEND_ENV] = "local"
    elif backend != "local":
        notes.append(
            f"{BACKEND_ENV}={backend}: Cline may run this session in its hub daemon, which reads "
            "its own settings, so its calls may not pass through agentwrap"
        )
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, notes, scratch=[folder])


def prompt_given(args: Sequence[str]) -> bool:
    """Whether the arguments hold a prompt (Cline then runs it and exits)."""
    return first_word(args, _VALUE_OPTIONS) is not None


def is_batch(args: Sequence[str]) -> bool:
    """A prompt on the command line (without --tui), a subcommand or --version runs headless."""
    if any(a in _INTERACTIVE_OPTIONS for a in args):
        return False
    return prompt_given(args) or any(a in ("-V", "--version", "-h", "--help") for a in args)


def _system_text(call: Call) -> str:
    system = call.body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    for message in call.messages:  # Chat Completions: the first system message
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _tool_names(call: Call) -> set[str]:
    names = set()
    for tool in call.tools:
        if not isinstance(tool, dict):
            continue
        name = tool.get("name") or (tool.get("function") or {}).get("name")
        if isinstance(name, str):
            names.add(name)
    return names


def _is_cline(system: str, tools: set[str]) -> bool:
    return system[:200].lower().startswith(IDENTITY) or tools >= SUBAGENT_TOOLS


def classify(call: Call) -> Step | None:
    """The step kind of a Cline request, from its system prompt and tools."""
    from agentwrap.route.step import Step

    system = _system_text(call)
    tools = _tool_names(call)
    if not _is_cline(system, tools):
        return None
    if system[:200].lower().startswith(IDENTITY):
        if EDIT_TOOL not in tools:
            return Step(
                "plan",
                f"Cline main loop without its {EDIT_TOOL} tool (plan mode) → plan",
                main_loop=True,
            )
        return Step(
            "implement",
            "Cline main loop (system prompt 'You are Cline') → implement",
            main_loop=True,
        )
    if not any(t.startswith(TEAM_TOOL_PREFIX) for t in tools):
        return Step(
            "subagent",
            "Cline's tools with a system prompt of the main loop's making (spawn_agent) → subagent",
            subagent_type="spawn_agent",
        )
    return Step(
        "implement",
        "Cline's tools and team tools without its main prompt (a custom system prompt) → implement",
        main_loop=True,
        matched=False,
    )


def detect(call: Call) -> bool:
    """Whether a request came from Cline (its main prompt, or its subagents' tool set)."""
    return _is_cline(_system_text(call), _tool_names(call))


AGENT = Agent(
    name="cline",
    label="Cline CLI ('cline')",
    binary="cline",
    install="npm install -g cline",
    api="anthropic",
    help="Run the Cline CLI through agentwrap. Every argument after the options goes to cline "
    'untouched (e.g. agentwrap cline "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    upstreams_in_args=upstreams_in_args,
    classify=classify,
    detect=detect,
    is_batch=is_batch,
    tested="3.0.65",
    package="cline",
    wiring=(
        f"{SETTINGS_ENV}=<a scratch copy of providers.json>",
        f"{BACKEND_ENV}=local",
        "its Anthropic and OpenAI providers' baseUrl=<proxy>/v1",
    ),
)
