"""Step outcomes: what the request for step t+1 reveals about step t, on every API surface.

An agent's request carries its conversation, and the newest turn of it answers the previous
step: the results of the tool calls that step made, and whatever the user typed. This module
reads that tail on each surface into `Exchange`s (one assistant turn's tool calls, then the
results and user text that followed it) and labels the newest one:

- **failed**: a tool result says so. Anthropic flags it (`is_error`); the other surfaces
  carry no flag, so their results are read: a Gemini `functionResponse` with an `error`
  field, or a shell's exit code in the output (Codex: "Process exited with code 2",
  "Exit code: 1", `"exit_code": 1`; Gemini CLI: "Exit Code: 2"); a Chat tool message that
  starts with "Error" or is JSON with an `error` field; on any surface, Cline's JSON answer
  with an item whose `success` is false.
- **interrupted**: the user stopped the step, or refused one of its tool calls (Claude Code's
  "[Request interrupted by user"; Codex's "<turn_aborted>" note and "aborted by user" or
  "rejected by user" outputs; Gemini CLI's "[Operation Cancelled]" errors: see
  INTERRUPTED_MARKERS and REJECTED_MARKERS).
- **succeeded**: tool results came back and none failed.
- none of these (the caller records `unknown`): nothing in the request answers the step.

Beside the label, the signals that show an agent struggling, each recorded by name
(`SIGNALS`) with a line of evidence: the same tool call as the step before, an edit retried
on a file whose edit failed the step before, the same error twice, an interrupt, a tool call
the user rejected, and a corrective user message right after the step (`is_corrective`).

The evidence is stored, so it copies no conversation: a shell's failure is its exit code, a
tool's own error its first line (Claude Code's "String to replace not found in file."), a
corrective message the opener it matched — never the user's words or a command's output.

Pure functions over the Call view; only the conversation's last few turns are read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES, Call

SUCCEEDED, FAILED, INTERRUPTED, UNKNOWN = "succeeded", "failed", "interrupted", "unknown"

# The struggle signals, by the name stored in calls.signals.
REPEATED_CALL = "repeated_call"  # a tool call with the same name and arguments as the step before
EDIT_RETRY = "edit_retry"  # an edit of a file whose edit failed the step before
SAME_ERROR = "same_error"  # a tool failed with the error it failed with the step before
INTERRUPT = "interrupt"  # the user stopped the step
REJECTED = "rejected"  # the user refused a tool call the step made
CORRECTIVE = "corrective"  # the user's next words correct the step ("no, ...", "stop")
SIGNALS = (REPEATED_CALL, EDIT_RETRY, SAME_ERROR, INTERRUPT, REJECTED, CORRECTIVE)
# The signals that are a person correcting the agent (a report counts them as corrections).
HUMAN_SIGNALS = frozenset({INTERRUPT, REJECTED, CORRECTIVE})

# What each agent sends after the user stopped a step, read in its next request (the agents'
# own words, found in their shipped code). A stopped step is `interrupted`: not evidence about
# the model (route/learn.py).
# In the result of a call the interrupt stopped:
STOPPED_CALL_MARKERS = (
    "aborted by user",  # Codex: the call's output ("command aborted by user", "... after 2.1s")
    "[Operation Cancelled]",  # Gemini CLI: the error of the call's functionResponse
)
INTERRUPTED_MARKERS = (
    "[Request interrupted by user",  # Claude Code: a text of the user's next turn
    "<turn_aborted>",  # Codex: the user message it adds after a turn the user interrupted
    *STOPPED_CALL_MARKERS,
)
# A tool call the user refused at its permission prompt.
REJECTED_MARKERS = (
    "The user doesn't want to proceed with this tool use",  # Claude Code
    "The user doesn't want to take this action right now",  # Claude Code
    # Codex; not its "rejected by user approval settings", which the sandbox's policy decides.
    "exec command rejected by user",
    "patch rejected by user",
    "user rejected MCP tool call",  # Codex
    "User denied execution",  # Gemini CLI: "[Operation Cancelled] Reason: User denied ..."
)
# Rejections that stop the step with no interrupt note beside them (Claude Code sends its
# "[Request interrupted by user for tool use]" with a rejection; Codex and Gemini CLI do not).
STOPPING_REJECTIONS = tuple(m for m in REJECTED_MARKERS if not m.startswith("The user doesn't"))
# A short user message that opens with one of these corrects the step before it. Kept small
# on purpose: a false "corrective" costs a model its reputation. Matched case-insensitively,
# as whole words, at the start of a message of at most CORRECTIVE_MAX_CHARS.
CORRECTIVE_OPENERS = (
    "no",
    "nope",
    "don't",
    "do not",
    "stop",
    "wait",
    "undo",
    "revert",
    "wrong",
    "that's wrong",
    "that is wrong",
    "that's not",
    "that is not",
    "not what i",
)
# Openers that are not corrections although they start like one.
NOT_CORRECTIVE = ("no problem", "no worries", "no rush")
CORRECTIVE_MAX_CHARS = 300

# Tool names that edit files (lower case), and the argument names that hold the file.
EDIT_TOOLS = frozenset(
    {
        "edit",
        "multiedit",
        "write",
        "notebookedit",
        "str_replace",
        "str_replace_editor",
        "str_replace_based_edit_tool",
        "replace",
        "write_file",
        "edit_file",
        "apply_patch",
    }
)
FILE_ARGS = ("file_path", "path", "absolute_path", "filename", "target_file", "notebook_path")
_PATCH_FILE = re.compile(r"^\*\*\* (?:Update|Add|Delete) File: (.+)$", re.MULTILINE)

# A shell's exit status in a tool's output, as Codex and Gemini CLI write it.
_EXIT_CODE = re.compile(
    r"(?:(?:Process|Command) exited with code|Exit code:?|\"exit_code\"\s*:)\s*(-?\d+)",
    re.IGNORECASE,
)
# Claude Code wraps the errors of its own checks (an Edit whose text is not in the file).
_TOOL_USE_ERROR = re.compile(r"</?tool_use_error>")
# Lines of a shell tool's output that say how it ran, not what went wrong.
_RUN_LINE = re.compile(
    r"^(?:Chunk ID|Wall time|Process exited with code|Original token count|Exit code|"
    r"Process Group PGID|Background PIDs|Signal|Output:\s*$|</?[a-z_]+>$)",
    re.IGNORECASE,
)
_ERROR_TEXT = re.compile(r"^\s*(?:error\b|<tool_use_error>)", re.IGNORECASE)
# Where exit codes are looked for: the head and the tail of an output (never all of a big one).
_HEAD, _TAIL = 4096, 1024
# How many of the conversation's newest messages are read.
_TAIL_MESSAGES = 12
_EVIDENCE_CHARS = 120


@dataclass(frozen=True)
class ToolCall:
    """One tool call of an assistant turn: its id, name and arguments (canonical JSON)."""

    id: str | None
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolResult:
    """One tool call's result: whether it failed, and its error's first line when it did."""

    id: str | None
    text: str
    failed: bool
    error: str | None = None


@dataclass
class Exchange:
    """One assistant turn's tool calls, then the results and user text that came after it."""

    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    user_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What a request reveals about the step before it.

    `label` is one of succeeded | failed | interrupted, or None when nothing answers the step
    (recorded as unknown); `signals` names the struggle signals seen (SIGNALS), `evidence`
    says in a line what was read.
    """

    label: str | None
    signals: tuple[str, ...] = ()
    evidence: str = ""


def read_outcome(call: Call) -> Outcome:
    """The outcome of the step that the newest turn of this request answers."""
    exchanges = exchanges_of(call)
    if not exchanges:
        return Outcome(None)
    last = exchanges[-1]
    before = exchanges[-2] if len(exchanges) > 1 else None
    texts = last.user_texts + [r.text for r in last.results]
    notes: list[str] = []
    signals: list[str] = []
    failed = [r for r in last.results if r.failed]
    rejected = [r for r in last.results if _has(r.text, REJECTED_MARKERS)]
    label: str | None
    if any(_has(t, INTERRUPTED_MARKERS) and not _has(t, REJECTED_MARKERS) for t in texts):
        label = INTERRUPTED
        signals.append(INTERRUPT)
        notes.append("the user interrupted it")
    elif any(_has(r.text, STOPPING_REJECTIONS) for r in rejected):
        label = INTERRUPTED
    elif last.results:
        label = FAILED if failed else SUCCEEDED
    else:
        label = None
    names = {c.id: c.name for c in last.calls}
    # A call the user stopped or refused did not fail on its own: said below, not as a failure.
    for result in (r for r in failed if r not in rejected and not _stopped(r)):
        name = names.get(result.id) or "a tool"
        notes.append(f"{name} failed: {_short(result.error or result.text)}")
    if rejected:
        signals.append(REJECTED)
        notes.append("the user rejected a tool call")
    if before is not None:
        _compare(last, before, signals, notes)
    opener = next(filter(None, map(corrective_opener, last.user_texts)), None)
    if opener is not None:
        signals.append(CORRECTIVE)
        notes.append(f'a corrective message ("{opener}...")')
    if label == SUCCEEDED and not notes:
        notes.append(f"{len(last.results)} tool result(s), none failed")
    return Outcome(label, tuple(signals), "; ".join(notes))


def _has(text: str, markers: tuple[str, ...]) -> bool:
    return any(marker in text for marker in markers)


def _stopped(result: ToolResult) -> bool:
    """A tool result that says the user interrupted the call (Codex's, Gemini CLI's)."""
    return _has(result.text, STOPPED_CALL_MARKERS)


def last_step_outcome(call: Call) -> str | None:
    """The label alone: succeeded | failed | interrupted, or None when nothing answers the step."""
    return read_outcome(call).label


def last_tool_failed(call: Call) -> bool | None:
    """Whether the newest tool results report an error (None when there are none to read)."""
    exchanges = exchanges_of(call)
    if not exchanges or not exchanges[-1].results:
        return None
    return any(r.failed for r in exchanges[-1].results)


def is_corrective(text: str) -> bool:
    """Whether a user's message corrects the step before it (see CORRECTIVE_OPENERS)."""
    return corrective_opener(text) is not None


