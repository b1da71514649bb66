"""Capture what the real Claude Code CLI sends, step kind by step kind, as test fixtures.

Runs the pinned CLI (tests/e2e/agents) offline against a recording FakeAnthropic whose
replies make Claude Code do each thing (call Bash, start Explore / Plan / general-purpose
subagents, plan mode, /compact, WebSearch, an interactive prompt with its title call), and
writes the chosen requests to tests/fixtures/claude/<label>-<scenario>.json as

    {"label": step kind, "scenario": ..., "claude_version": ..., "method": ..., "path": ...,
     "headers": {...}, "body": {...}}

Bodies are kept whole. The fake API key and the CLI's session/device ids stay (they are
fake); this machine's paths are replaced: the working directory by /repo, HOME by
/home/user (also in the dash-encoded form the CLI uses for its project folders).

Rerun by hand after a Claude Code upgrade:

    .venv/bin/python tests/e2e/capture_claude.py            # all scenarios
    .venv/bin/python tests/e2e/capture_claude.py explore    # some of them
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests.support` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agentwrap.fakes.anthropic import FakeAnthropic, Reply, ToolUse
from agentwrap.fakes.server import Received
from tests.support.claude_env import (
    CLAUDE_VERSION,
    INTERACTIVE_READY,
    ClaudeEnv,
    TmuxPane,
    is_title_request,
    make_claude_env,
    require_claude,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude"
STEP_KINDS = ("plan", "explore", "implement", "subagent", "background", "compact", "search")
AGENT_ID_HEADER = "x-claude-code-agent-id"
_panes = itertools.count(1)


def role_of(request: Received) -> str:
    """Which part of Claude Code sent this: title, search, subagent or main."""
    body = request.body if isinstance(request.body, dict) else {}
    if is_title_request(body):
        return "title"
    if any(str(t.get("type", "")).startswith("web_search") for t in body.get("tools") or []):
        return "search"
    if AGENT_ID_HEADER in request.headers:
        return "subagent"
    return "main"


@dataclass
class Responder:
    """A FakeAnthropic script that answers each part of Claude Code from its own queue.

    `main` answers the main loop in order; `agents[i]` answers the i-th subagent to appear
    (by its agent-id header); exhausted queues answer `done`.
    """

    main: list[Reply | str] = field(default_factory=list)
    agents: list[list[Reply | str]] = field(default_factory=list)
    search: Reply | str = "Search results: agentwrap routes each agent step to a model."
    title: str = '{"title": "Demo session"}'
    done: str = "Done."
    agent_order: list[str] = field(default_factory=list)
    used: dict[str, int] = field(default_factory=dict)

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> Reply | str:
        request = Received("POST", "/v1/messages", headers, body, b"", 0.0, "anthropic", "messages")
        role = role_of(request)
        if role == "title":
            return self.title
        if role == "search":
            return self.search
        if role == "subagent":
            agent = headers[AGENT_ID_HEADER]
            if agent not in self.agent_order:
                self.agent_order.append(agent)
            position = self.agent_order.index(agent)
            queue = self.agents[position] if position < len(self.agents) else []
            key = f"agent:{agent}"
        else:
            queue, key = self.main, "main"
        step = self.used.get(key, 0)
        self.used[key] = step + 1
        return queue[step] if step < len(queue) else self.done


@dataclass
class Capture:
    """One request chosen to become a fixture."""

    label: str
    scenario: str
    request: Received


@dataclass
class Run:
    """What one scenario saw: every request, with its role and subagent position."""

    requests: list[Received]
    outputs: list[str]
    agent_order: list[str]

    def by_role(self, role: str) -> list[Received]:
        return [r for r in self.requests if r.endpoint == "messages" and role_of(r) == role]

    def of_agent(self, position: int) -> list[Received]:
        agent = self.agent_order[position]
        return [r for r in self.by_role("subagent") if r.headers.get(AGENT_ID_HEADER) == agent]


def agent_call(subagent_type: str, prompt: str) -> Reply:
    """A main-loop reply that starts one subagent through the Agent tool."""
    return Reply(
        [
            ToolUse(
                "Agent",
                {
                    "description": f"{subagent_type} task",
                    "prompt": prompt,
                    "subagent_type": subagent_type,
                },
            )
        ]
    )


def run_print(ce: ClaudeEnv, fake: FakeAnthropic, *runs: Sequence[str]) -> list[str]:
    """Run `claude -p ...` once per argv in `runs`; fail loudly on a non-zero exit."""
    outputs = []
    for args in runs:
        done = ce.run(*args, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(
                f"claude {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
            )
        outputs.append(done.stdout)
    return outputs


def run_interactive(ce: ClaudeEnv, turns: Sequence[tuple[str, str]], *args: str) -> list[str]:
    """Drive interactive Claude Code in tmux, then /exit.

    Each turn is (prompt, reply): type the prompt, wait for the reply text on screen. A prompt
    of "<BTab>" presses Shift+Tab instead (cycles the permission mode) and waits for `reply`.
    """
    # A name of its own, so parallel runs do not share (and kill) one tmux server.
    pane = TmuxPane(f"capture-{os.getpid()}-{next(_panes)}")
    screens = []
    try:
        pane.start(ce.command(*args), ce.env, ce.cwd)
        pane.wait_for(*INTERACTIVE_READY, timeout=60)
        for prompt, reply in turns:
            if prompt == "<BTab>":
                pane.press("BTab")
            else:
                pane.submit(prompt)
            screens.append(pane.wait_for(reply, timeout=60))
        time.sleep(1.0)  # the title call may still be in flight
        pane.submit("/exit")
        screens.append(pane.wait_for("[exited", timeout=30))
        return screens
    finally:
        pane.kill()


@dataclass
class Scenario:
    """A way to make Claude Code take some steps, and which of its requests to keep."""

    name: str
    responder: Callable[[], Responder]
    drive: Callable[[ClaudeEnv, FakeAnthropic], list[str]]
    pick: Callable[[Run], list[tuple[str, Received]]]  # (label, request)


def _first(requests: list[Received], what: str) -> Received:
    if not requests:
        raise RuntimeError(f"no {what} request was seen")
    return requests[0]


def _notified(run: Run) -> Received:
    """The main-loop turn that brings a background subagent's <task-notification>."""
    for r in run.by_role("main"):
        if "<task-notification>" in json.dumps(r.body["messages"][-1]):
            return r
    raise RuntimeError("no main-loop request carried a <task-notification>")


