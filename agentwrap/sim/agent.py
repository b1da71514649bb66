"""A scripted coding agent that speaks Anthropic Messages the way Claude Code does.

It runs a real agent loop — send the conversation, stream the answer, run the tools the
model called, send the results — over a small in-memory project (agentwrap.sim.scenario).
Its requests carry Claude Code's wire markers, so agentwrap classifies every step as it
would for the real CLI: the plan-mode reminder in a mid-conversation system message, explore
subagents with `x-claude-code-agent-id` and their own system prompt (run concurrently), title
calls with `output_config.format`, the compaction instruction, a web-search call whose only
tool is the server tool. Every call it makes is recorded with the step kind it meant, so a
test can hold the trace up against it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from agentwrap.sim import scenario

CLAUDE_VERSION = "2.1.197"
MAIN_MODEL = "claude-opus-4-8"
SMALL_MODEL = "claude-haiku-4-5-20251001"
DEMO_API_KEY = "sk-ant-demo-not-a-real-key"
BETAS = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24"
)
MAX_TURNS = 25  # a loop that long means the script went wrong
RETRYABLE = {408, 429, 500, 502, 503, 504, 529}
# Seconds (before dividing by speed) the simulated user and tools take.
USER_PAUSE_S = 2.5
TOOL_S = {"Bash": 1.8, "Read": 0.05, "Edit": 0.1, "Write": 0.1, "Grep": 0.15, "Glob": 0.05}

# ---------------------------------------------------------------- prompts and tools

MAIN_PROMPT = f"""{scenario.MAIN_MARK}
Help the user with software engineering tasks: fixing bugs, adding features, refactoring,
explaining code. Use the tools below; prefer reading code to guessing about it.

# Working style
- Be brief. The user reads your answers in a terminal; say what you did and what is left.
- Before a change that touches several files, look around first. Independent questions can be
  answered in parallel by Explore subagents through the Agent tool.
- Read a file before you edit it. Edits replace an exact string; if the string does not match,
  read the file again instead of guessing.
- Run the project's tests after a change and fix what fails before you report success.
- Never invent file contents or command output. If something fails, say so.
- Keep to the style of the code around you: its naming, its typing, its docstrings.

# Tools
- Read returns a file with line numbers; Edit replaces one exact occurrence of a string;
  Write creates or overwrites a file; Bash runs a shell command in the project directory;
  Grep and Glob search the tree; WebSearch looks something up; Agent starts a subagent.
- Call several independent tools in one turn when you can.

# Environment
Working directory: /home/user/tally (a git repository, branch main)
Platform: linux. Shell: bash. Python 3.12 with pytest installed.
"""

EXPLORE_PROMPT = f"""{scenario.EXPLORE_MARK}. You find files and code fast and report what
you found; you never change anything.

- Use Glob for file name patterns, Grep for contents, Read for a file you need to see whole.
- Report file paths and function names precisely, with the facts the caller asked for.
- Read-only: do not create, edit or delete files, and do not run commands that change state.
"""

TITLE_PROMPT = f"""{scenario.TITLE_MARK}: three to seven words that say what the user is
working on, so they recognise the session in a list. Answer with JSON: {{"title": "..."}}."""

SEARCH_PROMPT = f"{scenario.SEARCH_MARK}: search once, then summarise what you found."

COMPACT_INSTRUCTION = """Respond with text only; do not call any tools.

