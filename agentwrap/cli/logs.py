"""`agentwrap sessions` and `agentwrap log`: reading the trace."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.table import Table

from agentwrap import paths
from agentwrap.cli.main import app
from agentwrap.trace.store import TraceStore


def _store() -> TraceStore:
    return TraceStore(paths.trace_db())


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _usd(value: float | None, reason: str | None = None) -> str:
    if value is None:
        return "unpriced"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def _tokens(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


@app.command("sessions", help="List sessions, newest first.")
def sessions_cmd(
    limit: int = typer.Option(20, "-n", "--limit", help="How many sessions."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per session, as a list."),
    demo: bool = typer.Option(False, "--demo", help="Include demo sessions."),
) -> None:
    rows = _store().sessions(limit, include_demo=demo)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("No sessions recorded yet. Start one with: agentwrap claude")
        return
    table = Table(title="agentwrap sessions")
    for col, just in (
        ("session", "left"),
        ("agent", "left"),
        ("started", "left"),
        ("duration", "right"),
        ("calls", "right"),
        ("cost", "right"),
        ("exit", "right"),
        ("cwd", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        dur = f"{(r['ended_at'] - r['started_at']):.0f}s" if r.get("ended_at") else "running"
        cost = _usd(r.get("cost_usd"))
        if r.get("unpriced_calls"):
            cost += f" (+{r['unpriced_calls']} unpriced)"
        table.add_row(
            r["id"],
            r["agent"],
            _when(r["started_at"]),
            dur,
            str(r.get("calls") or 0),
            cost,
            "" if r.get("exit_code") is None else str(r["exit_code"]),
            r.get("cwd") or "",
        )
    Console().print(table)


@app.command("log", help="One row per call of a session (default: the newest).")
def log_cmd(
    session: str = typer.Option(
        "last", "--session", "-s", help="Session id, unique prefix, or 'last'."
    ),
    limit: int | None = typer.Option(None, "-n", "--limit", help="Only the newest N calls."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines, one call per line."),
) -> None:
    store = _store()
    sess = store.resolve_session(session)
    if sess is None:
        typer.echo(f"agentwrap: no session matches '{session}' (see: agentwrap sessions)", err=True)
        raise typer.Exit(1)
    calls = store.calls(sess["id"], limit=limit, newest_first=bool(limit))
    if limit:
        calls.reverse()
    if as_json:
        for c in calls:
            typer.echo(json.dumps(c, default=str))
        return
    table = Table(title=f"session {sess['id']} · {sess['agent']} · {len(calls)} calls")
    for col in (
        "#",
        "time",
        "step",
        "model",
        "status",
        "in",
        "out",
        "cache w/r",
        "cost",
        "ttfb",
        "total",
        "reason",
    ):
        table.add_column(
            col, justify="right" if col in ("#", "in", "out", "cost", "ttfb", "total") else "left"
        )
    for c in calls:
        model = c.get("model") or "-"
        if c.get("requested_model") and c.get("requested_model") != c.get("model"):
            model = f"{c['requested_model']} → {model}"
        status = (
            c["status"] if c["status"] != "error" else f"error {c.get('http_status') or ''}".strip()
        )
        table.add_row(
            str(c["seq"]),
            time.strftime("%H:%M:%S", time.localtime(c["started_at"])),
            c.get("step") or "-",
            model,
            status,
            _tokens(c.get("input_tokens")),
            _tokens(c.get("output_tokens")),
            f"{_tokens(c.get('cache_creation_tokens'))}/{_tokens(c.get('cache_read_tokens'))}",
            _usd(c.get("cost_usd")) if c["status"] != "refused" else "-",
            f"{c['ttfb_ms']:.0f}ms" if c.get("ttfb_ms") is not None else "-",
            f"{c['total_ms']:.0f}ms" if c.get("total_ms") is not None else "-",
            c.get("reason") or c.get("error") or "",
        )
    Console().print(table)