def corrective_opener(text: str) -> str | None:
    """The CORRECTIVE_OPENERS entry a user's message opens with (the longest), or None."""
    said = text.strip().lower().replace("\u2019", "'")
    if not said or len(said) > CORRECTIVE_MAX_CHARS or said.startswith(NOT_CORRECTIVE):
        return None
    found = None
    for opener in CORRECTIVE_OPENERS:
        if said.startswith(opener) and (
            len(said) == len(opener) or not said[len(opener)].isalnum()
        ):
            found = opener if found is None or len(opener) > len(found) else found
    return found


def output_failed(text: str) -> tuple[bool, str | None]:
    """Whether a tool's output text reports a failure (a non-zero exit code), and which."""
    sample = text if len(text) <= _HEAD + _TAIL else text[:_HEAD] + "\n" + text[-_TAIL:]
    for found in _EXIT_CODE.finditer(sample):
        if int(found.group(1)) != 0:
            return True, f"exit code {found.group(1)}"
    return False, None


def _compare(last: Exchange, before: Exchange, signals: list[str], notes: list[str]) -> None:
    """The signals of the newest step measured against the step before it."""
    earlier = {(c.name, c.arguments) for c in before.calls}
    repeated = [c for c in last.calls if (c.name, c.arguments) in earlier]
    if repeated:
        signals.append(REPEATED_CALL)
        notes.append(f"the same {repeated[0].name} call as the step before")
    failed_before = {r.id for r in before.results if r.failed}
    failed_files = {
        path
        for c in before.calls
        if c.id in failed_before
        for path in _edited_files(c)  # the edits of the step before that failed
    }
    retried = [p for c in last.calls for p in _edited_files(c) if p in failed_files]
    if retried:
        signals.append(EDIT_RETRY)
        notes.append(f"an edit of {_short(retried[0])} again after it failed")
    errors_before = {_error_key(r) for r in before.results if r.failed}
    if any(_error_key(r) in errors_before for r in last.results if r.failed):
        signals.append(SAME_ERROR)
        notes.append("the same error as the step before")


