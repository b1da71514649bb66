"""Starting an agent through a session: the launch commands' work, with no command-line library.

`agentwrap <agent>` is the command people wait on: the agent should start as soon as it can.
typer takes a good part of that time to load and to build the command, so a launch command
line whose options need no parser (agentwrap's own options first, then the agent's
arguments, none of which could be one of agentwrap's) is read by `plain_launch` and run
here without typer; any other line goes through the typer command of cli/launch.py, which
runs the same functions. Errors are printed as every agentwrap command prints them, and
`SystemExit` carries the exit code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentwrap import panel
from agentwrap.agents import registry
from agentwrap.agents.base import Agent, LaunchPlan, SecretOnCommandLine, upstream_env

if TYPE_CHECKING:
    from agentwrap.route.profile import Profile
    from agentwrap.session import Session

# Set once a launch has closed its session and printed its summary: nothing is left open,
# so the console script may exit without the interpreter's teardown (cli/main.py, script).
session_closed = False


@dataclass
class LaunchOptions:
    """agentwrap's own options of a launch command (declared for typer in cli/launch.py)."""

    profile: str | None = None
    routes: list[str] = field(default_factory=list)
    observe: bool = False
    quiet: bool = False
    panel: str | None = None
    transparent: bool = False


# Each option of LaunchOptions on the command line: flags, and options that take a value.
FLAGS = {"--observe": "observe", "--quiet": "quiet", "-q": "quiet", "--transparent": "transparent"}
VALUED = {"--profile": "profile", "--route": "routes", "--panel": "panel"}
HELP = ("-h", "--help")


def _may_be_ours(token: str) -> bool:
    """Whether the command line parser could read `token` as one of agentwrap's options."""
    if token == "--":
        return True
    if token.startswith("--"):
        return token.partition("=")[0] in (*FLAGS, *VALUED, *HELP)
    # A short cluster (-xq) is read letter by letter: any q or h in it is agentwrap's.
    return token.startswith("-") and any(letter in token[1:] for letter in "qh")


def plain_launch(tokens: list[str]) -> tuple[LaunchOptions, list[str]] | None:
    """agentwrap's options at the front of a launch command line's `tokens` (after the agent's
    name) and the agent's arguments after them, as the command line parser reads them; None
    when the line needs that parser (help, `--`, an option of agentwrap's among the agent's
    arguments, an option without its value)."""
    options = LaunchOptions()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, value = token.partition("=")
        if token in FLAGS:
            setattr(options, FLAGS[token], True)
            i += 1
        elif name in VALUED:
            if not eq:
                if i + 1 == len(tokens):
                    return None
                value = tokens[i + 1]
            i += 1 if eq else 2
            if name == "--route":
                options.routes.append(value)
            else:
                setattr(options, VALUED[name], value)
        else:
            break
    args = tokens[i:]
    if any(_may_be_ours(token) for token in args):
        return None
    return options, args


def launch_directly(name: str, tokens: list[str]) -> None:
    """Launch the registered agent `name` with `tokens` without the command line parser when
    `plain_launch` can read them (exits with the agent's exit code); otherwise return."""
    agent = registry.get(name)
    read = plain_launch(tokens) if agent is not None else None
    if agent is None or read is None:
        return
    options, args = read
    try:
        run_agent(
            agent,
            args,
            options.profile,
            options.routes or None,
            options.observe,
            options.quiet,
            options.panel,
            options.transparent,
        )
    except KeyboardInterrupt:  # Ctrl-C while no agent runs: as the parser's commands end
        print("\nAborted.", file=sys.stderr)
        raise SystemExit(1) from None


def err(msg: str) -> None:
    """An error, on stderr, as every agentwrap command writes one."""
    print(f"agentwrap: {msg}", file=sys.stderr)


