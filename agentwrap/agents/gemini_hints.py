"""Gemini CLI's step markers: its routing call, main loop, subagents and housekeeping.

Observed on Gemini CLI 0.61.0 (`gemini -p`, API-key auth, GOOGLE_GEMINI_BASE_URL pointing at
a local server). Every call carries `user-agent: GeminiCLI-<surface>/<version>/<model> (...)`
("GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; terminal)", even headless),
`x-goog-api-client: google-genai-sdk/...` and the key in `x-goog-api-key`. Per prompt:

- first a model-routing call: `POST /v1beta/models/<flash-lite>:generateContent` whose system
  instruction is a "Task Routing AI" and whose `generationConfig.responseJsonSchema` asks for
  `complexity_reasoning` and `complexity_score` (the CLI then picks the main model by the
  score) → background;
- then the main loop, `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`, system
  instruction "You are Gemini CLI, an autonomous (interactive: "an interactive") CLI agent
  ...", tools including
  `invoke_agent`; each tool result is sent back on the same endpoint → implement;
- a subagent (the main loop calling `invoke_agent`, e.g. codebase_investigator) runs its own
  `streamGenerateContent` loop with a system instruction of its own ("You are **Codebase
  Investigator**, ...") and a `complete_task` tool it must call to finish → subagent;
- chat compression (seen in the interactive client, with a low `model.compressionThreshold`,
  before the prompt after one whose reply reported a prompt over the threshold): two one-shot
  `generateContent` calls to the main model family whose system instruction asks to distil
  the history into a `<state_snapshot>`, the second asking in its last user turn to
  "Critically evaluate the <state_snapshot>" → compact.

Found in the 0.61 bundle, not yet seen on the wire: the next-speaker check
(`responseJsonSchema` with `next_speaker`) and loop detection
(`unproductive_state_analysis`) → background; the web search tool
(`tools: [{googleSearch: {}}]`) → search; the web fetch tool (`urlContext`) and any other
one-shot `generateContent` (session summaries, edit fixes) → background.

Pure: reads the Call view only.
"""

from __future__ import annotations

import re
from typing import Any

from agentwrap.route.step import Step
from agentwrap.wire.call import GEMINI, Call

USER_AGENT_PREFIX = "geminicli"
SUBAGENT_DONE_TOOL = "complete_task"  # every Gemini CLI subagent finishes through it
SNAPSHOT_TAG = "<state_snapshot>"
_NAMED_AGENT = re.compile(r"You are \*\*([^*]{1,60})\*\*")


def is_gemini_cli(call: Call) -> bool:
    """Whether the request looks like it came from Gemini CLI (its user-agent)."""
    return (call.header("user-agent") or "").lower().startswith(USER_AGENT_PREFIX)


def _system_text(call: Call) -> str:
    sys = call.body.get("systemInstruction") or call.body.get("system_instruction")
    if isinstance(sys, str):
        return sys
    if isinstance(sys, dict):
        parts = sys.get("parts")
        if isinstance(parts, list):
            return "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        text = sys.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _schema_properties(call: Call) -> set[str]:
    config = call.body.get("generationConfig")
    if not isinstance(config, dict):
        return set()
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    props = schema.get("properties") if isinstance(schema, dict) else None
    return set(props) if isinstance(props, dict) else set()


def _tool_names(call: Call) -> tuple[set[str], set[str]]:
    """(function names declared, built-in tool keys such as googleSearch)."""
    functions: set[str] = set()
    builtins: set[str] = set()
    for tool in call.tools:
        if not isinstance(tool, dict):
            continue
        for key, value in tool.items():
            if key in ("functionDeclarations", "function_declarations") and isinstance(value, list):
                functions |= {d["name"] for d in value if isinstance(d, dict) and "name" in d}
            else:
                builtins.add(key)
    return functions, builtins


def _last_user_text(call: Call) -> str:
    for content in reversed(call.messages):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            parts: Any = content.get("parts")
            if isinstance(parts, list):
                return "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            return ""
    return ""


def classify(call: Call) -> Step | None:
    """The step kind of a Gemini CLI request, or None when it is not one."""
    if call.surface != GEMINI or not is_gemini_cli(call):
        return None
    props = _schema_properties(call)
    if "complexity_score" in props:
        return Step(
            "background", "JSON schema asking for a complexity_score (model routing) → background"
        )
    system = _system_text(call)
    if SNAPSHOT_TAG in system or SNAPSHOT_TAG in _last_user_text(call):
        return Step("compact", f"asks for a {SNAPSHOT_TAG} of the history (compression) → compact")
    if "next_speaker" in props:
        return Step(
            "background", "JSON schema asking for next_speaker (next-speaker check) → background"
        )
    if "unproductive_state_analysis" in props:
        return Step(
            "background",
            "JSON schema asking for unproductive_state_analysis (loop check) → background",
        )
    functions, builtins = _tool_names(call)
    if "googleSearch" in builtins or "google_search" in builtins:
        return Step("search", "built-in googleSearch tool (web search) → search")
    if SUBAGENT_DONE_TOOL in functions:
        named = _NAMED_AGENT.search(system[:400])
        who = named.group(1).strip() if named else None
        where = f" (system instruction names {who})" if who else ""
        return Step(
            "subagent",
            f"tool {SUBAGENT_DONE_TOOL} declared (a subagent's loop){where} → subagent",
            subagent_type=who,
        )
    if call.endpoint == "stream_generate":
        return Step(
            "implement",
            "streamGenerateContent from Gemini CLI (its main loop) → implement",
            main_loop=True,
        )
    return Step(
        "background",
        "one-shot generateContent from Gemini CLI (a helper call: summary, fix-up, fetch) → background",
    )
