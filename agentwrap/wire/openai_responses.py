"""OpenAI Responses: parser and emitter of requests, responses, stream events and errors.

Requests are emitted stateless (`store: false`) and ask for encrypted reasoning so it can be
replayed on the next turn. Usage: `input_tokens` includes cached tokens.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agentwrap.wire import canonical as c
from agentwrap.wire import jsonload, stream
from agentwrap.wire.common import TapReading, Usage, as_int, from_inclusive, new_id, prompt_total
from agentwrap.wire.names import TOOL_NAMES, ToolNames

API = "openai-responses"


# ---------------------------------------------------------------- content


def _parse_parts(content: Any) -> list[c.Part]:
    if isinstance(content, str):
        return [c.Text(content)] if content else []
    parts: list[c.Part] = []
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text"):
            parts.append(c.Text(str(item.get("text", ""))))
        elif kind == "refusal":
            parts.append(c.Text(str(item.get("refusal", ""))))
        elif kind == "input_image":
            url = item.get("image_url") or ""
            media, data = c.split_data_url(str(url))
            if data is not None:
                parts.append(c.Image(media, data, detail=item.get("detail")))
            else:
                parts.append(c.Image(url=url or item.get("file_id"), detail=item.get("detail")))
        elif kind == "input_file":
            media, data = c.split_data_url(str(item.get("file_data") or ""))
            parts.append(
                c.Document(
                    media or "application/pdf",
                    data,
                    url=item.get("file_url"),
                    filename=item.get("filename"),
                )
            )
    return parts


def _emit_part(part: c.Text | c.Image | c.Document, assistant: bool = False) -> dict[str, Any]:
    if isinstance(part, c.Text):
        if assistant:
            return {"type": "output_text", "text": part.text, "annotations": []}
        return {"type": "input_text", "text": part.text}
    if isinstance(part, c.Image):
        url = c.data_url(part.media_type, part.data) if part.data else part.url
        return {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
    if part.text is not None and not part.data:
        head = f"Document: {part.title or part.filename}\n" if part.title or part.filename else ""
        return {"type": "input_text", "text": head + part.text}
    if part.data:
        return {
            "type": "input_file",
            "filename": part.filename or part.title or "document.pdf",
            "file_data": c.data_url(part.media_type, part.data),
        }
    return {"type": "input_file", "file_url": part.url}


def _reasoning_text(item: dict[str, Any]) -> str:
    texts = [
        s.get("text", "")
        for s in item.get("summary") or []
        if isinstance(s, dict) and s.get("text")
    ]
    if not texts:
        texts = [
            s.get("text", "")
            for s in item.get("content") or []
            if isinstance(s, dict) and s.get("text")
        ]
    return "\n\n".join(texts)


def _parse_reasoning(item: dict[str, Any]) -> c.Thinking:
    origin, signature, item_id = c.unseal(item.get("encrypted_content"), API)
    if origin in (None, API):
        origin, item_id = API, item.get("id")
    return c.Thinking(_reasoning_text(item), signature, origin, item_id=item_id)


def _call_id(item: dict[str, Any]) -> str:
    return str(item.get("call_id") or item.get("id") or new_id("call_"))


def _parse_output_items(items: Any, names: ToolNames = TOOL_NAMES) -> tuple[list[c.Part], bool]:
    parts: list[c.Part] = []
    refused = False
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for p in item.get("content") or []:
                refused = refused or (isinstance(p, dict) and p.get("type") == "refusal")
            parts.extend(_parse_parts(item.get("content")))
        elif kind == "function_call":
            name = _flat(item.get("namespace"), str(item.get("name", "")), names)
            parts.append(c.ToolCall(_call_id(item), name, c.parse_json_args(item.get("arguments"))))
        elif kind == "custom_tool_call":
            name = _flat(item.get("namespace"), str(item.get("name", "")), names)
            parts.append(
                c.ToolCall(_call_id(item), name, {"input": item.get("input", "")}, kind="custom")
            )
        elif kind == "tool_search_call":
            names.mark_tool_search(TOOL_SEARCH)
            args = c.parse_json_args(item.get("arguments"))
            parts.append(c.ToolCall(_call_id(item), TOOL_SEARCH, args))
        elif kind == "reasoning":
            parts.append(_parse_reasoning(item))
    return parts, refused


# ---------------------------------------------------------------- tools

# The namespace whose tools a model calls by their bare name (Codex answers a call in it
# with or without `namespace`); every other namespace's tools need theirs.
DEFAULT_NAMESPACE = "functions"
# Other APIs know no tool search item: the client-run tool search becomes a function of this
# name, and its calls go back to the agent as tool_search_call items.
TOOL_SEARCH = "tool_search"
# Tools OpenAI runs on its own servers (dated variants share the prefix): no other API's
# model can call them, so a translated request goes without them, visibly. Tools the client
# runs through call items of their own (computer, local_shell, shell, apply_patch) are not
# hosted: without a mapping to functions they stay server tools, which other APIs refuse.
HOSTED_TOOL_PREFIXES = ("web_search", "file_search", "code_interpreter", "image_generation")
HOSTED_TOOLS = ("mcp",)  # a remote MCP server OpenAI dials itself


def _hosted(kind: str) -> bool:
    return kind in HOSTED_TOOLS or kind.startswith(HOSTED_TOOL_PREFIXES)


def _flat(namespace: Any, name: str, names: ToolNames) -> str:
    """The one name another API sees for tool `name` of a Responses namespace."""
    if not isinstance(namespace, str) or not namespace or namespace == DEFAULT_NAMESPACE:
        return name
    flat = f"{namespace}__{name}"
    names.mark_namespaced(flat, namespace, name)
    return flat


_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class _Declarations:
    """Tool declarations of a request, wherever they sit, flattened into canonical tools."""

    def __init__(self, req: c.Request, names: ToolNames, forced: str | None) -> None:
        self.req = req
        self.names = names
        self.forced = forced  # a hosted tool type tool_choice forces, if any
        self.seen: set[str] = set()
        self.dropped: list[str] = []

    def declare(
        self, tool: Any, namespace: str | None = None, context: str | None = None
    ) -> list[str]:
        """Add one declaration (a namespace adds its tools); the names the model may call."""
        if not isinstance(tool, dict):
            return []
        kind = str(tool.get("type") or "function")
        if kind == "namespace":
            inner_ns = str(tool.get("name") or "") or None
            about = tool.get("description") if isinstance(tool.get("description"), str) else None
            out: list[str] = []
            for inner in tool.get("tools") or []:
                out += self.declare(inner, inner_ns, about or None)
            return out
        if kind in ("function", "custom"):
            name = _flat(namespace, str(tool.get("name", "")), self.names)
            if name not in self.seen:
                self.seen.add(name)
                description = tool.get("description")
                if context:
                    # A namespace's description says what its tools are for.
                    description = f"{context}\n\n{description}" if description else context
                if kind == "custom":
                    self.names.mark_custom(name)
                    self.req.tools.append(
                        c.Tool(name, description, kind="custom", format=tool.get("format"))
                    )
                else:
                    self.req.tools.append(
                        c.Tool(
                            name,
                            description,
                            tool.get("parameters"),
                            strict=tool.get("strict"),
                        )
                    )
            return [name]
        if kind == "tool_search" and tool.get("execution") == "client":
            # The agent searches its own deferred tools: to another API, a function like others.
            if TOOL_SEARCH not in self.seen:
                self.seen.add(TOOL_SEARCH)
                self.names.mark_tool_search(TOOL_SEARCH)
                self.req.tools.append(
                    c.Tool(TOOL_SEARCH, tool.get("description"), tool.get("parameters"))
                )
            return [TOOL_SEARCH]
        if kind == "tool_search" or (_hosted(kind) and kind != self.forced):
            # A server-side tool search only hides deferred tools, which go as plain tools.
            if kind not in self.dropped:
                self.dropped.append(kind)
            return []
        # Forced, or unknown: kept as a server tool, which only OpenAI Responses can take.
        self.req.server_tools.append(tool)
        self.req.server_tools_api = API
        return []

    def note(self) -> None:
        """Say in the request's notes which hosted tools were left out."""
        if self.dropped:
            kinds = ", ".join(self.dropped)
            self.req.notes.append(
                f"left out {kinds}: OpenAI runs {'it' if len(self.dropped) == 1 else 'them'} "
                "on its own servers, and only an OpenAI Responses model can call "
                f"{'it' if len(self.dropped) == 1 else 'them'}"
            )


