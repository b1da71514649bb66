"""Shared test set-up: every test gets its own AGENTWRAP_HOME (config + trace)."""

from __future__ import annotations

import compileall
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so tests can import tests.support


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--agents",
        choices=("pinned", "latest"),
        default="pinned",
        help="Which releases of the agent CLIs the e2e tests drive: the pinned ones "
        "(tests/e2e/agents) or each agent's newest, installed into the test cache.",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Read by tests/support/agent_cli.py, in this process and in any worker it starts.
    os.environ["AGENTWRAP_TEST_AGENTS"] = config.getoption("agents")
    compile_agentwrap()


def compile_agentwrap() -> None:
    """Compile agentwrap's modules, as an installed agentwrap has them: with
    PYTHONDONTWRITEBYTECODE set, every agentwrap a test starts compiled them again."""
    import agentwrap

    compileall.compile_dir(Path(agentwrap.__file__).parent, quiet=1)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> object:
    """Let pytest keep the test modules it rewrote, even under PYTHONDONTWRITEBYTECODE: it
    reads what it kept either way, and rewriting every module's asserts costs seconds a run."""
    keep = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        return (yield)
    finally:
        sys.dont_write_bytecode = keep


# Variables a test's environment must not inherit from the shell that runs pytest.
INHERITED = (
    "ANTHROPIC_BASE_URL",
    "AGENTWRAP_ANTHROPIC_UPSTREAM",
    "AGENTWRAP_OPENAI_UPSTREAM",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "AGENTWRAP_SESSION_ID",
)


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point AGENTWRAP_HOME at `home` and drop what the shell would leak into a test."""
    monkeypatch.setenv("AGENTWRAP_HOME", str(home))
    for var in INHERITED:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def agentwrap_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("agentwrap-home")
    isolate(monkeypatch, home)
    return home


@pytest.fixture(scope="session")
def agentwrap_bin() -> str:
    """The installed `agentwrap` console script of this checkout's environment."""
    exe = Path(sys.executable).parent / "agentwrap"
    if not exe.exists():
        pytest.fail(f"agentwrap is not installed in {exe.parent}; run ./install.sh --dev")
    return str(exe)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """http://127.0.0.1:PORT where connections are refused for the whole test: the port is held
    bound and never listened on, so no other server can be handed it meanwhile (a port merely
    closed can be, on a machine running other tests)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