def require_binary(exe: str | None, binary_env: str, label: str, install_hint: str) -> str:
    """`exe`, or tell the user how to install the agent and exit 127 (no session starts)."""
    if exe is not None:
        return exe
    where = os.environ.get(binary_env)
    if where:
        err(f"{binary_env}={where} is not an executable file")
    else:
        err(f"{label} was not found on PATH.")
    err(f"Install it with: {install_hint}")
    raise SystemExit(127)


def load_run_profile(
    profile: str | None,
    routes: list[str] | None,
    env: dict[str, str],
    agent: Agent | None,
) -> Profile:
    """The run's profile for the API `agent` speaks (no agent: the default, Anthropic's).
    Its model tiers resolve against the price table's model ids as last remembered
    (agentwrap.modellist): loading the table would keep the agent waiting."""
    from agentwrap.modellist import bundled_model_ids
    from agentwrap.route.profile import ProfileError, load_profile
    from agentwrap.wire.call import ANTHROPIC

    overrides: dict[str, str] = {}
    for item in routes or []:
        step, sep, model = item.partition("=")
        if not sep or not step.strip() or not model.strip():
            err(f"--route expects STEP=MODEL, got '{item}'")
            raise SystemExit(2)
        overrides[step.strip()] = model.strip()
    api = agent.api if agent is not None else ANTHROPIC
    try:
        prof = load_profile(
            Path.cwd(), profile, env, overrides or None, agent_api=api, model_ids=bundled_model_ids
        )
    except ProfileError as exc:
        err(str(exc))
        raise SystemExit(2) from None
    for warning in getattr(prof, "warnings", []) or []:
        err(warning)
    return prof


def run_command(
    name: str,
    agent: Agent | None,
    upstreams: Callable[[Mapping[str, str]], dict[str, str]],
    plan_for: Callable[[str | None, dict[str, str]], LaunchPlan],
    argv_for_record: list[str],
    profile: str | None,
    routes: list[str] | None,
    observe: bool,
    quiet: bool,
    panel_mode: str | None,
    transparent: bool = False,
) -> None:
    """Run one command through a session. `agent`: the registered agent it is, if any (its
    API, step hints and batch mode); `upstreams`: the user's own endpoints to keep;
    `plan_for(base_url, env)`: how to start it pointed at the proxy's base URL, or keeping its
    own hosts when that is None (`transparent`)."""
    wrapped = panel.restore_wrapped_env()  # inside the tmux session we started ourselves
    env = dict(os.environ)
    mode = _panel_mode(panel_mode, env, agent, argv_for_record)
    # Where the user's own calls went (a gateway) becomes the profile's upstream.
    for provider, url in upstreams(env).items():
        env[upstream_env(provider)] = url
    prof = load_run_profile(profile, routes, env, agent)
    check_limits(env)
    if mode == "wrap":
        _run_wrapped(env, quiet)
    session = _open_session(name, agent, prof, observe, quiet, env, argv_for_record, transparent)
    code = _run_in_session(session, plan_for, env, mode, transparent)
    for problem in session.interceptor.problems if session.interceptor else []:
        err(f"transparent mode: {problem}")
    if wrapped is not None:
        panel.write_status(wrapped, code if code is not None else 1, session.id)
    elif not quiet:
        from agentwrap.cli.summary import print_summary

        print_summary(session.store, session.id)
    global session_closed
    session_closed = True
    raise SystemExit(code if code is not None else 1)


def _panel_mode(
    panel_mode: str | None, env: Mapping[str, str], agent: Agent | None, argv: list[str]
) -> str:
    """Where the panel goes for this run (see panel.resolve_mode); a bad value exits 2."""
    batch = agent.is_batch(argv[1:]) if agent is not None else False
    try:
        return panel.resolve_mode(panel_mode, env, batch)
    except ValueError as exc:
        err(str(exc))
        raise SystemExit(2) from None