def _search_result(call_id: str, found: list[str], item: dict[str, Any]) -> c.ToolResult:
    if found:
        text = "Tools found, now available to call: " + ", ".join(found)
    else:
        text = "No tools matched the search."
    failed = item.get("status") not in (None, "completed")
    return c.ToolResult(call_id, [c.Text(text)], is_error=failed, name=TOOL_SEARCH)


# ---------------------------------------------------------------- requests


def parse_request(body: dict[str, Any], names: ToolNames = TOOL_NAMES) -> c.Request:
    """A Responses request body in canonical form.

    Tools are read wherever they are declared: the `tools` list, an `additional_tools` input
    item (Codex's "responses lite" requests) and the deferred tools a client-run tool search
    returned. A namespace's tools get one flat name each (`namespace__tool`; `functions` is
    the default namespace and keeps bare names), remembered in `names` so answers can name
    them again. Tools OpenAI hosts are left out and said so in `notes`, unless tool_choice
    forces one: that one stays a server tool, which other APIs refuse.
    """
    if body.get("previous_response_id") or body.get("conversation"):
        # The earlier turns live only in the provider's store: another API cannot see them.
        raise c.TranslationError(
            "a Responses request that continues a stored response (previous_response_id or "
            "conversation) can only go to the provider that stored it"
        )
    req = c.Request(model=body.get("model"), stream=bool(body.get("stream")))
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        req.system.append(c.Text(body["instructions"]))
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    choice = body.get("tool_choice")
    forced = choice.get("type") if isinstance(choice, dict) else None
    tools = _Declarations(req, names, forced if isinstance(forced, str) else None)
    for tool in body.get("tools") or []:
        tools.declare(tool)
    for item in items:
        if item.get("type") == "additional_tools":
            for tool in item.get("tools") or []:
                tools.declare(tool)
    for item in items:
        _parse_item(req, item, tools, names)
    tools.note()
    _name_results(req)
    _parse_options(req, body, names)
    return req


