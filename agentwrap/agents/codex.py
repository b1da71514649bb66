"""Codex CLI: how to launch it through the proxy, and everything else agentwrap knows of it.

Codex ignores OPENAI_BASE_URL. It takes a model provider from its config instead, and `-c`
overrides on the command line set one for this run only, so the user's config.toml is never
edited:

    codex -c model_provider=agentwrap \\
          -c 'model_providers.agentwrap={name="...", base_url="http://127.0.0.1:<port>/v1",
              env_http_headers={"x-agentwrap-secret"="AGENTWRAP_SESSION_SECRET"}, ...}' ARGS...

Requests then arrive at `/v1/responses` (Responses API, always streamed). The `-c` flags go
before the user's arguments: Codex accepts them ahead of any subcommand (`exec`, `resume`,
...). A command line is readable by every local user (`ps`), so the session secret is not in
that base URL: Codex reads it from AGENTWRAP_SESSION_SECRET in its environment and sends it in
the x-agentwrap-secret header (`env_http_headers`), which the front door accepts in place of
the `/s/<secret>` path and never forwards.

Credentials stay the user's, and the same ones Codex would use without agentwrap:

- a login in `$CODEX_HOME/auth.json` (`codex login`: an API key or a ChatGPT sign-in) wins,
  as it does for Codex itself: the provider sets `requires_openai_auth`, and Codex sends the
  key, or the ChatGPT access token plus `chatgpt-account-id`, as it always does;
- otherwise OPENAI_API_KEY from the environment (`env_key`), sent as a bearer token.

The proxy forwards these headers untouched to where they are valid: OpenAI's API, or for a
ChatGPT sign-in the ChatGPT backend Codex itself calls (CHATGPT_BASE_URL; the launcher
hands it to the profile as AGENTWRAP_OPENAI_UPSTREAM).

A `model_provider` of the user's own in config.toml (a company gateway speaking the
Responses API) is kept the same way an ANTHROPIC_BASE_URL is for Claude Code: its base URL
becomes the upstream, and its key variable, headers and query parameters stay in the
provider Codex is given.

Its step markers live in codex_hints.py; `codex exec` and `codex review` run headless.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap.agents.base import (
    SECRET_ENV,
    SECRET_HEADER,
    Agent,
    ConversationIds,
    LaunchPlan,
    first_word,
    is_our_url,
    split_session_url,
    upstream_env,
    with_no_proxy,
)

if TYPE_CHECKING:
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

PROVIDER_ID = "agentwrap"  # the model provider's key in Codex's config, for this run
KEY_ENV = "OPENAI_API_KEY"
# Where Codex sends a ChatGPT sign-in's calls (`/responses`, `/models` below it).
CHATGPT_BASE_URL = "https://chatgpt.com/backend-api/codex"
SESSION_HEADER = "session-id"
# Each of a session's threads (a spawned subagent has its own) names itself in this header.
THREAD_HEADER = "thread-id"

# Codex options that take a value (so the word after them is not a subcommand).
_VALUE_OPTIONS = frozenset(
    {
        "-c",
        "--config",
        "--enable",
        "--disable",
        "-m",
        "--model",
        "-p",
        "--profile",
        "-s",
        "--sandbox",
        "-a",
        "--ask-for-approval",
        "-C",
        "--cd",
        "-i",
        "--image",
        "--remote",
        "--local-provider",
        "--add-dir",
    }
)
# Subcommands that run without Codex's full-screen UI: no panel beside them.
_BATCH_COMMANDS = frozenset({"exec", "e", "review"})


def codex_home(env: Mapping[str, str]) -> Path:
    """Codex's config folder: $CODEX_HOME, else ~/.codex."""
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".codex"


def _toml_string(value: str) -> str:
    # A TOML basic string; JSON escaping is a subset TOML accepts for these characters.
    return json.dumps(value)