def _edited_files(call: ToolCall) -> list[str]:
    if call.name.lower() not in EDIT_TOOLS:
        return []
    try:
        args = json.loads(call.arguments)
    except ValueError:
        args = call.arguments
    if isinstance(args, dict):
        for key in FILE_ARGS:
            if isinstance(args.get(key), str):
                return [args[key]]
        args = args.get("input") or args.get("patch") or ""
    return _PATCH_FILE.findall(args) if isinstance(args, str) else []


def _norm(text: str) -> str:
    return " ".join(text.split())[:200]


def _error_key(result: ToolResult) -> str:
    return _norm(error_line(result.text) or result.text)


def error_line(text: str) -> str:
    """The line of a tool's failure that says what went wrong (not how the shell ran)."""
    for line in text.splitlines():
        line = line.strip()
        line = line.removeprefix("Output:").strip()
        if line and not _RUN_LINE.match(line):
            return line
    return ""


def _short(text: str) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= _EVIDENCE_CHARS else line[: _EVIDENCE_CHARS - 1] + "…"


def conversation_fingerprint(call: Call) -> str | None:
    """A conversation's name from its first message, for agents that send no id (Gemini CLI).

    A conversation keeps its first message while it grows, and a subagent starts from its own;
    two conversations that start with the very same message share it (None: no messages).
    """
    messages = call.messages
    if not messages:
        return None
    first = json.dumps(messages[0], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "first-message-" + hashlib.sha256(first.encode()).hexdigest()[:16]


# -- reading each surface's conversation -------------------------------------------------


def exchanges_of(call: Call) -> list[Exchange]:
    """The tail of the call's conversation as exchanges, oldest first."""
    messages = call.messages[-_TAIL_MESSAGES:]
    reader = {
        ANTHROPIC: _anthropic,
        OPENAI_CHAT: _chat,
        OPENAI_RESPONSES: _responses,
        GEMINI: _gemini,
    }.get(call.surface)
    if reader is None:
        return []
    out: list[Exchange] = []
    for item in messages:
        if isinstance(item, dict):
            reader(item, out)
    return out


def _current(out: list[Exchange]) -> Exchange:
    if not out:
        out.append(Exchange())
    return out[-1]


def _args(value: Any) -> str:
    """Arguments as canonical JSON, whether they came as an object or a JSON string."""
    if isinstance(value, str):
        try:
            parsed: Any = json.loads(value)
        except ValueError:
            return value
        value = parsed
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part) for part in content)
    if isinstance(content, dict):
        for key in ("text", "output", "content"):
            if key in content:
                return _text_of(content[key])
    return ""


