"""Commands that do not export never load OpenTelemetry (nor pay for its import)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from agentwrap.cli.main import run
sys.argv = ["agentwrap", *sys.argv[1:]]
try:
    run()
except SystemExit:
    pass
print("LOADED:" + ",".join(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
"""


@pytest.mark.parametrize("argv", [["--version"], ["sessions"], ["log"], ["report"]])
def test_commands_that_do_not_export_load_no_opentelemetry(argv):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    ).stdout
    loaded = out.rsplit("LOADED:", 1)[1].strip()
    assert loaded == "", f"agentwrap {' '.join(argv)} loaded {loaded}"
