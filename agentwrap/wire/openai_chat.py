"""OpenAI Chat Completions: parser and emitter of requests, responses, stream events and errors.

Reasoning travels as `reasoning_content` on assistant messages and deltas (DeepSeek, GLM, Kimi
style; OpenRouter's `reasoning` is read too). Usage: `prompt_tokens` includes cached tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from agentwrap.wire import canonical as c
from agentwrap.wire import jsonload, stream
from agentwrap.wire.common import (
    TapReading,
    Usage,
    as_int,
    from_inclusive,
    kind_for_status,
    new_id,
    prompt_total,
)
from agentwrap.wire.names import TOOL_NAMES, ToolNames

API = "openai-chat"

_FINISH_TO_STOP = {
    "stop": c.END_TURN,
    "length": c.MAX_TOKENS,
    "tool_calls": c.TOOL_USE,
    "function_call": c.TOOL_USE,
    "content_filter": c.REFUSAL,
}
_STOP_TO_FINISH = {
    c.END_TURN: "stop",
    c.STOP_SEQUENCE: "stop",
    c.PAUSE_TURN: "stop",
    c.TOOL_USE: "tool_calls",
    c.MAX_TOKENS: "length",
    c.REFUSAL: "content_filter",
}


def stop_from_finish(finish: str | None, saw_tool_calls: bool) -> str:
    """Canonical stop reason; some providers say "stop" after tool calls, which is tool_use."""
    if saw_tool_calls and finish in (None, "stop", "tool_calls", "function_call"):
        return c.TOOL_USE
    return _FINISH_TO_STOP.get(finish or "stop", c.END_TURN)


def finish_from_stop(stop: str | None) -> str:
    """Chat finish_reason for a canonical stop reason."""
    return _STOP_TO_FINISH.get(stop or c.END_TURN, "stop")


def _uses_completion_tokens(model: str) -> bool:
    # OpenAI's reasoning models reject max_tokens; most other chat servers only know max_tokens.
    name = model.rsplit("/", 1)[-1].lower()
    return name.startswith(("o1", "o3", "o4", "gpt-5"))


def _accepts_reasoning_effort(model: str) -> bool:
    name = model.rsplit("/", 1)[-1].lower()
    return not name.startswith(("gpt-4", "gpt-3", "chatgpt-4o"))


# ---------------------------------------------------------------- content


def _parse_parts(content: Any) -> list[c.Part]:
    if isinstance(content, str):
        return [c.Text(content)] if content else []
    parts: list[c.Part] = []
    if not isinstance(content, list):
        return parts
    for item in content:
        if isinstance(item, str):
            parts.append(c.Text(item))
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(c.Text(str(item.get("text", ""))))
        elif kind == "refusal":
            parts.append(c.Text(str(item.get("refusal", ""))))
        elif kind == "image_url":
            ref = item.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            detail = ref.get("detail") if isinstance(ref, dict) else None
            media, data = c.split_data_url(str(url or ""))
            if data is not None:
                parts.append(c.Image(media, data, detail=detail))
            else:
                parts.append(c.Image(url=url, detail=detail))
        elif kind == "file":
            ref = item.get("file") or {}
            media, data = c.split_data_url(str(ref.get("file_data") or ""))
            parts.append(c.Document(media or "application/pdf", data, filename=ref.get("filename")))
    return parts


def _emit_part(part: c.Text | c.Image | c.Document) -> dict[str, Any]:
    if isinstance(part, c.Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, c.Image):
        url = c.data_url(part.media_type, part.data) if part.data else part.url
        ref: dict[str, Any] = {"url": url}
        if part.detail:
            ref["detail"] = part.detail
        return {"type": "image_url", "image_url": ref}
    if part.text is not None and not part.data:
        head = f"Document: {part.title or part.filename}\n" if part.title or part.filename else ""
        return {"type": "text", "text": head + part.text}
    if part.data:
        return {
            "type": "file",
            "file": {
                "filename": part.filename or part.title or "document.pdf",
                "file_data": c.data_url(part.media_type, part.data),
            },
        }
    return {"type": "text", "text": f"Document: {part.url}"}


def _content(parts: list[c.Text | c.Image | c.Document]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, c.Text) for p in parts):
        return "\n".join(p.text for p in parts if isinstance(p, c.Text))
    return [_emit_part(p) for p in parts]


# ---------------------------------------------------------------- requests


def parse_request(body: dict[str, Any]) -> c.Request:
    """A Chat Completions request body in canonical form."""
    req = c.Request(model=body.get("model"), stream=bool(body.get("stream")))
    for msg in body.get("messages") or []:
        if isinstance(msg, dict):
            _parse_message(req, msg)
    _fill_result_names(req)
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            _parse_tool(req, tool)
    req.tool_choice = _parse_choice(body.get("tool_choice"))
    if isinstance(body.get("parallel_tool_calls"), bool):
        req.parallel_tool_calls = body["parallel_tool_calls"]
    req.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    stop = body.get("stop")
    req.stop = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    effort = body.get("reasoning_effort")
    if isinstance(effort, str):
        req.thinking = c.ThinkingConfig(
            effort != "none", None, effort if effort != "none" else None
        )
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"):
        enabled = thinking["type"] == "enabled"
        req.thinking = c.ThinkingConfig(enabled, thinking.get("budget_tokens"), effort)
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        req.response_format = _parse_format(fmt)
    if isinstance(body.get("user"), str):
        req.user = body["user"]
    return req


def _parse_message(req: c.Request, msg: dict[str, Any]) -> None:
    """One Chat message added to the request (system ones before any turn go to its system)."""
    role = msg.get("role")
    if role in ("system", "developer"):
        texts = [p for p in _parse_parts(msg.get("content")) if isinstance(p, c.Text)]
        if not req.messages:
            req.system.extend(texts)
        else:
            req.messages.append(c.Message("system", list(texts)))
    elif role == "user":
        _append(req, "user", _parse_parts(msg.get("content")))
    elif role == "assistant":
        parts: list[c.Part] = []
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            parts.append(c.Thinking(reasoning, None, API))
        parts.extend(_parse_parts(msg.get("content")))
        if isinstance(msg.get("refusal"), str) and msg["refusal"]:
            parts.append(c.Text(msg["refusal"]))
        parts.extend(
            _parse_call(call) for call in msg.get("tool_calls") or [] if isinstance(call, dict)
        )
        _append(req, "assistant", parts)
    elif role == "tool":
        content = _parse_parts(msg.get("content"))
        result = c.ToolResult(
            str(msg.get("tool_call_id", "")),
            [p for p in content if isinstance(p, c.Text | c.Image | c.Document)],
        )
        _append(req, "user", [result])


def _parse_call(call: dict[str, Any]) -> c.ToolCall:
    if call.get("type") == "custom":
        fn = call.get("custom") or {}
        return c.ToolCall(
            str(call.get("id", "")),
            str(fn.get("name", "")),
            {"input": fn.get("input", "")},
            kind="custom",
        )
    fn = call.get("function") or {}
    return c.ToolCall(
        str(call.get("id", "")),
        str(fn.get("name", "")),
        c.parse_json_args(fn.get("arguments")),
    )


def _parse_tool(req: c.Request, tool: dict[str, Any]) -> None:
    """A function or custom tool joins the request's tools; any other is a server tool."""
    if tool.get("type") == "function":
        fn = tool.get("function") or {}
        req.tools.append(
            c.Tool(
                str(fn.get("name", "")),
                fn.get("description"),
                fn.get("parameters"),
                strict=fn.get("strict"),
            )
        )
    elif tool.get("type") == "custom":
        fn = tool.get("custom") or {}
        req.tools.append(
            c.Tool(
                str(fn.get("name", "")),
                fn.get("description"),
                kind="custom",
                format=fn.get("format"),
            )
        )
    else:
        req.server_tools.append(tool)
        req.server_tools_api = API


