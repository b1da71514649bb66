"""`agentwrap demo` as a real subprocess: it runs to the end and its summary tells the truth.

The truth is taken from two places the demo does not print from: the scripted agent's own
count of what it sent (its last line), and the trace in this test's AGENTWRAP_HOME.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from agentwrap import fmt, paths
from agentwrap.route.profile import parse_profile_text, translation_available
from agentwrap.sim import scenario
from agentwrap.trace.store import TraceStore

STEP_KINDS = ("plan", "explore", "implement", "subagent", "background", "compact", "search")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, agentwrap_bin_module: str) -> dict:
    """One headless demo at high speed, shared by the tests of this module."""
    home = tmp_path_factory.mktemp("demo-home")
    env = {**os.environ, "AGENTWRAP_HOME": str(home), "COLUMNS": "160"}
    done = subprocess.run(
        [agentwrap_bin_module, "demo", "--no-panel", "--speed", "50"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return {"done": done, "home": home, "env": env}


@pytest.fixture(scope="module")
def agentwrap_bin_module() -> str:
    exe = Path(sys.executable).parent / "agentwrap"
    if not exe.exists():
        pytest.fail(f"agentwrap is not installed in {exe.parent}; run ./install.sh --dev")
    return str(exe)


@pytest.fixture
def trace(demo_run: dict, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AGENTWRAP_HOME", str(demo_run["home"]))
    store = TraceStore(paths.trace_db())
    session_id = _session_id(demo_run["done"].stdout)
    try:
        yield store, session_id, store.calls(session_id)
    finally:
        store.close()


def _session_id(stdout: str) -> str:
    match = re.search(r"^session (\S+) ·", stdout, re.M)
    assert match, stdout
    return match.group(1)


def _agent_tally(stdout: str) -> Counter[str]:
    match = re.search(r"^scripted agent: (\d+) calls — (.*)$", stdout, re.M)
    assert match, stdout
    counts = Counter({k: int(n) for k, n in re.findall(r"(\w+) (\d+)", match.group(2))})
    assert sum(counts.values()) == int(match.group(1))
    return counts


def _summary_rows(stderr: str, label: str) -> dict[str, int]:
    """Name → calls from the summary's 'by <label>' table."""
    section = stderr.split(f"by {label}", 1)[1]
    rows: dict[str, int] = {}
    for line in section.splitlines()[1:]:
        cells = line.split()
        if not cells or cells[0] == label or set(cells[0]) <= {"─", "━"}:
            continue
        if cells[0] == "total":
            break
        rows[cells[0]] = int(cells[1])
    return rows


