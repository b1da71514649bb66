"""aider: how to launch it through the proxy, its step markers, and what else agentwrap knows.

aider (PyPI `aider-chat`, 0.86) calls its models through LiteLLM, which reads each API's base
URL from the environment: OPENAI_BASE_URL, then OPENAI_API_BASE (Chat Completions, `/v1`
included); ANTHROPIC_API_BASE, then ANTHROPIC_BASE_URL (`/v1/messages` appended);
GEMINI_API_BASE (`/models/<model>:generateContent` appended, so `/v1beta` included). aider
loads `.env` files (home, git root, working directory) over the environment, so a launch
hands it our URLs as `--set-env VAR=URL` settings, which aider applies after those files;
nothing of the user's is edited. They go in AIDER_SET_ENV, the environment's form of that
option, not on the command line, where every local user could read the session secret in them
(`--set-env` options of the user's own join them there, after ours, as aider would apply them). Credentials (OPENAI_API_KEY,
ANTHROPIC_API_KEY, GEMINI_API_KEY, `--api-key`) stay the user's and pass through untouched.

A base URL the user had (in the environment, a `.env` file, `--openai-api-base` or
AIDER_OPENAI_API_BASE) becomes that API's upstream, as ANTHROPIC_BASE_URL does for Claude Code.

Step markers, seen on the wire from aider 0.86.2 (tests/fixtures/aider/): aider sends no
header of its own (its user-agent is LiteLLM's or the OpenAI SDK's), so every marker is the
opening of a system prompt. The main model codes (`Act as an expert software developer`) or,
in architect mode, plans (`...architect engineer`) for an editor model that then codes
(`...who edits source code`); `/ask` answers (`expert code analyst` answering questions) and
`/context` looks for the files to change; the weak model writes commit messages and
summarises the chat history when it grows too long (`*Briefly* summarize`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap.agents.base import Agent, LaunchPlan, is_our_url, read_dotenv, with_no_proxy

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

# LiteLLM's variables, in the order it reads them, with what follows our base URL in each.
OPENAI_VARS = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
ANTHROPIC_VARS = ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL")
GEMINI_VAR = "GEMINI_API_BASE"
_SUFFIX = {**dict.fromkeys(OPENAI_VARS, "/v1"), GEMINI_VAR: "/v1beta"}

# Options that make aider do one thing and exit instead of opening its chat.
_BATCH_OPTIONS = frozenset(
    {
        "-m",
        "--message",
        "--msg",
        "-f",
        "--message-file",
        "--commit",
        "--lint",
        "--show-repo-map",
        "--show-prompts",
        "--exit",
        "--version",
        "-h",
        "--help",
        "--list-models",
        "--models",
    }
)

# Openings of aider's system prompts → (step kind, what it is, main loop).
PROMPTS = (
    ("*briefly* summarize this partial conversation", "compact", "chat-history summary", False),
    ("one-line git commit messages", "background", "commit message", False),
    ("act as an expert architect engineer", "plan", "architect mode", True),
    (
        "solely to determine all the existing sources",
        "explore",
        "/context (finding the files to change)",
        True,
    ),
    ("act as an expert code analyst", "implement", "/ask (answering about the code)", True),
    ("who edits source code", "implement", "architect mode's editor", True),
    ("make changes to source code", "implement", "architect mode's editor", True),
    ("act as an expert software developer", "implement", "coding", True),
    ("you are an expert on the ai coding tool called aider", "background", "/help", False),
)


def _git_root(cwd: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` in the arguments (the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def effective_env(
    env: Mapping[str, str], args: Sequence[str] = (), cwd: Path | None = None
) -> dict[str, str]:
    """The environment aider's model calls will see: ours, its .env files, --openai-api-base."""
    cwd = cwd or Path.cwd()
    merged = dict(env)
    home = Path(env.get("HOME") or Path.home())
    root = _git_root(cwd)
    files = [home / ".env", *((root / ".env",) if root else ()), cwd / ".env"]
    env_file = _option(args, "--env-file") or env.get("AIDER_ENV_FILE")
    if env_file:
        files.append(cwd / env_file)
    for path in dict.fromkeys(p.resolve() for p in files):
        merged.update(read_dotenv(path))  # aider loads them in this order, each overriding
    base = _option(args, "--openai-api-base") or merged.get("AIDER_OPENAI_API_BASE")
    if base:
        merged["OPENAI_API_BASE"] = base
    return merged


def _first(env: Mapping[str, str], names: Sequence[str]) -> tuple[str, str] | None:
    for name in names:
        url = env.get(name, "").strip()
        if url:
            return name, url
    return None


def own_endpoints(
    env: Mapping[str, str], args: Sequence[str] = (), cwd: Path | None = None
) -> dict[str, tuple[str, str]]:
    """The user's own base URLs aider would call: provider → (where it was set, base URL)."""
    merged = effective_env(env, args, cwd)
    found: dict[str, tuple[str, str]] = {}
    for provider, names, strip in (
        ("openai", OPENAI_VARS, ""),
        ("anthropic", ANTHROPIC_VARS, "/v1/messages"),
        ("gemini", (GEMINI_VAR,), "/v1beta"),
    ):
        hit = _first(merged, names)
        if hit is None or is_our_url(hit[1]):
            continue
        url = hit[1].rstrip("/")
        found[provider] = (hit[0], url.removesuffix(strip) if strip else url)
    return found


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """Base URLs the user had for aider's APIs (environment, .env files) stay its upstreams."""
    return {provider: url for provider, (_, url) in own_endpoints(env).items()}


