"""Launch commands: one per registered agent (`agentwrap claude`, ...), `agentwrap run -- CMD`,
`agentwrap serve`.

The commands parse their options and hand over to cli/launcher.py, which does the work (and
runs a plain `agentwrap <agent>` line without typer). The session (and with it the proxy and
aiohttp) loads only when a command runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import typer

from agentwrap.agents import registry
from agentwrap.agents.base import (
    Agent,
    LaunchPlan,
    base_url_notes,
    own_base_urls,
    point_base_urls,
    with_no_proxy,
)
from agentwrap.cli import launcher
from agentwrap.cli.launcher import bytes_problem, err, run_agent, run_command, seconds_problem

app = typer.Typer()

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


def _above_zero(value: float | None) -> float | None:
    if problem := seconds_problem(value):
        raise typer.BadParameter(problem)
    return value


def _at_least_one_byte(value: int | None) -> int | None:
    if problem := bytes_problem(value):
        raise typer.BadParameter(problem)
    return value


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
        err("usage: agentwrap run [OPTIONS] -- CMD [ARGS...]")
        raise typer.Exit(2)
    import shutil

    exe = shutil.which(args[0])
    if exe is None:
        err(f"command not found: {args[0]}")
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
    run_command(
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


@app.command(
    "serve",
    help="Run the proxy alone; prints its base URL on the first line of stdout, and the "
    "session's summary on stderr when stopped.",
)
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
        help="Seconds to wait for a provider's first byte before falling back \\[default: 120].",
        callback=_above_zero,
    ),
    stall_timeout: float | None = typer.Option(
        None,
        "--stall-timeout",
        help="Seconds of silence inside an answer before it is ended as broken \\[default: 300].",
        callback=_above_zero,
    ),
) -> None:
    launcher.serve(
        port, profile, route, observe, max_body, agent, first_byte_timeout, stall_timeout
    )