def _parse_item(
    req: c.Request, item: dict[str, Any], tools: _Declarations, names: ToolNames
) -> None:
    """One input item added to the request's messages (or system, before any message)."""
    kind = item.get("type") or ("message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        parts = _parse_parts(item.get("content"))
        if role not in ("system", "developer"):
            _append(req, "assistant" if role == "assistant" else "user", parts)
        elif not req.messages:
            req.system.extend(p for p in parts if isinstance(p, c.Text))
        else:
            req.messages.append(c.Message("system", [p for p in parts if isinstance(p, c.Text)]))
    elif kind in ("function_call", "custom_tool_call", "reasoning", "tool_search_call"):
        parts, _ = _parse_output_items([item], names)
        _append(req, "assistant", parts)
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        content = [p for p in _parse_parts(output) if isinstance(p, c.Text | c.Image | c.Document)]
        result = c.ToolResult(
            str(item.get("call_id", "")),
            content,
            kind="custom" if kind == "custom_tool_call_output" else "function",
        )
        _append(req, "user", [result])
    elif kind == "tool_search_output":
        # The tools found join the request's tools: the model may call them from now on.
        found: list[str] = []
        for tool in item.get("tools") or []:
            found += tools.declare(tool)
        _append(req, "user", [_search_result(str(item.get("call_id", "")), found, item)])


def _name_results(req: c.Request) -> None:
    """Each tool result learns the name of the call it answers."""
    calls: dict[str, str] = {}
    for msg in req.messages:
        for part in msg.parts:
            if isinstance(part, c.ToolCall):
                calls[part.id] = part.name
            elif isinstance(part, c.ToolResult):
                part.name = calls.get(part.call_id)


def _parse_options(req: c.Request, body: dict[str, Any], names: ToolNames) -> None:
    """Tool choice, sampling, reasoning, output format and the end user, from the body."""
    choice = body.get("tool_choice")
    if choice in ("auto", "none"):
        req.tool_choice = c.ToolChoice(choice)
    elif choice == "required":
        req.tool_choice = c.ToolChoice("any")
    elif isinstance(choice, dict) and choice.get("name"):
        name = _flat(choice.get("namespace"), str(choice["name"]), names)
        req.tool_choice = c.ToolChoice("tool", name)
    if isinstance(body.get("parallel_tool_calls"), bool):
        req.parallel_tool_calls = body["parallel_tool_calls"]
    req.max_tokens = body.get("max_output_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        effort = reasoning.get("effort")
        enabled = effort not in ("none",)
        req.thinking = c.ThinkingConfig(enabled, None, effort if enabled else None)
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict):
        req.response_format = _parse_format(fmt)
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str):
        req.user = user


def _parse_format(fmt: dict[str, Any]) -> c.ResponseFormat | None:
    if fmt.get("type") == "json_schema":
        return c.ResponseFormat(
            "json_schema", fmt.get("schema"), fmt.get("name"), fmt.get("strict")
        )
    if fmt.get("type") == "json_object":
        return c.ResponseFormat("json_object")
    return None


def _append(req: c.Request, role: str, parts: list[c.Part]) -> None:
    if not parts:
        return
    if req.messages and req.messages[-1].role == role:
        req.messages[-1].parts.extend(parts)
    else:
        req.messages.append(c.Message(role, list(parts)))