def _parse_format(fmt: dict[str, Any]) -> c.ResponseFormat | None:
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return c.ResponseFormat(
            "json_schema", spec.get("schema"), spec.get("name"), spec.get("strict")
        )
    if fmt.get("type") == "json_object":
        return c.ResponseFormat("json_object")
    return None


def _append(req: c.Request, role: str, parts: list[c.Part]) -> None:
    # Tool messages and the user text after them form one canonical user turn.
    if req.messages and req.messages[-1].role == role and role == "user":
        req.messages[-1].parts.extend(parts)
    else:
        req.messages.append(c.Message(role, parts))


def _fill_result_names(req: c.Request) -> None:
    names: dict[str, str] = {}
    for msg in req.messages:
        for part in msg.parts:
            if isinstance(part, c.ToolCall):
                names[part.id] = part.name
            elif isinstance(part, c.ToolResult) and part.name is None:
                part.name = names.get(part.call_id)


def _parse_choice(choice: Any) -> c.ToolChoice | None:
    if choice == "auto":
        return c.ToolChoice("auto")
    if choice == "none":
        return c.ToolChoice("none")
    if choice == "required":
        return c.ToolChoice("any")
    if isinstance(choice, dict):
        fn = choice.get("function") or choice.get("custom") or {}
        if fn.get("name"):
            return c.ToolChoice("tool", fn["name"])
    return None


