"""The canonical conversation and stream-event model every API surface converts to and from.

Each surface (anthropic, openai-chat, openai-responses, gemini) has one parser into these types
and one emitter out of them: 2N converters instead of N². The model follows Anthropic's shape
where a choice had to be made (stop reasons, usage semantics, content blocks, stream events),
because it is the richest of the four.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from agentwrap.wire.common import Usage

# Canonical stop reasons (Anthropic's names).
END_TURN = "end_turn"
TOOL_USE = "tool_use"
MAX_TOKENS = "max_tokens"
STOP_SEQUENCE = "stop_sequence"
PAUSE_TURN = "pause_turn"
REFUSAL = "refusal"
STOP_REASONS = (END_TURN, TOOL_USE, MAX_TOKENS, STOP_SEQUENCE, PAUSE_TURN, REFUSAL)


class TranslationError(ValueError):
    """A request or response that cannot be expressed in the target API."""


# ---------------------------------------------------------------- content parts


@dataclass
class Text:
    """Plain text."""

    text: str
    cache_control: dict[str, Any] | None = None


@dataclass
class Image:
    """An image, inline (base64 `data` + `media_type`) or by `url`."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    detail: str | None = None
    cache_control: dict[str, Any] | None = None


@dataclass
class Document:
    """A document: base64 `data` (PDF...), plain `text`, or a `url`."""

    media_type: str | None = None
    data: str | None = None
    text: str | None = None
    url: str | None = None
    title: str | None = None
    filename: str | None = None
    cache_control: dict[str, Any] | None = None


@dataclass
class ToolCall:
    """The model asks for a tool: `input` is the parsed arguments (a dict, normally)."""

    id: str
    name: str
    input: Any = field(default_factory=dict)
    kind: str = "function"  # function | custom (free-form text input, Responses API)
    cache_control: dict[str, Any] | None = None


@dataclass
class ToolResult:
    """The agent's answer to a ToolCall."""

    call_id: str
    content: list[Text | Image | Document] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None  # filled from the matching ToolCall when known (Gemini needs it)
    kind: str = "function"
    cache_control: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.content if isinstance(p, Text))


@dataclass
class Thinking:
    """Reasoning. `signature` is opaque and valid only for the API named by `origin`.

    `redacted` thinking carries its encrypted payload in `signature` and has no text.
    `item_id` keeps a Responses reasoning item's id so it can be replayed.
    """

    text: str = ""
    signature: str | None = None
    origin: str | None = None
    redacted: bool = False
    item_id: str | None = None


Part = Text | Image | Document | ToolCall | ToolResult | Thinking


@dataclass
class Message:
    """One turn. `role` is user, assistant or system (a system message mid-conversation)."""

    role: str
    parts: list[Part] = field(default_factory=list)


# ---------------------------------------------------------------- request