def login_mode(env: Mapping[str, str]) -> str | None:
    """How Codex is logged in, from auth.json: "chatgpt", "apikey", or None (no login file)."""
    try:
        doc = json.loads((codex_home(env) / "auth.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    mode = str(doc.get("auth_mode") or "").lower()
    tokens = doc.get("tokens")
    if mode == "chatgpt" or (not mode and isinstance(tokens, dict) and tokens.get("access_token")):
        return "chatgpt"
    if mode == "apikey" or doc.get("OPENAI_API_KEY"):
        return "apikey"
    return None


def _inline(values: Mapping[str, Any]) -> str:
    """A flat string-valued mapping as a TOML inline table."""
    return (
        "{"
        + ", ".join(f"{_toml_string(k)} = {_toml_string(str(v))}" for k, v in values.items())
        + "}"
    )


def provider_table(
    base_url: str, env: Mapping[str, str], own: Mapping[str, Any] | None = None
) -> str:
    """The inline TOML table of the model provider that points Codex at `base_url`.

    The table goes on Codex's command line, so the session secret stays out of it: the base
    URL is the proxy's origin, and Codex sends the secret in SECRET_HEADER from SECRET_ENV.
    `own` is the user's own provider (from their config.toml) whose calls we now carry: its
    key variable, extra headers and query parameters are kept, so Codex sends them to us as
    before and the proxy forwards them to that provider.
    """
    origin, _ = split_session_url(base_url)
    fields = {
        "name": _toml_string("OpenAI via agentwrap"),
        "base_url": _toml_string(origin + "/v1"),
        "wire_api": _toml_string("responses"),
    }
    env_headers: dict[str, Any] = {}
    if own is not None:
        if isinstance(own.get("env_key"), str):
            fields["env_key"] = _toml_string(own["env_key"])
        if own.get("requires_openai_auth") is True:
            fields["requires_openai_auth"] = "true"
        for key in ("http_headers", "query_params"):
            if isinstance(own.get(key), dict):
                fields[key] = _inline(own[key])
        if isinstance(own.get("env_http_headers"), dict):
            env_headers.update(own["env_http_headers"])
    elif login_mode(env) is None and env.get(KEY_ENV):
        fields["env_key"] = _toml_string(KEY_ENV)
    else:
        # Codex's own login (API key or ChatGPT) supplies the credentials, as without us.
        fields["requires_openai_auth"] = "true"
    env_headers[SECRET_HEADER] = SECRET_ENV
    fields["env_http_headers"] = _inline(env_headers)
    return "{" + ", ".join(f"{k} = {v}" for k, v in fields.items()) + "}"


def provider_args(
    base_url: str, env: Mapping[str, str], own: Mapping[str, Any] | None = None
) -> list[str]:
    """The `-c` overrides that make Codex send its model calls to `base_url`."""
    return [
        "-c",
        f"model_provider={_toml_string(PROVIDER_ID)}",
        "-c",
        f"model_providers.{PROVIDER_ID}={provider_table(base_url, env, own)}",
    ]


def configured_provider(env: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """The model_provider the user's config.toml selects (not OpenAI's own) and its table."""
    import tomllib  # read when Codex launches: `--help` lists the agents without it

    try:
        doc = tomllib.loads((codex_home(env) / "config.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    name = doc.get("model_provider")
    if not isinstance(name, str) or name in ("openai", PROVIDER_ID):
        return None
    providers = doc.get("model_providers")
    table = providers.get(name) if isinstance(providers, dict) else None
    return name, table if isinstance(table, dict) else {}


def _own_provider(
    env: Mapping[str, str],
) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    """The user's own model provider we can carry: (its base URL, its table, notes)."""
    configured = configured_provider(env)
    if not configured:
        return None, None, []
    name, table = configured
    url = table.get("base_url")
    wire = table.get("wire_api", "responses")
    if isinstance(url, str) and url and not is_our_url(url) and wire == "responses":
        # Like a gateway in ANTHROPIC_BASE_URL: the user's provider becomes our upstream.
        upstream = url.rstrip("/")
        note = (
            f"config.toml selects model_provider '{name}': agentwrap forwards Codex's calls "
            f"to {upstream}"
        )
        return upstream, table, [note]
    note = (
        f"config.toml selects model_provider '{name}', which agentwrap cannot carry: "
        "for this run Codex talks to agentwrap, which passes calls through to OpenAI"
    )
    return None, None, [note]


def upstreams(env: Mapping[str, str]) -> dict[str, str]:
    """Where Codex's own calls belong: the user's provider, else a ChatGPT sign-in's backend.

    An AGENTWRAP_OPENAI_UPSTREAM set by hand (or by an enclosing run) stands.
    """
    if env.get(upstream_env("openai")):
        return {}
    upstream, _, _ = _own_provider(env)
    if upstream is None and login_mode(env) == "chatgpt":
        upstream = CHATGPT_BASE_URL
    return {"openai": upstream} if upstream else {}


def plan(exe: str, args: list[str], base_url: str, env: Mapping[str, str]) -> LaunchPlan:
    """The command and environment that make Codex call `base_url`."""
    child = dict(env)
    _, own_table, notes = _own_provider(env)
    if any(a == "--oss" or a.startswith("--local-provider") for a in args):
        notes.append(
            "--oss makes Codex call a local model server directly: its calls will NOT pass "
            "through agentwrap (nothing is routed or recorded)"
        )
    with_no_proxy(child)
    child[SECRET_ENV] = split_session_url(base_url)[1]
    argv = [exe, *provider_args(base_url, env, own_table), *args]
    return LaunchPlan(argv, child, notes)


def subcommand(args: Sequence[str]) -> str | None:
    """The first argument that is neither an option nor its value: a subcommand or a prompt."""
    return first_word(args, _VALUE_OPTIONS)


def is_batch(args: Sequence[str]) -> bool:
    """`codex exec` (and `review`) print and exit."""
    return subcommand(args) in _BATCH_COMMANDS


def classify(call: Call) -> Step | None:
    """Codex's step markers (codex_hints.py, loaded on the first call)."""
    from agentwrap.agents import codex_hints

    return codex_hints.classify(call)


def detect(call: Call) -> bool:
    """Whether a request came from the Codex CLI."""
    from agentwrap.agents import codex_hints

    return codex_hints.is_codex(call)


def conversation(headers: Mapping[str, str]) -> ConversationIds:
    """(session, thread): a thread other than the session's own is a subagent's."""
    session, thread = headers.get(SESSION_HEADER), headers.get(THREAD_HEADER)
    return session, thread if thread and thread != session else None


AGENT = Agent(
    name="codex",
    label="Codex CLI ('codex')",
    binary="codex",
    install="npm install -g @openai/codex",
    api="openai-responses",
    help="Run the Codex CLI through agentwrap. Every argument after the options goes to codex "
    'untouched (e.g. agentwrap codex exec "fix the tests").',
    plan=plan,
    upstreams=upstreams,
    classify=classify,
    detect=detect,
    conversation=conversation,
    is_batch=is_batch,
    tested="0.171.0",
    package="@openai/codex",
    wiring=(
        "-c model_provider=agentwrap",
        "-c model_providers.agentwrap={base_url, ...}",
        "AGENTWRAP_SESSION_SECRET (sent as x-agentwrap-secret)",
    ),
)