def _compact_request(run: Run) -> Received:
    for r in run.by_role("main"):
        last = r.body["messages"][-1]
        if "detailed summary of the conversation" in json.dumps(last):
            return r
    raise RuntimeError("no compaction request was seen")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "bash",
            lambda: Responder(
                main=[
                    Reply([ToolUse("Bash", {"command": "ls", "description": "List files"})]),
                    "There are two files: README.md and app.py.",
                ]
            ),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "List the files here.", "--allowedTools", "Bash"]
            ),
            # The second main call carries the Bash tool_result.
            lambda run: [("implement", run.by_role("main")[1])],
        ),
        Scenario(
            "explore",
            lambda: Responder(
                main=[
                    agent_call("Explore", "Find where the greet function is defined."),
                    "greet is defined in app.py.",
                ],
                agents=[["greet is defined in app.py, line 1."]],
            ),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "Where is greet defined? Use an Explore agent."]
            ),
            lambda run: [("explore", _first(run.of_agent(0), "Explore subagent"))],
        ),
        Scenario(
            # The Agent tool runs subagents in the background (2.1.332): the main loop learns
            # that one finished from a <task-notification> in a later turn of its own.
            "task-notification",
            lambda: Responder(
                main=[
                    agent_call("Explore", "Find where the greet function is defined."),
                    "Waiting for the Explore agent.",
                    "greet is defined in app.py.",
                ],
                agents=[["greet is defined in app.py, line 1."]],
            ),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "Where is greet defined? Use an Explore agent."]
            ),
            lambda run: [("implement", _notified(run))],
        ),
        Scenario(
            "plan-agent",
            lambda: Responder(
                main=[
                    agent_call("Plan", "Plan how to add a farewell function next to greet."),
                    "Here is the plan.",
                ],
                agents=[["1. Add farewell() to app.py. 2. Call it from main."]],
            ),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "Plan a farewell function. Use the Plan agent."]
            ),
            lambda run: [("plan", _first(run.of_agent(0), "Plan subagent"))],
        ),
        Scenario(
            "general-purpose",
            lambda: Responder(
                main=[
                    agent_call("general-purpose", "Find out what app.py prints, then report."),
                    "app.py prints hello world.",
                ],
                # The general-purpose agent keeps the Agent tool: it starts a nested Explore.
                agents=[
                    [
                        agent_call("Explore", "Read app.py and say what it prints."),
                        "It prints hello world.",
                    ],
                    ["app.py prints 'hello world'."],
                ],
            ),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "What does app.py print? Use a general-purpose agent."]
            ),
            lambda run: [
                ("subagent", _first(run.of_agent(0), "general-purpose subagent")),
                ("explore", _first(run.of_agent(1), "nested Explore subagent")),
            ],
        ),
        Scenario(
            "plan-mode",
            lambda: Responder(main=["Plan: add farewell() to app.py and call it from main."]),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "Add a farewell function to app.py.", "--permission-mode", "plan"]
            ),
            lambda run: [("plan", _first(run.by_role("main"), "plan-mode main loop"))],
        ),
        Scenario(
            "compact",
            lambda: Responder(
                main=[
                    "Noted.",
                    "Sure.",
                    "Okay.",
                    "<analysis>short</analysis>\n<summary>We chatted.</summary>",
                ]
            ),
            lambda ce, fake: run_print(
                ce,
                fake,
                ["-p", "Remember: the magic word is banana."],
                ["-p", "And the colour is green.", "--continue"],
                ["-p", "And the number is 7.", "--continue"],
                # -p accepts slash commands; /compact needs a few turns to compact.
                ["-p", "/compact", "--continue"],
            ),
            lambda run: [("compact", _compact_request(run))],
        ),
        Scenario(
            "websearch",
            lambda: Responder(
                main=[
                    Reply(
                        [
                            ToolUse(
                                "WebSearch", {"query": "agentwrap model router for coding agents"}
                            )
                        ]
                    ),
                    "I found a description of agentwrap.",
                ]
            ),
            lambda ce, fake: run_print(
                ce, fake, ["-p", "Search the web for agentwrap.", "--allowedTools", "WebSearch"]
            ),
            lambda run: [("search", _first(run.by_role("search"), "web search"))],
        ),
        Scenario(
            "interactive",
            lambda: Responder(main=["Hello! How can I help with this project?"]),
            lambda ce, fake: run_interactive(ce, [("hello there", "How can I help")]),
            # 2.1.332 sent no title call through a base URL (2.1.197 did, once per session).
            lambda run: [
                ("implement", _first(run.by_role("main"), "interactive main loop")),
                *(("background", title) for title in run.by_role("title")[:1]),
            ],
        ),
        Scenario(
            "interactive-compact",
            lambda: Responder(
                main=[
                    "Noted.",
                    "Sure.",
                    "<analysis>short</analysis>\n<summary>We chatted.</summary>",
                ]
            ),
            lambda ce, fake: run_interactive(
                ce,
                [
                    ("Remember: the magic word is banana.", "Noted."),
                    ("And the colour is green.", "Sure."),
                    ("/compact", "Compacted"),
                ],
            ),
            lambda run: [("compact", _compact_request(run))],
        ),
        Scenario(
            "plan-mode-toggled",
            lambda: Responder(main=["Hello!", "Plan: add farewell() to app.py.", "Implemented."]),
            lambda ce, fake: run_interactive(
                ce,
                [
                    ("hello", "Hello!"),
                    # default -> accept edits -> plan mode (auto mode is the default otherwise)
                    ("<BTab>", "accept edits on"),
                    ("<BTab>", "plan mode on"),
                    ("Add a farewell function to app.py.", "Plan: add farewell"),
                    # plan mode -> auto mode -> default: the plan-mode reminder stays in the history
                    ("<BTab>", "auto mode on"),
                    ("<BTab>", "? for shortcuts"),
                    ("Go ahead and implement it.", "Implemented."),
                ],
                "--permission-mode",
                "default",
            ),
            lambda run: [
                ("plan", run.by_role("main")[1]),
                ("implement", run.by_role("main")[2]),
            ],
        ),
    ]
}