@dataclass
class Tool:
    """A client tool the model may call. `parameters` is a JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    kind: str = "function"  # function | custom
    format: dict[str, Any] | None = None  # a custom tool's input format (grammar), if any
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass
class ToolChoice:
    """auto | any (must call some tool) | none | tool (must call `name`)."""

    type: str = "auto"
    name: str | None = None
    disable_parallel: bool | None = None


@dataclass
class ThinkingConfig:
    """Whether and how much to reason. `effort`: minimal|low|medium|high (or max/xhigh)."""

    enabled: bool = True
    budget: int | None = None
    effort: str | None = None
    adaptive: bool = False


@dataclass
class ResponseFormat:
    """Structured output: json_object, or json_schema with `schema`."""

    type: str = "json_schema"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass
class Request:
    """One inference request in canonical form."""

    model: str | None = None
    system: list[Text] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    server_tools: list[dict[str, Any]] = field(default_factory=list)  # source-API only tools
    server_tools_api: str | None = None
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    thinking: ThinkingConfig | None = None
    response_format: ResponseFormat | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None  # read, never forwarded: an end-user id stays with its provider
    # What the parser left out because no other API can carry it (a provider-hosted tool, say),
    # in words for the call's record: a translated request is then visibly not the whole one.
    notes: list[str] = field(default_factory=list)


@dataclass
class Response:
    """A whole (non-streamed) answer."""

    id: str
    model: str | None
    content: list[Part] = field(default_factory=list)
    stop_reason: str = END_TURN
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)


# ---------------------------------------------------------------- stream events


@dataclass
class Start:
    """The answer begins."""

    id: str
    model: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class BlockStart:
    """A content block opens: kind text | thinking | redacted_thinking | tool_use."""

    index: int
    kind: str
    id: str | None = None
    name: str | None = None
    data: str | None = None  # redacted thinking payload
    origin: str | None = None  # API that issues this block's signatures
    item_id: str | None = None


@dataclass
class Delta:
    """A piece of an open block: kind text | thinking | signature | json."""

    index: int
    kind: str
    value: str


@dataclass
class BlockStop:
    """A content block closes."""

    index: int


@dataclass
class End:
    """The answer ends (usage is the final, cumulative count)."""

    stop_reason: str | None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class StreamError:
    """An error reported inside the stream."""

    message: str
    kind: str = "api_error"


@dataclass
class Ping:
    """Keep-alive."""


Event = Start | BlockStart | Delta | BlockStop | End | StreamError | Ping


# ---------------------------------------------------------------- signatures across APIs

_SEAL = "awsig1."


def seal(thinking: Thinking) -> str:
    """Wrap a foreign signature so it survives a round trip through another API's opaque slot."""
    payload = {"o": thinking.origin, "s": thinking.signature or "", "i": thinking.item_id}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return _SEAL + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unseal(value: str | None, native: str) -> tuple[str | None, str | None, str | None]:
    """(origin, signature, item_id) from an opaque slot of API `native`."""
    if not value:
        return None, None, None
    if value.startswith(_SEAL):
        body = value[len(_SEAL) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            payload = json.loads(raw)
            return payload.get("o"), payload.get("s") or None, payload.get("i")
        except (ValueError, TypeError):
            return None, None, None
    return native, value, None


def slot_value(thinking: Thinking, api: str) -> str | None:
    """What to put in API `api`'s opaque slot for this thinking (native or sealed)."""
    if thinking.origin == api:
        return thinking.signature
    if thinking.signature is None and thinking.item_id is None:
        return None
    return seal(thinking)


# ---------------------------------------------------------------- small helpers


def parse_json_args(value: Any) -> Any:
    """Tool arguments as an object; unparseable text is kept under `_raw` rather than lost."""
    if isinstance(value, dict):
        return value
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {"_raw": value}
        return parsed if isinstance(parsed, dict) else {"_value": parsed}
    return {"_value": value}


def dump_json_args(value: Any) -> str:
    """Tool arguments as the JSON text OpenAI-style APIs expect."""
    if isinstance(value, dict) and set(value) == {"_raw"} and isinstance(value["_raw"], str):
        return value["_raw"]
    return json.dumps(value if value is not None else {}, ensure_ascii=False, separators=(",", ":"))


def data_url(media_type: str | None, data: str) -> str:
    """A base64 payload as a data: URL."""
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def split_data_url(url: str) -> tuple[str | None, str | None]:
    """(media_type, base64 data) of a data: URL, or (None, None) for anything else."""
    if not url.startswith("data:") or ";base64," not in url:
        return None, None
    head, data = url[5:].split(";base64,", 1)
    return head or None, data


def effort_to_budget(effort: str | None) -> int:
    """A thinking budget for an effort level (for APIs that want a token budget)."""
    return {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}.get(effort or "", 16384)


def budget_to_effort(budget: int | None) -> str:
    """An effort level for a token budget (for APIs that want a level)."""
    if budget is None:
        return "medium"
    if budget < 2048:
        return "low" if budget >= 1024 else "minimal"
    if budget < 12000:
        return "medium" if budget >= 4096 else "low"
    return "high"
