"""`agentwrap gemini`: run Gemini CLI through agentwrap."""

from __future__ import annotations

import typer

from agentwrap.agents import gemini as gemini_agent
from agentwrap.cli.launch import (
    PASSTHROUGH,
    ObserveOpt,
    PanelOpt,
    ProfileOpt,
    QuietOpt,
    RouteOpt,
    run_agent,
)
from agentwrap.cli.main import app

# Options that make Gemini CLI print and exit instead of opening its full-screen UI.
_BATCH_OPTIONS = frozenset(
    {"-p", "--prompt", "-l", "--list-extensions", "--list-sessions", "-v", "--version", "-h"}
)
_BATCH_COMMANDS = frozenset(
    {"mcp", "extensions", "extension", "skills", "skill", "hooks", "hook", "gemma"}
)


def is_batch(args: list[str]) -> bool:
    """Whether these arguments run Gemini CLI headless (no panel beside it is useful)."""
    if args and args[0] in _BATCH_COMMANDS:
        return True
    return any(a in _BATCH_OPTIONS or a.startswith("--prompt=") for a in args)


@app.command(
    "gemini",
    context_settings=PASSTHROUGH,
    help="Run Gemini CLI through agentwrap. Every argument after the options goes to gemini "
    'untouched (e.g. agentwrap gemini -p "fix the tests").',
)
def gemini_cmd(
    ctx: typer.Context,
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    observe: bool = ObserveOpt,
    quiet: bool = QuietOpt,
    panel_mode: str | None = PanelOpt,
) -> None:
    args = list(ctx.args)
    run_agent(
        gemini_agent,
        "Gemini CLI ('gemini')",
        args,
        profile,
        route,
        observe,
        quiet,
        panel_mode,
        is_batch(args),
    )