def upstreams_in_args(args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """`--openai-api-base URL` (or `--env-file`'s) wins, as it does in aider."""
    return {provider: url for provider, (_, url) in own_endpoints(env, args).items()}


SET_ENV_VAR = "AIDER_SET_ENV"  # `--set-env`, as aider reads it from the environment


def set_env_items(base_url: str) -> list[str]:
    """`VAR=URL` for every base-URL variable LiteLLM reads, pointing at us."""
    return [
        f"{var}={base_url}{_SUFFIX.get(var, '')}"
        for var in (*OPENAI_VARS, *ANTHROPIC_VARS, GEMINI_VAR)
    ]


def _take_set_env(args: list[str]) -> tuple[list[str], list[str]]:
    """The user's `--set-env` values that can join ours, and the arguments without them.

    aider reads a list from AIDER_SET_ENV split at commas, so a value holding one stays an
    argument (and then aider ignores the variable: a note says so).
    """
    taken: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        value = None
        if arg == "--set-env" and i + 1 < len(args):
            value, width = args[i + 1], 2
        elif arg.startswith("--set-env="):
            value, width = arg.split("=", 1)[1], 1
        if value is not None and not any(c in value for c in ",[]"):
            taken.append(value)
            i += width
            continue
        rest.append(arg)
        i += 1
    return taken, rest


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make aider's model calls go to `base_url`."""
    child = dict(env)
    notes = [
        f"{where} was {url}: agentwrap forwards aider's {provider} calls there"
        for provider, (where, url) in own_endpoints(env, args).items()
    ]
    for var in (*OPENAI_VARS, *ANTHROPIC_VARS, GEMINI_VAR):
        child[var] = base_url + _SUFFIX.get(var, "")
    theirs, rest = _take_set_env(args)
    if any(a == "--set-env" or a.startswith("--set-env=") for a in rest):
        notes.append(
            "a --set-env value with a comma or bracket stays on aider's command line, so aider "
            "ignores agentwrap's own settings: a .env file that sets a base URL would take "
            "aider's calls past agentwrap"
        )
    # Ours first, then the user's: applied in that order, as on a command line.
    child[SET_ENV_VAR] = "[" + ", ".join([*set_env_items(base_url), *theirs]) + "]"
    with_no_proxy(child)
    return LaunchPlan([exe, *rest], child, notes)


def is_batch(args: Sequence[str]) -> bool:
    """`--message`, `--commit`, `--version`... do one thing and exit."""
    return any(a.split("=", 1)[0] in _BATCH_OPTIONS for a in args)


def system_text(call: Call) -> str:
    """The system prompt of a call in any API aider speaks (Chat, Messages, Gemini)."""
    body: dict[str, Any] = call.body
    parts: list[str] = []
    system = body.get("system") or body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts += [b.get("text", "") for b in system if isinstance(b, dict)]
    elif isinstance(system, dict) and isinstance(system.get("parts"), list):
        parts += [p.get("text", "") for p in system["parts"] if isinstance(p, dict)]
    for message in call.messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [b.get("text", "") for b in content if isinstance(b, dict)]
            break  # the first system message is aider's prompt; later ones are reminders
    return "\n".join(p for p in parts if isinstance(p, str))


def _marker(call: Call) -> tuple[str, str, bool] | None:
    opening = system_text(call)[:600].lower()
    for needle, kind, what, main_loop in PROMPTS:
        if needle in opening:
            return kind, what, main_loop
    return None


def classify(call: Call) -> Step | None:
    """The step kind of an aider request, from the opening of its system prompt."""
    from agentwrap.route.step import Step

    found = _marker(call)
    if found is None:
        return None
    kind, what, main_loop = found
    return Step(kind, f"aider system prompt: {what} → {kind}", main_loop=main_loop)


def detect(call: Call) -> bool:
    """Whether a request came from aider (one of its system prompts)."""
    return _marker(call) is not None


AGENT = Agent(
    name="aider",
    label="aider ('aider')",
    binary="aider",
    install="python -m pip install aider-install && aider-install",
    api="openai-chat",
    help="Run aider through agentwrap. Every argument after the options goes to aider "
    'untouched (e.g. agentwrap aider --model sonnet --message "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    upstreams_in_args=upstreams_in_args,
    classify=classify,
    detect=detect,
    is_batch=is_batch,
    tested="0.86.2",
    package="aider-chat",
    registry="pypi",
    wiring=(
        "AIDER_SET_ENV (--set-env): OPENAI_BASE_URL, OPENAI_API_BASE (<proxy>/v1)",
        "AIDER_SET_ENV (--set-env): ANTHROPIC_API_BASE, ANTHROPIC_BASE_URL",
        "AIDER_SET_ENV (--set-env): GEMINI_API_BASE (<proxy>/v1beta)",
    ),
)
