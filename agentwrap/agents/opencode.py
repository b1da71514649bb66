"""opencode: how to launch it through the proxy, its step markers, and what else we know.

opencode (npm `opencode-ai`, 1.18; a native binary from a platform package) reads its config
from several files (the global `~/.config/opencode/opencode.json`, OPENCODE_CONFIG, the
project's `opencode.json`, `.opencode/`) and, above them all, from the JSON in
OPENCODE_CONFIG_CONTENT. A launch puts the proxy there as the base URL of every provider whose
API agentwrap serves (`provider.<anthropic|openai|google>.options.baseURL`), merged into the
user's own OPENCODE_CONFIG_CONTENT if they had one; nothing is written to disk, and the
variable lives only in opencode's environment. Credentials (opencode's own auth store,
ANTHROPIC_API_KEY, an `apiKey` option) stay the user's and pass through untouched.

A `baseURL` the user had set on such a provider (a gateway, in any of those files) becomes that
API's upstream, as ANTHROPIC_BASE_URL does for Claude Code. Other providers (a custom
OpenAI-compatible one, opencode's own Zen) keep calling their services directly; the launch
says so when the config names one.

Step markers, seen on the wire from opencode 1.18.33 (tests/fixtures/opencode/): every call
carries `user-agent: opencode/<version> ai-sdk/...` and `x-session-id`; a subagent (the `task`
tool) runs in a child session whose calls add `x-parent-session-id`. The title of a new session
is a call to the small model with the system prompt "You are a title generator"; compaction
(when the last answer's usage fills the model's context) a call whose system prompt is "You are
a context summarization agent"; the plan agent (`--agent plan`, Tab in the TUI) adds a "Plan
Mode - System Reminder" to the user's message. `opencode run` prints and exits.
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

CONTENT_ENV = "OPENCODE_CONFIG_CONTENT"
CONFIG_ENV = "OPENCODE_CONFIG"
SESSION_HEADER = "x-session-id"
PARENT_HEADER = "x-parent-session-id"
USER_AGENT_PREFIX = "opencode/"
# opencode's provider ids whose API agentwrap serves → (profile provider, what follows our
# base URL in its baseURL: the AI SDK appends /messages, /responses, /models/... to it).
PROVIDERS = {
    "anthropic": ("anthropic", "/v1"),
    "openai": ("openai", "/v1"),
    "google": ("gemini", "/v1beta"),
}
TITLE_MARKER = "you are a title generator"
COMPACT_MARKER = "you are a context summarization agent"
PLAN_MARKER = "# plan mode - system reminder"
IDENTITY = "you are opencode"

# Subcommands that print and exit (no panel beside them); `opencode` alone is its TUI.
_BATCH_COMMANDS = frozenset(
    {"run", "models", "auth", "stats", "export", "import", "upgrade", "agent", "mcp", "debug"}
)
_BATCH_OPTIONS = frozenset({"-v", "--version", "-h", "--help"})
_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r'("(?:\\.|[^"\\])*")|,(\s*[}\]])')


def parse_jsonc(text: str) -> dict[str, Any]:
    """An opencode config (JSON with comments and trailing commas); {} when unreadable."""
    plain = _COMMENT.sub(lambda m: m.group(1) or "", text)
    plain = _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), plain)
    try:
        doc = json.loads(plain)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _read(path: Path) -> dict[str, Any]:
    try:
        return parse_jsonc(path.read_text())
    except (OSError, UnicodeDecodeError):
        return {}


def config_files(env: Mapping[str, str], cwd: Path | None = None) -> list[Path]:
    """The config files opencode reads, lowest precedence first (those that exist)."""
    cwd = cwd or Path.cwd()
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    names = ("config.json", "opencode.json", "opencode.jsonc")
    found = [xdg / "opencode" / name for name in names]
    if env.get(CONFIG_ENV):
        found.append(Path(env[CONFIG_ENV]).expanduser())
    folders = [cwd, *cwd.parents]
    for i, folder in enumerate(folders):
        if (folder / ".git").exists():
            folders = folders[: i + 1]
            break
    else:
        folders = [cwd]
    for folder in reversed(folders):  # the outermost first: nearer files win
        found += [folder / name for name in names[1:]]
        found += [folder / ".opencode" / name for name in names[1:]]
    return [path for path in found if path.is_file()]


def _providers(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    providers = doc.get("provider")
    if not isinstance(providers, dict):
        return {}
    return {name: entry for name, entry in providers.items() if isinstance(entry, dict)}


def _base_url(entry: Mapping[str, Any]) -> str | None:
    options = entry.get("options")
    url = options.get("baseURL") if isinstance(options, dict) else None
    return url.strip() if isinstance(url, str) and url.strip() else None


def own_endpoints(
    env: Mapping[str, str], cwd: Path | None = None
) -> dict[str, tuple[str, str, str]]:
    """The user's own base URLs: profile provider → (opencode's id, where, upstream URL)."""
    docs = [(str(path), _read(path)) for path in config_files(env, cwd)]
    if env.get(CONTENT_ENV, "").strip():
        docs.append((CONTENT_ENV, parse_jsonc(env[CONTENT_ENV])))
    found: dict[str, tuple[str, str, str]] = {}
    for where, doc in docs:  # later ones win, as in opencode
        for name, entry in _providers(doc).items():
            if name not in PROVIDERS:
                continue
            url = _base_url(entry)
            provider, suffix = PROVIDERS[name]
            if url is None:
                continue
            if is_our_url(url):  # a nested agentwrap's: it hides the files beneath it
                found.pop(provider, None)
                continue
            url = url.rstrip("/")
            # An OpenAI upstream keeps its /v1 (as OPENAI_BASE_URL does); the others are hosts.
            found[provider] = (
                name,
                where,
                url if provider == "openai" else url.removesuffix(suffix),
            )
    return found


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """Base URLs the user gave opencode's providers stay where its calls go."""
    return {provider: url for provider, (_, _, url) in own_endpoints(env).items()}


