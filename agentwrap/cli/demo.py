"""`agentwrap demo`: the whole pipeline on a scripted session, with simulated providers."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import typer

from agentwrap.cli.main import app

SIMULATED_NOTE = (
    "agentwrap demo: a scripted Claude-Code-like session against SIMULATED providers on "
    "127.0.0.1 (no keys, no network, nothing is billed)."
)


def _agentwrap_argv() -> list[str]:
    """How to run this same agentwrap in another process (the panel in a tmux pane)."""
    beside = Path(sys.executable).with_name("agentwrap")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("agentwrap")
    if found:
        return [found]
    return [sys.executable, "-c", "from agentwrap.cli.main import run; run()"]


def _panel_mode(no_panel: bool) -> str:
    """'off' without a terminal or with --no-panel; 'tmux' inside tmux; else 'inline'."""
    if no_panel or not (sys.stdout.isatty() and sys.stdin.isatty()):
        return "off"
    if os.environ.get("TMUX") and shutil.which("tmux"):
        return "tmux"
    return "inline"


def _fmt_line(line: object) -> str:
    from agentwrap.trace import queries as q

    row = line.fields  # type: ignore[attr-defined]
    asked = q.short_model(row.get("requested_model"))
    used = q.short_model(row.get("model"))
    target = asked if used == asked else f"{asked} → {used}"
    attempts = row.get("attempts") or []
    if len(attempts) > 1:
        target += f" (after {attempts[0].get('outcome', 'an error')})"
    status = row.get("status")
    if status != "ok":
        return (
            f"{line.at:7.1f}s  {row.get('step') or '?':<10} {target}  "  # type: ignore[attr-defined]
            f"FAILED: {row.get('error') or status}"
        )
    tokens = (row.get("input_tokens") or 0) + (row.get("cache_read_tokens") or 0)
    tokens += row.get("cache_creation_tokens") or 0
    cost = q.fmt_usd(row.get("cost_usd"))
    api = row.get("provider_api")
    via = f" via {api}" if api and api != "anthropic" else ""
    return (
        f"{line.at:7.1f}s  {row.get('step') or '?':<10} {target}{via}  "  # type: ignore[attr-defined]
        f"{q.fmt_tokens(tokens)} in · {q.fmt_tokens(row.get('output_tokens'))} out  {cost}"
    )


@app.command("demo")
def demo_cmd(
    speed: float = typer.Option(
        1.0,
        "--speed",
        min=0.1,
        help="Replay speed: 1 is real time (about two minutes), 10 is ten times faster.",
    ),
    no_panel: bool = typer.Option(
        False,
        "--no-panel",
        help="No live panel: print each call as it finishes, then the summary "
        "(automatic when stdout is not a terminal).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-call lines."),
) -> None:
    """See agentwrap work before configuring anything: a scripted coding session (plan,
    parallel explore subagents, edits, a failed edit and its retry, a compaction, title
    calls, a web search) routed by the balanced preset to simulated local providers."""
    from agentwrap.cli.summary import print_summary
    from agentwrap.sim.demo import Demo, tally_line

    mode = _panel_mode(no_panel)
    lock = threading.Lock()

    def show(line: object) -> None:
        if quiet or mode == "inline":
            return
        with lock:
            print(_fmt_line(line), flush=True)

    typer.echo(SIMULATED_NOTE)
    demo = Demo(speed, on_finished=show, argv=["demo", *sys.argv[2:]])
    code = 1
    try:
        try:
            demo.start()
        except Exception as exc:
            typer.echo(f"agentwrap demo: could not start: {exc}", err=True)
            raise typer.Exit(1) from None
        assert demo.session is not None
        typer.echo(
            f"session {demo.session_id} · profile {demo.session.options.profile.name} "
            f"({demo.session.options.profile.source}) · "
            f"speed ×{speed:g}"
        )
        if mode == "tmux":
            _open_tmux_panel(demo.session_id)
        if mode == "inline":
            code = _run_inline_panel(demo)
        else:
            try:
                demo.wait()
                code = 0
            except KeyboardInterrupt:
                demo.cancel()
                typer.echo("agentwrap demo: interrupted", err=True)
                code = 130
            except Exception as exc:
                typer.echo(f"agentwrap demo: the scripted session failed: {exc}", err=True)
                code = 1
    finally:
        if demo.session is not None:
            demo.close(code)
    report = demo.report
    if report is not None:
        typer.echo(f"scripted agent: {len(report.calls)} calls — {tally_line(report)}")
    print_summary(demo.session.store, demo.session_id)
    typer.echo(
        "This was a demo: every provider above was simulated. Run your agent through "
        "agentwrap with: agentwrap claude"
    )
    raise typer.Exit(code)


def _open_tmux_panel(session_id: str) -> None:
    """The live panel in a tmux pane beside this one (it stays until you press q)."""
    command = [*_agentwrap_argv(), "top", session_id]
    try:
        subprocess.run(
            ["tmux", "split-window", "-h", "-d", "-l", "60%", "--", *command],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        typer.echo(f"agentwrap demo: could not open the panel in tmux ({exc})", err=True)


def _run_inline_panel(demo: object) -> int:
    """The live panel in this terminal while the session replays; q quits it."""
    from agentwrap.trace.live import RecorderFeed
    from agentwrap.tui.app import TopApp

    session = demo.session  # type: ignore[attr-defined]
    feed = RecorderFeed(session.recorder, session.store.session(session.id))
    panel = TopApp(feed)
    outcome: dict[str, int] = {}

    def watch() -> None:
        try:
            demo.wait()  # type: ignore[attr-defined]
            outcome["code"] = 0
            message = "Demo finished. Press q to quit and see the summary."
        except Exception as exc:  # the agent's failure is shown, then reported on exit
            outcome["code"] = 1
            message = f"The scripted session failed: {exc}"
        # RuntimeError: the panel was already closed.
        with contextlib.suppress(RuntimeError):
            panel.call_from_thread(panel.notify, message, timeout=3600)

    threading.Thread(target=watch, name="agentwrap-demo-watch", daemon=True).start()
    panel.run()
    if "code" not in outcome:
        demo.cancel()  # type: ignore[attr-defined]
        return 130
    return outcome["code"]