def emit_request(req: c.Request, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical request as a Chat Completions body for `model`."""
    if req.server_tools and req.server_tools_api != API:
        kinds = ", ".join(str(t.get("type")) for t in req.server_tools)
        raise c.TranslationError(
            f"server tools ({kinds}) of {req.server_tools_api} have no OpenAI Chat counterpart"
        )

    def rename(name: str) -> str:
        return names.to_provider(name, API)

    body: dict[str, Any] = {"model": model, "messages": _emit_messages(req, rename)}
    tools = [_emit_tool(tool, rename) for tool in req.tools] + list(req.server_tools)
    if tools:
        body["tools"] = tools
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
        if req.tool_choice:
            _emit_tool_choice(body, req.tool_choice, rename)
    if req.max_tokens:
        key = "max_completion_tokens" if _uses_completion_tokens(model) else "max_tokens"
        body[key] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop"] = req.stop[:4]
    effort = _reasoning_effort(req.thinking, model)
    if effort:
        body["reasoning_effort"] = effort
    if req.response_format is not None:
        body["response_format"] = _emit_format(req.response_format)
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _emit_messages(req: c.Request, rename: Callable[[str], str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": "\n\n".join(t.text for t in req.system)})
    for msg in req.messages:
        if msg.role == "system":
            text = "\n\n".join(p.text for p in msg.parts if isinstance(p, c.Text))
            messages.append({"role": "system", "content": text})
        elif msg.role == "assistant":
            messages.append(_emit_assistant(msg, rename))
        else:
            messages.extend(_emit_user(msg))
    return messages


def _reasoning_effort(cfg: c.ThinkingConfig | None, model: str) -> str | None:
    """The reasoning_effort to send, for a model that takes one and a request that asks."""
    if cfg is None or not cfg.enabled or not (cfg.effort or cfg.budget):
        return None
    if not _accepts_reasoning_effort(model):
        return None
    effort = cfg.effort or c.budget_to_effort(cfg.budget)
    return {"max": "high", "xhigh": "high"}.get(effort, effort)


def _emit_tool(tool: c.Tool, rename: Callable[[str], str]) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": rename(tool.name)}
    if tool.description:
        fn["description"] = tool.description
    if tool.kind == "custom":
        fn["parameters"] = {
            "type": "object",
            "properties": {"input": {"type": "string", "description": _format_hint(tool)}},
            "required": ["input"],
        }
    else:
        fn["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


def _emit_tool_choice(
    body: dict[str, Any], choice: c.ToolChoice, rename: Callable[[str], str]
) -> None:
    if choice.type == "tool" and choice.name:
        body["tool_choice"] = {"type": "function", "function": {"name": rename(choice.name)}}
    else:
        body["tool_choice"] = {"any": "required"}.get(choice.type, choice.type)
    if choice.disable_parallel:
        body["parallel_tool_calls"] = False


def _emit_format(fmt: c.ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def _format_hint(tool: c.Tool) -> str:
    hint = "The raw text input for this tool."
    if tool.format and tool.format.get("type") == "grammar":
        hint += f" It must match this {tool.format.get('syntax', '')} grammar:\n"
        hint += str(tool.format.get("definition", ""))
    return hint


def _emit_assistant(msg: c.Message, rename: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    texts = [p.text for p in msg.parts if isinstance(p, c.Text)]
    reasoning = "".join(p.text for p in msg.parts if isinstance(p, c.Thinking) and not p.redacted)
    calls = [p for p in msg.parts if isinstance(p, c.ToolCall)]
    out["content"] = "".join(texts) if texts else None
    if reasoning:
        out["reasoning_content"] = reasoning
    if calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": rename(call.name), "arguments": c.dump_json_args(call.input)},
            }
            for call in calls
        ]
    return out


def _emit_user(msg: c.Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Chat tool messages carry text only: images a tool returned follow in a user message.
    late: list[dict[str, Any]] = []
    rest: list[c.Text | c.Image | c.Document] = []
    for part in msg.parts:
        if isinstance(part, c.ToolResult):
            text = part.text
            if part.is_error:
                text = f"Error: {text}" if text else "Error"
            out.append({"role": "tool", "tool_call_id": part.call_id, "content": text})
            media = [p for p in part.content if not isinstance(p, c.Text)]
            if media:
                late.append({"type": "text", "text": f"(attached by tool call {part.call_id}:)"})
                late.extend(_emit_part(p) for p in media)
        elif isinstance(part, c.Text | c.Image | c.Document):
            rest.append(part)
    user_parts = late + ([_emit_part(p) for p in rest] if late else [])
    if late:
        out.append({"role": "user", "content": user_parts})
    elif rest:
        out.append({"role": "user", "content": _content(rest)})
    return out


# ---------------------------------------------------------------- usage, responses


def parse_usage(usage: Any) -> Usage:
    """Chat usage -> canonical (prompt_tokens includes cached tokens)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    if not cached:
        cached = as_int(usage.get("prompt_cache_hit_tokens"))  # DeepSeek's spelling
    return from_inclusive(
        as_int(usage.get("prompt_tokens")), cached, as_int(usage.get("completion_tokens"))
    )


def emit_usage(usage: Usage) -> dict[str, Any]:
    """Canonical usage as Chat usage."""
    prompt = prompt_total(usage)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }


def parse_response(body: dict[str, Any]) -> c.Response:
    """A whole chat.completion in canonical form."""
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    msg = choice.get("message") or {}
    content: list[c.Part] = []
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append(c.Thinking(reasoning, None, API))
    content.extend(_parse_parts(msg.get("content")))
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append(c.Text(refusal))
    calls = 0
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(
            c.ToolCall(
                str(call.get("id") or new_id("call_")),
                str(fn.get("name", "")),
                c.parse_json_args(fn.get("arguments")),
            )
        )
        calls += 1
    stop = stop_from_finish(choice.get("finish_reason"), calls > 0)
    if refusal and stop == c.END_TURN:
        stop = c.REFUSAL
    return c.Response(
        id=str(body.get("id") or new_id("chatcmpl-")),
        model=body.get("model"),
        content=content,
        stop_reason=stop,
        usage=parse_usage(body.get("usage")),
    )


def emit_response(resp: c.Response, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical response as a chat.completion."""
    texts = [p.text for p in resp.content if isinstance(p, c.Text)]
    reasoning = "".join(
        p.text for p in resp.content if isinstance(p, c.Thinking) and not p.redacted
    )
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if reasoning:
        msg["reasoning_content"] = reasoning
    calls = [p for p in resp.content if isinstance(p, c.ToolCall)]
    if calls:
        msg["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": names.from_provider(call.name),
                    "arguments": c.dump_json_args(call.input),
                },
            }
            for call in calls
        ]
    return {
        "id": resp.id if resp.id.startswith("chatcmpl") else "chatcmpl-" + resp.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": msg, "finish_reason": finish_from_stop(resp.stop_reason)}
        ],
        "usage": emit_usage(resp.usage),
    }


# ---------------------------------------------------------------- streams


class StreamParser(stream.StreamParser):
    """Chat completion chunks -> canonical events."""

    def __init__(self) -> None:
        super().__init__()
        self._tools: dict[int, int] = {}  # the upstream's tool call position -> block index
        self._finish: str | None = None
        self._refused = False

    def feed(self, event: str | None, data: str) -> list[c.Event]:
        """Canonical events for one SSE event."""
        if self.done:
            return []
        if data.strip() == "[DONE]":
            return self.finish()
        try:
            chunk = jsonload.loads(data)
        except ValueError:
            return []
        if not isinstance(chunk, dict):
            return []
        if isinstance(chunk.get("error"), dict):
            err = chunk["error"]
            return self._fail(str(err.get("message", "error")), str(err.get("type") or "api_error"))
        out = self._start(str(chunk.get("id") or new_id("chatcmpl-")), chunk.get("model"))
        if isinstance(chunk.get("usage"), dict):
            self.usage = parse_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out += self._ensure("thinking")
                out.append(c.Delta(self._open_index, "thinking", reasoning))
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    self._refused = self._refused or key == "refusal"
                    out += self._ensure("text")
                    out.append(c.Delta(self._open_index, "text", text))
            for call in delta.get("tool_calls") or []:
                out += self._tool_delta(call)
            if isinstance(choice.get("finish_reason"), str):
                self._finish = choice["finish_reason"]
            if isinstance(choice.get("usage"), dict):  # Moonshot puts usage in the choice
                self.usage = parse_usage(choice["usage"])
        return out

    def _ensure(self, kind: str) -> list[c.Event]:
        if self._open is not None and self._open_kind == kind:
            return []
        return self._open_block(kind, origin=API if kind == "thinking" else None)

    def _tool_delta(self, call: Any) -> list[c.Event]:
        if not isinstance(call, dict):
            return []
        position = call.get("index", len(self._tools))
        fn = call.get("function") or {}
        out: list[c.Event] = []
        if position not in self._tools:
            out += self._open_block(
                "tool_use", id=call.get("id") or new_id("call_"), name=fn.get("name") or ""
            )
            self._tools[position] = self._open_index
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            out.append(c.Delta(self._tools[position], "json", args))
        return out

    def finish(self) -> list[c.Event]:
        """Events that close the answer ([DONE], or the end of a stream that sent a finish)."""
        if self.done:
            return []
        self.done = True
        out = self._close_block()
        stop = stop_from_finish(self._finish, bool(self._tools))
        if self._refused and stop == c.END_TURN:
            stop = c.REFUSAL
        out.append(c.End(stop, None, self.usage))
        return out

    @property
    def finished(self) -> bool:
        """Whether the upstream said it was done (a finish_reason arrived)."""
        return self._finish is not None


class StreamEmitter:
    """Canonical events -> chat.completion.chunk SSE bytes."""

    def __init__(self, model: str, names: ToolNames = TOOL_NAMES) -> None:
        self.model = model
        self.names = names
        self._id = new_id("chatcmpl-")
        self._created = int(time.time())
        self._started = False
        self._ended = False
        self._tools: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

    def emit(self, ev: c.Event) -> bytes:
        """Bytes for one canonical event."""
        if self._ended:
            return b""
        out = b""
        if not self._started and not isinstance(ev, c.StreamError | c.Ping):
            self._started = True
            if isinstance(ev, c.Start):
                self._id = ev.id if ev.id.startswith("chatcmpl") else "chatcmpl-" + ev.id
            out += self._chunk({"role": "assistant", "content": ""})
        if isinstance(ev, c.BlockStart) and ev.kind == "tool_use":
            position = len(self._tools)
            self._tools[ev.index] = position
            call = {
                "index": position,
                "id": ev.id or new_id("call_"),
                "type": "function",
                "function": {"name": self.names.from_provider(ev.name or ""), "arguments": ""},
            }
            out += self._chunk({"tool_calls": [call]})
        elif isinstance(ev, c.Delta):
            if ev.kind == "text":
                out += self._chunk({"content": ev.value})
            elif ev.kind == "thinking":
                out += self._chunk({"reasoning_content": ev.value})
            elif ev.kind == "json" and ev.index in self._tools:
                call = {"index": self._tools[ev.index], "function": {"arguments": ev.value}}
                out += self._chunk({"tool_calls": [call]})
        elif isinstance(ev, c.End):
            self._ended = True
            out += self._chunk({}, finish_from_stop(ev.stop_reason))
            usage = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self.model,
                "choices": [],
                "usage": emit_usage(ev.usage),
            }
            out += b"data: " + json.dumps(usage).encode() + b"\n\n"
            out += b"data: [DONE]\n\n"
        elif isinstance(ev, c.StreamError):
            self._ended = True
            out += self.error(ev.message, ev.kind)
        return out

    def error(self, message: str, kind: str = "api_error") -> bytes:
        """An in-stream error, the way OpenAI reports one."""
        err = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return b"data: " + json.dumps(err, ensure_ascii=False).encode() + b"\n\n"


# ---------------------------------------------------------------- errors


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {
        "error": {
            "message": message,
            "type": kind or kind_for_status(status),
            "param": None,
            "code": None,
        }
    }


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """(message, kind) from an OpenAI-style error body."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err.get("message"), err.get("type") or err.get("code")
        if isinstance(err, str):
            return err, None
        if isinstance(body.get("message"), str):
            return body["message"], None
    return None, None


# ---------------------------------------------------------------- usage taps

# The chunks worth decoding for usage and finish reason (the model is in every chunk).
TAP_MARKERS = (b'"usage"', b'"finish_reason":"', b'"finish_reason": "')
TAP_CALL_MARKER = b'"tool_calls"'


def tap_event(chunk: dict[str, Any], seen: TapReading) -> None:
    """What one streamed chunk says of the answer's model, usage and finish reason."""
    seen.model = seen.model or chunk.get("model")
    if isinstance(chunk.get("usage"), dict):
        seen.usage = parse_usage(chunk["usage"])
    for choice in chunk.get("choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
            seen.finish = choice["finish_reason"]