def emit_request(req: c.Request, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical request as a Responses body for `model` (stateless)."""
    if req.server_tools and req.server_tools_api != API:
        kinds = ", ".join(str(t.get("type")) for t in req.server_tools)
        raise c.TranslationError(
            f"server tools ({kinds}) of {req.server_tools_api} have no OpenAI Responses counterpart"
        )
    custom = {t.name for t in req.tools if t.kind == "custom"}
    body: dict[str, Any] = {"model": model, "input": _emit_items(req, custom, names)}
    if req.system:
        body["instructions"] = "\n\n".join(t.text for t in req.system)
    tools = [_emit_tool(tool, names) for tool in req.tools] + list(req.server_tools)
    if tools:
        body["tools"] = tools
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
        if req.tool_choice:
            _emit_tool_choice(body, req.tool_choice, custom, names)
    if req.max_tokens:
        body["max_output_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.thinking is not None and req.thinking.enabled:
        body["reasoning"] = _emit_reasoning(req.thinking)
        body["include"] = ["reasoning.encrypted_content"]
    if req.response_format is not None:
        body["text"] = {"format": _emit_format(req.response_format)}
    body["store"] = False
    if req.stream:
        body["stream"] = True
    return body


def _emit_items(req: c.Request, custom: set[str], names: ToolNames) -> list[dict[str, Any]]:
    """The request's messages as Responses input items, in order."""
    custom_calls: set[str] = set()
    items: list[dict[str, Any]] = []
    for msg in req.messages:
        if msg.role == "system":
            text = "\n\n".join(p.text for p in msg.parts if isinstance(p, c.Text))
            content = [{"type": "input_text", "text": text}]
            items.append({"type": "message", "role": "developer", "content": content})
            continue
        assistant = msg.role == "assistant"
        role = "assistant" if assistant else "user"
        pending: list[dict[str, Any]] = []
        for part in msg.parts:
            if isinstance(part, c.Text | c.Image | c.Document):
                pending.append(_emit_part(part, assistant))
                continue
            # Content between calls and results goes as a message of its own, in its place.
            if pending:
                items.append({"type": "message", "role": role, "content": pending})
                pending = []
            if isinstance(part, c.ToolCall):
                calls_custom = part.kind == "custom" or part.name in custom
                if calls_custom:
                    custom_calls.add(part.id)
                items.append(_emit_call(part, calls_custom, names))
            elif isinstance(part, c.ToolResult):
                items.append(_emit_result(part, part.call_id in custom_calls))
            elif isinstance(part, c.Thinking) and _replayable(part):
                items.append(_emit_thinking(part))
        if pending:
            items.append({"type": "message", "role": role, "content": pending})
    return items


def _replayable(part: c.Thinking) -> bool:
    """Only this API's own signed reasoning goes back to it."""
    return part.origin == API and bool(part.signature) and not part.redacted


def _emit_thinking(part: c.Thinking) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    return {
        "type": "reasoning",
        "id": part.item_id or new_id("rs_"),
        "summary": summary,
        "encrypted_content": part.signature,
    }


def _emit_call(part: c.ToolCall, custom: bool, names: ToolNames) -> dict[str, Any]:
    name = names.to_provider(part.name, API)
    if custom:
        raw = part.input.get("input") if isinstance(part.input, dict) else part.input
        return {
            "type": "custom_tool_call",
            "call_id": part.id,
            "name": name,
            "input": raw if isinstance(raw, str) else json.dumps(raw),
        }
    return {
        "type": "function_call",
        "call_id": part.id,
        "name": name,
        "arguments": c.dump_json_args(part.input),
    }


def _emit_tool(tool: c.Tool, names: ToolNames) -> dict[str, Any]:
    name = names.to_provider(tool.name, API)
    if tool.kind == "custom":
        entry: dict[str, Any] = {"type": "custom", "name": name}
        if tool.description:
            entry["description"] = tool.description
        if tool.format:
            entry["format"] = tool.format
        return entry
    entry = {
        "type": "function",
        "name": name,
        "parameters": tool.parameters or {"type": "object", "properties": {}},
        # Responses defaults to strict schemas, which most agents' schemas are not.
        "strict": bool(tool.strict),
    }
    if tool.description:
        entry["description"] = tool.description
    return entry


def _emit_tool_choice(
    body: dict[str, Any], choice: c.ToolChoice, custom: set[str], names: ToolNames
) -> None:
    if choice.type == "tool" and choice.name:
        kind = "custom" if choice.name in custom else "function"
        body["tool_choice"] = {"type": kind, "name": names.to_provider(choice.name, API)}
    else:
        body["tool_choice"] = {"any": "required"}.get(choice.type, choice.type)
    if choice.disable_parallel:
        body["parallel_tool_calls"] = False


def _emit_reasoning(cfg: c.ThinkingConfig) -> dict[str, Any]:
    effort = cfg.effort or c.budget_to_effort(cfg.budget) if (cfg.effort or cfg.budget) else None
    reasoning: dict[str, Any] = {"summary": "auto"}
    if effort:
        reasoning["effort"] = {"max": "high", "xhigh": "high"}.get(effort, effort)
    return reasoning


def _emit_format(fmt: c.ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {
        "type": "json_schema",
        "name": fmt.name or "response",
        "schema": fmt.schema or {},
    }
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return spec


def _emit_result(part: c.ToolResult, custom: bool) -> dict[str, Any]:
    output: Any
    if all(isinstance(p, c.Text) for p in part.content):
        output = part.text
        if part.is_error:
            output = f"Error: {output}" if output else "Error"
    else:
        output = [_emit_part(p) for p in part.content]
        if part.is_error:
            output.insert(0, {"type": "input_text", "text": "Error:"})
    kind = "custom_tool_call_output" if custom else "function_call_output"
    return {"type": kind, "call_id": part.call_id, "output": output}


# ---------------------------------------------------------------- usage, responses


def parse_usage(usage: Any) -> Usage:
    """Responses usage -> canonical (input_tokens includes cached tokens)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("input_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return from_inclusive(
        as_int(usage.get("input_tokens")), cached, as_int(usage.get("output_tokens"))
    )


def emit_usage(usage: Usage) -> dict[str, Any]:
    """Canonical usage as Responses usage."""
    prompt = prompt_total(usage)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }


def _stop(body: dict[str, Any], parts: list[c.Part], refused: bool) -> str:
    if body.get("status") == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        return c.REFUSAL if reason == "content_filter" else c.MAX_TOKENS
    if any(isinstance(p, c.ToolCall) for p in parts):
        return c.TOOL_USE
    return c.REFUSAL if refused else c.END_TURN


def parse_response(body: dict[str, Any]) -> c.Response:
    """A whole Responses response in canonical form."""
    parts, refused = _parse_output_items(body.get("output"))
    return c.Response(
        id=str(body.get("id") or new_id("resp_")),
        model=body.get("model"),
        content=parts,
        stop_reason=_stop(body, parts, refused),
        usage=parse_usage(body.get("usage")),
    )


def _status(stop: str | None) -> tuple[str, dict[str, Any] | None]:
    if stop == c.MAX_TOKENS:
        return "incomplete", {"reason": "max_output_tokens"}
    return "completed", None


def _response_object(
    resp_id: str, model: str, status: str, output: list[dict[str, Any]], usage: Usage | None
) -> dict[str, Any]:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": False,
        "usage": emit_usage(usage) if usage is not None else None,
    }


def emit_response(resp: c.Response, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical response as a Responses response object."""
    output: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []

    def flush() -> None:
        if texts:
            output.append(
                {
                    "id": new_id("msg_"),
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": list(texts),
                }
            )
            texts.clear()

    for part in resp.content:
        if isinstance(part, c.Text):
            texts.append({"type": "output_text", "text": part.text, "annotations": []})
            continue
        flush()
        if isinstance(part, c.Thinking) and not part.redacted:
            output.append(_reasoning_item(part))
        elif isinstance(part, c.ToolCall):
            output.append(_call_item(part.id, names.from_provider(part.name), part.input, names))
    flush()
    status, incomplete = _status(resp.stop_reason)
    rid = resp.id if resp.id.startswith("resp_") else "resp_" + resp.id
    obj = _response_object(rid, model, status, output, resp.usage)
    obj["incomplete_details"] = incomplete
    return obj


def _reasoning_item(part: c.Thinking) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": part.item_id if part.origin == API and part.item_id else new_id("rs_"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": part.text}] if part.text else [],
    }
    sealed = _slot(part)
    if sealed:
        item["encrypted_content"] = sealed
    return item