def test_demo_runs_to_completion(demo_run: dict) -> None:
    done = demo_run["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SIMULATED providers" in done.stdout  # said plainly, first
    assert "demo, simulated providers" in done.stderr  # and in the summary's headline
    assert "Traceback" not in done.stderr


def test_trace_matches_what_the_agent_sent(demo_run: dict, trace) -> None:
    store, session_id, calls = trace
    sent = _agent_tally(demo_run["done"].stdout)
    assert sent == Counter(e.kind for e in scenario.EXCHANGES)
    assert Counter(c["step"] for c in calls) == sent
    assert all(c["status"] == "ok" for c in calls), [c["error"] for c in calls]
    session = store.session(session_id)
    assert session["is_demo"] == 1 and session["exit_code"] == 0
    assert session["profile"] == "balanced (simulated providers)"


def test_summary_matches_the_trace(demo_run: dict, trace) -> None:
    _, _, calls = trace
    stderr = demo_run["done"].stderr
    by_step = _summary_rows(stderr, "step")
    assert by_step == dict(Counter(c["step"] for c in calls))
    by_model = _summary_rows(stderr, "model")
    assert by_model == dict(Counter(fmt.model(c["model"]) for c in calls))
    assert re.search(r"^1 fallback · 0 failed", stderr, re.M)


def test_one_line_per_call_while_it_runs(demo_run: dict, trace) -> None:
    _, _, calls = trace
    lines = re.findall(r"^\s+\d+\.\ds\s+(\w+)\s", demo_run["done"].stdout, re.M)
    assert Counter(lines) == Counter(c["step"] for c in calls)
    # Each line's models and tokens read as in log and the panel: in is the uncached input.
    printed = demo_run["done"].stdout.splitlines()
    for c in calls:
        asked, used = fmt.model(c["requested_model"]), fmt.model(c["model"])
        models = asked if asked == used else " → ".join(fmt.route(asked, used))
        split = fmt.token_split(
            c["input_tokens"],
            c["output_tokens"],
            c["cache_creation_tokens"],
            c["cache_read_tokens"],
        )
        assert any(f" {models}" in line and f"  {split}  $" in line for line in printed), (
            models,
            split,
        )


def test_routing_of_the_balanced_preset(trace) -> None:
    _, _, calls = trace
    # The preset names tiers: these are the ids they resolve to in the price table.
    tiers = parse_profile_text('extends = "balanced"\n', env={}).models
    sonnet, haiku = tiers["sonnet"].model, tiers["haiku"].model
    plans = [c for c in calls if c["step"] == "plan"]
    # The requested model (the frontier one) plans; once it is overloaded and the call falls
    # back to Sonnet.
    assert {c["model"] for c in plans} == {"claude-opus-4-8", sonnet}
    (fell_back,) = [c for c in calls if len(c["attempts"] or []) > 1]
    assert fell_back["step"] == "plan"
    assert [a["outcome"] for a in fell_back["attempts"]] == ["http 529", "http 200"]
    # A failed step (the edit, the test run) sends the next main-loop call back to the
    # requested (frontier) model.
    escalated = [c for c in calls if c["rule"] == "rule 'requested-after-failure'"]
    assert len(escalated) == 2 and {c["model"] for c in escalated} == {"claude-opus-4-8"}
    assert any(c["model"] == sonnet for c in calls if c["step"] == "implement")
    assert {c["model"] for c in calls if c["step"] == "search"} == {haiku}


@pytest.mark.skipif(not translation_available(), reason="this build cannot translate APIs")
def test_cross_api_calls_are_translated(trace) -> None:
    _, _, calls = trace
    apis = {c["step"]: set() for c in calls}
    for c in calls:
        apis[c["step"]].add(c["provider_api"])
    assert apis["explore"] == {"gemini"}
    assert apis["background"] == {"openai-chat"}
    assert apis["compact"] == {"openai-responses"}
    # The providers' usage came back through translation: every translated call has tokens.
    translated = [c for c in calls if c["provider_api"] != "anthropic"]
    assert len(translated) == 11
    assert all(c["input_tokens"] > 0 and c["output_tokens"] > 0 for c in translated)
    assert all(c["cost_usd"] and c["cost_usd"] < c["baseline_cost_usd"] for c in translated)


def test_report_counts_the_step_outcomes_the_summary_counts(demo_run: dict, trace) -> None:
    _, _, calls = trace
    match = re.search(r"tool steps: (\d+) succeeded, (\d+) failed", demo_run["done"].stderr)
    assert match, demo_run["done"].stderr[-2000:]
    succeeded, failed = int(match.group(1)), int(match.group(2))
    assert succeeded == sum(c["outcome"] == "succeeded" for c in calls) > 0
    assert failed == sum(c["outcome"] == "failed" for c in calls) > 0
    done = subprocess.run(
        [Path(sys.executable).parent / "agentwrap", "report", "session", "--demo", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=demo_run["env"],
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["totals"]["steps_succeeded"] == succeeded
    assert report["totals"]["steps_failed"] == failed


def test_demo_sessions_are_left_out_of_reports_unless_asked(demo_run: dict, trace) -> None:
    _, session_id, _ = trace

    def sessions(*flags: str) -> list[str]:
        done = subprocess.run(
            [Path(sys.executable).parent / "agentwrap", "sessions", "--json", *flags],
            capture_output=True,
            text=True,
            timeout=60,
            env=demo_run["env"],
        )
        assert done.returncode == 0, done.stderr
        return [row["id"] for row in json.loads(done.stdout)]

    assert session_id not in sessions()
    assert session_id in sessions("--demo")


@pytest.mark.parametrize("command", [["log", "--demo"], ["report", "model", "--demo"]])
def test_a_table_written_to_a_pipe_keeps_every_model_name_whole(
    demo_run: dict, trace, command: list[str]
) -> None:
    # No COLUMNS and no terminal: Rich alone would cut the table at 80 columns.
    env = {k: v for k, v in demo_run["env"].items() if k != "COLUMNS"}
    done = subprocess.run(
        [Path(sys.executable).parent / "agentwrap", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    _, _, calls = trace
    routed = {fmt.model(c["model"]) for c in calls if c["model"]}
    assert len(routed) >= 3 and all(model in done.stdout for model in routed)
    assert "…" not in done.stdout


# ---------------------------------------------------------------- with a terminal


def _pane_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(home)),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "AGENTWRAP_HOME": str(home),
    }


@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_panel_in_this_terminal_outside_tmux(tmp_path: Path, agentwrap_bin_module: str) -> None:
    from tests.support.claude_env import TmuxPane

    pane = TmuxPane(f"demo-inline-{os.getpid()}", width=120, height=36)
    pane.start([agentwrap_bin_module, "demo", "--speed", "20"], _pane_env(tmp_path), tmp_path)
    try:
        # The live panel, labelled, fills in while the session replays.
        screen = pane.wait_for("requested → used", timeout=30)
        assert "simulated providers" in screen.splitlines()[0]
        pane.wait_for("Demo finished", timeout=90)
        # Every call, the first ones included (the last rows may land a poll after the notice).
        screen = pane.wait_for("27 calls", timeout=10)
        assert "explore" in screen or "implement" in screen
        pane.type("q")
        screen = pane.wait_for("[exited", timeout=30)
        assert "[exited 0]" in screen
        assert "by step" in screen and "every provider above was simulated" in screen
    finally:
        pane.kill()


@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_panel_in_a_split_inside_tmux(tmp_path: Path, agentwrap_bin_module: str) -> None:
    from tests.support.claude_env import TmuxPane

    pane = TmuxPane(f"demo-split-{os.getpid()}", width=200, height=40)
    env = _pane_env(tmp_path)
    # The pane's command starts from a clean environment: give it what tmux gives its panes.
    env["TMUX"] = f"{os.environ.get('TMUX_TMPDIR', '/tmp')}/tmux-{os.getuid()}/{pane.socket},0,0"
    env["TMUX_PANE"] = "%0"
    pane.start([agentwrap_bin_module, "demo", "--speed", "20"], env, tmp_path)
    try:
        screen = pane.wait_for("[exited", timeout=120)
        assert "[exited 0]" in screen and "by step" in screen
        panes = pane._tmux("list-panes", "-t", pane.name, "-F", "#{pane_id}").stdout.split()
        assert len(panes) == 2, "the panel did not open beside the demo"
        deadline = time.monotonic() + 20
        while True:
            panel = pane._tmux("capture-pane", "-p", "-t", panes[1], check=False).stdout
            if "27 calls" in panel or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert "simulated providers" in panel and "27 calls" in panel, panel
    finally:
        pane.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_demo_ends_its_session_cleanly(
    tmp_path: Path, agentwrap_bin_module: str, sig: signal.Signals
) -> None:
    env = {**os.environ, "AGENTWRAP_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        # Five times real time: the first call ends within a second or two, and the rest of
        # the replay (about twelve seconds) is still running when the signal comes.
        [agentwrap_bin_module, "demo", "--no-panel", "--speed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # interrupt once the first call has finished
            if re.match(r"^\s+\d+\.\ds\s", line):
                break
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "demo, simulated providers" in err  # the summary of what ran
    done = subprocess.run(
        [agentwrap_bin_module, "sessions", "--demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    (session,) = json.loads(done.stdout)
    assert session["exit_code"] == 130 and session["ended_at"] is not None
    assert 1 <= session["calls"] < len(scenario.EXCHANGES)


def test_every_commands_help_is_one_line_in_the_list_when_there_is_room(agentwrap_bin: str) -> None:
    # A docstring's line breaks would show in mid-sentence, however wide the terminal.
    env = {**os.environ, "COLUMNS": "300"}
    out = subprocess.run(
        [agentwrap_bin, "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    rows = [row.removeprefix("│ ") for row in out.split("Commands", 1)[1].splitlines()[1:-1]]
    # A continuation line starts with spaces where the command's name would be.
    assert all(row and not row.startswith(" ") for row in rows), "\n".join(rows)
    assert any(row.startswith("demo ") for row in rows)