def _encoded(path: str) -> str:
    """The CLI's folder name for a path (~/.claude/projects/<this>)."""
    return re.sub(r"[^a-zA-Z0-9]", "-", path)


def scrub(text: str, root: Path) -> str:
    """Replace this run's temporary paths with fixed placeholders."""
    pairs: list[tuple[str, str]] = []
    for base in {root, root.resolve()}:
        for real, placeholder in (
            (base / "home", "/home/user"),
            (base / "repo", "/repo"),
            (base, "/tmp/capture"),
        ):
            pairs.append((str(real), placeholder))
            pairs.append((_encoded(str(real)), _encoded(placeholder)))
    for real, placeholder in sorted(pairs, key=lambda p: -len(p[0])):
        text = text.replace(real, placeholder)
    return text


def fixture_json(capture: Capture, root: Path) -> str:
    """The fixture file's text for one capture, with paths scrubbed (and checked gone)."""
    r = capture.request
    record = {
        "label": capture.label,
        "scenario": capture.scenario,
        "claude_version": CLAUDE_VERSION,
        "method": r.method,
        "path": r.path,
        "headers": r.headers,
        "body": r.body,
    }
    text = scrub(json.dumps(record, indent=1, ensure_ascii=False), root)
    leftovers = {str(root), root.name, str(Path(__file__).resolve().parents[2])}
    found = [p for p in leftovers if p in text]
    if found:
        raise RuntimeError(f"machine paths left in {capture.scenario}/{capture.label}: {found}")
    return text + "\n"


def capture(scenario: Scenario) -> list[tuple[Capture, str]]:
    """Run a scenario and return its chosen captures with their fixture text."""
    root = Path(tempfile.mkdtemp(prefix="cc-capture-"))
    responder = scenario.responder()
    try:
        with FakeAnthropic(script=responder) as fake:
            ce = make_claude_env(root, fake.base_url, binary=require_claude())
            outputs = scenario.drive(ce, fake)
            run = Run(list(fake.requests), outputs, list(responder.agent_order))
        chosen = [Capture(label, scenario.name, request) for label, request in scenario.pick(run)]
        return [(c, fixture_json(c, root)) for c in chosen]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios (default: all) and write their fixtures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args(argv)
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown}; known: {', '.join(SCENARIOS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.scenarios or list(SCENARIOS):
        started = time.monotonic()
        for c, text in capture(SCENARIOS[name]):
            target = args.out / f"{c.label}-{c.scenario}.json"
            target.write_text(text)
            print(f"{target.name}: {len(text) // 1024} KB", file=sys.stderr)
        print(f"{name}: {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
