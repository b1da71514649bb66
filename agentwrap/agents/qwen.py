"""qwen-code: how to launch it through the proxy, its step markers, and what else we know.

qwen-code (npm `@qwen-code/qwen-code`, 0.24, binary `qwen`) picks its API from the auth type:
OpenAI-compatible (Chat Completions, OPENAI_BASE_URL with its `/v1`, OPENAI_API_KEY) or
Anthropic (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY). The environment wins over its `.env` files
and the `env` and `security.auth` blocks of its settings, so a launch sets both base URLs in
qwen's environment and edits nothing of the user's. With OPENAI_API_KEY set and no auth type
chosen, qwen uses the OpenAI-compatible API on its own (no `--auth-type` is added). Three
things take calls past agentwrap, and the launch says so: a Qwen OAuth sign-in
(`security.auth.selectedType` "qwen-oauth"), a `modelProviders` entry with its own `baseUrl`
in settings.json, and `--openai-base-url` on the command line.

qwen sends even loopback requests through HTTPS_PROXY (and HTTP_PROXY, ALL_PROXY), so a launch
clears them for it: the proxy is agentwrap's own, on 127.0.0.1.

A base URL the user had (in the environment or a `.env` file qwen reads) becomes that API's
upstream, as ANTHROPIC_BASE_URL does for Claude Code.

Our status line goes in `ui.statusLine` of a scratch copy of qwen's system defaults
(QWEN_CODE_SYSTEM_DEFAULTS_PATH), the settings layer every other file overrides, so a status
line the user set stands; the copy is removed when the run ends.

Step markers, seen on the wire from qwen-code 0.24.4 (tests/fixtures/qwen/): every call
carries `user-agent: QwenCode/<version> (<os>; <arch>)` and no session header; each kind of
call has its own system prompt. The main loop opens "You are Qwen Code"; with
`--approval-mode plan` its user message carries "Plan mode is active." in a system reminder;
a subagent (the `agent` tool) runs with its own prompt ("You are a file search specialist
agent" for Explore, "You are a general-purpose subagent" for general-purpose, the user's own
for custom agents); compression asks for a `<state_snapshot>` ("You are the component that
summarizes a conversation..."); after a turn, a memory extraction call ("managed memory
extraction subagent") runs in the background. The interactive client also asks, with the main
loop's prompt, what the user might type next (a last user message "[SUGGESTION MODE: ...]"),
and in auto mode (its default there) has a tool call it cannot judge by rule classified by the
model ("You are a security classifier...", not streamed): both background. The session title
(with a fast model set) asks for a `{title}` JSON object: found in the 0.24.4 bundle, not seen
on the wire here.
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
    is_our_url,
    read_dotenv,
    scratch_dir,
    with_no_proxy,
)

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

# qwen's base-URL variables → (profile provider, what follows our base URL in it).
BASE_URL_VARS = {"OPENAI_BASE_URL": ("openai", "/v1"), "ANTHROPIC_BASE_URL": ("anthropic", "")}
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
USER_AGENT_PREFIX = "qwencode/"
OAUTH_TYPE = "qwen-oauth"
DEFAULTS_ENV = "QWEN_CODE_SYSTEM_DEFAULTS_PATH"  # its lowest-ranked settings file
SYSTEM_DEFAULTS = "/etc/qwen-code/system-defaults.json"

# Openings of qwen's system prompts → (step kind, what it is, main loop, subagent type).
PROMPTS = (
    ("you are the component that summarizes a conversation", "compact", "compression", True, None),
    ("managed memory extraction subagent", "background", "memory extraction", False, None),
    ("generate a concise, sentence-case title", "background", "session title", False, None),
    ("you are a security classifier", "background", "auto mode's classifier", False, None),
    ("you are a file search specialist agent", "subagent", "Explore subagent", False, "Explore"),
    (
        "you are a general-purpose subagent",
        "subagent",
        "general-purpose subagent",
        False,
        "general-purpose",
    ),
)
IDENTITY = "you are qwen code"
SUGGESTION_MARKER = "[suggestion mode:"  # the main loop's prompt, asking what the user types next
PLAN_MARKER = "plan mode is active."
SNAPSHOT_TAG = "<state_snapshot>"

_BATCH_OPTIONS = frozenset({"-p", "--prompt", "-v", "--version", "-h", "--help"})
_BATCH_COMMANDS = frozenset({"mcp", "extensions", "auth", "channel"})


def env_file(env: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """The .env file qwen reads: the nearest `.qwen/.env` or `.env` upward, else home's."""
    cwd = cwd or Path.cwd()
    home = Path(env.get("HOME") or Path.home())
    for folder in (cwd, *cwd.parents):
        for candidate in (folder / ".qwen" / ".env", folder / ".env"):
            if candidate.is_file():
                return candidate
        if folder == home:
            break
    for candidate in (home / ".qwen" / ".env", home / ".env"):
        if candidate.is_file():
            return candidate
    return None


