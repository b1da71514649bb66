"""Anthropic Messages: parser and emitter of requests, responses, stream events and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentwrap.wire import canonical as c
from agentwrap.wire import jsonload, stream
from agentwrap.wire.common import TapReading, Usage, as_int, kind_for_status, new_id
from agentwrap.wire.names import TOOL_NAMES, ToolNames

API = "anthropic"
DEFAULT_MAX_TOKENS = 8192


# ---------------------------------------------------------------- content


def _cc(block: dict[str, Any]) -> dict[str, Any] | None:
    value = block.get("cache_control")
    return value if isinstance(value, dict) else None


def _parse_source(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source")
    return source if isinstance(source, dict) else {}


def parse_block(block: Any) -> c.Part | None:
    """One Anthropic content block in canonical form (None for blocks with no counterpart)."""
    if isinstance(block, str):
        return c.Text(block)
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return c.Text(str(block.get("text", "")), _cc(block))
    if kind == "image":
        src = _parse_source(block)
        if src.get("type") == "url":
            return c.Image(url=src.get("url"), cache_control=_cc(block))
        return c.Image(src.get("media_type"), src.get("data"), cache_control=_cc(block))
    if kind == "document":
        return _parse_document(block)
    if kind == "tool_use":
        name = str(block.get("name", ""))
        return c.ToolCall(
            id=str(block.get("id", "")),
            name=name,
            input=block.get("input") if block.get("input") is not None else {},
            kind="custom" if TOOL_NAMES.is_custom(name) else "function",
            cache_control=_cc(block),
        )
    if kind == "tool_result":
        return _parse_tool_result(block)
    if kind == "thinking":
        origin, signature, item_id = c.unseal(block.get("signature"), API)
        return c.Thinking(str(block.get("thinking", "")), signature, origin, item_id=item_id)
    if kind == "redacted_thinking":
        return c.Thinking("", str(block.get("data", "")), API, redacted=True)
    if kind == "web_search_tool_result":
        # A server tool's result: keep what the model saw, as text, for other providers.
        found = block.get("content")
        lines = [
            f"{r.get('title', '')} <{r.get('url', '')}>"
            for r in (found if isinstance(found, list) else [])
            if isinstance(r, dict)
        ]
        return c.Text("Web search results:\n" + "\n".join(lines)) if lines else None
    return None


def _parse_document(block: dict[str, Any]) -> c.Document:
    src = _parse_source(block)
    doc = c.Document(title=block.get("title"), cache_control=_cc(block))
    if src.get("type") == "base64":
        doc.media_type, doc.data = src.get("media_type"), src.get("data")
    elif src.get("type") == "text":
        doc.media_type, doc.text = src.get("media_type") or "text/plain", src.get("data")
    elif src.get("type") == "url":
        doc.url = src.get("url")
    elif src.get("type") == "content":
        inner = src.get("content")
        parts = inner if isinstance(inner, list) else [inner]
        doc.media_type = "text/plain"
        doc.text = "\n".join(
            p.get("text", "") if isinstance(p, dict) else str(p) for p in parts if p
        )
    return doc


def _parse_tool_result(block: dict[str, Any]) -> c.ToolResult:
    content = block.get("content")
    results: list[c.Text | c.Image | c.Document] = []
    if isinstance(content, str):
        results.append(c.Text(content))
    elif isinstance(content, list):
        for item in content:
            part = parse_block(item)
            if isinstance(part, c.Text | c.Image | c.Document):
                results.append(part)
    return c.ToolResult(
        call_id=str(block.get("tool_use_id", "")),
        content=results,
        is_error=bool(block.get("is_error")),
        cache_control=_cc(block),
    )


def _source_block(kind: str, part: c.Image | c.Document) -> dict[str, Any]:
    if part.url and not part.data:
        return {"type": kind, "source": {"type": "url", "url": part.url}}
    return {
        "type": kind,
        "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
    }


def emit_block(part: c.Part, rename: Callable[[str], str]) -> dict[str, Any] | None:
    """One canonical part as an Anthropic content block (None when it must be dropped)."""
    out: dict[str, Any] | None
    if isinstance(part, c.Text):
        out = {"type": "text", "text": part.text}
    elif isinstance(part, c.Image):
        out = _source_block("image", part)
    elif isinstance(part, c.Document):
        if part.text is not None and not part.data:
            out = {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": part.text},
            }
        else:
            out = _source_block("document", part)
        if part.title or part.filename:
            out["title"] = part.title or part.filename
    elif isinstance(part, c.ToolCall):
        out = {
            "type": "tool_use",
            "id": part.id,
            "name": rename(part.name),
            "input": part.input if isinstance(part.input, dict) else {"_value": part.input},
        }
    elif isinstance(part, c.ToolResult):
        content: list[dict[str, Any]] = []
        for p in part.content:
            block = emit_block(p, rename)
            if block is not None:
                content.append(block)
        out = {"type": "tool_result", "tool_use_id": part.call_id, "content": content}
        if part.is_error:
            out["is_error"] = True
    elif isinstance(part, c.Thinking):
        if part.redacted:
            if part.origin != API:
                return None
            out = {"type": "redacted_thinking", "data": part.signature or ""}
        else:
            out = {
                "type": "thinking",
                "thinking": part.text,
                "signature": c.slot_value(part, API) or "",
            }
    else:
        return None
    cache = getattr(part, "cache_control", None)
    if cache:
        out["cache_control"] = cache
    return out


# ---------------------------------------------------------------- requests


def _parse_content(content: Any) -> list[c.Part]:
    if isinstance(content, str):
        return [c.Text(content)]
    parts: list[c.Part] = []
    if isinstance(content, list):
        for block in content:
            part = parse_block(block)
            if part is not None:
                parts.append(part)
    return parts


def parse_request(body: dict[str, Any]) -> c.Request:
    """An Anthropic Messages request body in canonical form."""
    req = c.Request(model=body.get("model"), stream=bool(body.get("stream")))
    system = body.get("system")
    if isinstance(system, str):
        req.system = [c.Text(system)] if system else []
    elif isinstance(system, list):
        req.system = [p for p in _parse_content(system) if isinstance(p, c.Text)]
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        role = msg.get("role", "user")
        req.messages.append(c.Message(role, _parse_content(msg.get("content"))))
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            _parse_tool(req, tool)
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        req.tool_choice = c.ToolChoice(
            choice.get("type", "auto"), choice.get("name"), choice.get("disable_parallel_tool_use")
        )
        if choice.get("disable_parallel_tool_use"):
            req.parallel_tool_calls = False
    req.max_tokens = body.get("max_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    req.top_k = body.get("top_k")
    req.stop = [s for s in body.get("stop_sequences") or [] if isinstance(s, str)]
    thinking = body.get("thinking")
    raw_config = body.get("output_config")
    output_config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
    effort = output_config.get("effort")
    if isinstance(thinking, dict):
        ttype = thinking.get("type")
        if ttype == "enabled":
            req.thinking = c.ThinkingConfig(True, thinking.get("budget_tokens"), effort)
        elif ttype == "adaptive":
            req.thinking = c.ThinkingConfig(True, None, effort, adaptive=True)
        elif ttype == "disabled":
            req.thinking = c.ThinkingConfig(False)
    fmt = output_config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        req.response_format = c.ResponseFormat("json_schema", fmt.get("schema"), fmt.get("name"))
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        req.user = metadata["user_id"]
    return req


def _parse_tool(req: c.Request, tool: dict[str, Any]) -> None:
    """A client tool joins the request's tools; a server tool (typed, no schema) stays as is."""
    if tool.get("type") in (None, "custom") and "input_schema" in tool:
        req.tools.append(
            c.Tool(
                name=str(tool.get("name", "")),
                description=tool.get("description"),
                parameters=tool.get("input_schema"),
                strict=tool.get("strict"),
                cache_control=_cc(tool),
            )
        )
    else:
        req.server_tools.append(tool)
        req.server_tools_api = API