def _slot(thinking: c.Thinking) -> str | None:
    # Reasoning from another API is always sealed, even without a signature: with store=false
    # OpenAI rejects a reasoning item it cannot decrypt, so a same-API call must be able to
    # recognise and drop it (see translate.scrub_foreign_reasoning).
    if thinking.origin == API:
        return thinking.signature
    return c.seal(thinking)


def _call_item(call_id: str, name: str, args: Any, names: ToolNames) -> dict[str, Any]:
    if names.is_tool_search(name):
        return _search_item(call_id, c.parse_json_args(args), "completed")
    if names.is_custom(name):
        raw = args.get("input") if isinstance(args, dict) else args
        item = {
            "id": new_id("ctc_"),
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "input": raw if isinstance(raw, str) else json.dumps(raw),
        }
    else:
        item = {
            "id": new_id("fc_"),
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "arguments": c.dump_json_args(args),
        }
    return _in_namespace(item, names)


def _search_item(call_id: str, args: Any, status: str) -> dict[str, Any]:
    return {
        "id": new_id("tsc_"),
        "type": "tool_search_call",
        "status": status,
        "call_id": call_id,
        "execution": "client",
        "arguments": args,
    }


def _in_namespace(item: dict[str, Any], names: ToolNames) -> dict[str, Any]:
    # A namespace's tool goes back under its own name and namespace, as the agent declared it.
    where = names.namespaced(item["name"])
    if where is not None:
        item["namespace"], item["name"] = where
    return item


# ---------------------------------------------------------------- streams


