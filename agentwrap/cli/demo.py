"""`agentwrap demo`: the whole pipeline on a scripted session, with simulated providers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

app = typer.Typer()

if TYPE_CHECKING:
    from agentwrap.sim.demo import CallLine, Demo

SIMULATED_NOTE = (
    "agentwrap demo: a scripted Claude-Code-like session against SIMULATED providers on "
    "127.0.0.1 (no keys, no network, nothing is billed)."
)


def _panel_mode(no_panel: bool) -> str:
    """'off' without a terminal or with --no-panel; 'tmux' inside tmux; else 'inline'."""
    if no_panel or not (sys.stdout.isatty() and sys.stdin.isatty()):
        return "off"
    if os.environ.get("TMUX") and shutil.which("tmux"):
        return "tmux"
    return "inline"


def _fmt_line(line: CallLine) -> str:
    from agentwrap import fmt

    row = line.fields
    asked = fmt.model(row.get("requested_model"))
    used = fmt.model(row.get("model"))
    # A routed call as log and the panel write it: claude-opus-4-8 → claude-x reads opus-4-8 → x.
    target = asked if used == asked else " → ".join(fmt.route_names(asked, used))
    attempts = row.get("attempts") or []
    if len(attempts) > 1:
        target += f" (after {attempts[0].get('outcome', 'an error')})"
    status = row.get("status")
    if status != "ok":
        return (
            f"{line.at:7.1f}s  {row.get('step') or '?':<10} {target}  "
            f"FAILED: {row.get('error') or status}"
        )
    tokens = fmt.token_split(
        row.get("input_tokens"),
        row.get("output_tokens"),
        row.get("cache_creation_tokens"),
        row.get("cache_read_tokens"),
    )
    cost = fmt.usd(row.get("cost_usd"))
    api = row.get("provider_api")
    via = f" via {api}" if api and api != "anthropic" else ""
    return f"{line.at:7.1f}s  {row.get('step') or '?':<10} {target}{via}  {tokens}  {cost}"


DEMO_HELP = (
    "See agentwrap work before configuring anything: a scripted coding session (plan, parallel "
    "explore subagents, edits, a failed edit and its retry, a compaction, title calls, a web "
    "search) routed by the balanced preset to simulated local providers."
)


# One string, not the docstring: help shows a docstring's line breaks as they are written.
@app.command("demo", help=DEMO_HELP)
def demo_cmd(
    speed: float = typer.Option(
        1.0,
        "--speed",
        min=0.1,
        help="Replay speed: 1 is real time (about a minute), 10 is ten times faster.",
    ),
    no_panel: bool = typer.Option(
        False,
        "--no-panel",
        help="No live panel: print each call as it finishes, then the summary "
        "(automatic when stdout is not a terminal).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-call lines."),
) -> None:
    """Replay the scripted session against simulated providers, then print its summary."""
    from agentwrap.cli.summary import print_summary
    from agentwrap.sim.demo import Demo, tally_line

    mode = _panel_mode(no_panel)
    lock = threading.Lock()

    def show(line: CallLine) -> None:
        if quiet or mode == "inline":
            return
        with lock:
            print(_fmt_line(line), flush=True)

    typer.echo(SIMULATED_NOTE)
    demo = Demo(speed, on_finished=show, argv=["demo", *sys.argv[2:]])
    code = 1
    try:
        try:
            demo.start(agent=mode != "inline")
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
                with _interrupt_on(signal.SIGTERM, signal.SIGHUP):
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


@contextlib.contextmanager
def _interrupt_on(*signals: signal.Signals) -> Iterator[None]:
    """Treat these signals like Ctrl-C while waiting, so the session still ends cleanly."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _open_tmux_panel(session_id: str) -> None:
    """The live panel in a tmux pane beside this one; it stays after the demo (q closes it)."""
    from agentwrap.panel import TmuxPanel

    error = TmuxPanel(session_id, "split", os.environ).open()
    if error:
        typer.echo(f"agentwrap demo: {error}", err=True)
    else:
        typer.echo("The live panel is open in the pane beside this one (q closes it).")


def _run_inline_panel(demo: Demo) -> int:
    """The live panel in this terminal while the session replays; q quits it."""
    from agentwrap.trace.live import RecorderFeed
    from agentwrap.tui.app import TopApp

    session = demo.session
    assert session is not None, "the demo is started before its panel"
    feed = RecorderFeed(session.recorder, session.store.session(session.id))
    panel = TopApp(feed)
    demo.start_agent()
    outcome: dict[str, int] = {}
    closed = threading.Event()

    def watch() -> None:
        try:
            demo.wait()
            outcome["code"] = 0
            message = "Demo finished. Press q to quit and see the summary."
        except Exception as exc:  # the agent's failure is shown, then reported on exit
            outcome["code"] = 1
            message = f"The scripted session failed: {exc}"
        # At high speed the replay can end before the panel has started.
        deadline = time.monotonic() + 10
        while not panel.is_running and time.monotonic() < deadline and not closed.is_set():
            time.sleep(0.05)
        # RuntimeError: the panel was already closed.
        with contextlib.suppress(RuntimeError):
            panel.call_from_thread(panel.notify, message, timeout=3600)

    threading.Thread(target=watch, name="agentwrap-demo-watch", daemon=True).start()
    try:
        panel.run_on_terminal()
    finally:
        closed.set()
    if "code" not in outcome:
        demo.cancel()
        return 130
    return outcome["code"]