def _custom_schema(tool: c.Tool) -> dict[str, Any]:
    desc = "The raw text input for this tool."
    if tool.format and tool.format.get("type") == "grammar":
        desc += f" It must match this {tool.format.get('syntax', '')} grammar:\n"
        desc += str(tool.format.get("definition", ""))
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": desc}},
        "required": ["input"],
    }


def emit_request(req: c.Request, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical request as an Anthropic Messages body for `model`."""
    if req.server_tools and req.server_tools_api != API:
        kinds = ", ".join(str(t.get("type")) for t in req.server_tools)
        raise c.TranslationError(
            f"server tools ({kinds}) of {req.server_tools_api} cannot be sent to an Anthropic model"
        )
    body: dict[str, Any] = {"model": model}

    def rename(name: str) -> str:
        return names.to_provider(name, API)

    system = [emit_block(t, rename) for t in req.system]
    messages = _emit_messages(req, rename, system)
    if system:
        body["system"] = [b for b in system if b is not None]
    body["messages"] = messages
    max_tokens = req.max_tokens or DEFAULT_MAX_TOKENS
    body["max_tokens"] = max_tokens
    tools = [_emit_tool(tool, rename) for tool in req.tools] + list(req.server_tools)
    if tools:
        body["tools"] = tools
        choice = _emit_tool_choice(req, rename)
        if choice is not None:
            body["tool_choice"] = choice
    thinking_on = _thinking(req, body, messages, max_tokens)
    if not thinking_on:
        if req.temperature is not None:
            body["temperature"] = min(max(req.temperature, 0.0), 1.0)
        if req.top_k is not None:
            body["top_k"] = req.top_k
        if req.top_p is not None:
            body["top_p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.response_format and req.response_format.type == "json_schema":
        body["output_config"] = {
            "format": {"type": "json_schema", "schema": req.response_format.schema or {}}
        }
    if req.stream:
        body["stream"] = True
    if not _has_cache_marks(req):
        _add_cache_breakpoints(body)
    return body


def _emit_messages(
    req: c.Request, rename: Callable[[str], str], system: list[dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """The request's turns as Anthropic messages; system turns before any go into `system`."""
    messages: list[dict[str, Any]] = []
    for msg in req.messages:
        if msg.role == "system" and not messages:
            system.extend(emit_block(p, rename) for p in msg.parts if isinstance(p, c.Text))
            continue
        # Only Anthropic can check an Anthropic signature: other reasoning is dropped.
        parts = [
            p
            for p in msg.parts
            if (not isinstance(p, c.Thinking) or p.origin == API)
            and not (isinstance(p, c.Text) and not p.text)  # Anthropic rejects empty text
        ]
        blocks = [b for b in (emit_block(p, rename) for p in parts) if b is not None]
        if not blocks:
            continue
        role = msg.role if msg.role in ("user", "assistant", "system") else "user"
        if role == "assistant":
            # A thinking block must come first in an assistant turn.
            blocks.sort(key=lambda b: b["type"] not in ("thinking", "redacted_thinking"))
        if role == "user":
            # tool_result blocks must open the user turn that answers a tool_use.
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        if messages and messages[-1]["role"] == role and role != "system":
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    return messages


def _emit_tool(tool: c.Tool, rename: Callable[[str], str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": rename(tool.name)}
    if tool.description:
        entry["description"] = tool.description
    if tool.kind == "custom":
        entry["input_schema"] = _custom_schema(tool)
    else:
        entry["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.cache_control:
        entry["cache_control"] = tool.cache_control
    return entry


def _emit_tool_choice(req: c.Request, rename: Callable[[str], str]) -> dict[str, Any] | None:
    """tool_choice for a request that has tools; it also carries disabled parallel calls."""
    if req.tool_choice:
        choice: dict[str, Any] = {"type": req.tool_choice.type}
        if req.tool_choice.type == "tool" and req.tool_choice.name:
            choice["name"] = rename(req.tool_choice.name)
        if req.parallel_tool_calls is False and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        return choice
    if req.parallel_tool_calls is False:
        return {"type": "auto", "disable_parallel_tool_use": True}
    return None


_CACHEABLE = ("text", "image", "document", "tool_result", "tool_use")
_EPHEMERAL = {"type": "ephemeral"}


def _has_cache_marks(req: c.Request) -> bool:
    parts: list[Any] = [*req.system, *req.tools]
    for msg in req.messages:
        parts.extend(msg.parts)
    return any(getattr(p, "cache_control", None) for p in parts)


def _add_cache_breakpoints(body: dict[str, Any]) -> None:
    # Agents of other APIs never mark cache breakpoints, and without them Anthropic caches
    # nothing: every turn of a long session would pay full price for the same prefix. Mark
    # the tools, the system prompt and the last two user turns (Anthropic allows four).
    marks: list[dict[str, Any]] = []
    if body.get("tools") and "input_schema" in body["tools"][-1]:
        marks.append(body["tools"][-1])
    if body.get("system"):
        marks.append(body["system"][-1])
    users = [m for m in body["messages"] if m["role"] == "user"]
    for msg in users[-2:]:
        if msg["content"] and msg["content"][-1].get("type") in _CACHEABLE:
            marks.append(msg["content"][-1])
    for block in marks[:4]:
        block["cache_control"] = dict(_EPHEMERAL)


def tool_turn_lacks_thinking(messages: list[Any]) -> bool:
    """Whether the latest assistant turn calls tools without opening with a thinking block."""
    for msg in reversed(messages):
        if not isinstance(msg, dict) or msg.get("role") != "assistant":
            continue
        content = msg.get("content")
        if not isinstance(content, list):
            return False
        types = [b.get("type") for b in content if isinstance(b, dict)]
        return "tool_use" in types and types[0] not in ("thinking", "redacted_thinking")
    return False


def _thinking(
    req: c.Request, body: dict[str, Any], messages: list[dict[str, Any]], max_tokens: int
) -> bool:
    cfg = req.thinking
    if cfg is None or not cfg.enabled:
        if cfg is not None:
            body["thinking"] = {"type": "disabled"}
        return False
    # With thinking on, Anthropic wants the latest assistant tool turn to open with a signed
    # thinking block; reasoning from another provider cannot be signed, so think no more.
    if tool_turn_lacks_thinking(messages):
        return False
    if cfg.adaptive:
        body["thinking"] = {"type": "adaptive"}
        if cfg.effort:
            body["output_config"] = {**body.get("output_config", {}), "effort": cfg.effort}
        return True
    budget = cfg.budget or c.effort_to_budget(cfg.effort)
    if req.max_tokens is None:
        # No limit asked for: leave the answer its usual room on top of the thinking budget.
        max_tokens = budget + DEFAULT_MAX_TOKENS
        body["max_tokens"] = max_tokens
    if max_tokens <= 1024:
        return False
    budget = max(1024, min(budget, max_tokens - 1))
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return True


# ---------------------------------------------------------------- usage, responses


def parse_usage(usage: Any) -> Usage:
    """Anthropic usage (already canonical semantics)."""
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        as_int(usage.get("input_tokens")),
        as_int(usage.get("output_tokens")),
        as_int(usage.get("cache_creation_input_tokens")),
        as_int(usage.get("cache_read_input_tokens")),
    )


def emit_usage(usage: Usage) -> dict[str, int]:
    """Canonical usage as Anthropic's usage object."""
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def parse_response(body: dict[str, Any]) -> c.Response:
    """A whole Anthropic Messages response in canonical form."""
    return c.Response(
        id=str(body.get("id") or new_id("msg_")),
        model=body.get("model"),
        content=_parse_content(body.get("content")),
        stop_reason=body.get("stop_reason") or c.END_TURN,
        stop_sequence=body.get("stop_sequence"),
        usage=parse_usage(body.get("usage")),
    )


def emit_response(resp: c.Response, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical response as an Anthropic Messages response."""
    content = [
        b for b in (emit_block(p, names.from_provider) for p in resp.content) if b is not None
    ]
    msg_id = resp.id if resp.id.startswith("msg_") else "msg_" + resp.id
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": resp.stop_reason,
        "stop_sequence": resp.stop_sequence,
        "usage": emit_usage(resp.usage),
    }


# ---------------------------------------------------------------- streams


class StreamParser(stream.StreamParser):
    """Anthropic SSE events -> canonical events (block indexes are the upstream's own)."""

    def __init__(self) -> None:
        super().__init__()
        self._kinds: dict[int, str] = {}
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None

    def feed(self, event: str | None, data: str) -> list[c.Event]:
        """Canonical events for one SSE event."""
        try:
            ev = jsonload.loads(data)
        except ValueError:
            return []
        if not isinstance(ev, dict):
            return []
        kind = ev.get("type") or event
        if kind == "message_start":
            msg = ev.get("message") or {}
            self.usage = parse_usage(msg.get("usage"))
            return [c.Start(str(msg.get("id") or new_id("msg_")), msg.get("model"), self.usage)]
        if kind == "content_block_start":
            return self._block_start(as_int(ev.get("index")), ev.get("content_block") or {})
        if kind == "content_block_delta":
            index = as_int(ev.get("index"))
            delta = ev.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                return [c.Delta(index, "text", str(delta.get("text", "")))]
            if dtype == "input_json_delta":
                return [c.Delta(index, "json", str(delta.get("partial_json", "")))]
            if dtype == "thinking_delta":
                return [c.Delta(index, "thinking", str(delta.get("thinking", "")))]
            if dtype == "signature_delta":
                return [c.Delta(index, "signature", str(delta.get("signature", "")))]
            return []
        if kind == "content_block_stop":
            index = as_int(ev.get("index"))
            return [c.BlockStop(index)] if index in self._kinds else []
        if kind == "message_delta":
            self.usage = _merge_usage(self.usage, ev.get("usage"))
            delta = ev.get("delta") or {}
            self._stop_reason = delta.get("stop_reason") or self._stop_reason
            self._stop_sequence = delta.get("stop_sequence") or self._stop_sequence
            return []
        if kind == "message_stop":
            self.done = True
            return [c.End(self._stop_reason, self._stop_sequence, self.usage)]
        if kind == "ping":
            return [c.Ping()]
        if kind == "error":
            err = ev.get("error") or {}
            return self._fail(str(err.get("message", "error")), str(err.get("type", "api_error")))
        return []

    def _block_start(self, index: int, block: dict[str, Any]) -> list[c.Event]:
        btype = block.get("type")
        if btype == "text":
            self._kinds[index] = "text"
            out: list[c.Event] = [c.BlockStart(index, "text")]
            if block.get("text"):
                out.append(c.Delta(index, "text", block["text"]))
            return out
        if btype == "thinking":
            self._kinds[index] = "thinking"
            out = [c.BlockStart(index, "thinking", origin=API)]
            if block.get("thinking"):
                out.append(c.Delta(index, "thinking", block["thinking"]))
            if block.get("signature"):
                out.append(c.Delta(index, "signature", block["signature"]))
            return out
        if btype == "redacted_thinking":
            self._kinds[index] = "redacted_thinking"
            return [c.BlockStart(index, "redacted_thinking", data=block.get("data"), origin=API)]
        if btype == "tool_use":
            self._kinds[index] = "tool_use"
            out = [c.BlockStart(index, "tool_use", id=block.get("id"), name=block.get("name"))]
            if block.get("input"):
                out.append(c.Delta(index, "json", json.dumps(block["input"])))
            return out
        return []


def _merge_usage(current: Usage, usage: Any) -> Usage:
    # message_delta usage is cumulative; newer APIs repeat input/cache counts. Latest wins.
    if not isinstance(usage, dict):
        return current

    def pick(key: str, old: int) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) else old

    return Usage(
        pick("input_tokens", current.input_tokens),
        pick("output_tokens", current.output_tokens),
        pick("cache_creation_input_tokens", current.cache_creation_tokens),
        pick("cache_read_input_tokens", current.cache_read_tokens),
    )


class StreamEmitter:
    """Canonical events -> Anthropic SSE bytes."""

    def __init__(self, model: str, names: ToolNames = TOOL_NAMES) -> None:
        self.model = model
        self.names = names
        self._started = False
        self._ended = False
        self._open: dict[int, c.BlockStart] = {}
        self._index: dict[int, int] = {}
        self._next = 0

    @staticmethod
    def _sse(event: str, data: dict[str, Any]) -> bytes:
        return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    def _start(self, msg_id: str, usage: Usage) -> bytes:
        self._started = True
        msg: dict[str, Any] = {
            "id": msg_id if msg_id.startswith("msg_") else "msg_" + msg_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": emit_usage(usage),
        }
        return self._sse("message_start", {"type": "message_start", "message": msg})

    def emit(self, ev: c.Event) -> bytes:
        """Bytes for one canonical event."""
        if self._ended:
            return b""
        if isinstance(ev, c.Start):
            return b"" if self._started else self._start(ev.id, ev.usage)
        out = b""
        if not self._started and not isinstance(ev, c.StreamError | c.Ping):
            out += self._start(new_id("msg_"), Usage())
        if isinstance(ev, c.BlockStart):
            return out + self._block_start(ev)
        if isinstance(ev, c.Delta):
            return out + self._delta(ev)
        if isinstance(ev, c.BlockStop):
            return out + self._stop(ev.index)
        if isinstance(ev, c.End):
            for index in list(self._open):
                out += self._stop(index)
            self._ended = True
            delta = {"stop_reason": ev.stop_reason or c.END_TURN, "stop_sequence": ev.stop_sequence}
            out += self._sse(
                "message_delta",
                {"type": "message_delta", "delta": delta, "usage": emit_usage(ev.usage)},
            )
            return out + self._sse("message_stop", {"type": "message_stop"})
        if isinstance(ev, c.Ping):
            return out + self._sse("ping", {"type": "ping"})
        if isinstance(ev, c.StreamError):
            self._ended = True
            return out + self.error(ev.message, ev.kind)
        return out

    def error(self, message: str, kind: str = "api_error") -> bytes:
        """An error event."""
        return self._sse("error", {"type": "error", "error": {"type": kind, "message": message}})

    def _block_start(self, ev: c.BlockStart) -> bytes:
        index = self._next
        self._next += 1
        self._index[ev.index] = index
        self._open[ev.index] = ev
        block: dict[str, Any]
        if ev.kind == "text":
            block = {"type": "text", "text": ""}
        elif ev.kind == "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        elif ev.kind == "redacted_thinking":
            if ev.origin != API:
                block = {"type": "thinking", "thinking": "", "signature": ""}
            else:
                block = {"type": "redacted_thinking", "data": ev.data or ""}
        else:
            block = {
                "type": "tool_use",
                "id": ev.id or new_id("toolu_"),
                "name": self.names.from_provider(ev.name or ""),
                "input": {},
            }
        return self._sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )

    def _delta(self, ev: c.Delta) -> bytes:
        start = self._open.get(ev.index)
        if start is None:
            return b""
        delta: dict[str, Any]
        if ev.kind == "text":
            delta = {"type": "text_delta", "text": ev.value}
        elif ev.kind == "thinking":
            delta = {"type": "thinking_delta", "thinking": ev.value}
        elif ev.kind == "json":
            delta = {"type": "input_json_delta", "partial_json": ev.value}
        elif ev.kind == "signature":
            thinking = c.Thinking(signature=ev.value, origin=start.origin, item_id=start.item_id)
            delta = {"type": "signature_delta", "signature": c.slot_value(thinking, API) or ""}
        else:
            return b""
        return self._sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index[ev.index], "delta": delta},
        )

    def _stop(self, index: int) -> bytes:
        if self._open.pop(index, None) is None:
            return b""
        return self._sse(
            "content_block_stop", {"type": "content_block_stop", "index": self._index[index]}
        )


# ---------------------------------------------------------------- errors


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """An Anthropic error body."""
    return {"type": "error", "error": {"type": kind or kind_for_status(status), "message": message}}


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """(message, kind) from an Anthropic error body."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return err.get("message"), err.get("type")
    return None, None


# ---------------------------------------------------------------- usage taps

# The stream events worth decoding for usage, model and stop reason (the rest is deltas).
TAP_MARKERS = (b'"message_start"', b'"message_delta"')
_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def tap_event(ev: dict[str, Any], seen: TapReading) -> None:
    """What one streamed event says of the answer's model, usage and stop reason."""
    if ev.get("type") == "message_start":
        msg = ev.get("message") or {}
        seen.model = msg.get("model") or seen.model
        _absorb(msg.get("usage"), seen)
    elif ev.get("type") == "message_delta":
        _absorb(ev.get("usage"), seen)
        seen.stop_reason = (ev.get("delta") or {}).get("stop_reason") or seen.stop_reason


def _absorb(usage: Any, seen: TapReading) -> None:
    # Later counts replace earlier ones: message_delta repeats cumulative values.
    if not isinstance(usage, dict):
        return
    for key in _COUNTS:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            seen.counts[key] = value
    seen.usage = Usage(*(seen.counts.get(key, 0) for key in _COUNTS))
