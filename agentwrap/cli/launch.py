"""Launch commands: one per registered agent (`agentwrap claude`, ...), `agentwrap run -- CMD`,
`agentwrap serve`.

The session (and with it the proxy and aiohttp) loads only when a command runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from agentwrap import panel
from agentwrap.agents import registry
from agentwrap.agents.base import (
    Agent,
    LaunchPlan,
    SecretOnCommandLine,
    base_url_notes,
    own_base_urls,
    point_base_urls,
    upstream_env,
    with_no_proxy,
)

if TYPE_CHECKING:
    from agentwrap.route.profile import Profile
    from agentwrap.session import Session

app = typer.Typer()

# Set once a launch has closed its session and printed its summary: nothing is left open,
# so the console script may exit without the interpreter's teardown (cli/main.py, script).
session_closed = False

PASSTHROUGH = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "allow_interspersed_args": False,
}

ProfileOpt = typer.Option(None, "--profile", help="Routing profile: a preset name or a TOML path.")
RouteOpt = typer.Option(
    None,
    "--route",
    metavar="STEP=MODEL",
    help="Send a step kind to a model for this run (repeatable).",
)
ObserveOpt = typer.Option(
    False,
    "--observe",
    help="Forward every call unchanged; record what the profile would have chosen.",
)
QuietOpt = typer.Option(False, "--quiet", "-q", help="No summary when the agent exits.")
PanelOpt = typer.Option(
    None,
    "--panel",
    help="Live panel beside the agent: auto (a tmux split when inside tmux), split (starts tmux "
    "when outside it), window, off. Default: $AGENTWRAP_PANEL or auto.",
)
TransparentOpt = typer.Option(
    False,
    "--transparent",
    help="Keep the agent's own API hosts: give it HTTPS_PROXY and a CA made for this session, "
    "and intercept only the known LLM API hosts (for agents that ignore base URLs).",
)


def _err(msg: str) -> None:
    typer.echo(f"agentwrap: {msg}", err=True)


def require_binary(exe: str | None, binary_env: str, label: str, install_hint: str) -> str:
    """`exe`, or tell the user how to install the agent and exit 127 (no session starts)."""
    if exe is not None:
        return exe
    where = os.environ.get(binary_env)
    if where:
        _err(f"{binary_env}={where} is not an executable file")
    else:
        _err(f"{label} was not found on PATH.")
    _err(f"Install it with: {install_hint}")
    raise typer.Exit(127)


def _load(
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
            _err(f"--route expects STEP=MODEL, got '{item}'")
            raise typer.Exit(2)
        overrides[step.strip()] = model.strip()
    api = agent.api if agent is not None else ANTHROPIC
    try:
        prof = load_profile(
            Path.cwd(), profile, env, overrides or None, agent_api=api, model_ids=bundled_model_ids
        )
    except ProfileError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    for warning in getattr(prof, "warnings", []) or []:
        _err(warning)
    return prof


def _launch(
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
    prof = _load(profile, routes, env, agent)
    _check_limits(env)
    if mode == "wrap":
        _run_wrapped(env, quiet)
    session = _open_session(name, agent, prof, observe, quiet, env, argv_for_record, transparent)
    code = _run_in_session(session, plan_for, env, mode, transparent)
    for problem in session.interceptor.problems if session.interceptor else []:
        _err(f"transparent mode: {problem}")
    if wrapped is not None:
        panel.write_status(wrapped, code if code is not None else 1, session.id)
    elif not quiet:
        from agentwrap.cli.summary import print_summary

        print_summary(session.store, session.id)
    global session_closed
    session_closed = True
    raise typer.Exit(code if code is not None else 1)


def _panel_mode(
    panel_mode: str | None, env: Mapping[str, str], agent: Agent | None, argv: list[str]
) -> str:
    """Where the panel goes for this run (see panel.resolve_mode); a bad value exits 2."""
    batch = agent.is_batch(argv[1:]) if agent is not None else False
    try:
        return panel.resolve_mode(panel_mode, env, batch)
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None


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
        _err(str(exc))
        raise typer.Exit(1) from None
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
            raise typer.Exit(code)
        plan = planned
        if mode in ("split", "window"):
            pane = panel.TmuxPanel(session.id, mode, env)
            if problem := pane.open():
                _err(problem)
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
        _err(str(exc))
        return 70  # EX_SOFTWARE: a bug in agentwrap's launch of this agent
    plan.env = session.child_env(plan.env)
    for note in [*plan.notes, *plan.pointing_notes]:
        _err(note)
    if transparent:
        from agentwrap.proxy.transparent import loopback_notes

        for note in loopback_notes(env):
            _err(note)
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
    _err(str(failure))
    raise typer.Exit(1) from None


def _check_limits(env: Mapping[str, str]) -> None:
    """Refuse unusable AGENTWRAP_<LIMIT> settings before anything starts."""
    from agentwrap.proxy.options import ProxyOptions

    try:
        ProxyOptions().set_from_env(env)
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None


def _above_zero(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be a number of seconds above 0, not {value:g}")
    return value


def _at_least_one_byte(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be a number of bytes of at least 1, not {value}")
    return value


def _run_wrapped(env: dict[str, str], quiet: bool) -> None:
    """Start a tmux session holding agent and panel; report the agent's exit and summary."""
    with tempfile.TemporaryDirectory(prefix="agentwrap-") as state:
        state_dir = Path(state)
        panel.wrap_in_tmux(sys.argv[1:], env, state_dir)
        status = panel.read_status(state_dir)
    if status is None:
        _err("the tmux session ended before the agent reported its exit")
        raise typer.Exit(1)
    code, session_id = status
    if not quiet:
        from agentwrap import paths
        from agentwrap.cli.summary import print_summary
        from agentwrap.trace.store import TraceStore

        print_summary(TraceStore(paths.trace_db()), session_id)
    raise typer.Exit(code)


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

    _launch(
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


def agent_command(agent: Agent) -> Callable[..., None]:
    """The `agentwrap <name>` command of a registered agent."""

    def command(
        ctx: typer.Context,
        profile: str | None = ProfileOpt,
        route: list[str] | None = RouteOpt,
        observe: bool = ObserveOpt,
        quiet: bool = QuietOpt,
        panel_mode: str | None = PanelOpt,
        transparent: bool = TransparentOpt,
    ) -> None:
        args = list(ctx.args)
        run_agent(agent, args, profile, route, observe, quiet, panel_mode, transparent)

    return command


def add_agent_command(target: typer.Typer, agent: Agent) -> None:
    """Add `agentwrap <name>` for a registered agent to `target`."""
    target.command(agent.name, context_settings=PASSTHROUGH, help=agent.help)(agent_command(agent))


@app.command(
    "run",
    context_settings=PASSTHROUGH,
    help="Run any command with the Anthropic, OpenAI and Gemini base URLs pointing at agentwrap "
    "(those you had set stay their upstreams), or with --transparent through an intercepting "
    "HTTPS proxy instead: agentwrap run -- CMD [ARGS...]",
)
def run_cmd(
    ctx: typer.Context,
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    quiet: bool = QuietOpt,
    panel_mode: str | None = PanelOpt,
    transparent: bool = TransparentOpt,
) -> None:
    args = list(ctx.args)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        _err("usage: agentwrap run [OPTIONS] -- CMD [ARGS...]")
        raise typer.Exit(2)
    import shutil

    exe = shutil.which(args[0])
    if exe is None:
        _err(f"command not found: {args[0]}")
        raise typer.Exit(127)

    def plan_for(base_url: str | None, env: dict[str, str]) -> LaunchPlan:
        notes = base_url_notes(env)
        if base_url is None:  # transparent: the command keeps its own hosts
            return LaunchPlan([exe, *args[1:]], dict(env), notes)
        child = dict(env)
        point_base_urls(child, base_url)
        with_no_proxy(child)
        return LaunchPlan([exe, *args[1:]], child, notes)

    def upstreams(env: Mapping[str, str]) -> dict[str, str]:
        # Endpoints of the user's own (a gateway, a local server), kept as upstreams.
        return {provider: url for provider, (_, url) in own_base_urls(env).items()}

    name = os.path.basename(args[0])
    _launch(
        name,
        registry.get(name),
        upstreams,
        plan_for,
        args,
        profile,
        route,
        observe,
        quiet,
        panel_mode,
        transparent,
    )


@app.command("serve", help="Run the proxy alone; prints its base URL on the first line of stdout.")
def serve_cmd(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free random port)."),
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    max_body: int | None = typer.Option(
        None,
        "--max-body",
        help="Largest request body in bytes (413 above).",
        callback=_at_least_one_byte,
    ),
    agent: str = typer.Option(
        "serve", "--agent", help="Agent name recorded for this session (for step hints)."
    ),
    first_byte_timeout: float | None = typer.Option(
        None,
        "--first-byte-timeout",
        help="Seconds to wait for a provider's first byte before falling back [default: 120].",
        callback=_above_zero,
    ),
    stall_timeout: float | None = typer.Option(
        None,
        "--stall-timeout",
        help="Seconds of silence inside an answer before it is ended as broken [default: 300].",
        callback=_above_zero,
    ),
) -> None:
    from agentwrap.session import Session, SessionOptions

    env = dict(os.environ)
    prof = _load(profile, route, env, registry.get(agent))
    _check_limits(env)
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
        _err(str(exc))
        raise typer.Exit(1) from None
    print(base_url, flush=True)
    _err(f"session {session.id}; Ctrl-C to stop")
    got: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        got.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    while not got:
        signal.pause()
    session.close(0)
    if session.errorlog.count:
        from agentwrap.errorlog import logged_line

        _err(logged_line(session.errorlog.count, str(session.errorlog.path)))