class StreamParser(stream.StreamParser):
    """Responses stream events -> canonical events (several blocks may be open at once)."""

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[int, dict[str, Any]] = {}  # output_index -> state
        self._texts: dict[tuple[int, int], int] = {}  # (output_index, content_index) -> block
        self._tools = False
        self._refused = False

    def feed(self, event: str | None, data: str) -> list[c.Event]:
        """Canonical events for one SSE event."""
        if self.done:
            return []
        try:
            ev = jsonload.loads(data)
        except ValueError:
            return []
        if not isinstance(ev, dict):
            return []
        kind = ev.get("type") or event
        out: list[c.Event] = []
        if kind in ("response.created", "response.in_progress", "response.queued"):
            resp = ev.get("response") or {}
            return self._start(str(resp.get("id") or new_id("resp_")), resp.get("model"))
        if not self._started and kind != "error":
            out += self._start(new_id("resp_"))
        return out + self._event(str(kind), ev, as_int(ev.get("output_index")))

    def _event(self, kind: str, ev: dict[str, Any], pos: int) -> list[c.Event]:
        """The canonical events for one event of a started stream, by its type."""
        if kind == "response.output_item.added":
            return self._item_added(pos, ev.get("item") or {})
        if kind == "response.content_part.added":
            if (pos, as_int(ev.get("content_index"))) in self._texts:
                return []
            return self._text_delta(pos, ev, (ev.get("part") or {}).get("text") or None)
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self._refused = self._refused or kind == "response.refusal.delta"
            return self._text_delta(pos, ev, str(ev.get("delta", "")))
        if kind == "response.content_part.done":
            key = (pos, as_int(ev.get("content_index")))
            return [c.BlockStop(self._texts.pop(key))] if key in self._texts else []
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning_delta(kind, pos, ev)
        if kind in (
            "response.function_call_arguments.delta",
            "response.custom_tool_call_input.delta",
        ):
            return self._call_delta(pos, str(ev.get("delta", "")))
        if kind == "response.output_item.done":
            return self._item_done(pos, ev.get("item") or {})
        if kind in ("response.completed", "response.incomplete"):
            return self._finish(ev.get("response") or {})
        if kind == "response.failed":
            err = (ev.get("response") or {}).get("error") or {}
            return self._fail(str(err.get("message") or "response failed"), "api_error")
        if kind == "error":
            msg = ev.get("message") or (ev.get("error") or {}).get("message") or "error"
            return self._fail(str(msg), str(ev.get("code") or "api_error"))
        return []

    def _text_delta(self, pos: int, ev: dict[str, Any], text: str | None) -> list[c.Event]:
        """A text part's block, started on its first sight, and its new text if any."""
        out: list[c.Event] = []
        key = (pos, as_int(ev.get("content_index")))
        if key not in self._texts:
            self._texts[key] = self._new_index()
            out.append(c.BlockStart(self._texts[key], "text"))
        if text is not None:
            out.append(c.Delta(self._texts[key], "text", text))
        return out

    def _reasoning_delta(self, kind: str, pos: int, ev: dict[str, Any]) -> list[c.Event]:
        state = self._items.get(pos)
        if not state or state["kind"] != "reasoning":
            return []
        out: list[c.Event] = []
        marker = (kind, ev.get("summary_index", ev.get("content_index")))
        if state.get("part") not in (None, marker):
            out.append(c.Delta(state["index"], "thinking", "\n\n"))
        state["part"] = marker
        state["streamed"] = True
        out.append(c.Delta(state["index"], "thinking", str(ev.get("delta", ""))))
        return out

    def _call_delta(self, pos: int, delta: str) -> list[c.Event]:
        state = self._items.get(pos)
        if not state or state["kind"] not in ("function_call", "custom_tool_call"):
            return []
        state["streamed"] = True
        if state["kind"] == "custom_tool_call":
            delta = json.dumps(delta)[1:-1]
        return [c.Delta(state["index"], "json", delta)]

    def _finish(self, resp: dict[str, Any]) -> list[c.Event]:
        out = self._close_all()
        parts, refused = _parse_output_items(resp.get("output"))
        stop = _stop(resp, parts, refused or self._refused)
        if self._tools and stop == c.END_TURN:
            stop = c.TOOL_USE
        self.done = True
        self.usage = parse_usage(resp.get("usage"))
        out.append(c.End(stop, None, self.usage))
        return out

    def _item_added(self, pos: int, item: dict[str, Any]) -> list[c.Event]:
        kind = item.get("type")
        if kind == "reasoning":
            index = self._new_index()
            self._items[pos] = {"kind": kind, "index": index}
            return [c.BlockStart(index, "thinking", origin=API, item_id=item.get("id"))]
        if kind in ("function_call", "custom_tool_call"):
            index = self._new_index()
            self._tools = True
            self._items[pos] = {"kind": kind, "index": index}
            out: list[c.Event] = [
                c.BlockStart(
                    index,
                    "tool_use",
                    id=str(item.get("call_id") or item.get("id") or new_id("call_")),
                    name=str(item.get("name", "")),
                )
            ]
            if kind == "custom_tool_call":
                out.append(c.Delta(index, "json", '{"input":"'))
            return out
        if kind == "message":
            self._items[pos] = {"kind": kind}
        return []

    def _item_done(self, pos: int, item: dict[str, Any]) -> list[c.Event]:
        state = self._items.pop(pos, None)
        out: list[c.Event] = []
        if state is None:
            # An item announced only when done: replay it whole.
            added = self._item_added(pos, item)
            if not added and item.get("type") == "message":
                for part in item.get("content") or []:
                    index = self._new_index()
                    text = part.get("text") or part.get("refusal") or ""
                    out += [c.BlockStart(index, "text"), c.Delta(index, "text", text)]
                    out.append(c.BlockStop(index))
                self._items.pop(pos, None)
                return out
            out += added
            state = self._items.pop(pos, None)
            if state is None:
                return out
        if state["kind"] == "message":
            for key in [k for k in self._texts if k[0] == pos]:
                out.append(c.BlockStop(self._texts.pop(key)))
            return out
        index = state["index"]
        if state["kind"] == "reasoning":
            if not state.get("streamed"):
                text = _reasoning_text(item)
                if text:
                    out.append(c.Delta(index, "thinking", text))
            if item.get("encrypted_content"):
                out.append(c.Delta(index, "signature", str(item["encrypted_content"])))
        elif state["kind"] == "function_call":
            if not state.get("streamed") and item.get("arguments"):
                out.append(c.Delta(index, "json", str(item["arguments"])))
        elif state["kind"] == "custom_tool_call":
            if not state.get("streamed") and item.get("input"):
                out.append(c.Delta(index, "json", json.dumps(str(item["input"]))[1:-1]))
            out.append(c.Delta(index, "json", '"}'))
        out.append(c.BlockStop(index))
        return out

    def _close_all(self) -> list[c.Event]:
        out: list[c.Event] = [c.BlockStop(i) for i in self._texts.values()]
        self._texts.clear()
        for pos in list(self._items):
            state = self._items.pop(pos)
            if "index" in state:
                if state["kind"] == "custom_tool_call":
                    out.append(c.Delta(state["index"], "json", '"}'))
                out.append(c.BlockStop(state["index"]))
        return out