def _open_session(
    name: str,
    agent: Agent | None,
    prof: Profile,
    observe: bool,
    quiet: bool,
    env: dict[str, str],
    argv_for_record: list[str],
    transparent: bool,
) -> Session:
    """The run's session, its proxy's socket bound; in transparent mode its proxy serving
    already (the interceptor needs it before the agent starts). Cannot: exit 1."""
    from agentwrap.session import Session, SessionOptions

    try:
        session = Session(
            SessionOptions(
                agent=name,
                profile=prof,
                observe=observe,
                quiet=quiet,
                env=env,
                step_hints=agent.name if agent is not None else None,
                transparent=transparent,
            ),
            argv_for_record,
        )
        if transparent:
            session.start()
    except RuntimeError as exc:
        err(str(exc))
        raise SystemExit(1) from None
    return session


def _run_in_session(
    session: Session,
    plan_for: Callable[[str | None, dict[str, str]], LaunchPlan],
    env: dict[str, str],
    mode: str,
    transparent: bool,
) -> int | None:
    """Start the agent (and its panel) and wait for it; the session is closed whatever
    happens. The agent's exit code, or None when it never ran."""
    code: int | None = None
    pane: panel.TmuxPanel | None = None
    plan: LaunchPlan | None = None
    try:
        planned = _plan(session, plan_for, env, transparent)
        if isinstance(planned, int):
            code = planned
            raise SystemExit(code)
        plan = planned
        if mode in ("split", "window"):
            pane = panel.TmuxPanel(session.id, mode, env)
            if problem := pane.open():
                err(problem)
        child = session.spawn_child(plan)
        if isinstance(child, int):
            code = child
            return code
        if not transparent:
            _serve_while_the_agent_starts(session, child)
        code = session.wait_child(child)
        _check_started(session)
        return code
    finally:
        if plan is not None:
            plan.remove_scratch()
        session.close(code)
        if pane is not None:
            pane.close()


def _plan(
    session: Session,
    plan_for: Callable[[str | None, dict[str, str]], LaunchPlan],
    env: dict[str, str],
    transparent: bool,
) -> LaunchPlan | int:
    """How to start the agent in this session, its notes told; or the exit code when
    agentwrap cannot start it safely (a secret would show on its command line)."""
    try:
        plan = plan_for(None if transparent else session.base_url, env)
    except SecretOnCommandLine as exc:
        err(str(exc))
        return 70  # EX_SOFTWARE: a bug in agentwrap's launch of this agent
    plan.env = session.child_env(plan.env)
    for note in [*plan.notes, *plan.pointing_notes]:
        err(note)
    if transparent:
        from agentwrap.proxy.transparent import loopback_notes

        for note in loopback_notes(env):
            err(note)
    return plan


def _serve_while_the_agent_starts(session: Session, child: subprocess.Popen[bytes]) -> None:
    """Start the proxy on the session's bound socket while the agent starts, on a thread of
    its own: an agent that exits at once is not kept waiting for the proxy to load. If the
    proxy cannot start, the agent is stopped (its calls would go nowhere)."""

    def stop_the_agent() -> None:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()

    session.start_in_background(stop_the_agent)


def _check_started(session: Session) -> None:
    """After the agent: if the proxy could not start, say why and exit 1 (an unexpected
    error is raised as it was)."""
    failure = session.start_failure
    if failure is None:
        return
    if not isinstance(failure, RuntimeError):
        raise failure
    err(str(failure))
    raise SystemExit(1) from None


def check_limits(env: Mapping[str, str]) -> None:
    """Refuse unusable AGENTWRAP_<LIMIT> settings before anything starts."""
    from agentwrap.proxy.options import ProxyOptions

    try:
        ProxyOptions().set_from_env(env)
    except ValueError as exc:
        err(str(exc))
        raise SystemExit(2) from None


def _run_wrapped(env: dict[str, str], quiet: bool) -> None:
    """Start a tmux session holding agent and panel; report the agent's exit and summary."""
    with tempfile.TemporaryDirectory(prefix="agentwrap-") as state:
        state_dir = Path(state)
        panel.wrap_in_tmux(sys.argv[1:], env, state_dir)
        status = panel.read_status(state_dir)
    if status is None:
        err("the tmux session ended before the agent reported its exit")
        raise SystemExit(1)
    code, session_id = status
    if not quiet:
        from agentwrap import paths
        from agentwrap.cli.summary import print_summary
        from agentwrap.trace.store import TraceStore

        print_summary(TraceStore(paths.trace_db()), session_id)
    raise SystemExit(code)


