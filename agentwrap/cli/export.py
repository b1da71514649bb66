"""`agentwrap export`: past sessions to a collector (OTLP) or to files (CSV, JSON Lines).

Calls are chosen with the same filters as `agentwrap report` (dates, agent, project, demo),
plus one session. OTLP sends the same spans, with the same ids, as the live export would
have; the collector comes from --endpoint, the OTEL_EXPORTER_OTLP_* variables or an
[export.otlp] table (config.toml, the profile).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from agentwrap.cli.report import report_filter

FORMATS = ("otlp", "jsonl", "csv")

app = typer.Typer()


def _err(msg: str) -> None:
    typer.echo(f"agentwrap: {msg}", err=True)


@app.command(
    "export",
    help="Past calls to an OpenTelemetry collector (otlp: GenAI-convention spans, one trace "
    "per session) or to a file a spreadsheet or notebook reads (csv, jsonl).",
)
def export_cmd(
    fmt: str = typer.Option(..., "--format", "-f", help="otlp, jsonl or csv."),
    since: str | None = typer.Option(
        None, "--since", help="First day included (YYYY-MM-DD, local time)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Last day included (YYYY-MM-DD, local time)."
    ),
    session: str | None = typer.Option(
        None, "--session", help="Only this session (an id or a unique prefix)."
    ),
    agent: str | None = typer.Option(None, "--agent", help="Only sessions of this agent."),
    project: str | None = typer.Option(
        None,
        "--project",
        help="Only sessions run in this project: the repository PATH is in, else PATH itself.",
    ),
    output: str | None = typer.Option(
        None, "--output", "-o", help="File to write (csv, jsonl); default: standard output."
    ),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Collector base URL for otlp (default: the configured one)."
    ),
    demo: bool = typer.Option(False, "--demo", help="Include demo sessions."),
) -> None:
    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format"
        )
    filt = report_filter(since, until, agent, project, demo)
    from agentwrap.cli.store import open_store
    from agentwrap.export.files import select_export

    store = open_store()
    try:
        session_id = None
        if session is not None:
            found = store.resolve_session(session)
            if found is None:
                _err(f"no session matches '{session}' (see: agentwrap sessions)")
                raise typer.Exit(2)
            session_id = found["id"]
            filt.include_demo = filt.include_demo or bool(found.get("is_demo"))
        calls, sessions = select_export(store, filt, session_id)
    finally:
        store.close()
    if fmt == "otlp":
        _to_collector(calls, sessions, endpoint)
    else:
        _to_file(fmt, calls, sessions, output)


def _to_file(
    fmt: str, calls: list[dict[str, Any]], sessions: dict[str, dict[str, Any]], output: str | None
) -> None:
    from agentwrap.export.files import file_rows, write_csv, write_jsonl

    write = write_csv if fmt == "csv" else write_jsonl
    rows = file_rows(calls, sessions)
    if output in (None, "-"):
        write(rows, sys.stdout)
        return
    path = Path(output).expanduser()
    with path.open("w", encoding="utf-8", newline="") as out:
        n = write(rows, out)
    _err(f"{n} call{'s' if n != 1 else ''} from {len(sessions)} session(s) written to {path}")


def _to_collector(
    calls: list[dict[str, Any]], sessions: dict[str, dict[str, Any]], endpoint: str | None
) -> None:
    from agentwrap.export import spans
    from agentwrap.export.config import ExportConfigError, resolve
    from agentwrap.export.live import config_files
    from agentwrap.export.otlp import export_now
    from agentwrap.export.repository import origin_url
    from agentwrap.route.profile import ProfileError, load_profile

    env = dict(os.environ)
    try:
        chain = load_profile(Path.cwd(), None, env).chain
    except ProfileError:
        chain = []  # a broken routing profile does not stop a backfill
    try:
        cfg = resolve(env, config_files(chain), endpoint=endpoint)
    except ExportConfigError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    if cfg is None:
        _err(
            "no collector configured: pass --endpoint URL, set OTEL_EXPORTER_OTLP_ENDPOINT, "
            "or add an [export.otlp] table to config.toml or .agentwrap.toml"
        )
        raise typer.Exit(2)
    for warning in cfg.warnings:
        _err(warning)
    by_session: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        by_session.setdefault(call["session_id"], []).append(call)
    records: list[spans.SpanRecord] = []
    for sid, own in by_session.items():
        session = sessions.get(sid) or {"id": sid}
        url = origin_url(session.get("repo_root"))
        end = max((float(c.get("updated_at") or c["started_at"]) for c in own), default=None)
        records.append(
            spans.session_span(
                session, end=end, totals=spans.session_totals(own), repository_url=url
            )
        )
        for call in own:
            records.extend(spans.call_spans(session, call, repository_url=url))
    counts = export_now(records, cfg)
    line = (
        f"{counts.sent} span{'s' if counts.sent != 1 else ''} from {len(by_session)} "
        f"session(s) sent to {cfg.where}"
    )
    if counts.dropped:
        _err(f"{line}; {counts.dropped} not accepted ({counts.error})")
        raise typer.Exit(1)
    _err(line)
