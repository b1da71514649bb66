"""`agentwrap report` for typer: its arguments and options declared, its work done by
cli/reporting.py (which a plain command line reaches without typer: cli/plain.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from agentwrap.cli import reporting
from agentwrap.cli.plain import BadValue

if TYPE_CHECKING:
    from agentwrap.trace.report import ReportFilter

app = typer.Typer()


@contextmanager
def typer_errors() -> Iterator[None]:
    """The work's `BadValue` raised as typer's `BadParameter`, which typer prints as its usage
    error, naming the argument or option."""
    try:
        yield
    except BadValue as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.param_hint) from None


def report_filter(
    since: str | None, until: str | None, agent: str | None, project: str | None, demo: bool
) -> ReportFilter:
    """The filter the --since/--until/--agent/--project/--demo options of a command say (a bad
    date: typer's `BadParameter`)."""
    with typer_errors():
        return reporting.report_filter(since, until, agent, project, demo)


@app.command(
    "report",
    help="Cost tables across sessions, one row per day (default), week, month, session, model "
    "or step kind; `report quality`: failure rates and corrections; `report --compare "
    "PROFILE`: another profile's cost, estimated.",
)
def report_cmd(
    grouping: str = typer.Argument(
        "daily",
        help="daily, weekly, monthly, session, model, step, or quality.",
        show_default=True,
    ),
    since: str | None = typer.Option(
        None, "--since", help="First day included (YYYY-MM-DD, local time)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Last day included (YYYY-MM-DD, local time)."
    ),
    agent: str | None = typer.Option(None, "--agent", help="Only sessions of this agent."),
    project: str | None = typer.Option(
        None,
        "--project",
        help="Only sessions run in this project: the repository PATH is in, else PATH itself.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Rows and totals as JSON."),
    demo: bool = typer.Option(False, "--demo", help="Include demo sessions."),
    compare: str | None = typer.Option(
        None,
        "--compare",
        metavar="PROFILE",
        help="Estimate what PROFILE (a preset or a profile path) would have cost: every "
        "recorded call re-decided under it and priced from its recorded token counts, per "
        "step kind and model, with its failure rate estimated from the steps' outcomes.",
    ),
) -> None:
    with typer_errors():
        reporting.report(grouping, since, until, agent, project, as_json, demo, compare)