Your task is to create a detailed summary of the conversation so far. It replaces the
conversation, so keep what is needed to continue the work: the user's requests, the files
and functions involved, the changes made, errors met and how they were fixed, and anything
still pending. Wrap the summary in <summary> tags."""

CONTINUED = "This session continues an earlier conversation that was compacted. Its summary:\n\n"

PLAN_ON = """Plan mode is active. The user wants a plan before any change: do not edit files or
run commands that change anything. Explore, then present the plan with the ExitPlanMode
tool; the user will approve it or ask for changes."""

PLAN_OFF = "You have exited plan mode. You can now edit files and run commands."

AGENT_TYPES = """Agent types available to the Agent tool:
- Explore: fast read-only search of the codebase (Tools: Glob, Grep, Read, Bash)
- Plan: designs an implementation plan (Tools: Glob, Grep, Read)
- general-purpose: multi-step tasks (Tools: *)"""


def _tool(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


_S = {"type": "string"}
TOOLS: dict[str, dict[str, Any]] = {
    "Agent": _tool(
        "Agent",
        "Start a subagent for a self-contained task; it works in its own context and returns "
        "one report. Use Explore subagents for read-only questions about the codebase and run "
        "several at once when the questions are independent.",
        {"description": _S, "prompt": _S, "subagent_type": _S},
        ["description", "prompt", "subagent_type"],
    ),
    "Bash": _tool(
        "Bash",
        "Run a shell command in the project directory and return its output. Use it for "
        "tests, builds and git; not for reading or searching files (use Read, Grep, Glob).",
        {"command": _S, "description": _S, "timeout": {"type": "number"}},
        ["command"],
    ),
    "Edit": _tool(
        "Edit",
        "Replace one exact occurrence of old_string with new_string in a file. The file must "
        "have been read first. Fails when old_string is not found or is not unique.",
        {"file_path": _S, "old_string": _S, "new_string": _S},
        ["file_path", "old_string", "new_string"],
    ),
    "ExitPlanMode": _tool(
        "ExitPlanMode",
        "Present the plan to the user for approval and leave plan mode when they accept.",
        {"plan": _S},
        ["plan"],
    ),
    "Glob": _tool(
        "Glob",
        "List files whose path matches a glob pattern such as src/**/*.py.",
        {"pattern": _S, "path": _S},
        ["pattern"],
    ),
    "Grep": _tool(
        "Grep",
        "Search file contents with a regular expression. Lists the matching files by default.",
        {"pattern": _S, "path": _S, "output_mode": _S},
        ["pattern"],
    ),
    "Read": _tool(
        "Read",
        "Read a file; lines are numbered from 1. Read a file before editing it.",
        {"file_path": _S, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
        ["file_path"],
    ),
    "WebSearch": _tool(
        "WebSearch",
        "Search the web and return a summary of the results with their links.",
        {"query": _S},
        ["query"],
    ),
    "Write": _tool(
        "Write",
        "Create a file, or overwrite one that was read first, with the given content.",
        {"file_path": _S, "content": _S},
        ["file_path", "content"],
    ),
}
MAIN_TOOLS = ["Agent", "Bash", "Edit", "ExitPlanMode", "Glob", "Grep", "Read", "WebSearch", "Write"]
EXPLORE_TOOLS = ["Bash", "Glob", "Grep", "Read", "WebSearch"]


def _billing(subagent: bool = False) -> str:
    tail = " cc_is_subagent=true;" if subagent else ""
    return f"x-anthropic-billing-header: cc_version={CLAUDE_VERSION}.d3m; cc_entrypoint=cli;{tail}"


def _system(prompt: str, *, subagent: bool = False, cache: bool = True) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": _billing(subagent)},
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": prompt},
    ]
    if cache:
        for block in blocks[1:]:
            block["cache_control"] = {"type": "ephemeral"}
    return blocks


# ---------------------------------------------------------------- the project's tools


class ToolError(Exception):
    """A tool failed; the message goes back to the model as an is_error tool result."""


class Workspace:
    """The project the agent works on, in memory; its tools really read and change it."""

    def __init__(self, files: dict[str, str] | None = None) -> None:
        self.files = dict(files if files is not None else scenario.FILES)

    def read(self, file_path: str, **_: Any) -> str:
        if file_path not in self.files:
            raise ToolError(f"File does not exist: {file_path}")
        lines = self.files[file_path].splitlines()
        return "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(lines, 1))

    def edit(self, file_path: str, old_string: str, new_string: str, **_: Any) -> str:
        if file_path not in self.files:
            raise ToolError(f"File does not exist: {file_path}")
        text = self.files[file_path]
        found = text.count(old_string)
        if found == 0:
            raise ToolError(f"String to replace not found in file.\nString: {old_string}")
        if found > 1:
            raise ToolError(f"Found {found} matches of the string to replace; it must be unique.")
        start = text.index(old_string)
        self.files[file_path] = text.replace(old_string, new_string, 1)
        first = text[:start].count("\n") + 1
        return f"The file {file_path} has been updated. The edited lines:\n" + self._snippet(
            file_path, first, first + new_string.count("\n")
        )

    def write(self, file_path: str, content: str, **_: Any) -> str:
        existed = file_path in self.files
        self.files[file_path] = content
        return (
            f"The file {file_path} has been overwritten."
            if existed
            else f"File created successfully at: {file_path}"
        )

    def glob(self, pattern: str, **_: Any) -> str:
        hits = sorted(p for p in self.files if fnmatch.fnmatch(p, pattern.replace("**/", "*")))
        return "\n".join(hits) if hits else "No files found"

    def grep(self, pattern: str, path: str = "", **_: Any) -> str:
        rx = re.compile(pattern)
        hits = sorted(p for p, text in self.files.items() if p.startswith(path) and rx.search(text))
        if not hits:
            return "No files found"
        return f"Found {len(hits)} file{'s' if len(hits) > 1 else ''}\n" + "\n".join(hits)

    def bash(self, command: str, **_: Any) -> str:
        if "pytest" in command:
            return self._pytest()
        if command.startswith("git status"):
            return "On branch main\nnothing to commit, working tree clean"
        raise ToolError(f"bash: {command.split()[0]}: command not available in this demo")

    def _snippet(self, file_path: str, first: int, last: int) -> str:
        lines = self.files[file_path].splitlines()
        lo, hi = max(1, first), min(len(lines), last)
        return "\n".join(f"{i:>6}\t{lines[i - 1]}" for i in range(lo, hi + 1))

    def _pytest(self) -> str:
        """The test run's outcome follows from the files, the way the real suite's would."""
        report = self.files.get("src/tally/report.py", "")
        tests = [p for p in self.files if p.startswith("tests/test_")]
        count = 2 + (1 if "tests/test_report_json.py" in self.files else 0)
        if "tests/test_report_json.py" in self.files and "def render_json" not in report:
            raise ToolError(
                "ImportError while importing test module 'tests/test_report_json.py'.\n"
                "E   ImportError: cannot import name 'render_json' from 'tally.report'\n"
                "1 error in 0.21s"
            )
        if "tests/test_report_json.py" in self.files and "default=" not in report:
            raise ToolError(
                "..F                                                    [100%]\n"
                "=================================== FAILURES ===================================\n"
                "_________________________ test_json_report_round_trips _________________________\n"
                "    def test_json_report_round_trips():\n"
                "        rows = build_rows([Entry('review', 30, datetime(2026, 11, 23, 11, 0))])\n"
                ">       data = json.loads(render_json(rows))\n"
                "src/tally/report.py:14: in render_json\n"
                "    return json.dumps(rows, indent=2)\n"
                "E   TypeError: Object of type datetime is not JSON serializable\n"
                "=========================== short test summary info ============================\n"
                "FAILED tests/test_report_json.py::test_json_report_round_trips - TypeError\n"
                f"1 failed, {count - 1} passed in 0.12s"
            )
        return f"{'.' * count}{' ' * 50}[100%]\n{count} passed in 0.09s ({len(tests)} files)"


# ---------------------------------------------------------------- records


@dataclass
class SentCall:
    """One request the agent made, and what came back."""

    kind: str  # the step kind the agent meant: plan, explore, implement, background, ...
    model: str  # the model it asked for
    status: int = 0
    answered_model: str | None = None
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    ttfb_s: float | None = None
    total_s: float = 0.0
    agent_id: str | None = None
    retries: int = 0
    error: str | None = None


@dataclass
class AgentReport:
    """What the scripted agent did: its calls and the project's final files."""

    calls: list[SentCall] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0

    def by_kind(self) -> Counter[str]:
        """Calls per step kind (as the agent meant them)."""
        return Counter(c.kind for c in self.calls)

    def by_model(self) -> Counter[str]:
        """Calls per requested model."""
        return Counter(c.model for c in self.calls)

    @property
    def ok(self) -> bool:
        return all(c.status == 200 for c in self.calls)


