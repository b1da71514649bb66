"""The agent CLIs the end-to-end tests drive: find one, installing it once if needed.

Two lanes, chosen with `pytest --agents=pinned|latest` (tests/conftest.py):

- pinned (the default): npm agents pinned in tests/e2e/agents/package.json (those whose
  install may fail, a postinstall downloading its binary from outside the registry, among its
  optionalDependencies, so the others install anyway), installed by
  `./install.sh --dev` (npm install in that folder) or, on a fresh machine, by the first test
  that needs one (that `npm install`, once per process, under a file lock shared by every agent
  so parallel test workers never install twice); PyPI agents pinned in
  tests/e2e/agents/requirements.txt, each installed into a venv of its own under the test cache.
- latest: every registered agent's newest release from its registry, installed into the test
  cache (`<cache>/latest/`), so wire drift in a new release shows up as a failing test.

The test cache is $AGENTWRAP_TEST_CACHE, else ~/.cache/agentwrap-tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.claude_env import AGENTS_DIR, _seed_repo

__all__ = [
    "LANE_ENV",
    "agentwrap_exe",
    "calls_of",
    "lane",
    "pinned_binary",
    "posts",
    "pypi_binary",
    "pypi_pins",
    "require_pinned",
    "require_pypi",
    "sessions",
    "test_cache",
]

LANE_ENV = "AGENTWRAP_TEST_AGENTS"  # "pinned" or "latest"; set from --agents
CACHE_ENV = "AGENTWRAP_TEST_CACHE"
# aider-chat 0.86 and its dependencies want Python < 3.13: the first of these that makes venvs.
PYPI_PYTHONS = ("python3.12", "python3.11", "python3.10")

_install_failed: dict[str, str] = {}  # what failed to install (npm, latest, a PyPI package) → why
_installed_now: set[str] = set()  # what this process installed (the latest lane does it once)


def lane() -> str:
    """The agent lane of this test run: "pinned" or "latest"."""
    return os.environ.get(LANE_ENV) or "pinned"


def test_cache() -> Path:
    """Where the test setup installs agents outside the checkout."""
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "agentwrap-tests")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _install_lock() -> Iterator[None]:
    # The lock lives outside the checkout so it never shows up in git status.
    with open(Path(tempfile.gettempdir()) / "agentwrap-test-agents-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _works(binary: Path, version: str | None) -> bool:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and (version is None or version in out.stdout)


def _run_install(key: str, argv: list[str], cwd: Path, what: str) -> str | None:
    """Run an install command; None, or why it failed (remembered for this process)."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1200, check=False)
    if done.returncode == 0:
        return None
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    _install_failed[key] = f"{what} failed: " + " | ".join(tail)
    return _install_failed[key]


