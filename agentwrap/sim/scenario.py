"""The demo's coding session, as data: the project, the user's prompts, and the model's replies.

The scripted agent (agentwrap.sim.agent) plays a Claude-Code-like loop over a small in-memory
project; the simulated providers (agentwrap.sim.providers) answer from the exchanges below.
A provider picks an exchange by reading the request itself — the text of the last user-side
turn (prompt, tool results) must contain the exchange's `cue`, and the whole request its
`within` — so the script keeps working after agentwrap has translated the request to another
API. Tool results come from the agent really running its tools on the project files, so a
wrong edit really fails and the tests really fail until the fix lands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- the project being edited

FILES: dict[str, str] = {
    "README.md": """# tally

A tiny time tracker for the terminal.

## Usage

    tally add "write report" 45m
    tally report --since monday

Entries live in `~/.tally.jsonl`, one JSON object per line.
""",
    "src/tally/__init__.py": '"""tally: a tiny time tracker."""\n\n__version__ = "0.3.0"\n',
    "src/tally/store.py": '''"""Reading and writing entries (one JSON object per line)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass
class Entry:
    task: str
    minutes: int
    at: datetime


def load(path: Path) -> list[Entry]:
    entries = []
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        entries.append(Entry(raw["task"], raw["minutes"], datetime.fromisoformat(raw["at"])))
    return entries


def append(path: Path, entry: Entry) -> None:
    with path.open("a") as fh:
        record = {"task": entry.task, "minutes": entry.minutes, "at": entry.at.isoformat()}
        fh.write(json.dumps(record) + "\\n")
''',
    "src/tally/report.py": '''"""Summaries of tracked time."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from tally.store import Entry

Row = dict[str, object]


def build_rows(entries: list[Entry], since: datetime | None = None) -> list[Row]:
    """One row per task: total minutes and the last time it was worked on."""
    totals: dict[str, int] = defaultdict(int)
    last: dict[str, datetime] = {}
    for entry in entries:
        if since and entry.at < since:
            continue
        totals[entry.task] += entry.minutes
        last[entry.task] = max(last.get(entry.task, entry.at), entry.at)
    return [
        {"task": task, "minutes": minutes, "last": last[task]}
        for task, minutes in sorted(totals.items(), key=lambda kv: -kv[1])
    ]


def render_table(rows: list[Row]) -> str:
    """A fixed-width table for the terminal."""
    lines = [f"{'task':<30} {'time':>8}  last"]
    for row in rows:
        hours, minutes = divmod(int(row["minutes"]), 60)
        lines.append(f"{row['task']:<30} {hours:>3}h {minutes:02d}m  {row['last']:%a %H:%M}")
    return "\\n".join(lines)
''',
    "src/tally/cli.py": '''"""The `tally` command."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from tally import report, store

DEFAULT_PATH = Path.home() / ".tally.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tally")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="record time spent on a task")
    add.add_argument("task")
    add.add_argument("duration", help="e.g. 45m or 1h30m")
    rep = sub.add_parser("report", help="time per task")
    rep.add_argument("--since", type=datetime.fromisoformat)
    args = parser.parse_args(argv)

    if args.command == "report":
        rows = report.build_rows(store.load(DEFAULT_PATH), args.since)
        print(report.render_table(rows))
    return 0