def settings(env: Mapping[str, str], cwd: Path | None = None) -> list[dict[str, Any]]:
    """qwen's settings files that exist: the user's, then the workspace's."""
    cwd = cwd or Path.cwd()
    home = Path(env.get("HOME") or Path.home())
    docs = []
    for path in (home / ".qwen" / "settings.json", cwd / ".qwen" / "settings.json"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            docs.append(doc)
    return docs


def own_endpoints(
    env: Mapping[str, str], cwd: Path | None = None
) -> dict[str, tuple[str, str, str]]:
    """The user's own base URLs: provider → (variable, where it was set, upstream URL)."""
    dotenv_path = env_file(env, cwd)
    dotenv = read_dotenv(dotenv_path) if dotenv_path else {}
    found: dict[str, tuple[str, str, str]] = {}
    for var, (provider, _) in BASE_URL_VARS.items():
        url, where = env.get(var, "").strip(), "the environment"
        if not url and dotenv.get(var, "").strip():
            url, where = dotenv[var].strip(), str(dotenv_path)
        if url and not is_our_url(url):
            found[provider] = (var, where, url.rstrip("/"))
    return found


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """OPENAI_BASE_URL / ANTHROPIC_BASE_URL the user had stay where qwen's calls go."""
    return {provider: url for provider, (_, _, url) in own_endpoints(env).items()}


def _option(args: Sequence[str], name: str) -> str | None:
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def _bypass_notes(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    notes = []
    docs = settings(env)
    chosen = _option(args, "--auth-type")
    for doc in docs:
        security = doc.get("security")
        auth = security.get("auth") if isinstance(security, dict) else None
        if chosen is None and isinstance(auth, dict):
            chosen = auth.get("selectedType") or chosen
    if chosen == OAUTH_TYPE:
        notes.append(
            "qwen signs in with Qwen OAuth: it calls Qwen's own service directly, so its calls "
            "will NOT pass through agentwrap (nothing is routed or recorded); use an API key "
            "(OPENAI_API_KEY or ANTHROPIC_API_KEY) to go through it"
        )
    routed = sorted(
        {
            str(model.get("id"))
            for doc in docs
            if isinstance(doc.get("modelProviders"), dict)
            for models in doc["modelProviders"].values()
            if isinstance(models, list)
            for model in models
            if isinstance(model, dict) and model.get("baseUrl")
        }
    )
    if routed:
        notes.append(
            f"qwen's settings give model(s) {', '.join(routed)} a baseUrl of their own: calls to "
            "them will NOT pass through agentwrap"
        )
    if _option(args, "--openai-base-url"):
        notes.append(
            "--openai-base-url makes qwen call that endpoint directly: its calls will NOT pass "
            "through agentwrap"
        )
    return notes


def defaults_with_statusline(env: Mapping[str, str]) -> Path | None:
    """A scratch copy of qwen's system defaults with our status line in `ui.statusLine`.

    System defaults rank below every settings file, so a status line of the user's own wins.
    None (no status line from us) when their defaults file is there but unreadable: replacing
    it would drop their defaults.
    """
    from agentwrap.statusline import statusline_command

    source = Path(env.get(DEFAULTS_ENV) or SYSTEM_DEFAULTS)
    doc: Any = {}
    if source.exists():
        try:
            doc = json.loads(source.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict):
            return None
    ui = doc.setdefault("ui", {})
    if not isinstance(ui, dict):
        return None
    ui.setdefault("statusLine", {"type": "command", "command": statusline_command()})
    copy = scratch_dir("qwen") / "system-defaults.json"
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    return copy


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make qwen's model calls go to `base_url`."""
    child = dict(env)
    notes = [
        f"{var} was {url} ({'set in ' + where if where != 'the environment' else where}): "
        "agentwrap forwards qwen's calls there"
        for var, where, url in own_endpoints(env).values()
    ]
    notes += _bypass_notes(args, env)
    for var, (_, suffix) in BASE_URL_VARS.items():
        child[var] = base_url + suffix
    scratch = []
    defaults = defaults_with_statusline(env)
    if defaults is not None:
        child[DEFAULTS_ENV] = str(defaults)
        scratch.append(defaults.parent)
    cleared = [var for var in PROXY_VARS if child.pop(var, None)]
    pointing = []
    if cleared:
        pointing.append(
            f"{', '.join(cleared)} cleared for qwen: it sends even loopback calls through a proxy"
        )
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, notes, pointing, scratch=scratch)


def is_batch(args: Sequence[str]) -> bool:
    """`-p`/`--prompt`, piped prompts aside, and subcommands print and exit."""
    if args and args[0] in _BATCH_COMMANDS:
        return True
    return any(a.split("=", 1)[0] in _BATCH_OPTIONS for a in args)


def is_qwen(call: Call) -> bool:
    """Whether the request came from qwen-code (its user-agent)."""
    return (call.header("user-agent") or "").lower().startswith(USER_AGENT_PREFIX)


def _texts(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_texts(v) for v in value)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    return ""


def _system_text(call: Call) -> str:
    system = call.body.get("system")
    if system:
        return _texts(system)
    for message in call.messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            return _texts(message.get("content"))
    return ""


def _last_user_text(call: Call) -> str:
    for message in reversed(call.messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _texts(message.get("content"))
    return ""


def classify(call: Call) -> Step | None:
    """The step kind of a qwen-code request, from its system prompt."""
    from agentwrap.route.step import Step

    if not is_qwen(call):
        return None
    system = _system_text(call)
    opening = system[:400].lower()
    for needle, kind, what, main_loop, subagent_type in PROMPTS:
        if needle in opening:
            return Step(
                kind,
                f"qwen system prompt: {what} → {kind}",
                subagent_type=subagent_type,
                main_loop=main_loop,
            )
    if SNAPSHOT_TAG in system:
        return Step(
            "compact", f"asks for a {SNAPSHOT_TAG} of the history → compact", main_loop=True
        )
    if opening.startswith(IDENTITY):
        last = _last_user_text(call).lower()
        if last.lstrip().startswith(SUGGESTION_MARKER):
            return Step("background", "qwen's SUGGESTION MODE request (next input) → background")
        if PLAN_MARKER in last:
            return Step("plan", "qwen main loop with 'Plan mode is active.' → plan", main_loop=True)
        return Step(
            "implement",
            "qwen main loop (system prompt 'You are Qwen Code') → implement",
            main_loop=True,
        )
    return Step(
        "subagent",
        "qwen request with a system prompt not its main loop's (a custom agent) → subagent",
    )


def detect(call: Call) -> bool:
    """Whether a request came from qwen-code."""
    return is_qwen(call)


AGENT = Agent(
    name="qwen",
    label="qwen-code ('qwen')",
    binary="qwen",
    install="npm install -g @qwen-code/qwen-code",
    api="openai-chat",
    help="Run qwen-code through agentwrap. Every argument after the options goes to qwen "
    'untouched (e.g. agentwrap qwen -p "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    classify=classify,
    detect=detect,
    is_batch=is_batch,
    tested="0.24.4",
    package="@qwen-code/qwen-code",
    wiring=(
        "OPENAI_BASE_URL (<proxy>/v1), ANTHROPIC_BASE_URL",
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY cleared",
        f"{DEFAULTS_ENV}=<a copy with ui.statusLine, removed afterwards>",
    ),
)