def others_named(env: Mapping[str, str], cwd: Path | None = None) -> list[str]:
    """Providers in the user's config that agentwrap does not carry (they call out directly)."""
    docs = [_read(path) for path in config_files(env, cwd)]
    if env.get(CONTENT_ENV, "").strip():
        docs.append(parse_jsonc(env[CONTENT_ENV]))
    names = {name for doc in docs for name in _providers(doc) if name not in PROVIDERS}
    return sorted(names)


def config_content(base_url: str, env: Mapping[str, str]) -> str:
    """The user's OPENCODE_CONFIG_CONTENT (if any) with our providers' baseURL set to us."""
    doc = parse_jsonc(env.get(CONTENT_ENV, "")) if env.get(CONTENT_ENV, "").strip() else {}
    providers = doc.setdefault("provider", {})
    if not isinstance(providers, dict):
        providers = doc["provider"] = {}
    for name, (_, suffix) in PROVIDERS.items():
        entry = providers.setdefault(name, {})
        if not isinstance(entry, dict):
            entry = providers[name] = {}
        options = entry.setdefault("options", {})
        if not isinstance(options, dict):
            options = entry["options"] = {}
        options["baseURL"] = base_url.rstrip("/") + suffix
    return json.dumps(doc)


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make opencode's model calls go to `base_url`."""
    child = dict(env)
    notes = [
        f"opencode's {name} provider had baseURL {url} ({Path(where).name}): agentwrap "
        "forwards its calls there"
        for name, where, url in own_endpoints(env).values()
    ]
    others = others_named(env)
    if others:
        notes.append(
            f"opencode's provider(s) {', '.join(others)} call their services directly: their "
            "calls will NOT pass through agentwrap (nothing is routed or recorded); anthropic, "
            "openai and google do"
        )
    child[CONTENT_ENV] = config_content(base_url, env)
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, notes)


def conversation(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """A subagent's child session names its parent: (the parent's session, the child's)."""
    session, parent = headers.get(SESSION_HEADER), headers.get(PARENT_HEADER)
    return (parent, session) if parent else (session, None)


def subcommand(args: Sequence[str]) -> str | None:
    """The first word that is not an option (opencode's options before it take no value
    apart from --model/-m, --agent, --port, --hostname, --log-level, --prompt)."""
    valued = {"-m", "--model", "--agent", "--port", "--hostname", "--log-level", "--prompt", "-s"}
    return first_word(args, valued)


def is_batch(args: Sequence[str]) -> bool:
    """`opencode run ...` and the other subcommands print and exit; bare `opencode` is a TUI."""
    if any(a in _BATCH_OPTIONS for a in args):
        return True
    return subcommand(args) in _BATCH_COMMANDS


def is_opencode(call: Call) -> bool:
    """Whether the request came from opencode (its user-agent)."""
    return (call.header("user-agent") or "").lower().startswith(USER_AGENT_PREFIX)


def _texts(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_texts(v) for v in value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        if "content" in value:
            return _texts(value["content"])
        if "parts" in value:
            return _texts(value["parts"])
    return ""


def _system_text(call: Call) -> str:
    body = call.body
    system = body.get("system") or body.get("instructions") or body.get("systemInstruction")
    if system:
        return _texts(system)
    for message in call.messages:  # Chat and Responses: the first system message
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            return _texts(message.get("content"))
    return ""


def _last_user_text(call: Call) -> str:
    for message in reversed(call.messages):
        if isinstance(message, dict) and message.get("role", "user") == "user":
            return _texts(message.get("content") or message.get("parts"))
    return ""


def classify(call: Call) -> Step | None:
    """The step kind of an opencode request, from its headers and system prompt."""
    from agentwrap.route.step import Step

    if not is_opencode(call):
        return None
    opening = _system_text(call)[:300].lower()
    if opening.startswith(TITLE_MARKER):
        return Step("background", "opencode system prompt 'You are a title generator' → background")
    if opening.startswith(COMPACT_MARKER):
        return Step(
            "compact",
            "opencode system prompt 'You are a context summarization agent' → compact",
            main_loop=True,
        )
    parent = call.header(PARENT_HEADER)
    if parent:
        return Step(
            "subagent",
            f"header {PARENT_HEADER} (a child session of the task tool) → subagent",
            subagent_type="task",
        )
    if PLAN_MARKER in _last_user_text(call).lower():
        return Step(
            "plan", "opencode's plan mode reminder in the user's message → plan", main_loop=True
        )
    if opening.startswith(IDENTITY):
        return Step(
            "implement",
            "opencode main loop (system prompt 'You are OpenCode') → implement",
            main_loop=True,
        )
    return Step(
        "implement",
        "opencode request with no title, compaction, subagent or plan marker → implement",
        main_loop=True,
        matched=False,
    )


def detect(call: Call) -> bool:
    """Whether a request came from opencode."""
    return is_opencode(call)


AGENT = Agent(
    name="opencode",
    label="opencode ('opencode')",
    binary="opencode",
    install="npm install -g opencode-ai",
    api="anthropic",
    help="Run opencode through agentwrap. Every argument after the options goes to opencode "
    'untouched (e.g. agentwrap opencode run "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    classify=classify,
    detect=detect,
    conversation=conversation,
    is_batch=is_batch,
    tested="1.18.33",
    package="opencode-ai",
    wiring=(
        f"{CONTENT_ENV}: provider.<anthropic|openai|google>.options.baseURL",
        "(merged into the user's own; nothing written to disk)",
    ),
)
