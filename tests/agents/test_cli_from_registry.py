"""A registered agent gets a working `agentwrap <name>` command, with nothing else changed.

The throwaway agent lives only in a small entry point (in tmp) that registers it and runs the
CLI; its binary is a script in tmp. Everything runs as real subprocesses.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import subprocess_env

ENTRY = """\
import sys

from agentwrap.agents import registry
from agentwrap.agents.base import Agent, LaunchPlan, scratch_dir, with_no_proxy


def plan(exe, args, base_url, env):
    child = dict(env)
    child["TOY_BASE_URL"] = base_url
    config = scratch_dir("toy")  # session-scoped config, removed when the run ends
    (config / "toy.json").write_text("{}")
    child["TOY_CONFIG"] = str(config / "toy.json")
    with_no_proxy(child)
    return LaunchPlan([exe, *args], child, ["toy: pointed at agentwrap"], scratch=[config])


registry.register(
    Agent(
        name="toy",
        label="Toy agent ('toy-agent')",
        binary="toy-agent",
        install="pipx install toy-agent",
        api="openai-chat",
        help="Run the toy agent through agentwrap.",
        plan=plan,
        upstreams=lambda env: {},
        classify=lambda call: None,
        detect=lambda call: False,
    )
)

from agentwrap.cli.main import run

run()
"""

# The toy agent: reports what agentwrap gave it, then exits with its first argument, or waits.
TOY = """\
import json, os, pathlib, sys, time

out = pathlib.Path(os.environ["TOY_OUT"])
keys = ("TOY_BASE_URL", "AGENTWRAP_SESSION_ID", "NO_PROXY", "TOY_CONFIG")
seen = {"args": sys.argv[1:], **{k: os.environ.get(k) for k in keys}}
seen["config_there"] = os.path.exists(os.environ["TOY_CONFIG"])
part = out.with_suffix(".part")  # renamed into place: the test never reads it half-written
part.write_text(json.dumps(seen))
os.replace(part, out)
if sys.argv[1] == "wait":
    time.sleep(60)
sys.exit(int(sys.argv[1]))
"""


def _setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    entry = tmp_path / "toy_agentwrap.py"
    entry.write_text(ENTRY)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    toy = bin_dir / "toy-agent"
    toy.write_text(f"#!{sys.executable}\n{TOY}")
    toy.chmod(0o755)
    env = subprocess_env(
        PATH=f"{bin_dir}:{subprocess_env()['PATH']}",
        TOY_OUT=str(tmp_path / "toy.json"),
        AGENTWRAP_PANEL="off",
    )
    return entry, env


def _sessions(env: dict[str, str]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "agentwrap", "sessions", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_a_registered_agent_runs_through_a_session_and_passes_its_exit_code(tmp_path):
    entry, env = _setup(tmp_path)
    done = subprocess.run(
        [sys.executable, str(entry), "toy", "--quiet", "7", "--flag"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 7, done.stderr
    assert "toy: pointed at agentwrap" in done.stderr  # the plan's notes reach the user
    seen = json.loads((tmp_path / "toy.json").read_text())
    assert seen["args"] == ["7", "--flag"]  # arguments after our options go through untouched
    assert seen["TOY_BASE_URL"].startswith("http://127.0.0.1:") and "/s/" in seen["TOY_BASE_URL"]
    assert "127.0.0.1" in seen["NO_PROXY"].split(",")
    # The run's own config was there for the agent and is gone after it.
    assert seen["config_there"] is True and not Path(seen["TOY_CONFIG"]).parent.exists()
    (sess,) = _sessions(env)
    assert (sess["id"], sess["agent"], sess["exit_code"]) == (
        seen["AGENTWRAP_SESSION_ID"],
        "toy",
        7,
    )


def test_sigterm_to_agentwrap_reaches_the_registered_agent(tmp_path):
    entry, env = _setup(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, str(entry), "toy", "--quiet", "wait"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = tmp_path / "toy.json"
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "toy never started"
    proc.send_signal(signal.SIGTERM)
    # The toy does not handle SIGTERM, so it dies of it: 128 + 15, as a shell reports it.
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    (sess,) = _sessions(env)
    assert sess["agent"] == "toy" and sess["exit_code"] == 128 + signal.SIGTERM
    assert not Path(json.loads(ready.read_text())["TOY_CONFIG"]).exists()
    assert sess["ended_at"] is not None


def test_a_missing_binary_exits_127_with_the_install_command(tmp_path):
    entry, env = _setup(tmp_path)
    (tmp_path / "bin" / "toy-agent").unlink()
    done = subprocess.run(
        [sys.executable, str(entry), "toy", "hello"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 127
    assert "Toy agent ('toy-agent') was not found on PATH" in done.stderr
    assert "Install it with: pipx install toy-agent" in done.stderr
    assert _sessions(env) == []  # no session starts without the agent
    override = {**env, "AGENTWRAP_TOY_BIN": str(tmp_path / "nowhere")}
    done = subprocess.run(
        [sys.executable, str(entry), "toy"],
        env=override,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 127
    assert f"AGENTWRAP_TOY_BIN={tmp_path / 'nowhere'} is not an executable file" in done.stderr


def test_the_registered_agent_has_the_launch_options_in_its_help(tmp_path):
    entry, env = _setup(tmp_path)
    done = subprocess.run(
        [sys.executable, str(entry), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "toy" in done.stdout and "Run the toy agent" in done.stdout
    done = subprocess.run(
        [sys.executable, str(entry), "toy", "--help"],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    for option in ("--profile", "--route", "--observe", "--quiet", "--panel"):
        assert option in done.stdout