class AgentError(RuntimeError):
    """The agent could not continue (a call failed after its retries)."""


@dataclass
class _Answer:
    content: list[dict[str, Any]]
    stop_reason: str | None

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b.get("type") == "tool_use"]

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")


# ---------------------------------------------------------------- the agent


class ScriptedAgent:
    """Replays the demo's coding session against `base_url` (agentwrap's proxy, or any API)."""

    def __init__(
        self,
        base_url: str,
        *,
        speed: float = 1.0,
        on_call: Callable[[SentCall], None] | None = None,
        main_model: str = MAIN_MODEL,
        small_model: str = SMALL_MODEL,
        api_key: str = DEMO_API_KEY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.speed = speed
        self.on_call = on_call
        self.main_model = main_model
        self.small_model = small_model
        self.api_key = api_key
        self.session_id = str(uuid.uuid4())
        self.device_id = secrets.token_hex(32)
        self.workspace = Workspace()
        self.report = AgentReport()
        self._http: aiohttp.ClientSession | None = None

    async def run(self) -> AgentReport:
        """Play the whole session; returns what was sent (raises AgentError if a call fails)."""
        t0 = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            self._http = http
            try:
                history = await self._prompt([], scenario.PROMPT_FEATURE, plan_mode=True)
                await self._pause()
                summary = await self._compact(history)
                history = [_user(_reminder(), CONTINUED + summary)]
                await self._pause()
                await self._prompt(history, scenario.PROMPT_DOCS, plan_mode=False)
            finally:
                self._http = None
        self.report.files = dict(self.workspace.files)
        self.report.duration_s = time.monotonic() - t0
        return self.report

    async def _pause(self, seconds: float = USER_PAUSE_S) -> None:
        await asyncio.sleep(seconds / self.speed)

    # -- one user prompt ------------------------------------------------------
    async def _prompt(
        self, history: list[dict[str, Any]], prompt: str, *, plan_mode: bool
    ) -> list[dict[str, Any]]:
        """Send a prompt (and its title call, concurrently) and run the loop until the answer."""
        history = list(history)
        if not history:
            history.append(_user(_reminder(), prompt))
            history.append({"role": "system", "content": AGENT_TYPES})
        else:
            history.append(_user(prompt))
        if plan_mode:
            history.append({"role": "system", "content": PLAN_ON})
        title = asyncio.create_task(self._title(prompt))
        try:
            await self._loop(history, plan_mode)
        finally:
            await title
        return history

    async def _loop(self, history: list[dict[str, Any]], plan_mode: bool) -> None:
        for _ in range(MAX_TURNS):
            answer = await self._call(
                "plan" if plan_mode else "implement", self._main_body(history)
            )
            history.append({"role": "assistant", "content": answer.content})
            if not answer.tool_uses:
                return
            results, left_plan = await self._run_tools(answer.tool_uses)
            history.append({"role": "user", "content": results})
            if left_plan:
                plan_mode = False
                history.append({"role": "system", "content": PLAN_OFF})
        raise AgentError(f"the model was still calling tools after {MAX_TURNS} turns")

    async def _run_tools(self, uses: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        read_only = all(u["name"] in ("Agent", "Read", "Grep", "Glob") for u in uses)
        if read_only:  # independent lookups and subagents run concurrently
            results = await asyncio.gather(*(self._tool(u) for u in uses))
        else:
            results = [await self._tool(u) for u in uses]
        left_plan = any(u["name"] == "ExitPlanMode" for u in uses)
        return list(results), left_plan

    async def _tool(self, use: dict[str, Any]) -> dict[str, Any]:
        name, args = use["name"], dict(use.get("input") or {})
        is_error = False
        try:
            if name == "Agent":
                content: Any = [{"type": "text", "text": await self._explore(args["prompt"])}]
            elif name == "WebSearch":
                content = await self._search(args["query"])
            elif name == "ExitPlanMode":
                content = "User has approved your plan. You can now start coding."
            else:
                await self._pause(TOOL_S.get(name, 0.1))
                content = self._local_tool(name, args)
        except ToolError as exc:
            content, is_error = f"<tool_use_error>{exc}</tool_use_error>", True
        return {
            "type": "tool_result",
            "tool_use_id": use["id"],
            "content": content,
            "is_error": is_error,
        }

    def _local_tool(self, name: str, args: dict[str, Any]) -> str:
        ws = self.workspace
        tools: dict[str, Callable[..., str]] = {
            "Read": ws.read,
            "Edit": ws.edit,
            "Write": ws.write,
            "Glob": ws.glob,
            "Grep": ws.grep,
            "Bash": ws.bash,
        }
        if name not in tools:
            raise ToolError(f"No such tool available: {name}")
        try:
            return tools[name](**args)
        except TypeError as exc:
            raise ToolError(f"InputValidationError: {exc}") from None

    # -- side conversations ---------------------------------------------------
    async def _explore(self, task: str) -> str:
        """An Explore subagent: its own conversation, model, prompt and agent-id header."""
        agent_id = "a" + secrets.token_hex(8)
        history: list[dict[str, Any]] = [_user(_reminder(), task)]
        for _ in range(MAX_TURNS):
            body = {
                "model": self.small_model,
                "messages": _with_cache_mark(history),
                "system": _system(EXPLORE_PROMPT, subagent=True),
                "tools": [TOOLS[n] for n in EXPLORE_TOOLS],
                "metadata": self._metadata(),
                "max_tokens": 32000,
                "thinking": {"type": "disabled"},
                "temperature": 1,
                "stream": True,
            }
            answer = await self._call("explore", body, agent_id=agent_id)
            history.append({"role": "assistant", "content": answer.content})
            if not answer.tool_uses:
                return answer.text
            results, _ = await self._run_tools(answer.tool_uses)
            history.append({"role": "user", "content": results})
        raise AgentError(f"the explore subagent was still calling tools after {MAX_TURNS} turns")

    async def _title(self, prompt: str) -> None:
        body = {
            "model": self.small_model,
            "messages": [
                _user(f"<session>\n{prompt}\n</session>\n\nWrite the title in the user's language.")
            ],
            "system": _system(TITLE_PROMPT, cache=False),
            "tools": [],
            "metadata": self._metadata(),
            "max_tokens": 32000,
            "thinking": {"type": "disabled"},
            "temperature": 1,
            "output_config": {
                "format": {
                    "type": "json_schema",
                    "schema": {
                        "type": "object",
                        "properties": {"title": {"type": "string"}},
                        "required": ["title"],
                        "additionalProperties": False,
                    },
                }
            },
            "stream": True,
        }
        await self._call("background", body, betas=BETAS + ",structured-outputs-2025-12-15")

    async def _search(self, query: str) -> str:
        body = {
            "model": self.main_model,
            "messages": [_user(f"Search the web for: {query}")],
            "system": _system(SEARCH_PROMPT, cache=False),
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
            "tool_choice": {"type": "tool", "name": "web_search"},
            "metadata": self._metadata(),
            "max_tokens": 32000,
            "thinking": {"type": "disabled"},
            "output_config": {"effort": "high"},
            "stream": True,
        }
        answer = await self._call("search", body)
        links = [
            f"- {r['title']}: {r['url']}"
            for b in answer.content
            if b.get("type") == "web_search_tool_result"
            for r in b.get("content") or []
            if isinstance(r, dict)
        ]
        return f'Web search results for query: "{query}"\n\n{answer.text}\n' + "\n".join(links)

    async def _compact(self, history: list[dict[str, Any]]) -> str:
        messages = [*history, _user(COMPACT_INSTRUCTION)]
        answer = await self._call("compact", self._main_body(messages))
        return answer.text

    # -- requests -------------------------------------------------------------
    def _metadata(self) -> dict[str, str]:
        user = {"device_id": self.device_id, "account_uuid": "", "session_id": self.session_id}
        return {"user_id": json.dumps(user, separators=(",", ":"))}

    def _main_body(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "model": self.main_model,
            "messages": _with_cache_mark(history),
            "system": _system(MAIN_PROMPT),
            "tools": [TOOLS[n] for n in MAIN_TOOLS],
            "metadata": self._metadata(),
            "max_tokens": 32000,
            "thinking": {"type": "adaptive"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "high"},
            "stream": True,
        }

    def _headers(self, betas: str, agent_id: str | None, retry: int) -> dict[str, str]:
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "user-agent": f"claude-cli/{CLAUDE_VERSION} (external, cli)",
            "x-app": "cli",
            "x-api-key": self.api_key,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": betas,
            "x-claude-code-session-id": self.session_id,
            "x-stainless-retry-count": str(retry),
        }
        if agent_id:
            headers["x-claude-code-agent-id"] = agent_id
        return headers

    async def _call(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        agent_id: str | None = None,
        betas: str = BETAS,
    ) -> _Answer:
        """POST one Messages request (streamed), retrying transient errors like the real CLI."""
        assert self._http is not None
        record = SentCall(kind=kind, model=str(body["model"]), agent_id=agent_id)
        data = json.dumps(body, ensure_ascii=False).encode()
        url = f"{self.base_url}/v1/messages?beta=true"
        t0 = time.monotonic()
        try:
            for retry in range(3):
                record.retries = retry
                async with self._http.post(
                    url, data=data, headers=self._headers(betas, agent_id, retry)
                ) as resp:
                    record.status = resp.status
                    if resp.status == 200:
                        return await self._read_stream(resp, record, t0)
                    text = await resp.text()
                    record.error = _error_message(text)
                    if resp.status not in RETRYABLE:
                        break
                await asyncio.sleep(0.5 * (retry + 1) / self.speed)
            raise AgentError(f"{kind} call failed: HTTP {record.status}: {record.error}")
        finally:
            record.total_s = time.monotonic() - t0
            self.report.calls.append(record)
            if self.on_call is not None:
                self.on_call(record)

    async def _read_stream(
        self, resp: aiohttp.ClientResponse, record: SentCall, t0: float
    ) -> _Answer:
        blocks: dict[int, dict[str, Any]] = {}
        partial: dict[int, str] = {}
        stop: str | None = None
        async for event, data in _sse_events(resp):
            if record.ttfb_s is None:
                record.ttfb_s = time.monotonic() - t0
            kind = data.get("type", event)
            if kind == "message_start":
                message = data.get("message") or {}
                record.answered_model = message.get("model")
                _take_usage(record, message.get("usage") or {})
            elif kind == "content_block_start":
                blocks[data["index"]] = dict(data["content_block"])
            elif kind == "content_block_delta":
                block, delta = blocks[data["index"]], data["delta"]
                dtype = delta.get("type")
                if dtype == "text_delta":
                    block["text"] = block.get("text", "") + delta["text"]
                elif dtype == "thinking_delta":
                    block["thinking"] = block.get("thinking", "") + delta["thinking"]
                elif dtype == "signature_delta":
                    block["signature"] = delta["signature"]
                elif dtype == "input_json_delta":
                    partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
            elif kind == "content_block_stop":
                index = data["index"]
                if index in partial:
                    blocks[index]["input"] = json.loads(partial.pop(index) or "{}")
            elif kind == "message_delta":
                stop = (data.get("delta") or {}).get("stop_reason")
                _take_usage(record, data.get("usage") or {})
            elif kind == "error":
                err = data.get("error") or {}
                record.status, record.error = 500, str(err.get("message"))
                raise AgentError(f"{record.kind} call: stream error: {record.error}")
        record.stop_reason = stop
        if stop is None:
            record.status, record.error = 502, "the stream ended without a stop reason"
            raise AgentError(f"{record.kind} call: {record.error}")
        return _Answer([blocks[i] for i in sorted(blocks)], stop)


# ---------------------------------------------------------------- helpers


def _reminder() -> str:
    return (
        "<system-reminder>\nContext for this session:\n# currentDate\nToday's date is "
        f"{time.strftime('%Y-%m-%d')}.\n</system-reminder>"
    )


def _user(*texts: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": t} for t in texts]}


def _with_cache_mark(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the conversation with one cache breakpoint, on its last user-side block."""
    out: list[dict[str, Any]] = []
    for message in history:
        content = message["content"]
        if isinstance(content, list):
            content = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
        out.append({**message, "content": content})
    for message in reversed(out):
        if message["role"] == "user" and isinstance(message["content"], list):
            message["content"][-1] = {
                **message["content"][-1],
                "cache_control": {"type": "ephemeral"},
            }
            break
    return out


def _take_usage(record: SentCall, usage: dict[str, Any]) -> None:
    record.input_tokens = usage.get("input_tokens", record.input_tokens) or 0
    record.output_tokens = usage.get("output_tokens", record.output_tokens) or 0
    record.cache_read_tokens = usage.get("cache_read_input_tokens", record.cache_read_tokens) or 0
    record.cache_write_tokens = (
        usage.get("cache_creation_input_tokens", record.cache_write_tokens) or 0
    )


def _error_message(text: str) -> str:
    try:
        doc = json.loads(text)
        return str((doc.get("error") or {}).get("message") or text)[:300]
    except (ValueError, AttributeError):
        return text[:300]


async def _sse_events(resp: aiohttp.ClientResponse) -> Any:
    """(event name, parsed data) for each server-sent event of a response."""
    event: str | None = None
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                if payload != "[DONE]":
                    yield event, json.loads(payload)
            event = None
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield event, json.loads("\n".join(data))


def run_agent(base_url: str, speed: float = 1.0) -> AgentReport:
    """Play the session against `base_url` on a fresh event loop (for scripts)."""
    return asyncio.run(ScriptedAgent(base_url, speed=speed).run())