def _user_text(out: list[Exchange], text: str) -> None:
    # Notes the agent adds to the user's turn (<system-reminder>, <environment_context>...)
    # are not the user's words; one that says the user interrupted (Codex's <turn_aborted>)
    # is kept for that.
    note = text.lstrip().startswith("<")
    if text.strip() and (not note or _has(text, INTERRUPTED_MARKERS)):
        _current(out).user_texts.append(text)


def _envelope_failure(text: str) -> str | None:
    """The error of a Cline tool result that failed, or None.

    Cline's tools answer with JSON, one `{"query", "result", "error", "success"}` per item
    they were asked for (run_commands, read_files, editor, ...), and set no error flag when an
    item fails: `success` is false and `error` says why ("Command exited with code 1").
    """
    if not text.lstrip().startswith(("[", "{")):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if isinstance(item, dict) and "query" in item and item.get("success") is False:
            error = item.get("error")
            message = error if isinstance(error, str) and error else "success: false"
            failed, status = output_failed(message)
            return status if failed and status else error_line(message) or message
    return None


def _from_output(call_id: str | None, text: str) -> ToolResult:
    failed, status = output_failed(text)
    if not failed:
        error = _envelope_failure(text)
        return ToolResult(call_id, text, error is not None, error)
    # The output's own words stay out of the evidence (it is stored); its exit code says it.
    return ToolResult(call_id, text, True, status)


