"""`agentwrap agents`: every registered agent, whether it is here, and how agentwrap drives it.

Versions come from the agents themselves (`<binary> --version`), asked in parallel with a
short timeout, so one slow or broken agent never holds up the list.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import typer

from agentwrap import fmt
from agentwrap.agents import registry
from agentwrap.agents.base import Agent, probe_version, version_key

app = typer.Typer()

# Seconds one agent has to print its version: Node and Bun CLIs take a few seconds to start,
# more when several start at once on a small machine.
VERSION_TIMEOUT = 10.0
# The table shows where each agent is from this width on, and its wiring in a column from
# WIRING_IN_TABLE on (narrower, the column folded names such as GOOGLE_GEMINI_BASE_URL).
WIDE = 110
WIRING_IN_TABLE = 100


@dataclass
class AgentReport:
    """One registered agent on this machine."""

    name: str
    label: str
    installed: bool
    path: str | None  # the executable a launch would start
    version: str | None  # what it says it is
    version_problem: str | None  # why there is no version although it is installed
    tested: str  # the release agentwrap was tested with
    compared: str  # "as tested", "newer", "older", or "unknown"
    api: str
    wiring: list[str]
    install: str
    binary_env: str  # the variable that names another executable


def _compare(version: str | None, tested: str) -> str:
    if not version or not tested:
        return "unknown"
    mine, ours = version_key(version), version_key(tested)
    if mine == ours:
        return "as tested"
    return "newer" if mine > ours else "older"


def report(agent: Agent, env: Mapping[str, str], timeout: float) -> AgentReport:
    """Where `agent` is installed, its version, and what agentwrap knows of it."""
    exe = agent.find_binary(env)
    version = problem = None
    if exe is not None:
        version, problem = probe_version(exe, agent.version_args, timeout)
    return AgentReport(
        name=agent.name,
        label=agent.label,
        installed=exe is not None,
        path=exe,
        version=version,
        version_problem=problem,
        tested=agent.tested,
        compared=_compare(version, agent.tested),
        api=agent.api,
        wiring=list(agent.wiring),
        install=agent.install,
        binary_env=agent.binary_env,
    )


def survey(env: Mapping[str, str], timeout: float = VERSION_TIMEOUT) -> list[AgentReport]:
    """A report per registered agent, in registration order; versions asked in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    agents = registry.agents()
    if not agents:
        return []
    with ThreadPoolExecutor(max_workers=len(agents)) as pool:
        return list(pool.map(lambda agent: report(agent, env, timeout), agents))


def _version_cell(row: AgentReport) -> str:
    if not row.installed:
        return "not installed"
    if row.version is None:
        return f"? ({row.version_problem})"
    return row.version


def _tested_cell(row: AgentReport) -> str:
    if row.compared in ("newer", "older"):
        return f"{row.tested} (yours is {row.compared})"
    return row.tested or fmt.MISSING


@app.command("agents", help="The agents agentwrap launches: installed or not, versions, wiring.")
def agents_cmd(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per agent, as a list."),
) -> None:
    """Every registered agent: where it is installed and its version, the version agentwrap
    was tested with, how a launch points it at agentwrap, and the API it speaks."""
    rows = survey(os.environ)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from agentwrap.cli.console import out_console

    console = out_console()
    wide = console.width >= WIDE  # narrow: the executable's path is left out
    # Narrower still, the wiring goes under the table: in a column it was folded mid-name.
    wiring_apart = console.width < WIRING_IN_TABLE
    table = Table(title="agentwrap agents", box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ["agent", "version", "tested with", "API"]
    columns += [] if wiring_apart else ["wired through"]
    columns += ["where"] if wide else []
    for col in columns:
        table.add_column(col, overflow="fold", no_wrap=col in ("agent", "API"))
    missing = []
    for row in rows:
        if not row.installed:
            missing.append(f"{row.name}: {row.install}")
        table.add_row(
            row.name,
            _version_cell(row),
            _tested_cell(row),
            row.api,
            *(() if wiring_apart else ("\n".join(row.wiring) or fmt.MISSING,)),
            *((row.path or fmt.MISSING,) if wide else ()),
        )
    console.print(table)
    if wiring_apart:
        console.print("How a launch points each agent at agentwrap:", highlight=False)
        wired = Table.grid(padding=(0, 2), pad_edge=True)
        wired.add_column(no_wrap=True)
        wired.add_column(overflow="fold")
        for row in rows:
            wired.add_row(row.name, Text("\n".join(row.wiring) or fmt.MISSING))
        console.print(wired)
    if missing:
        console.print("Not installed; to install:", *missing, sep="\n  ", highlight=False)
