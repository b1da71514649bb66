"""Launch commands: `agentwrap claude`, `agentwrap run -- CMD`, `agentwrap serve`."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from agentwrap import panel
from agentwrap.agents import claude as claude_agent
from agentwrap.agents.base import LaunchPlan, is_our_url, with_no_proxy
from agentwrap.cli.main import app
from agentwrap.route.classify import HINT_MODULES
from agentwrap.route.profile import AGENT_APIS, Profile, ProfileError, load_profile
from agentwrap.session import Session, SessionOptions
from agentwrap.wire.call import ANTHROPIC

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
    agent_api: str = ANTHROPIC,
) -> Profile:
    overrides: dict[str, str] = {}
    for item in routes or []:
        step, sep, model = item.partition("=")
        if not sep or not step.strip() or not model.strip():
            _err(f"--route expects STEP=MODEL, got '{item}'")
            raise typer.Exit(2)
        overrides[step.strip()] = model.strip()
    try:
        prof = load_profile(Path.cwd(), profile, env, overrides or None, agent_api=agent_api)
    except ProfileError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    for warning in getattr(prof, "warnings", []) or []:
        _err(warning)
    return prof


def _launch(
    agent: str,
    plan_for: Callable[[str, dict[str, str]], LaunchPlan],
    argv_for_record: list[str],
    profile: str | None,
    routes: list[str] | None,
    observe: bool,
    quiet: bool,
    panel_mode: str | None,
) -> None:
    wrapped = panel.restore_wrapped_env()  # inside the tmux session we started ourselves
    env = dict(os.environ)
    try:
        mode = panel.resolve_mode(panel_mode, env, argv_for_record[1:])
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    # First learn where the user's own Anthropic calls go (a gateway), before we replace it.
    probe = plan_for("http://127.0.0.1:0/s/probe", env)
    if probe.anthropic_upstream:
        env["AGENTWRAP_ANTHROPIC_UPSTREAM"] = probe.anthropic_upstream
    if probe.openai_upstream:
        env["AGENTWRAP_OPENAI_UPSTREAM"] = probe.openai_upstream
    if probe.gemini_upstream:
        env["AGENTWRAP_GEMINI_UPSTREAM"] = probe.gemini_upstream
    prof = _load(profile, routes, env, AGENT_APIS.get(agent, ANTHROPIC))
    if mode == "wrap":
        _run_wrapped(env, quiet)
    for note in probe.notes:
        _err(note)
    hints = agent if agent in HINT_MODULES else None
    session = Session(
        SessionOptions(
            agent=agent, profile=prof, observe=observe, quiet=quiet, env=env, step_hints=hints
        ),
        argv_for_record,
    )
    code: int | None = None
    pane: panel.TmuxPanel | None = None
    try:
        base_url = session.start()
        plan = plan_for(base_url, env)
        if mode in ("split", "window"):
            pane = panel.TmuxPanel(session.id, mode, env)
            problem = pane.open()
            if problem:
                _err(problem)
        code = session.run_child(plan)
    finally:
        session.close(code)
        if pane is not None:
            pane.close()
    if wrapped is not None:
        panel.write_status(wrapped, code if code is not None else 1, session.id)
    elif not quiet:
        from agentwrap.cli.summary import print_summary

        print_summary(session.store, session.id)
    raise typer.Exit(code if code is not None else 1)


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


@app.command(
    "claude",
    context_settings=PASSTHROUGH,
    help="Run Claude Code through agentwrap: agentwrap claude [OPTIONS] [CLAUDE ARGS]... Every "
    "argument after these options goes to claude untouched (claude's own help: agentwrap claude -- --help).",
)
def claude_cmd(
    ctx: typer.Context,
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    quiet: bool = QuietOpt,
    panel_mode: str | None = PanelOpt,
) -> None:
    run_agent(
        claude_agent,
        "Claude Code ('claude')",
        list(ctx.args),
        profile,
        route,
        observe,
        quiet,
        panel_mode,
    )


def run_agent(
    agent: Any,
    label: str,
    args: list[str],
    profile: str | None,
    routes: list[str] | None,
    observe: bool,
    quiet: bool,
    panel_mode: str | None,
    batch: bool = False,
) -> None:
    """Launch an agent module's CLI (agents/<name>.py: NAME, BINARY_ENV, INSTALL_HINT,
    binary(env), plan(exe, args, base_url, env)) through a session."""
    exe = require_binary(agent.binary(os.environ), agent.BINARY_ENV, label, agent.INSTALL_HINT)
    if panel_mode is None and batch:
        panel_mode = "off"  # a run that prints and exits, like `claude -p`

    def plan_for(base_url: str, env: dict[str, str]) -> LaunchPlan:
        return agent.plan(exe, args, base_url, env)

    _launch(agent.NAME, plan_for, [agent.NAME, *args], profile, routes, observe, quiet, panel_mode)


@app.command(
    "run",
    context_settings=PASSTHROUGH,
    help="Run any command with ANTHROPIC_BASE_URL and OPENAI_BASE_URL pointing at agentwrap: "
    "agentwrap run -- CMD [ARGS...]",
)
def run_cmd(
    ctx: typer.Context,
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    quiet: bool = QuietOpt,
    panel_mode: str | None = PanelOpt,
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

    def plan_for(base_url: str, env: dict[str, str]) -> LaunchPlan:
        child = dict(env)
        upstream = (
            env.get("ANTHROPIC_BASE_URL")
            if "/s/" not in env.get("ANTHROPIC_BASE_URL", "/s/")
            else None
        )
        child["ANTHROPIC_BASE_URL"] = base_url
        child["OPENAI_BASE_URL"] = base_url + "/v1"
        child["OPENAI_API_BASE"] = base_url + "/v1"
        gemini = env.get("GOOGLE_GEMINI_BASE_URL")
        child["GOOGLE_GEMINI_BASE_URL"] = base_url
        with_no_proxy(child)
        plan = LaunchPlan([exe, *args[1:]], child, [], upstream)
        if gemini and not is_our_url(gemini):
            plan.gemini_upstream = gemini.rstrip("/")  # a gateway of the user's, kept
        return plan

    _launch(os.path.basename(args[0]), plan_for, args, profile, route, observe, quiet, panel_mode)


@app.command("serve", help="Run the proxy alone; prints its base URL on the first line of stdout.")
def serve_cmd(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free random port)."),
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    max_body: int | None = typer.Option(
        None, "--max-body", help="Largest request body in bytes (413 above)."
    ),
    agent: str = typer.Option(
        "serve", "--agent", help="Agent name recorded for this session (for step hints)."
    ),
    first_byte_timeout: float = typer.Option(
        120.0,
        "--first-byte-timeout",
        help="Seconds to wait for a provider's first byte before falling back.",
    ),
    stall_timeout: float = typer.Option(
        300.0,
        "--stall-timeout",
        help="Seconds of silence inside a stream before it is ended as broken.",
    ),
) -> None:
    env = dict(os.environ)
    prof = _load(profile, route, env, AGENT_APIS.get(agent, ANTHROPIC))
    session = Session(
        SessionOptions(
            agent=agent,
            profile=prof,
            observe=observe,
            env=env,
            max_body=max_body,
            step_hints=None if agent == "serve" else agent,
        ),
        ["serve", *sys.argv[2:]],
    )
    session.proxy.port = port
    session.proxy.options.first_byte_timeout = first_byte_timeout
    session.proxy.options.stall_timeout = stall_timeout
    try:
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