def _anthropic(message: dict[str, Any], out: list[Exchange]) -> None:
    blocks = message.get("content")
    if message.get("role") == "assistant":
        out.append(Exchange())
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                out[-1].calls.append(
                    ToolCall(block.get("id"), str(block.get("name")), _args(block.get("input")))
                )
        return
    if message.get("role") != "user":
        return  # Claude Code's role:"system" notes after the tool results
    if isinstance(blocks, str):
        _user_text(out, blocks)
        return
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            text = _text_of(block.get("content"))
            failed = block.get("is_error") is True
            error = _TOOL_USE_ERROR.sub("", text).strip() if failed else _envelope_failure(text)
            failed = failed or error is not None
            _current(out).results.append(ToolResult(block.get("tool_use_id"), text, failed, error))
        elif block.get("type") == "text":
            _user_text(out, str(block.get("text", "")))


def _chat(message: dict[str, Any], out: list[Exchange]) -> None:
    role = message.get("role")
    if role == "assistant":
        out.append(Exchange())
        for tool_call in message.get("tool_calls") or []:
            fn = tool_call.get("function") if isinstance(tool_call, dict) else None
            if isinstance(fn, dict):
                out[-1].calls.append(
                    ToolCall(tool_call.get("id"), str(fn.get("name")), _args(fn.get("arguments")))
                )
    elif role == "tool":
        text = _text_of(message.get("content"))
        result = _from_output(message.get("tool_call_id"), text)
        if not result.failed and (_ERROR_TEXT.match(text) or _json_error(text)):
            result = ToolResult(result.id, text, True, text)
        _current(out).results.append(result)
    elif role == "user":
        _user_text(out, _text_of(message.get("content")))


def _json_error(text: str) -> bool:
    if not text.lstrip().startswith("{"):
        return False
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc.get("error"))


_RESPONSES_CALLS = {"function_call", "custom_tool_call", "local_shell_call"}
_RESPONSES_OUTPUTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}


def _responses(item: dict[str, Any], out: list[Exchange]) -> None:
    kind = item.get("type", "message")
    role = item.get("role")
    if kind in _RESPONSES_CALLS:
        # A turn's calls come one item each: a call after results or user text opens a turn.
        if not out or out[-1].results or out[-1].user_texts:
            out.append(Exchange())
        arguments = item.get("arguments", item.get("input", item.get("action")))
        name = str(item.get("name") or kind)
        out[-1].calls.append(ToolCall(item.get("call_id"), name, _args(arguments)))
    elif kind in _RESPONSES_OUTPUTS:
        _current(out).results.append(_from_output(item.get("call_id"), _text_of(item)))
    elif kind == "message" and role == "assistant":
        out.append(Exchange())
    elif kind == "message" and role == "user":
        content = item.get("content")
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            _user_text(out, _text_of(part))


def _gemini(content: dict[str, Any], out: list[Exchange]) -> None:
    parts = content.get("parts")
    parts = parts if isinstance(parts, list) else []
    if content.get("role") == "model":
        out.append(Exchange())
        for part in parts:
            fn = part.get("functionCall") if isinstance(part, dict) else None
            if isinstance(fn, dict):
                out[-1].calls.append(
                    ToolCall(
                        fn.get("id") or fn.get("name"), str(fn.get("name")), _args(fn.get("args"))
                    )
                )
        return
    for part in parts:
        if not isinstance(part, dict):
            continue
        response = part.get("functionResponse")
        if isinstance(response, dict):
            answer = response.get("response")
            call_id = response.get("id") or response.get("name")
            error = answer.get("error") if isinstance(answer, dict) else None
            if error:
                text = _text_of(error) or json.dumps(error)
                _current(out).results.append(ToolResult(call_id, text, True, text))
            else:
                _current(out).results.append(_from_output(call_id, _text_of(answer)))
        elif isinstance(part.get("text"), str):
            _user_text(out, part["text"])
