"""typer's help renderer loads without rich.markdown and rich.traceback, and both still work."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs in a fresh interpreter: the renderer must not have been loaded before.
_PROBE = """\
import json, sys
from agentwrap.cli.helprender import defer_unused_rich
defer_unused_rich()
import typer.rich_utils as renderer
out = {"after_renderer": sorted(m for m in ("rich.markdown", "rich.traceback") if m in sys.modules)}
try:
    raise ValueError("shown")
except ValueError as exc:
    tb = renderer.Traceback.from_exception(type(exc), exc, exc.__traceback__)
import rich.traceback
out["traceback_is_real"] = type(tb) is rich.traceback.Traceback
md = renderer.Markdown("**bold**")
import rich.markdown
out["markdown_is_real"] = type(md) is rich.markdown.Markdown
print(json.dumps(out))
"""


def test_the_renderer_defers_markdown_and_traceback_until_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    got = json.loads(done.stdout)
    assert got == {
        "after_renderer": [],
        "traceback_is_real": True,
        "markdown_is_real": True,
    }
