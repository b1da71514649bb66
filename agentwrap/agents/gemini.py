"""Gemini CLI: how to launch it through the proxy, and everything else agentwrap knows of it.

Gemini CLI (0.61) honours GOOGLE_GEMINI_BASE_URL when it authenticates with an API key
(`gemini-api-key`) or as a `gateway`: its Gen AI SDK then calls
`<base>/v1beta/models/<model>:generateContent` and
`<base>/v1beta/models/<model>:streamGenerateContent?alt=sse`, which the proxy serves under
`/s/<secret>/`. The key (GEMINI_API_KEY) travels as `x-goog-api-key` and passes through to
Google's API untouched.

The auth mode is the first of: `security.auth.selectedType` in the settings files, then the
environment (GOOGLE_GENAI_USE_GCA, GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GEMINI_BASE_URL →
`gateway`, GEMINI_API_KEY). A sign-in with Google (`oauth-personal`, Cloud Shell, compute
credentials) talks to Google's Code Assist service and Vertex AI has its own endpoint: neither
reads GOOGLE_GEMINI_BASE_URL, so those calls do not pass through agentwrap; the launcher says
so. The user's settings files are only read, never edited.

A GOOGLE_GEMINI_BASE_URL the user already had (a company gateway) becomes the upstream, the
way an ANTHROPIC_BASE_URL does for Claude Code.

Its step markers live in gemini_hints.py; `-p`, and subcommands such as `mcp`, run headless.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap.agents.base import Agent, LaunchPlan, is_our_url, with_no_proxy

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"
KEY_ENV = "GEMINI_API_KEY"

# Auth modes (settings `security.auth.selectedType`) whose calls never read our base URL.
GOOGLE_LOGIN_TYPES = ("oauth-personal", "cloud-shell", "compute-default-credentials")
VERTEX_TYPE = "vertex-ai"

# Options that make Gemini CLI print and exit instead of opening its full-screen UI.
_BATCH_OPTIONS = frozenset(
    {"-p", "--prompt", "-l", "--list-extensions", "--list-sessions", "-v", "--version", "-h"}
)
_BATCH_COMMANDS = frozenset(
    {"mcp", "extensions", "extension", "skills", "skill", "hooks", "hook", "gemma"}
)


def gemini_home(env: Mapping[str, str]) -> Path:
    """Gemini CLI's user folder: $GEMINI_CLI_HOME/.gemini, else ~/.gemini."""
    root = env.get("GEMINI_CLI_HOME") or env.get("HOME") or str(Path.home())
    return Path(root).expanduser() / ".gemini"


def _read_settings(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _selected_type(doc: Mapping[str, Any]) -> str | None:
    security = doc.get("security")
    auth = security.get("auth") if isinstance(security, dict) else None
    value = auth.get("selectedType") if isinstance(auth, dict) else None
    return value if isinstance(value, str) and value else None


def selected_auth(env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """The auth type the settings select: system, then workspace, then user settings."""
    cwd = Path.cwd() if cwd is None else cwd
    candidates = []
    if env.get("GEMINI_CLI_SYSTEM_SETTINGS_PATH"):
        candidates.append(Path(env["GEMINI_CLI_SYSTEM_SETTINGS_PATH"]))
    candidates += [cwd / ".gemini" / "settings.json", gemini_home(env) / "settings.json"]
    for path in candidates:
        found = _selected_type(_read_settings(path))
        if found:
            return found
    return None


def auth_mode(env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """How Gemini CLI will authenticate once GOOGLE_GEMINI_BASE_URL points at us."""
    selected = selected_auth(env, cwd)
    if selected:
        return selected
    if env.get("GOOGLE_GENAI_USE_GCA") == "true":
        return "oauth-personal"
    if env.get("GOOGLE_GENAI_USE_VERTEXAI") == "true":
        return VERTEX_TYPE
    return "gateway"  # the base URL we set selects it when nothing else does


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """A GOOGLE_GEMINI_BASE_URL the user had (a gateway) stays where Gemini calls go."""
    existing = env.get(BASE_URL_ENV)
    if existing and not is_our_url(existing):
        return {"gemini": existing.rstrip("/")}
    return {}


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make Gemini CLI call `base_url`."""
    child = dict(env)
    notes: list[str] = []
    upstream = upstreams(env).get("gemini")
    if upstream:
        notes.append(f"{BASE_URL_ENV} was {upstream}: agentwrap forwards Gemini calls there")
    mode = auth_mode(env)
    if mode in GOOGLE_LOGIN_TYPES:
        notes.append(
            f"Gemini CLI signs in with Google ({mode}): it calls Google's Code Assist service "
            f"directly, so its calls will NOT pass through agentwrap (nothing is routed or "
            f"recorded). Use an API key ({KEY_ENV}, auth type gemini-api-key) to go through it"
        )
    elif mode == VERTEX_TYPE:
        notes.append(
            "Gemini CLI uses Vertex AI: it calls Vertex directly, so its calls will NOT pass "
            "through agentwrap (nothing is routed or recorded)"
        )
    elif mode == "gateway" and not env.get(KEY_ENV):
        # (gemini-api-key mode may also use a key Gemini CLI stored itself; gateway does not)
        notes.append(
            f"{KEY_ENV} is not set: calls passed through to Google will be refused "
            "(a profile that routes them elsewhere still works)"
        )
    child[BASE_URL_ENV] = base_url
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, notes)


def is_batch(args: Sequence[str]) -> bool:
    """Whether these arguments run Gemini CLI headless (no panel beside it is useful)."""
    if args and args[0] in _BATCH_COMMANDS:
        return True
    return any(a in _BATCH_OPTIONS or a.startswith("--prompt=") for a in args)


def classify(call: Call) -> Step | None:
    """Gemini CLI's step markers (gemini_hints.py, loaded on the first call)."""
    from agentwrap.agents import gemini_hints

    return gemini_hints.classify(call)


def detect(call: Call) -> bool:
    """Whether a request came from Gemini CLI."""
    from agentwrap.agents import gemini_hints

    return gemini_hints.is_gemini_cli(call)


AGENT = Agent(
    name="gemini",
    label="Gemini CLI ('gemini')",
    binary="gemini",
    install="npm install -g @google/gemini-cli",
    api="gemini",
    help="Run Gemini CLI through agentwrap. Every argument after the options goes to gemini "
    'untouched (e.g. agentwrap gemini -p "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    classify=classify,
    detect=detect,
    is_batch=is_batch,
    tested="0.61.0",
    package="@google/gemini-cli",
    wiring=("GOOGLE_GEMINI_BASE_URL",),
)
