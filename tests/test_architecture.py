"""The layers import downward, and the commands people run often load only what they need.

Read from the source (every import statement of every module, those inside functions
included) and from real runs (which modules a command left in sys.modules).
"""

from __future__ import annotations

import ast
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrap.cli.main import GROUPS
from tests.conftest import subprocess_env
from tests.support.trace_seed import seed_session

PACKAGE = Path(__file__).resolve().parents[1] / "agentwrap"

# Packages below the CLI: none of them may import the CLI or the TUI.
BELOW_CLI = ("agents", "wire", "route", "trace", "proxy", "pricing", "export")
UPPER = ("agentwrap.cli", "agentwrap.tui")
# The pure core: no I/O stacks.
PURE = ("wire", "route", "pricing")
IO_STACKS = ("aiohttp", "textual", "sqlite3")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a module, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # `from agentwrap import cli` imports the module agentwrap.cli itself.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _layer(path) not in layers:
            continue
        for line, name in _imports(path):
            if _within(name, forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    return sorted(set(out))


def test_the_import_walk_sees_relative_and_nested_imports(tmp_path: Path) -> None:
    # The walk itself must not be blind: a function-level and a relative import are found.
    sample = PACKAGE / "cli" / "launcher.py"
    names = {name for _, name in _imports(sample)}
    assert "agentwrap.session" in names  # imported inside a function
    assert {"agentwrap.agents.registry", "agentwrap.panel"} <= names  # `from agentwrap... import`


def test_nothing_below_the_cli_imports_the_cli_or_the_tui() -> None:
    assert _violations(BELOW_CLI, UPPER) == []


def test_the_pure_core_imports_no_io_stack() -> None:
    assert _violations(PURE, IO_STACKS) == []


def test_the_fakes_share_no_code_with_what_they_judge() -> None:
    # agentwrap.fakes plays the providers the SDK-judged and translation tests hold wire/,
    # route/ and the proxy up against: written apart from them, it imports only itself.
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in sorted((PACKAGE / "fakes").rglob("*.py"))
        for line, name in _imports(path)
        if _within(name, ("agentwrap",)) and not _within(name, ("agentwrap.fakes",))
    ]
    assert found == []


def test_loading_the_pure_core_loads_no_io_stack() -> None:
    # What the source says, checked at run time too: nothing they import pulls a stack in.
    modules = [
        _module_name(p)
        for p in sorted(PACKAGE.rglob("*.py"))
        if _layer(p) in PURE and p.name != "__main__.py"
    ]
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {IO_STACKS!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == []


# Runs the CLI in-process (as the console script does) and reports which stacks it loaded.
_PROBE = """\
import json, sys
sys.argv = ["agentwrap", *json.loads(sys.argv[1])]
from agentwrap.cli.main import run
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
loaded = [m for m in ("aiohttp", "textual") if m in sys.modules]
with open(OUT, "w") as f:
    json.dump({"code": code, "loaded": loaded, "modules": sorted(sys.modules)}, f)
"""


def _loaded_by(args: list[str], out: Path) -> dict[str, object]:
    code = _PROBE.replace("OUT", repr(str(out)))
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        env=subprocess_env(COLUMNS="120"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.exists(), done.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["sessions"],
        ["log"],
        ["sessions", "--json"],
        ["report"],
        ["report", "model", "--json"],
        ["statusline"],
    ],
    ids=lambda a: " ".join(a),
)
def test_reading_commands_load_neither_the_proxy_stack_nor_textual(
    args: list[str], tmp_path: Path
) -> None:
    seed_session()  # so `log` draws a real table
    got = _loaded_by(args, tmp_path / "probe.json")
    assert got["code"] == 0
    assert got["loaded"] == [], f"agentwrap {' '.join(args)} loaded {got['loaded']}"