class StreamEmitter:
    """Canonical events -> Responses SSE bytes."""

    def __init__(self, model: str, names: ToolNames = TOOL_NAMES) -> None:
        self.model = model
        self.names = names
        self._seq = 0
        self._id = new_id("resp_")
        self._started = False
        self._ended = False
        self._blocks: dict[int, dict[str, Any]] = {}
        self._output: dict[int, dict[str, Any]] = {}  # output_index -> finished item
        self._next_output = 0

    def _sse(self, data: dict[str, Any]) -> bytes:
        data["sequence_number"] = self._seq
        self._seq += 1
        text = json.dumps(data, ensure_ascii=False)
        return f"event: {data['type']}\ndata: {text}\n\n".encode()

    def _start(self) -> bytes:
        self._started = True
        resp = _response_object(self._id, self.model, "in_progress", [], None)
        return self._sse({"type": "response.created", "response": resp}) + self._sse(
            {"type": "response.in_progress", "response": dict(resp)}
        )

    def emit(self, ev: c.Event) -> bytes:
        """Bytes for one canonical event."""
        if self._ended:
            return b""
        out = b""
        if not self._started and not isinstance(ev, c.StreamError | c.Ping):
            if isinstance(ev, c.Start):
                self._id = ev.id if ev.id.startswith("resp_") else "resp_" + ev.id
            out += self._start()
        if isinstance(ev, c.BlockStart):
            out += self._block_start(ev)
        elif isinstance(ev, c.Delta):
            out += self._delta(ev)
        elif isinstance(ev, c.BlockStop):
            out += self._block_stop(ev.index)
        elif isinstance(ev, c.End):
            for index in list(self._blocks):
                out += self._block_stop(index)
            self._ended = True
            status, incomplete = _status(ev.stop_reason)
            output = [self._output[i] for i in sorted(self._output)]
            resp = _response_object(self._id, self.model, status, output, ev.usage)
            resp["incomplete_details"] = incomplete
            kind = "response.completed" if status == "completed" else "response.incomplete"
            out += self._sse({"type": kind, "response": resp})
        elif isinstance(ev, c.StreamError):
            out += self.error(ev.message, ev.kind)
        return out

    def error(self, message: str, kind: str = "api_error") -> bytes:
        """An error event followed by response.failed, which ends the stream."""
        if self._ended:
            return b""
        self._ended = True
        out = self._sse({"type": "error", "code": kind, "message": message, "param": None})
        resp = _response_object(self._id, self.model, "failed", [], None)
        resp["error"] = {"code": "server_error", "message": message}
        return out + self._sse({"type": "response.failed", "response": resp})

    def _block_start(self, ev: c.BlockStart) -> bytes:
        if ev.kind == "redacted_thinking":
            return b""
        pos = self._next_output
        self._next_output += 1
        state: dict[str, Any] = {"kind": ev.kind, "pos": pos, "buf": [], "sig": [], "ev": ev}
        self._blocks[ev.index] = state
        if ev.kind == "text":
            item = {
                "id": new_id("msg_"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            state["item"] = item
            part = {"type": "output_text", "text": "", "annotations": []}
            return self._sse(
                {"type": "response.output_item.added", "output_index": pos, "item": dict(item)}
            ) + self._sse(
                {
                    "type": "response.content_part.added",
                    "item_id": item["id"],
                    "output_index": pos,
                    "content_index": 0,
                    "part": part,
                }
            )
        if ev.kind == "thinking":
            item_id = ev.item_id if ev.origin == API and ev.item_id else new_id("rs_")
            item = {"id": item_id, "type": "reasoning", "summary": []}
            state["item"] = item
            return self._sse(
                {"type": "response.output_item.added", "output_index": pos, "item": dict(item)}
            )
        name = self.names.from_provider(ev.name or "")
        call_id = ev.id or new_id("call_")
        if self.names.is_tool_search(name):
            # Arguments are an object here, known only whole: no delta events for them.
            state["kind"] = "search"
            item = _search_item(call_id, {}, "in_progress")
        elif self.names.is_custom(name):
            state["kind"] = "custom"
            item = {
                "id": new_id("ctc_"),
                "type": "custom_tool_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": name,
                "input": "",
            }
        else:
            item = {
                "id": new_id("fc_"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": name,
                "arguments": "",
            }
        state["item"] = _in_namespace(item, self.names) if "name" in item else item
        return self._sse(
            {"type": "response.output_item.added", "output_index": pos, "item": dict(item)}
        )

    def _delta(self, ev: c.Delta) -> bytes:
        state = self._blocks.get(ev.index)
        if state is None:
            return b""
        item = state["item"]
        pos = state["pos"]
        if ev.kind == "text" and state["kind"] == "text":
            state["buf"].append(ev.value)
            return self._sse(
                {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": pos,
                    "content_index": 0,
                    "delta": ev.value,
                    "logprobs": [],
                }
            )
        if ev.kind == "thinking" and state["kind"] == "thinking":
            out = b""
            if not state["buf"]:
                out += self._sse(
                    {
                        "type": "response.reasoning_summary_part.added",
                        "item_id": item["id"],
                        "output_index": pos,
                        "summary_index": 0,
                        "part": {"type": "summary_text", "text": ""},
                    }
                )
            state["buf"].append(ev.value)
            return out + self._sse(
                {
                    "type": "response.reasoning_summary_text.delta",
                    "item_id": item["id"],
                    "output_index": pos,
                    "summary_index": 0,
                    "delta": ev.value,
                }
            )
        if ev.kind == "signature":
            state["sig"].append(ev.value)
            return b""
        if ev.kind == "json" and state["kind"] == "tool_use":
            state["buf"].append(ev.value)
            return self._sse(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item["id"],
                    "output_index": pos,
                    "delta": ev.value,
                }
            )
        if ev.kind == "json" and state["kind"] in ("custom", "search"):
            state["buf"].append(ev.value)  # the raw input is only known whole
        return b""

    def _block_stop(self, index: int) -> bytes:
        state = self._blocks.pop(index, None)
        if state is None:
            return b""
        item = dict(state["item"])
        pos = state["pos"]
        text = "".join(state["buf"])
        out = b""
        if state["kind"] == "text":
            part = {"type": "output_text", "text": text, "annotations": []}
            base = {"item_id": item["id"], "output_index": pos, "content_index": 0}
            out += self._sse(
                {"type": "response.output_text.done", **base, "text": text, "logprobs": []}
            )
            out += self._sse({"type": "response.content_part.done", **base, "part": part})
            item.update(status="completed", content=[part])
        elif state["kind"] == "thinking":
            base = {"item_id": item["id"], "output_index": pos, "summary_index": 0}
            if state["buf"]:
                part = {"type": "summary_text", "text": text}
                out += self._sse(
                    {"type": "response.reasoning_summary_text.done", **base, "text": text}
                )
                out += self._sse(
                    {"type": "response.reasoning_summary_part.done", **base, "part": part}
                )
                item["summary"] = [part]
            start: c.BlockStart = state["ev"]
            thinking = c.Thinking(
                text, "".join(state["sig"]) or None, start.origin, item_id=start.item_id
            )
            sealed = _slot(thinking)
            if sealed:
                item["encrypted_content"] = sealed
        elif state["kind"] == "tool_use":
            out += self._sse(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item["id"],
                    "output_index": pos,
                    "arguments": text,
                }
            )
            item.update(status="completed", arguments=text)
        elif state["kind"] == "search":
            item.update(status="completed", arguments=c.parse_json_args(text))
        else:
            args = c.parse_json_args(text)
            raw = args.get("input") if isinstance(args, dict) else None
            raw = raw if isinstance(raw, str) else text
            base = {"item_id": item["id"], "output_index": pos}
            out += self._sse(
                {"type": "response.custom_tool_call_input.delta", **base, "delta": raw}
            )
            out += self._sse({"type": "response.custom_tool_call_input.done", **base, "input": raw})
            item.update(status="completed", input=raw)
        self._output[pos] = item
        return out + self._sse(
            {"type": "response.output_item.done", "output_index": pos, "item": item}
        )


# ---------------------------------------------------------------- usage taps

_END_EVENTS = ("response.completed", "response.incomplete", "response.failed")
# The stream events worth decoding for usage, model and stop reason (the rest is deltas).
TAP_MARKERS = tuple(f'"{kind}"'.encode() for kind in ("response.created", *_END_EVENTS))


def tap_event(ev: dict[str, Any], seen: TapReading) -> None:
    """What one streamed event says of the answer's model, usage and stop reason."""
    resp = ev.get("response") or {}
    seen.model = resp.get("model") or seen.model
    if ev.get("type") in _END_EVENTS:
        if isinstance(resp.get("usage"), dict):
            seen.usage = parse_usage(resp["usage"])
        if ev.get("type") != "response.failed":
            seen.stop_reason = parse_response(resp).stop_reason