def _latest_npm_binary(name: str, label: str) -> tuple[Path | None, str]:
    """`name` from the newest releases of every registered npm agent, in the test cache."""
    from agentwrap.agents import registry

    folder = test_cache() / "latest" / "npm"
    binary = folder / "node_modules" / ".bin" / name
    if "latest-npm" in _install_failed:
        return None, _install_failed["latest-npm"]
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not on PATH, so {label} cannot be installed"
    if "latest-npm" not in _installed_now:  # once per process: the newest may have moved
        with _install_lock():
            folder.mkdir(parents=True, exist_ok=True)
            packages = sorted(a.package for a in registry.agents() if a.registry == "npm")
            # Optional, so one agent whose install fails (a postinstall that downloads its
            # binary from outside the registry) leaves the others installed; its tests skip.
            manifest = {"name": "agentwrap-latest-agents", "private": True}
            manifest["optionalDependencies"] = dict.fromkeys(packages, "latest")
            (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
            (folder / "package-lock.json").unlink(missing_ok=True)  # resolve "latest" anew
            argv = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
            reason = _run_install("latest-npm", argv, folder, "npm install of the newest agents")
            if reason:
                return None, reason
        _installed_now.add("latest-npm")
    if binary.exists() and _works(binary, None):
        return binary, ""
    return None, f"the newest {label} was installed but {binary} does not run"


def pinned_binary(
    name: str, version: str, label: str, install: bool = True
) -> tuple[Path | None, str]:
    """The agent's executable for this lane and "" — or None and why it is missing.

    Pinned lane: node_modules/.bin/`name` reporting `version`. Latest lane: the newest release.
    """
    if lane() == "latest":
        return _latest_npm_binary(name, label)
    binary = AGENTS_DIR / "node_modules" / ".bin" / name
    if binary.exists() and _works(binary, version):
        return binary, ""
    if not install:
        return None, f"{label} is not installed in {AGENTS_DIR} (run ./install.sh --dev)"
    if "npm" in _install_failed:
        return None, _install_failed["npm"]
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not on PATH, so {label} cannot be installed"
    with _install_lock():
        if not (binary.exists() and _works(binary, version)):
            argv = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
            reason = _run_install("npm", argv, AGENTS_DIR, "npm install in tests/e2e/agents")
            if reason:
                return None, reason
    if binary.exists() and _works(binary, version):
        return binary, ""
    return None, f"npm install ran but {binary} does not report {version}"


def require_pinned(name: str, version: str, label: str) -> Path:
    """The binary for this lane, or skip the calling test with the reason."""
    import pytest

    binary, reason = pinned_binary(name, version, label)
    if binary is None:
        pytest.skip(reason)
    return binary


def pypi_pins() -> dict[str, str]:
    """The PyPI agents the tests pin (tests/e2e/agents/requirements.txt): package → version."""
    pins = {}
    for line in (AGENTS_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            package, version = line.split("==", 1)
            pins[package.strip()] = version.strip()
    return pins


def _venv_python() -> str | None:
    for name in PYPI_PYTHONS:
        exe = shutil.which(name)
        if exe is None:
            continue
        probe = subprocess.run(
            [exe, "-c", "import venv, ensurepip"], capture_output=True, timeout=60, check=False
        )
        if probe.returncode == 0:
            return exe
    return None


def pypi_binary(package: str, binary: str, label: str) -> tuple[Path | None, str]:
    """`binary` of PyPI `package` (pinned, or newest in the latest lane) in a venv of its own.

    The venv lives in the test cache, one per package and version, made once (under the
    install lock) and kept; stderr gets how long the install took and how large it is.
    """
    version = None if lane() == "latest" else pypi_pins()[package]
    folder = test_cache() / "pypi" / f"{package}-{version or 'latest'}"
    exe = folder / "bin" / binary
    key = f"pypi-{package}"
    fresh = lane() == "latest" and key not in _installed_now
    if exe.exists() and _works(exe, version) and not fresh:
        return exe, ""
    if key in _install_failed:
        return None, _install_failed[key]
    python = _venv_python()
    if python is None:
        return None, f"{label} needs one of {', '.join(PYPI_PYTHONS)} with venv, none found"
    with _install_lock():
        if fresh or not (exe.exists() and _works(exe, version)):
            started = time.monotonic()
            if not (folder / "bin" / "pip").exists():
                reason = _run_install(
                    key, [python, "-m", "venv", str(folder)], test_cache(), "venv"
                )
                if reason:
                    return None, reason
            spec = f"{package}=={version}" if version else package
            argv = [str(folder / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
            argv += ["--upgrade", spec] if version is None else [spec]
            reason = _run_install(key, argv, folder, f"pip install {spec}")
            if reason:
                return None, reason
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            print(
                f"\n[agent setup] {spec}: installed into {folder} in "
                f"{time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB",
                file=sys.stderr,
            )
        _installed_now.add(key)
    if exe.exists() and _works(exe, version):
        return exe, ""
    return None, f"pip installed {package} but {exe} does not report {version or 'a version'}"


def require_pypi(package: str, binary: str, label: str) -> Path:
    """The PyPI agent's executable, or skip the calling test with the reason."""
    import pytest

    exe, reason = pypi_binary(package, binary, label)
    if exe is None:
        pytest.skip(reason)
    return exe


def agentwrap_exe() -> str:
    """The `agentwrap` entry point of the running interpreter's environment."""
    return str(Path(sys.executable).parent / "agentwrap")


def sessions() -> list[dict[str, Any]]:
    """The sessions recorded in this test's trace store (newest first), [] when none."""
    from agentwrap import paths
    from agentwrap.trace.store import TraceStore

    if not paths.trace_db().exists():
        return []
    store = TraceStore(paths.trace_db())
    try:
        return store.sessions(100)
    finally:
        store.close()


def calls_of(session_id: str) -> list[dict[str, Any]]:
    """The calls recorded for one session, in order."""
    from agentwrap import paths
    from agentwrap.trace.store import TraceStore

    store = TraceStore(paths.trace_db())
    try:
        return store.calls(session_id)
    finally:
        store.close()


def posts(fake: Any) -> list[Any]:
    """The POST requests a FakeProvider received (agents also send HEAD/GET probes)."""
    return [r for r in fake.requests if r.method == "POST"]


def agent_home(root: Path, **extra: str) -> tuple[Path, dict[str, str]]:
    """A throwaway HOME and a seeded repository under `root`, and the environment of a run
    there (no panel, this test's AGENTWRAP_HOME, `extra` on top)."""
    home, repo = root / "home", root / "repo"
    home.mkdir()
    repo.mkdir()
    _seed_repo(repo)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "AGENTWRAP_PANEL": "off",
        "AGENTWRAP_HOME": os.environ["AGENTWRAP_HOME"],
        **extra,
    }
    return repo, env


def run_through_agentwrap(
    agent: str, binary: Path, repo: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`agentwrap <agent> ARGS` in `repo`, the agent's binary given by AGENTWRAP_<AGENT>_BIN."""
    return subprocess.run(
        [agentwrap_exe(), agent, *args],
        cwd=repo,
        env={**env, f"AGENTWRAP_{agent.upper()}_BIN": str(binary)},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