# What the reading commands have no use for: the proxy stack, the panel, the parts of Rich
# typer's help renderer imports but agentwrap's help never draws (Markdown, tracebacks; see
# cli/helprender.py), the profile machinery with its price table and API surfaces,
# learned routing's model (the store loads it with the first tally it reads), and the
# session's error log with logging's handlers.
UNUSED_BY_READERS = (
    "aiohttp",
    "textual",
    "markdown_it",
    "rich.markdown",
    "rich.traceback",
    "rich.pretty",
    "genai_prices",
    "agentwrap.route.profile",
    "agentwrap.pricing",
    "agentwrap.wire.canonical",
    "agentwrap.route.learn",
    "agentwrap.errorlog",
    "logging.handlers",
)
# What `--help` builds every command without running one has no use for: the store and the
# learning model each command loads inside itself, and what one command or agent needs when
# it runs (the agents' thread pool, a captured request's URL, Codex's TOML, the user's dirs).
UNUSED_BY_HELP = (
    "sqlite3",
    "agentwrap.trace.store",
    "agentwrap.route.learn",
    "concurrent.futures",
    "urllib.parse",
    "tomllib",
    "platformdirs",
)
# The command modules: a command line loads the one of the command it names.
COMMAND_MODULES = {f"agentwrap.cli.{module}" for module, _, _ in GROUPS}


