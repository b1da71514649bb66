"""Codex CLI's step markers: how to tell its turns, compactions and subagents apart.

Observed on Codex CLI 0.169, and held on 0.171 (`codex exec` against a local server): every
model call is a streamed `POST /v1/responses` carrying

- `originator: codex_exec` (`codex-tui` from the interactive client) and
  `user-agent: <originator>/<version> ...`;
- `x-codex-turn-metadata`, a JSON object with session_id, thread_id, turn_id, agent_name
  ("/root" for the main agent) and `request_kind`: "turn", or "compaction" when Codex asks
  the model to summarise the conversation;
- `x-openai-subagent` on calls made for a subagent, its value naming the kind: "review"
  seen from `codex review` (with `subagent_kind: "review"` in the turn metadata); the other
  values (compact, thread_spawn, memory_consolidation, guardian) are names found in the
  0.169 binary, not yet seen on the wire.

Compaction (seen with a low `model_auto_compact_token_limit`) is an ordinary
`POST /v1/responses` whose turn metadata says `request_kind: "compaction"`.

The interactive client (`originator: codex-tui`) also names each new conversation: a call of
its own thread with `thread_source: "thread_title"` in the turn metadata and a
`text.format` JSON schema whose only property is `title`.

Each marker is a small, named check; a Codex request that matches none is a main-loop turn
and the evidence says so. Pure: reads the Call view only.
"""

from __future__ import annotations

import json
from typing import Any

from agentwrap.route.step import Step
from agentwrap.wire.call import OPENAI_RESPONSES, Call

TURN_METADATA_HEADER = "x-codex-turn-metadata"
SUBAGENT_HEADER = "x-openai-subagent"
MEMGEN_HEADER = "x-openai-memgen-request"
ORIGINATOR_HEADER = "originator"
ROOT_AGENT = "/root"

# x-openai-subagent values → step kind. Work the user asked for (a review, a spawned agent)
# is a subagent; Codex's own housekeeping runs in the background.
SUBAGENT_KINDS = {
    "compact": "compact",
    "memory_consolidation": "background",
    "guardian": "background",
}


def turn_metadata(call: Call) -> dict[str, Any]:
    """The parsed x-codex-turn-metadata header ({} when absent or not a JSON object)."""
    raw = call.header(TURN_METADATA_HEADER)
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def is_codex(call: Call) -> bool:
    """Whether the request looks like it came from the Codex CLI."""
    originator = (call.header(ORIGINATOR_HEADER) or "").lower()
    user_agent = (call.header("user-agent") or "").lower()
    return (
        originator.startswith("codex")
        or user_agent.startswith("codex")
        or call.header(TURN_METADATA_HEADER) is not None
    )


def classify(call: Call) -> Step | None:
    """The step kind of a Codex request, or None when it is not a Codex Responses call."""
    if call.surface != OPENAI_RESPONSES or not is_codex(call):
        return None
    meta = turn_metadata(call)
    subagent = (call.header(SUBAGENT_HEADER) or "").strip()
    kind = meta.get("request_kind")
    if kind == "compaction":
        where = f"header {SUBAGENT_HEADER}: {subagent} + " if subagent else ""
        return Step(
            "compact",
            f"{where}turn metadata request_kind=compaction → compact",
            main_loop=not subagent,
        )
    if subagent:
        step = SUBAGENT_KINDS.get(subagent.lower(), "subagent")
        return Step(
            step,
            f"header {SUBAGENT_HEADER}: {subagent} → {step}",
            subagent_type=subagent if step == "subagent" else None,
        )
    title = _title_request(call, meta)
    if title:
        return Step("background", title)
    if call.header(MEMGEN_HEADER) is not None:
        return Step("background", f"header {MEMGEN_HEADER} (memory generation) → background")
    agent_name = meta.get("agent_name")
    if isinstance(agent_name, str) and agent_name not in ("", ROOT_AGENT):
        return Step(
            "subagent",
            f"turn metadata agent_name={agent_name} (not {ROOT_AGENT}) → subagent",
            subagent_type=agent_name,
        )
    if kind == "turn":
        return Step(
            "implement", "turn metadata request_kind=turn (main agent) → implement", main_loop=True
        )
    return Step(
        "implement",
        "Codex request with no turn, compaction or subagent marker → implement (default)",
        main_loop=True,
        matched=False,
    )


def _title_request(call: Call, meta: dict[str, Any]) -> str | None:
    if meta.get("thread_source") == "thread_title":
        return "turn metadata thread_source=thread_title (naming the session) → background"
    text = call.body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(props, dict) and set(props) == {"title"}:
        return "text.format JSON schema asking only for a title → background"
    return None
