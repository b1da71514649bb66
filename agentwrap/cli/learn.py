"""`agentwrap learn status|reset|export|import`: what learned routing knows, and sharing it.

The evidence lives in the trace store (`learned`: per agent × step kind × model, the steps
labelled succeeded, failed, interrupted or unknown); the proxy adds to it as it labels steps.
`status` shows it with each tally's failure rate and 95 % bound, and what every `use = "auto"`
entry of the effective profile would choose now and why, under the same cost limits as the
proxy (candidates dearer than the requested model ruled out unless their entry escalates; the
session budget). `export` writes it as TOML (one
[[tally]] per row) and `import` adds such a file to what was learned here, so a team can pool
what its members' sessions learned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentwrap import fmt

# The learning model loads inside the commands (about 9 ms: `--help` and other commands' lines
# build this module's commands without running them).
if TYPE_CHECKING:
    from agentwrap.route.learn import Tally
    from agentwrap.route.profile import Profile
    from agentwrap.trace.store import TraceStore

app = typer.Typer(
    help="Learned routing: the failure evidence per agent, step kind and model, and sharing it.",
    no_args_is_help=True,
)

DEFAULT_AGENT = "claude"  # whose choices `status` shows when nothing has been learned yet
AgentOpt = typer.Option(
    None,
    "--agent",
    help="Show the choices for this agent (repeatable; default: every agent with evidence).",
)
OutputOpt = typer.Option(None, "--output", "-o", help="File to write (default: standard output).")
SourceArg = typer.Argument(..., help="A file written by `agentwrap learn export`.")
RequestedOpt = typer.Option(
    None,
    "--requested",
    metavar="MODEL",
    help="The model the agent asks for: candidates that cost more are ruled out unless their "
    "entry escalates (default: the newest top-class model of each agent's own API in the "
    "price table, as profile check uses).",
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"agentwrap: {message}", err=True)
    return typer.Exit(2)


def _store() -> TraceStore:
    from agentwrap.cli.store import open_store

    return open_store()


def _tally_row(agent: str, step: str, model: str, tally: Tally) -> dict[str, Any]:
    from agentwrap.route.learn import Posterior, Prior

    post = Posterior(tally, Prior())
    rate = tally.failures / tally.steps if tally.steps else None
    return {
        "agent": agent,
        "step": step,
        "model": model,
        "steps": round(tally.steps, 1),
        "failure_rate": rate,
        "upper_bound": post.upper,
        "successes": tally.successes,
        "failures": tally.failures,
        "interrupted": tally.interrupted,
        "unknown": tally.unknown,
        "labelled": tally.labelled,
    }


STATUS_HELP = (
    "The evidence, and what each learned step kind of the profile would get now, and why: "
    "the candidates that cost more than the requested model are ruled out (unless the entry "
    "escalates), and the session budget, when the profile sets one, is shown."
)


# One string, not the docstring: help shows a docstring's line breaks as they are written.
@app.command("status", help=STATUS_HELP)
def status_cmd(
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="A preset name or a profile path (default: discovery)."
    ),
    agent: list[str] | None = AgentOpt,
    requested: str | None = RequestedOpt,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of text."),
) -> None:
    """`agentwrap learn status` (its help is STATUS_HELP)."""
    from agentwrap.route.learn import HORIZON
    from agentwrap.route.profile import ProfileError, load_profile

    store = _store()
    try:
        evidence = store.evidence()
    finally:
        store.close()
    try:
        loaded: Profile | None = load_profile(Path.cwd(), profile, os.environ)
    except ProfileError as exc:
        raise _fail(str(exc)) from None
    rows = [
        _tally_row(k.agent, k.step, k.model, t)
        for k, t in sorted(evidence.items(), key=lambda kv: (kv[0].agent, kv[0].step, kv[0].model))
    ]
    agents = list(agent or sorted({k.agent for k in evidence}) or [DEFAULT_AGENT])
    from agentwrap.agents import registry
    from agentwrap.cli.profile import frontier
    from agentwrap.route.decide import PREVIEW_TOKENS, outlook

    # What each agent asks for, on its own API: its vendor's newest top-class model by default.
    apis = {who: getattr(registry.get(who), "api", None) for who in agents}
    asked = {
        who: requested or next(iter(frontier(loaded, apis[who])), None) if loaded else None
        for who in agents
    }
    choices = [
        {
            "agent": who,
            "step": o.kind,
            "where": o.where,
            "choice": o.alias,
            "reason": o.reason,
            "requested": asked[who],
            "ruled_out": [
                {"alias": r.alias, "model": r.model, "cost": r.cost} for r in o.ruled_out
            ],
        }
        for who in agents
        for o in (
            outlook(loaded, evidence, who, requested=asked[who], api=apis[who]) if loaded else []
        )
    ]
    budget = loaded.budget if loaded else None
    if as_json:
        doc = {
            "horizon": HORIZON,
            "tallies": rows,
            "profile": {"name": loaded.name, "source": loaded.source} if loaded else None,
            "requested": asked,
            "prompt_tokens": PREVIEW_TOKENS,
            "budget": {
                "session_usd": budget.session_usd,
                "on_exceed": budget.on_exceed,
                "downgrade_to": budget.downgrade_to,
            }
            if budget
            else None,
            "choices": choices,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo("\n".join(_status_lines(rows, choices, loaded, asked)))


def _status_lines(
    rows: list[dict[str, Any]],
    choices: list[dict[str, Any]],
    profile: Profile | None,
    requested: dict[str, str | None],
) -> list[str]:
    from agentwrap.route.learn import ANY_AGENT, HORIZON

    out: list[str] = []
    if not rows:
        out.append(
            "learned routing has no evidence yet: steps are counted as agentwrap labels them "
            "(succeeded or failed tool calls)"
        )
    else:
        out.append(
            f"evidence per agent × step kind × model (the last ~{HORIZON} steps of each weigh; "
            "bound: under it with 95 % credibility, from a flat prior)"
        )
        header = ("agent", "step", "model", "steps", "failures", "bound", "interr.", "unknown")
        table = [header] + [
            (
                r["agent"],
                r["step"],
                fmt.model(r["model"]),
                f"{r['steps']:g}",
                fmt.rate(r["failure_rate"]) if r["failure_rate"] is not None else fmt.MISSING,
                fmt.rate(r["upper_bound"]),
                str(r["interrupted"]),
                str(r["unknown"]),
            )
            for r in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        for line in table:
            cells = [
                cell.ljust(w) if i < 3 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            ]
            out.append("  " + "  ".join(cells).rstrip())
    out.append("")
    if profile is None:
        return out
    if not choices:
        out.append(
            f'profile {profile.name} ({profile.source}) has no use = "auto" entry: '
            "its routing does not learn"
        )
        return out
    out.append(f"what learned routing would choose now (profile {profile.name}, {profile.source}):")
    width = max(len(c["step"]) for c in choices)
    for c in choices:
        agent = "" if c["agent"] == ANY_AGENT else f"{c['agent']}: "
        out.append(
            f"  {agent}{c['step'].ljust(width)} → {c['choice'] or '(none)'}  "
            f"{c['where']} ({c['reason']})"
        )
        if c["ruled_out"]:
            dearer = ", ".join(f"{r['alias']} ({r['cost']})" for r in c["ruled_out"])
            out.append(
                f"  {'':{len(agent) + width}}   ruled out, dearer than {c['requested']}: {dearer}"
            )
    out.extend(_limit_lines(profile, requested))
    return out


def _limit_lines(profile: Profile, requested: dict[str, str | None]) -> list[str]:
    """The cost limits every choice above is under: the price of the model each agent asks
    for, and the session budget when the profile sets one."""
    from agentwrap.route.decide import PREVIEW_TOKENS
    from agentwrap.route.learn import ANY_AGENT

    out = [""]
    models = {m for m in requested.values() if m}
    asked = [f"{who}: {m}" if who != ANY_AGENT else m for who, m in requested.items() if m]
    if len(models) == 1:
        asked = list(models)  # one model for every agent (--requested, or they ask alike)
    if asked:
        out.append(
            "cost limit: a candidate that costs more than the requested model "
            f"({'; '.join(asked)}, "
            f"for a {PREVIEW_TOKENS}-token prompt) is ruled out unless its entry says "
            "escalate = true (--requested MODEL checks another)"
        )
    budget = profile.budget
    if budget is not None:
        past = {
            "downgrade": f"every call goes to {budget.downgrade_to} (budget.downgrade_to), "
            "whatever learned routing would choose",
            "stop": "calls are refused, whatever learned routing would choose",
        }.get(budget.on_exceed, "a warning only; learned routing chooses as above")
        out.append(f"budget: ${budget.session_usd:.2f} a session; past it, {past}")
    return out if len(out) > 1 else []


@app.command("reset")
def reset_cmd(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Forget everything learned routing has counted (the calls stay in the trace)."""
    store = _store()
    try:
        count = len(store.evidence())
        if count and not yes:
            typer.confirm(f"Forget {count} tallies of learned routing?", abort=True)
        dropped = store.reset_evidence()
    finally:
        store.close()
    typer.echo(f"learned routing: forgot {dropped} tallies")


@app.command("export")
def export_cmd(
    output: Path | None = OutputOpt,
) -> None:
    """Write the evidence as TOML, for `agentwrap learn import` on another machine."""
    import tomli_w

    from agentwrap.route.learn import evidence_document

    store = _store()
    try:
        evidence = store.evidence()
    finally:
        store.close()
    text = tomli_w.dumps(evidence_document(evidence))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, "utf-8")
    typer.echo(f"learned routing: wrote {len(evidence)} tallies to {output}", err=True)


@app.command("import")
def import_cmd(
    source: Path = SourceArg,
) -> None:
    """Add the evidence of an exported file to what was learned here."""
    from agentwrap.route.learn import EvidenceError, parse_evidence

    try:
        text = source.read_text("utf-8")
    except OSError as exc:
        raise _fail(f"{source}: cannot read it: {exc.strerror or exc}") from None
    try:
        tallies = parse_evidence(text, str(source))
    except EvidenceError as exc:
        raise _fail(str(exc)) from None
    store = _store()
    try:
        count = store.merge_evidence(tallies)
    finally:
        store.close()
    typer.echo(f"learned routing: added {count} tallies from {source}")