def run_agent(
    agent: Agent,
    args: list[str],
    profile: str | None,
    routes: list[str] | None,
    observe: bool,
    quiet: bool,
    panel_mode: str | None,
    transparent: bool = False,
) -> None:
    """Launch a registered agent with `args` through a session; exits with its exit code."""
    exe = require_binary(
        agent.find_binary(os.environ), agent.binary_env, agent.label, agent.install
    )

    def plan_for(base_url: str | None, env: dict[str, str]) -> LaunchPlan:
        if base_url is not None:
            return agent.launch_plan(exe, args, base_url, env)
        # Transparent: no base URL; its status line, and what its plan says bypasses us (not
        # what pointing it would have changed: nothing is pointed).
        pointed = agent.plan(exe, args, "http://127.0.0.1:0/s/-", env)
        pointed.remove_scratch()  # its session config points at a base URL: not this run's
        shown = agent.statusline(args, env) if agent.statusline is not None else args
        return LaunchPlan([exe, *shown], dict(env), pointed.notes)

    def upstreams(env: Mapping[str, str]) -> dict[str, str]:
        return agent.own_upstreams(env, args)

    run_command(
        agent.name,
        agent,
        upstreams,
        plan_for,
        [agent.name, *args],
        profile,
        routes,
        observe,
        quiet,
        panel_mode,
        transparent,
    )


def seconds_problem(value: float | None) -> str | None:
    """What is wrong with a number of seconds given for a limit, if anything."""
    if value is not None and not value > 0:
        return f"must be a number of seconds above 0, not {value:g}"
    return None


def bytes_problem(value: int | None) -> str | None:
    """What is wrong with a number of bytes given for a limit, if anything."""
    if value is not None and value < 1:
        return f"must be a number of bytes of at least 1, not {value}"
    return None


def serve(
    port: int = 0,
    profile: str | None = None,
    route: list[str] | None = None,
    observe: bool = False,
    max_body: int | None = None,
    agent: str = "serve",
    first_byte_timeout: float | None = None,
    stall_timeout: float | None = None,
) -> None:
    """`agentwrap serve`: run the proxy alone until a signal ends it, its base URL on the
    first line of stdout. A limit it cannot take raises BadValue before anything starts."""
    from agentwrap.cli.plain import BadValue

    for option, problem in (
        ("--max-body", bytes_problem(max_body)),
        ("--first-byte-timeout", seconds_problem(first_byte_timeout)),
        ("--stall-timeout", seconds_problem(stall_timeout)),
    ):
        if problem:
            raise BadValue(problem, option)
    from agentwrap.session import Session, SessionOptions

    env = dict(os.environ)
    prof = load_run_profile(profile, route, env, registry.get(agent))
    check_limits(env)
    try:
        session = Session(
            SessionOptions(
                agent=agent,
                profile=prof,
                observe=observe,
                env=env,
                max_body=max_body,
                step_hints=None if agent == "serve" else agent,
                port=port,
            ),
            ["serve", *sys.argv[2:]],
        )
        if first_byte_timeout is not None:
            session.proxy_options.first_byte_timeout = first_byte_timeout
        if stall_timeout is not None:
            session.proxy_options.stall_timeout = stall_timeout
        base_url = session.start()
    except RuntimeError as exc:
        err(str(exc))
        raise SystemExit(1) from None
    print(base_url, flush=True)
    err(f"session {session.id}; Ctrl-C to stop")
    got: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        got.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    while not got:
        signal.pause()
    session.close(0)
    from agentwrap.cli.summary import print_summary

    # On stderr, as a launch ends; it says where unexpected errors were logged, if any were.
    print_summary(session.store, session.id)
