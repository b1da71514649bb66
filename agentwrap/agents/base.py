"""What every agent shares: the Agent description, finding its binary, pointing it at us."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hints read Call views; importing wire here would slow the CLI's start
    from agentwrap.route.step import Step
    from agentwrap.wire.call import Call

# A conversation and, inside it, the subagent a call belongs to (either may be unknown).
ConversationIds = tuple[str | None, str | None]

# The session secret proves a call comes from this session's agent. It travels in the proxy's
# base URL (`/s/<secret>`) through the agent's environment, or in this header, which an agent
# fills from this variable: never on a command line, where every local user reads it (`ps`).
SECRET_HEADER = "x-agentwrap-secret"
SECRET_ENV = "AGENTWRAP_SESSION_SECRET"


class SecretOnCommandLine(RuntimeError):
    """A launch plan would put the session secret on the agent's command line."""


def split_session_url(base_url: str) -> tuple[str, str]:
    """A proxy base URL (`http://127.0.0.1:<port>/s/<secret>`) as (origin, secret)."""
    origin, sep, secret = base_url.rstrip("/").partition("/s/")
    return (origin, secret) if sep else (origin, "")


def check_command_line(argv: Sequence[str], base_url: str | None, label: str) -> None:
    """Refuse a command line that holds the session secret (SecretOnCommandLine)."""
    secret = split_session_url(base_url)[1] if base_url else ""
    if secret and any(secret in arg for arg in argv):
        raise SecretOnCommandLine(
            f"{label}: the launch would put the session secret on its command line, where "
            "every local user can read it; nothing was started"
        )


@dataclass
class LaunchPlan:
    """How to start one agent through the proxy."""

    argv: list[str]
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)  # things to tell the user before launch
    # Notes on what pointing the agent at the base URL changed: untrue when nothing is pointed.
    pointing_notes: list[str] = field(default_factory=list)
    # Files and folders made for this run only (session-scoped config), removed when it ends.
    scratch: list[Path] = field(default_factory=list)

    def remove_scratch(self) -> None:
        """Remove what `scratch` names; what is already gone is fine."""
        for path in self.scratch:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def scratch_dir(prefix: str) -> Path:
    """A new private (0700) folder for one run's session-scoped config."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"agentwrap-{prefix}-"))


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
    # The release agentwrap's tests drive (tests/e2e/agents pins the same; a test checks).
    tested: str = ""
    package: str = ""  # its package name in `registry`, for installs of a given release
    registry: str = "npm"  # where it is published: "npm" or "pypi"
    # How a launch points it at agentwrap (variables, flags, config), for `agentwrap agents`.
    wiring: tuple[str, ...] = ()
    version_args: tuple[str, ...] = ("--version",)  # arguments that print its version
    # (args, env) → endpoints the user named in its arguments, kept as upstreams too
    upstreams_in_args: Callable[[Sequence[str], Mapping[str, str]], dict[str, str]] | None = None

    @property
    def binary_env(self) -> str:
        """The variable that names the executable instead of PATH: AGENTWRAP_<NAME>_BIN."""
        return f"AGENTWRAP_{self.name.upper().replace('-', '_')}_BIN"

    def find_binary(self, env: Mapping[str, str]) -> str | None:
        """The agent's executable: `binary_env` if set, else `binary` on PATH."""
        return find_binary(self.binary, self.binary_env, env)

    def own_upstreams(self, env: Mapping[str, str], args: Sequence[str]) -> dict[str, str]:
        """The user's own endpoints for this run: from the environment, then its arguments."""
        found = self.upstreams(env)
        if self.upstreams_in_args is not None:
            found.update(self.upstreams_in_args(args, env))
        return found

    def launch_plan(
        self, exe: str, args: list[str], base_url: str, env: Mapping[str, str]
    ) -> LaunchPlan:
        """The agent's own plan, with its status line hook applied to the arguments.

        Every registered agent's plan is held to one rule here: the session secret never goes
        on its command line (SecretOnCommandLine).
        """
        if self.statusline is not None:
            args = self.statusline(args, env)
        plan = self.plan(exe, args, base_url, env)
        check_command_line(plan.argv, base_url, self.label)
        return plan


# The base-URL variables clients read, as (variable, profile provider, what follows our base URL
# in it). Where two name one provider, the first set one is its upstream.
BASE_URL_VARS: tuple[tuple[str, str, str], ...] = (
    ("ANTHROPIC_BASE_URL", "anthropic", ""),
    ("OPENAI_BASE_URL", "openai", "/v1"),
    ("OPENAI_API_BASE", "openai", "/v1"),
    ("GOOGLE_GEMINI_BASE_URL", "gemini", ""),
)
_API_LABELS = {"anthropic": "Anthropic", "openai": "OpenAI", "gemini": "Gemini"}


def own_base_urls(
    env: Mapping[str, str], names: Sequence[str] | None = None
) -> dict[str, tuple[str, str]]:
    """The user's own endpoints among the base-URL variables: provider → (variable, URL).

    `names` limits the variables read (default: all of BASE_URL_VARS); our own proxy's URL
    (a nested agentwrap) is never one.
    """
    found: dict[str, tuple[str, str]] = {}
    for var, provider, _ in BASE_URL_VARS:
        if names is not None and var not in names:
            continue
        url = env.get(var, "").strip()
        if url and not is_our_url(url) and provider not in found:
            found[provider] = (var, url.rstrip("/"))
    return found


def base_url_notes(env: Mapping[str, str], names: Sequence[str] | None = None) -> list[str]:
    """What the launch tells the user about the endpoints it keeps as upstreams."""
    kept = own_base_urls(env, names)
    notes = [
        f"{var} was {url}: agentwrap forwards {_API_LABELS[provider]} calls there"
        for provider, (var, url) in kept.items()
    ]
    for var, provider, _ in BASE_URL_VARS:
        url = env.get(var, "").strip().rstrip("/")
        if names is not None and var not in names:
            continue
        if provider in kept and url and kept[provider][0] != var and url != kept[provider][1]:
            notes.append(f"{var} ({url}) differs from {kept[provider][0]}, which wins")
    return notes


def point_base_urls(env: dict[str, str], base_url: str, names: Sequence[str] | None = None) -> None:
    """Set the base-URL variables (`names`, default all) to the proxy at `base_url`."""
    for var, _, suffix in BASE_URL_VARS:
        if names is None or var in names:
            env[var] = base_url + suffix


_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.]+)?")


def probe_version(exe: str, args: Sequence[str], timeout: float) -> tuple[str | None, str | None]:
    """Ask an agent's executable its version: (version, None) or (None, what went wrong)."""
    try:
        done = subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer to {' '.join(args)} within {timeout:g} s"
    except OSError as exc:
        return None, f"cannot run it: {exc.strerror or exc}"
    found = _VERSION.search(done.stdout) or _VERSION.search(done.stderr)
    if found is None:
        return None, f"{' '.join(args)} exited {done.returncode} without a version"
    return found.group(0), None


def version_key(version: str) -> tuple[int, ...]:
    """A version's numeric parts, for comparing releases ("2.1.332" → (2, 1, 332))."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", 1)[0]))


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


def first_word(args: Sequence[str], valued: Collection[str]) -> str | None:
    """The first argument that is neither an option nor the value of one of the `valued`
    options: an agent's subcommand or prompt."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in valued:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, `export` and quotes allowed); {} if none."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key.strip()] = value
    return found
