"""install.sh refuses clearly when there is no Python >= 3.12."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_install_without_a_new_enough_python_says_so(tmp_path):
    copy = tmp_path / "checkout"
    copy.mkdir()
    shutil.copy(ROOT / "install.sh", copy / "install.sh")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # Only an old Python is on PATH; no pyenv versions, no uv.
    old = bindir / "python3"
    old.write_text("#!/bin/sh\nexit 1\n")  # a python3 that is not >= 3.12
    old.chmod(0o755)
    for tool in ("bash", "dirname", "sed", "id", "mkdir", "ln"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    env = {
        "PATH": str(bindir),
        "HOME": str(tmp_path / "home"),
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
    }
    done = subprocess.run(
        [str(bindir / "bash"), str(copy / "install.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "needs Python >= 3.12" in done.stderr
    assert not (copy / ".venv").exists()


def test_install_rejects_unknown_options(tmp_path):
    done = subprocess.run(
        ["bash", str(ROOT / "install.sh"), "--frobnicate"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "unknown option '--frobnicate'" in done.stderr