@pytest.mark.parametrize(
    ("args", "own"),
    [
        (["--help"], None),
        # A plain line runs the command's work without typer: no command module (cli/plain.py).
        (["sessions"], ()),
        (["log"], ()),
        (["report"], ()),
        (["sessions", "--"], ("logs",)),
        (["log", "--"], ("logs",)),
        (["report", "--", "daily"], ("report",)),
        (["statusline"], ("statusline",)),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_reading_commands_load_only_their_own_module_and_what_they_draw(
    args: list[str], own: tuple[str, ...] | None, tmp_path: Path
) -> None:
    seed_session()
    got = _loaded_by(args, tmp_path / "probe.json")
    assert got["code"] == 0
    modules = set(got["modules"])  # type: ignore[arg-type]
    assert sorted(modules & set(UNUSED_BY_READERS)) == []
    if own is None:
        assert sorted(modules & set(UNUSED_BY_HELP)) == []
    if own is not None:  # --help lists every command: it loads every command's module
        assert modules & COMMAND_MODULES == {f"agentwrap.cli.{name}" for name in own}


@pytest.mark.parametrize(
    ("args", "parsed_by_typer"),
    [
        (["report"], False),
        (["report", "model", "--since", "2020-01-01", "--demo", "--json"], False),
        (["report", "--agent=claude", "session"], False),
        (["sessions", "-n", "5", "--json"], False),
        (["log", "--session", "last", "--limit=3"], False),
        (["log", "-n", "3", "--json"], False),
        # The controls: lines the plain parser leaves to typer.
        (["report", "--", "model"], True),
        (["report", "--since", "not-a-date"], True),
        (["log", "-n3"], True),
        (["sessions", "--limit", "many"], True),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_plain_reading_command_lines_load_no_typer(
    args: list[str], parsed_by_typer: bool, tmp_path: Path
) -> None:
    seed_session()
    got = _loaded_by(args, tmp_path / "probe.json")
    assert got["code"] == (2 if {"not-a-date", "many"} & set(args) else 0)
    modules = set(got["modules"])  # type: ignore[arg-type]
    assert "agentwrap.trace.store" in modules or parsed_by_typer  # it read the store
    typer_loaded = sorted(m for m in modules if m.split(".")[0] in ("typer", "click"))
    assert bool(typer_loaded) is parsed_by_typer, typer_loaded


def test_the_statusline_hook_loads_neither_typer_nor_rich(tmp_path: Path) -> None:
    # `python -m agentwrap.statusline` is what Claude Code runs after every message.
    seed_session()
    code = (
        "import json, runpy, sys\n"
        "try:\n"
        "    runpy.run_module('agentwrap.statusline', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(),
        input='{"session_id": "x", "model": {"id": "claude-opus-4-1"}}',
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules = set(json.loads(done.stderr.splitlines()[-1]))
    assert "agentwrap.trace.store" in modules  # the positive control: it read the store
    heavy = {m.split(".")[0] for m in modules} & {"typer", "rich", "aiohttp", "textual"}
    assert sorted(heavy | (modules & set(UNUSED_BY_READERS))) == []


def test_the_probe_sees_a_command_that_starts_the_proxy(tmp_path: Path) -> None:
    # The positive control: a run that starts a session loads aiohttp, and the probe says so.
    # It calls the proxy: the proxy loads while the agent starts, and an agent that exits at
    # once may be gone before it has.
    calls = "import os, urllib.request; urllib.request.urlopen(os.environ['ANTHROPIC_BASE_URL']"
    calls += " + '/_agentwrap/health', timeout=30)"
    got = _loaded_by(["run", "--quiet", "--", sys.executable, "-c", calls], tmp_path / "probe.json")
    assert got["code"] == 0 and got["loaded"] == ["aiohttp"]


def test_a_session_serves_its_calls_without_aiohttps_web_server(tmp_path: Path) -> None:
    # The front door is proxy/http1.py on aiohttp's parser; the web server is only the fakes'.
    calls = "import os, urllib.request; urllib.request.urlopen(os.environ['ANTHROPIC_BASE_URL']"
    calls += " + '/_agentwrap/health', timeout=30)"
    got = _loaded_by(["run", "--quiet", "--", sys.executable, "-c", calls], tmp_path / "probe.json")
    modules = got["modules"]
    assert isinstance(modules, list) and "agentwrap.proxy.http1" in modules
    assert [m for m in modules if m.startswith("aiohttp.web")] == []
    web_users = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "fakes" not in path.relative_to(PACKAGE).parts
        for line, name in _imports(path)
        if name == "aiohttp.web" or name.startswith("aiohttp.web_")
    ]
    assert web_users == []


def test_help_lists_every_command(agentwrap_bin: str) -> None:
    from agentwrap.agents import registry

    done = subprocess.run(
        [agentwrap_bin, "--help"],
        env=subprocess_env(COLUMNS="120"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # A command's row starts with its name; continuation rows start with spaces.
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ ")]
    listed = {row.split()[1] for row in rows if not row.startswith("│  ")}
    commands = {"run", "serve", "sessions", "log", "report", "top", "profile", "route"}
    commands |= {"statusline", "demo", "completions"}
    assert listed >= commands | {a.name for a in registry.agents()}


# `agentwrap serve` as its console script runs it, stopped by a signal after one call.
_SERVE_PROBE = """\
import io, json, os, signal, sys, urllib.request
sys.argv = ["agentwrap", "serve", "--profile", "passthrough"]
from agentwrap.cli.main import run
printed = sys.stdout = io.StringIO()

def one_call_then_stop():
    base_url = printed.getvalue().splitlines()[0]
    body = {"model": "claude-sonnet-4-6", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]}
    request = urllib.request.Request(base_url + "/v1/messages", json.dumps(body).encode(),
        {"content-type": "application/json", "x-api-key": "k"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
    os.kill(os.getpid(), signal.SIGTERM)

signal.pause = one_call_then_stop
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
with open(OUT, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def test_the_proxy_of_a_first_serve_session_loads_neither_typer_nor_the_price_table(
    agentwrap_home: Path, tmp_path: Path
) -> None:
    # What the proxy's process holds for the whole session (bench/README.md, RSS): its
    # command line read without typer, its first priced call priced by what a child read.
    from agentwrap import paths
    from agentwrap.fakes.anthropic import FakeAnthropic
    from agentwrap.pricing import PriceBook
    from agentwrap.wire.common import Usage

    out = tmp_path / "probe.json"
    with FakeAnthropic(["hello"]) as fake:
        done = subprocess.run(
            [sys.executable, "-c", _SERVE_PROBE.replace("OUT", repr(str(out)))],
            env=subprocess_env(AGENTWRAP_ANTHROPIC_UPSTREAM=fake.base_url),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.exists(), done.stderr
    got = json.loads(out.read_text())
    assert got["code"] == 0
    heavy = {m.split(".")[0] for m in got["modules"]} & {"typer", "click", "genai_prices"}
    assert heavy == set()
    assert "agentwrap.proxy.frontdoor" in got["modules"]
    with sqlite3.connect(paths.trace_db()) as db:
        (call,) = db.execute(
            "SELECT model, input_tokens, output_tokens, cache_creation_tokens, "
            "cache_read_tokens, cost_usd FROM calls"
        ).fetchall()
    model, *tokens, cost = call
    assert model == "claude-sonnet-4-6"
    assert cost == PriceBook().cost(model, Usage(*tokens), "anthropic").usd is not None