''',
    "tests/test_report.py": """from datetime import datetime

from tally.report import build_rows, render_table
from tally.store import Entry

ENTRIES = [
    Entry("write report", 45, datetime(2026, 11, 23, 9, 0)),
    Entry("review", 30, datetime(2026, 11, 23, 11, 0)),
    Entry("write report", 20, datetime(2026, 11, 24, 10, 0)),
]


def test_rows_are_sorted_by_time_spent():
    rows = build_rows(ENTRIES)
    assert [r["task"] for r in rows] == ["write report", "review"]
    assert rows[0]["minutes"] == 65


def test_table_has_a_header():
    assert render_table(build_rows(ENTRIES)).splitlines()[0].startswith("task")
""",
    "pyproject.toml": '[project]\nname = "tally"\nversion = "0.3.0"\n\n[project.scripts]\ntally = "tally.cli:main"\n',
}

# ---------------------------------------------------------------- the user's side

PROMPT_FEATURE = (
    "Add a --json flag to `tally report` that prints the report as JSON instead of the "
    "table, so I can pipe it into jq. Plan it first."
)
PROMPT_DOCS = "Great. Also document the new flag in the README."
SESSION_TITLES = {
    PROMPT_FEATURE: "Add JSON output to tally report",
    PROMPT_DOCS: "Document the report --json flag",
}

# Distinctive phrases of the agent's own prompts: they tell the providers which
# conversation a request belongs to.
MAIN_MARK = "You are an interactive coding agent working in the user's terminal."
TITLE_MARK = "Write a short sentence-case title for this coding session"
SEARCH_MARK = "You run one web search for the main agent"
# The classifier recognises Claude Code's explore subagent by this phrase of its prompt.
EXPLORE_MARK = "You are a file search specialist for Claude Code"

EXPLORE_TASKS = {
    "report": "Find how `tally report` builds and renders its output; name the functions and files.",
    "cli": "Find how the CLI parses the options of the report subcommand.",
    "tests": "Find the tests that cover report output and how they are run.",
}

SEARCH_QUERY = "python json.dumps datetime not JSON serializable default isoformat"

# ---------------------------------------------------------------- the model's side


@dataclass
class ToolCall:
    """A tool call in a scripted reply: the tool's name and its input."""

    name: str
    input: dict[str, Any]


@dataclass
class Reply:
    """What the model answers: optional thinking, text, then tool calls (or web search results)."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    thinking: str = ""
    search_results: list[tuple[str, str]] = field(default_factory=list)  # (title, url)


@dataclass
class Exchange:
    """One scripted model turn, chosen when the request matches `cue` and `within`."""

    name: str
    cue: str  # appears in the last user-side turn (prompt or tool results)
    within: tuple[str, ...]  # each appears somewhere in the request (system prompt, task...)
    reply: Reply
    kind: str  # the step kind the exchange is meant to be: plan, explore, implement, ...
    fail_first: int | None = None  # answer the first attempt with this HTTP status


_WRONG_OLD = "def render_table(rows):\n    lines = []"
_RIGHT_OLD = (
    'def render_table(rows: list[Row]) -> str:\n    """A fixed-width table for the terminal."""'
)
_RENDER_JSON = '''def render_json(rows: list[Row]) -> str:
    """The rows as a JSON array, for scripts."""
    return json.dumps(rows, indent=2)


'''
_TEST_JSON = """import json
from datetime import datetime

from tally.report import build_rows, render_json
from tally.store import Entry


def test_json_report_round_trips():
    rows = build_rows([Entry("review", 30, datetime(2026, 11, 23, 11, 0))])
    data = json.loads(render_json(rows))
    assert data == [{"task": "review", "minutes": 30, "last": "2026-11-23T11:00:00"}]
"""


def _explore(key: str, steps: list[Reply]) -> list[Exchange]:
    """An explore subagent's turns: the first answers its task, the rest follow tool results."""
    task = EXPLORE_TASKS[key]
    cues = [task, *[_EXPLORE_CUES[key][i] for i in range(len(steps) - 1)]]
    return [
        Exchange(f"explore-{key}-{i + 1}", cue, (EXPLORE_MARK, task), reply, "explore")
        for i, (cue, reply) in enumerate(zip(cues, steps, strict=True))
    ]


# What each explore subagent's tool results contain, in order (the cue of its next turn).
_EXPLORE_CUES = {
    "report": ["src/tally/report.py", "def render_table(rows: list[Row]) -> str:"],
    "cli": ["src/tally/cli.py", 'rep.add_argument("--since"'],
    "tests": ["tests/test_report.py"],
}

EXCHANGES: list[Exchange] = [
    Exchange(
        "title-1",
        PROMPT_FEATURE,
        (TITLE_MARK,),
        Reply(text=json.dumps({"title": SESSION_TITLES[PROMPT_FEATURE]})),
        "background",
    ),
    Exchange(
        "title-2",
        PROMPT_DOCS,
        (TITLE_MARK,),
        Reply(text=json.dumps({"title": SESSION_TITLES[PROMPT_DOCS]})),
        "background",
    ),
    Exchange(
        "plan-1",
        PROMPT_FEATURE,
        (MAIN_MARK,),
        Reply(
            thinking="The user wants a JSON mode for the report. Before planning I need to know "
            "where rows are built, how options are parsed, and how tests run. Three independent "
            "questions: explore them in parallel.",
            text="I'll look at the report code, the CLI wiring and the tests in parallel "
            "before proposing a plan.",
            tool_calls=[
                ToolCall(
                    "Agent",
                    {
                        "description": f"Explore {key}",
                        "prompt": task,
                        "subagent_type": "Explore",
                    },
                )
                for key, task in EXPLORE_TASKS.items()
            ],
        ),
        "plan",
    ),
    *_explore(
        "report",
        [
            Reply(
                text="Searching for the report functions.",
                tool_calls=[
                    ToolCall("Grep", {"pattern": "def (build_rows|render_table)", "path": "src"})
                ],
            ),
            Reply(tool_calls=[ToolCall("Read", {"file_path": "src/tally/report.py"})]),
            Reply(
                text="`src/tally/report.py` has two functions: `build_rows(entries, since)` "
                "returns one dict per task with `task`, `minutes` and `last` (a datetime), "
                "sorted by time spent; `render_table(rows: list[Row]) -> str` formats them for "
                "the terminal. `Row` is `dict[str, object]`. There is no JSON output yet."
            ),
        ],
    ),
    *_explore(
        "cli",
        [
            Reply(
                tool_calls=[
                    ToolCall("Grep", {"pattern": "add_parser|add_argument", "path": "src/tally"})
                ]
            ),
            Reply(tool_calls=[ToolCall("Read", {"file_path": "src/tally/cli.py"})]),
            Reply(
                text="`src/tally/cli.py` builds an argparse parser in `main(argv)`; the "
                "`report` subparser (`rep`) has one option, `--since`. The report branch calls "
                "`report.build_rows(...)` then prints `report.render_table(rows)`."
            ),
        ],
    ),
    *_explore(
        "tests",
        [
            Reply(tool_calls=[ToolCall("Glob", {"pattern": "tests/**/*.py"})]),
            Reply(
                text="`tests/test_report.py` "
                "checks row order and the table header; run them with `python -m pytest -q`. "
                "Nothing covers JSON yet."
            ),
        ],
    ),
    Exchange(
        "plan-2",
        "Nothing covers JSON yet.",
        (MAIN_MARK,),
        Reply(
            thinking="Rows already hold plain values except `last`, a datetime. A "
            "render_json next to render_table, a flag on the report subparser, one test.",
            text="Here is the plan.",
            tool_calls=[
                ToolCall(
                    "ExitPlanMode",
                    {
                        "plan": "1. Add `render_json(rows)` to `src/tally/report.py`.\n"
                        "2. Add `--json` to the `report` subcommand in `src/tally/cli.py` and "
                        "print `render_json` when it is set.\n"
                        "3. Add `tests/test_report_json.py`; run the test suite."
                    },
                )
            ],
        ),
        "plan",
        # The frontier model is overloaded once: the call falls back along its chain.
        fail_first=529,
    ),
    Exchange(
        "implement-read",
        "User has approved your plan",
        (MAIN_MARK,),
        Reply(
            text="Starting with the report module and the CLI.",
            tool_calls=[
                ToolCall("Read", {"file_path": "src/tally/report.py"}),
                ToolCall("Read", {"file_path": "src/tally/cli.py"}),
            ],
        ),
        "implement",
    ),
    Exchange(
        "implement-edit-wrong",
        "def main(argv: list[str] | None = None) -> int:",
        (MAIN_MARK,),
        Reply(
            text="Adding `render_json` before `render_table`.",
            tool_calls=[
                ToolCall(
                    "Edit",
                    {
                        "file_path": "src/tally/report.py",
                        "old_string": _WRONG_OLD,
                        "new_string": _RENDER_JSON + _WRONG_OLD,
                    },
                )
            ],
        ),
        "implement",
    ),
    Exchange(
        "implement-edit-retry",
        "String to replace not found",
        (MAIN_MARK,),
        Reply(
            thinking="The signature has type hints and a docstring; use the exact text.",
            text="The signature has type hints; retrying with the exact text.",
            tool_calls=[
                ToolCall(
                    "Edit",
                    {
                        "file_path": "src/tally/report.py",
                        "old_string": _RIGHT_OLD,
                        "new_string": _RENDER_JSON + _RIGHT_OLD,
                    },
                ),
                ToolCall(
                    "Edit",
                    {
                        "file_path": "src/tally/report.py",
                        "old_string": "from collections import defaultdict",
                        "new_string": "import json\nfrom collections import defaultdict",
                    },
                ),
            ],
        ),
        "implement",
    ),
    Exchange(
        "implement-cli",
        "def render_json(rows: list[Row]) -> str:",
        (MAIN_MARK,),
        Reply(
            text="Now the flag.",
            tool_calls=[
                ToolCall(
                    "Edit",
                    {
                        "file_path": "src/tally/cli.py",
                        "old_string": '    rep.add_argument("--since", type=datetime.fromisoformat)\n',
                        "new_string": '    rep.add_argument("--since", type=datetime.fromisoformat)\n'
                        '    rep.add_argument("--json", action="store_true", help="print JSON")\n',
                    },
                ),
                ToolCall(
                    "Edit",
                    {
                        "file_path": "src/tally/cli.py",
                        "old_string": "        print(report.render_table(rows))\n",
                        "new_string": "        render = report.render_json if args.json else "
                        "report.render_table\n        print(render(rows))\n",
                    },
                ),
            ],
        ),
        "implement",
    ),
    Exchange(
        "implement-test",
        "report.render_json if args.json",
        (MAIN_MARK,),
        Reply(
            text="Adding a test for the JSON output.",
            tool_calls=[
                ToolCall("Write", {"file_path": "tests/test_report_json.py", "content": _TEST_JSON})
            ],
        ),
        "implement",
    ),
    Exchange(
        "implement-run-tests",
        "File created successfully at: tests/test_report_json.py",
        (MAIN_MARK,),
        Reply(
            tool_calls=[
                ToolCall("Bash", {"command": "python -m pytest -q", "description": "Run tests"})
            ]
        ),
        "implement",
    ),
    Exchange(
        "implement-search",
        "is not JSON serializable",
        (MAIN_MARK,),
        Reply(
            thinking="`last` is a datetime; json.dumps needs a default. Check the idiomatic way.",
            text="`last` is a datetime. Let me check the idiomatic fix.",
            tool_calls=[ToolCall("WebSearch", {"query": SEARCH_QUERY})],
        ),
        "implement",
    ),
    Exchange(
        "search",
        SEARCH_QUERY,
        (SEARCH_MARK,),
        Reply(
            text="Pass a `default` function to `json.dumps` that returns `obj.isoformat()` for "
            "datetime objects and raises TypeError otherwise; `default=str` also works but "
            "hides other unserialisable types.",
            search_results=[
                ("json — JSON encoder and decoder", "https://docs.python.org/3/library/json.html"),
                (
                    "How to overcome 'datetime.datetime not JSON serializable'",
                    "https://stackoverflow.com/questions/11875770",
                ),
            ],
        ),
        "search",
    ),
    Exchange(
        "implement-fix",
        "Web search results for query",
        (MAIN_MARK,),
        Reply(
            text="Serialising datetimes as ISO 8601.",
            tool_calls=[
                ToolCall(
                    "Edit",
                    {
                        "file_path": "src/tally/report.py",
                        "old_string": "    return json.dumps(rows, indent=2)\n",
                        "new_string": "    return json.dumps(rows, indent=2, default=_json_default)\n"
                        "\n\ndef _json_default(value: object) -> str:\n"
                        "    if isinstance(value, datetime):\n"
                        "        return value.isoformat()\n"
                        '    raise TypeError(f"cannot serialise {type(value).__name__}")\n',
                    },
                )
            ],
        ),
        "implement",
    ),
    Exchange(
        "implement-rerun",
        "default=_json_default",
        (MAIN_MARK,),
        Reply(
            tool_calls=[
                ToolCall("Bash", {"command": "python -m pytest -q", "description": "Run tests"})
            ]
        ),
        "implement",
    ),
    Exchange(
        "implement-done",
        "3 passed",
        (MAIN_MARK,),
        Reply(
            text="Done. `tally report --json` now prints the rows as a JSON array (datetimes "
            "as ISO 8601), via `render_json` in `src/tally/report.py`; "
            "`tests/test_report_json.py` covers it and the suite passes."
        ),
        "implement",
    ),
    Exchange(
        "compact",
        "create a detailed summary of the conversation so far",
        (MAIN_MARK,),
        Reply(
            text="<summary>\n1. Request: add `--json` to `tally report`.\n2. Done: "
            "`render_json(rows)` in src/tally/report.py (datetimes via `_json_default`), "
            "`--json` flag in src/tally/cli.py, tests/test_report_json.py; 3 tests pass.\n"
            "3. Errors: an Edit with a stale signature failed and was retried; json.dumps "
            "failed on datetime until a default was added.\n4. Pending: nothing.\n</summary>"
        ),
        "compact",
    ),
    Exchange(
        "docs-read",
        PROMPT_DOCS,
        (MAIN_MARK,),
        Reply(tool_calls=[ToolCall("Read", {"file_path": "README.md"})]),
        "implement",
    ),
    Exchange(
        "docs-edit",
        "A tiny time tracker for the terminal.",
        (MAIN_MARK,),
        Reply(
            tool_calls=[
                ToolCall(
                    "Edit",
                    {
                        "file_path": "README.md",
                        "old_string": "    tally report --since monday\n",
                        "new_string": "    tally report --since monday\n"
                        "    tally report --json | jq '.[0]'\n",
                    },
                )
            ]
        ),
        "implement",
    ),
    Exchange(
        "docs-done",
        "tally report --json | jq",
        (MAIN_MARK,),
        Reply(text="Documented: the README's usage now shows `tally report --json | jq`."),
        "implement",
    ),
]


def by_name(name: str) -> Exchange:
    """The exchange of that name."""
    for exchange in EXCHANGES:
        if exchange.name == name:
            return exchange
    raise KeyError(name)


def match(trailing: str, whole: str) -> Exchange | None:
    """The exchange a request asks for: its cue in the last user-side turn, its mark anywhere.

    When several match, the one with the longest cue wins (the most specific).
    """
    found = [e for e in EXCHANGES if e.cue in trailing and all(mark in whole for mark in e.within)]
    if not found:
        return None
    return max(found, key=lambda e: len(e.cue))
