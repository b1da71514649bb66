"""Gemini generateContent / streamGenerateContent: requests, responses, stream chunks, errors.

Gemini has no system role in `contents`, matches function responses by name, carries reasoning
as `thought` parts and opaque `thoughtSignature`s on parts, and accepts only a subset of JSON
Schema (see schema.py). Usage: promptTokenCount includes cachedContentTokenCount; thoughts count
as output.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from agentwrap.wire import canonical as c
from agentwrap.wire import jsonload, stream
from agentwrap.wire.common import (
    TapReading,
    Usage,
    as_int,
    from_inclusive,
    new_id,
    prompt_total,
    status_for_kind,
)
from agentwrap.wire.names import TOOL_NAMES, ToolNames
from agentwrap.wire.schema import sanitize_for_gemini

API = "gemini"
# Google's documented placeholder for function calls whose signature was never issued by Gemini.
SKIP_SIGNATURE = "skip_thought_signature_validator"

_FINISH_TO_STOP = {
    "STOP": c.END_TURN,
    "MAX_TOKENS": c.MAX_TOKENS,
    "SAFETY": c.REFUSAL,
    "RECITATION": c.REFUSAL,
    "BLOCKLIST": c.REFUSAL,
    "PROHIBITED_CONTENT": c.REFUSAL,
    "SPII": c.REFUSAL,
    "IMAGE_SAFETY": c.REFUSAL,
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}


def stop_from_finish(finish: str | None, saw_calls: bool) -> str:
    """Canonical stop reason for a Gemini finishReason."""
    if saw_calls and finish in (None, "STOP"):
        return c.TOOL_USE
    return _FINISH_TO_STOP.get(finish or "STOP", c.END_TURN)


def finish_from_stop(stop: str | None) -> str:
    """Gemini finishReason for a canonical stop reason."""
    return {c.MAX_TOKENS: "MAX_TOKENS", c.REFUSAL: "SAFETY"}.get(stop or "", "STOP")


# ---------------------------------------------------------------- parts


def _media(mime: str | None, data: str | None = None, url: str | None = None) -> c.Part:
    if (mime or "").startswith("image/"):
        return c.Image(mime, data, url)
    if (mime or "").startswith("text/") and data is not None:
        try:
            return c.Document(mime, text=base64.b64decode(data).decode("utf-8"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            pass
    return c.Document(mime, data, url=url)


def _parse_parts(parts: Any, role: str, turn: int, calls: dict[str, list[str]]) -> list[c.Part]:
    out: list[c.Part] = []
    for k, part in enumerate(parts if isinstance(parts, list) else []):
        if not isinstance(part, dict):
            continue
        signature = part.get("thoughtSignature")
        last = out[-1] if out else None
        if part.get("thought"):
            _add_thought(out, last, str(part.get("text", "")), signature)
            continue
        if signature and signature != SKIP_SIGNATURE:
            origin, sig, item_id = c.unseal(signature, API)
            out.append(c.Thinking("", sig, origin, item_id=item_id))
            last = None
        if "text" in part:
            text = str(part["text"])
            if isinstance(last, c.Text):
                last.text += text  # streamed text pieces are one text
            elif text:
                out.append(c.Text(text))
        elif isinstance(part.get("inlineData"), dict):
            inline = part["inlineData"]
            out.append(_media(inline.get("mimeType"), inline.get("data")))
        elif isinstance(part.get("fileData"), dict):
            ref = part["fileData"]
            out.append(_media(ref.get("mimeType"), url=ref.get("fileUri")))
        elif isinstance(part.get("functionCall"), dict):
            fc = part["functionCall"]
            name = str(fc.get("name", ""))
            # Positional ids are stable when the same history is sent again next turn.
            call_id = str(fc.get("id") or f"call_g{turn}_{k}")
            calls.setdefault(name, []).append(call_id)
            out.append(c.ToolCall(call_id, name, fc.get("args") or {}))
        elif isinstance(part.get("functionResponse"), dict):
            out.append(_parse_function_response(part["functionResponse"], calls))
    return out


def _add_thought(out: list[c.Part], last: c.Part | None, text: str, signature: Any) -> None:
    origin, sig, item_id = c.unseal(signature, API)
    # A streamed answer comes back as many thought parts: they are one reasoning.
    if isinstance(last, c.Thinking) and last.signature is None and not last.redacted:
        last.text += text
        if sig:
            last.signature, last.origin, last.item_id = sig, origin, item_id
    else:
        out.append(c.Thinking(text, sig, origin or API, item_id=item_id))


def _parse_function_response(fr: dict[str, Any], calls: dict[str, list[str]]) -> c.ToolResult:
    """A functionResponse as a tool result, its call id matched with the call's by name."""
    name = str(fr.get("name", ""))
    pending = calls.get(name) or []
    call_id = fr.get("id") or (pending.pop(0) if pending else f"call_{name}")
    if fr.get("id") and fr["id"] in pending:
        pending.remove(fr["id"])
    response = fr.get("response")
    is_error = isinstance(response, dict) and "error" in response and len(response) == 1
    content: list[c.Text | c.Image | c.Document] = [c.Text(_response_text(response))]
    for inner in fr.get("parts") or []:
        if isinstance(inner, dict) and isinstance(inner.get("inlineData"), dict):
            media = _media(inner["inlineData"].get("mimeType"), inner["inlineData"].get("data"))
            if isinstance(media, c.Image | c.Document):
                content.append(media)
    return c.ToolResult(str(call_id), content, is_error, name=name)


def _response_text(response: Any) -> str:
    if isinstance(response, dict):
        for key in ("output", "content", "result", "error"):
            value = response.get(key)
            if len(response) == 1 and isinstance(value, str):
                return value
    return json.dumps(response, ensure_ascii=False)


def _emit_media(part: c.Image | c.Document) -> dict[str, Any]:
    if isinstance(part, c.Document) and part.text is not None and not part.data:
        head = f"Document: {part.title or part.filename}\n" if part.title or part.filename else ""
        return {"text": head + part.text}
    if part.data:
        return {
            "inlineData": {
                "mimeType": part.media_type or "application/octet-stream",
                "data": part.data,
            }
        }
    mime = part.media_type or ("image/png" if isinstance(part, c.Image) else "application/pdf")
    return {"fileData": {"mimeType": mime, "fileUri": part.url}}


# ---------------------------------------------------------------- requests


def parse_request(body: dict[str, Any], model: str | None = None) -> c.Request:
    """A Gemini generateContent body in canonical form (the model comes from the path)."""
    req = c.Request(model=model)
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        req.system = [
            c.Text(str(p.get("text", "")))
            for p in system.get("parts") or []
            if isinstance(p, dict) and "text" in p
        ]
    elif isinstance(system, str):
        req.system = [c.Text(system)]
    calls: dict[str, list[str]] = {}
    for turn, content in enumerate(body.get("contents") or []):
        if not isinstance(content, dict):
            continue
        role = "assistant" if content.get("role") == "model" else "user"
        parts = _parse_parts(content.get("parts"), role, turn, calls)
        if not parts:
            continue
        if req.messages and req.messages[-1].role == role:
            req.messages[-1].parts.extend(parts)
        else:
            req.messages.append(c.Message(role, parts))
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            _parse_tool(req, tool)
    cfg = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = cfg.get("mode")
    allowed = cfg.get("allowedFunctionNames") or []
    if mode == "ANY":
        req.tool_choice = (
            c.ToolChoice("tool", allowed[0]) if len(allowed) == 1 else c.ToolChoice("any")
        )
    elif mode in ("AUTO", "NONE"):
        req.tool_choice = c.ToolChoice(mode.lower())
    gen = body.get("generationConfig") or {}
    req.max_tokens = gen.get("maxOutputTokens")
    req.temperature = gen.get("temperature")
    req.top_p = gen.get("topP")
    req.top_k = gen.get("topK")
    req.stop = [s for s in gen.get("stopSequences") or [] if isinstance(s, str)]
    thinking = gen.get("thinkingConfig")
    if isinstance(thinking, dict):
        budget = thinking.get("thinkingBudget")
        level = thinking.get("thinkingLevel")
        enabled = budget != 0
        req.thinking = c.ThinkingConfig(
            enabled,
            budget if isinstance(budget, int) and budget > 0 else None,
            level.lower() if isinstance(level, str) else None,
        )
    if gen.get("responseMimeType") == "application/json":
        schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
        req.response_format = c.ResponseFormat(
            "json_schema" if schema else "json_object", _lower_types(schema) if schema else None
        )
    return req


def _parse_tool(req: c.Request, tool: dict[str, Any]) -> None:
    """Function declarations join the request's tools; any other tool is a server tool."""
    decls = tool.get("functionDeclarations") or tool.get("function_declarations")
    if not isinstance(decls, list):
        req.server_tools.append(tool)
        req.server_tools_api = API
        return
    for d in decls:
        if isinstance(d, dict):
            params = d.get("parametersJsonSchema") or d.get("parameters")
            req.tools.append(
                c.Tool(
                    str(d.get("name", "")),
                    d.get("description"),
                    _lower_types(params) if params else None,
                )
            )


def _lower_types(schema: Any) -> Any:
    # Gemini's OpenAPI-style schemas may spell types in capitals (OBJECT, STRING).
    if isinstance(schema, dict):
        out = {k: _lower_types(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = out["type"].lower()
        return out
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def emit_request(req: c.Request, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical request as a Gemini generateContent body (the model goes in the path)."""
    del model
    if req.server_tools and req.server_tools_api != API:
        kinds = ", ".join(str(t.get("type")) for t in req.server_tools)
        raise c.TranslationError(
            f"server tools ({kinds}) of {req.server_tools_api} have no Gemini counterpart"
        )

    def rename(name: str) -> str:
        return names.to_provider(name, API)

    system = [t.text for t in req.system]
    body: dict[str, Any] = {"contents": _emit_contents(req, rename, system)}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    decls = [_emit_declaration(tool, rename) for tool in req.tools]
    tools: list[dict[str, Any]] = [{"functionDeclarations": decls}] if decls else []
    tools.extend(req.server_tools)
    if tools:
        body["tools"] = tools
    if req.tool_choice and decls:
        choice = req.tool_choice
        mode = {"auto": "AUTO", "any": "ANY", "none": "NONE", "tool": "ANY"}.get(
            choice.type, "AUTO"
        )
        fcc: dict[str, Any] = {"mode": mode}
        if choice.type == "tool" and choice.name:
            fcc["allowedFunctionNames"] = [rename(choice.name)]
        body["toolConfig"] = {"functionCallingConfig": fcc}
    gen = _emit_generation(req)
    if gen:
        body["generationConfig"] = gen
    return body


def _emit_contents(
    req: c.Request, rename: Callable[[str], str], system: list[str]
) -> list[dict[str, Any]]:
    """The request's turns as Gemini contents; system turns' text goes into `system`."""
    call_names: dict[str, str] = {}
    for msg in req.messages:
        for part in msg.parts:
            if isinstance(part, c.ToolCall):
                call_names[part.id] = part.name
    contents: list[dict[str, Any]] = []
    for msg in req.messages:
        if msg.role == "system":
            # No system role inside contents: mid-conversation system text joins the instruction.
            system.extend(p.text for p in msg.parts if isinstance(p, c.Text))
            continue
        parts = _emit_parts(msg, rename, call_names)
        if not parts:
            continue
        role = "model" if msg.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _emit_declaration(tool: c.Tool, rename: Callable[[str], str]) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": rename(tool.name)}
    if tool.description:
        decl["description"] = tool.description
    params = tool.parameters
    if tool.kind == "custom":
        params = {
            "type": "object",
            "properties": {"input": {"type": "string"}},
            "required": ["input"],
        }
    if isinstance(params, dict) and params.get("properties"):
        decl["parameters"] = sanitize_for_gemini(params)
    return decl


def _emit_generation(req: c.Request) -> dict[str, Any]:
    """generationConfig: limits, sampling, thinking and the output format."""
    gen: dict[str, Any] = {}
    if req.max_tokens:
        gen["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        gen["temperature"] = req.temperature
    if req.top_p is not None:
        gen["topP"] = req.top_p
    if req.top_k is not None:
        gen["topK"] = req.top_k
    if req.stop:
        gen["stopSequences"] = req.stop[:5]
    cfg = req.thinking
    if cfg is not None and cfg.enabled:
        thinking: dict[str, Any] = {"includeThoughts": True}
        if cfg.budget:
            thinking["thinkingBudget"] = cfg.budget
        elif cfg.effort:
            thinking["thinkingBudget"] = c.effort_to_budget(cfg.effort)
        gen["thinkingConfig"] = thinking
    fmt = req.response_format
    if fmt is not None:
        gen["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            gen["responseSchema"] = sanitize_for_gemini(fmt.schema)
    return gen


def _emit_parts(msg: c.Message, rename: Any, call_names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    pending_sig: str | None = None
    first_call = True
    for part in msg.parts:
        out: dict[str, Any] | None = None
        extra: list[dict[str, Any]] = []
        if isinstance(part, c.Thinking):
            if part.origin != API or part.redacted or not part.signature and not part.text:
                continue
            if part.text:
                out = {"text": part.text, "thought": True}
                if part.signature:
                    out["thoughtSignature"] = part.signature
                parts.append(out)
            else:
                pending_sig = part.signature
            continue
        if isinstance(part, c.Text):
            out = {"text": part.text}
        elif isinstance(part, c.Image | c.Document):
            out = _emit_media(part)
        elif isinstance(part, c.ToolCall):
            args = part.input if isinstance(part.input, dict) else {"_value": part.input}
            out = {"functionCall": {"name": rename(part.name), "args": args}}
            if first_call and pending_sig is None:
                pending_sig = SKIP_SIGNATURE
            first_call = False
        elif isinstance(part, c.ToolResult):
            name = part.name or call_names.get(part.call_id) or "tool"
            key = "error" if part.is_error else "output"
            out = {"functionResponse": {"name": rename(name), "response": {key: part.text}}}
            extra = [_emit_media(p) for p in part.content if isinstance(p, c.Image | c.Document)]
        if out is None:
            continue
        if pending_sig is not None and msg.role == "assistant":
            out["thoughtSignature"] = pending_sig
        pending_sig = None
        parts.append(out)
        parts.extend(extra)
    return parts


# ---------------------------------------------------------------- usage, responses


def parse_usage(meta: Any) -> Usage:
    """usageMetadata -> canonical usage."""
    if not isinstance(meta, dict):
        return Usage()
    prompt = as_int(meta.get("promptTokenCount")) + as_int(meta.get("toolUsePromptTokenCount"))
    output = as_int(meta.get("candidatesTokenCount")) + as_int(meta.get("thoughtsTokenCount"))
    return from_inclusive(prompt, as_int(meta.get("cachedContentTokenCount")), output)


def emit_usage(usage: Usage) -> dict[str, Any]:
    """Canonical usage as usageMetadata."""
    prompt = prompt_total(usage)
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": prompt + usage.output_tokens,
    }
    if usage.cache_read_tokens:
        meta["cachedContentTokenCount"] = usage.cache_read_tokens
    return meta


def parse_response(body: dict[str, Any]) -> c.Response:
    """A whole GenerateContentResponse in canonical form."""
    candidates = body.get("candidates") or [{}]
    cand = candidates[0] if isinstance(candidates[0], dict) else {}
    calls: dict[str, list[str]] = {}
    parts = _parse_parts((cand.get("content") or {}).get("parts"), "assistant", 0, calls)
    for part in parts:
        if isinstance(part, c.ToolCall) and part.id.startswith("call_g0_"):
            part.id = new_id("call_")  # positional ids are for histories; answers get fresh ones
    saw_calls = any(isinstance(p, c.ToolCall) for p in parts)
    finish = cand.get("finishReason")
    if not candidates or (body.get("promptFeedback") or {}).get("blockReason"):
        finish = finish or "SAFETY"
    return c.Response(
        id=str(body.get("responseId") or new_id("gen_")),
        model=body.get("modelVersion"),
        content=parts,
        stop_reason=stop_from_finish(finish, saw_calls),
        usage=parse_usage(body.get("usageMetadata")),
    )


def _emit_answer_parts(content: list[c.Part], names: ToolNames) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    pending: str | None = None
    for part in content:
        if isinstance(part, c.Thinking):
            if part.redacted:
                continue
            sig = c.slot_value(part, API)
            if part.text:
                out: dict[str, Any] = {"text": part.text, "thought": True}
                if sig:
                    out["thoughtSignature"] = sig
                parts.append(out)
            elif sig:
                pending = sig
            continue
        if isinstance(part, c.Text):
            out = {"text": part.text}
        elif isinstance(part, c.ToolCall):
            out = {
                "functionCall": {
                    "name": names.from_provider(part.name),
                    "args": part.input,
                    "id": part.id,
                }
            }
        else:
            continue
        if pending:
            out["thoughtSignature"] = pending
            pending = None
        parts.append(out)
    if pending:
        parts.append({"text": "", "thought": True, "thoughtSignature": pending})
    return parts


def emit_response(resp: c.Response, model: str, names: ToolNames = TOOL_NAMES) -> dict[str, Any]:
    """A canonical response as a GenerateContentResponse."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": _emit_answer_parts(resp.content, names)},
                "finishReason": finish_from_stop(resp.stop_reason),
                "index": 0,
            }
        ],
        "usageMetadata": emit_usage(resp.usage),
        "modelVersion": model,
        "responseId": resp.id,
    }


# ---------------------------------------------------------------- streams


class StreamParser(stream.StreamParser):
    """Gemini SSE chunks (each a GenerateContentResponse) -> canonical events."""

    def __init__(self) -> None:
        super().__init__()
        self._finish: str | None = None
        self._calls = False

    def feed(self, event: str | None, data: str) -> list[c.Event]:
        """Canonical events for one SSE event."""
        if self.done:
            return []
        try:
            chunk = jsonload.loads(data)
        except ValueError:
            return []
        if isinstance(chunk, list):  # a JSON array stream, chunk by chunk
            return [e for item in chunk for e in self.feed(event, json.dumps(item))]
        if not isinstance(chunk, dict):
            return []
        if isinstance(chunk.get("error"), dict):
            err = chunk["error"]
            message = str(err.get("message", "error"))
            return self._fail(message, str(err.get("status") or "api_error"))
        out = self._start(str(chunk.get("responseId") or new_id("gen_")), chunk.get("modelVersion"))
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = parse_usage(chunk["usageMetadata"])
        for cand in chunk.get("candidates") or []:
            if not isinstance(cand, dict) or cand.get("index", 0) != 0:
                continue
            for part in (cand.get("content") or {}).get("parts") or []:
                if isinstance(part, dict):
                    out += self._part(part)
            if isinstance(cand.get("finishReason"), str):
                self._finish = cand["finishReason"]
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            self._finish = self._finish or "SAFETY"
        return out

    def _part(self, part: dict[str, Any]) -> list[c.Event]:
        out: list[c.Event] = []
        signature = part.get("thoughtSignature")
        origin, sig, item_id = c.unseal(signature, API)
        if part.get("thought"):
            if self._open_kind != "thinking":
                out += self._open_block("thinking", origin=origin or API, item_id=item_id)
            if part.get("text"):
                out.append(c.Delta(self._open_index, "thinking", str(part["text"])))
            if sig:
                out.append(c.Delta(self._open_index, "signature", sig))
            return out
        if sig and signature != SKIP_SIGNATURE:
            out += self._open_block("thinking", origin=origin, item_id=item_id)
            out.append(c.Delta(self._open_index, "signature", sig))
            out += self._close_block()
        if isinstance(part.get("text"), str):
            if not part["text"]:
                return out
            if self._open_kind != "text":
                out += self._open_block("text")
            out.append(c.Delta(self._open_index, "text", part["text"]))
        elif isinstance(part.get("functionCall"), dict):
            fc = part["functionCall"]
            self._calls = True
            out += self._open_block(
                "tool_use", id=str(fc.get("id") or new_id("call_")), name=str(fc.get("name", ""))
            )
            out.append(c.Delta(self._open_index, "json", json.dumps(fc.get("args") or {})))
            out += self._close_block()
        return out

    @property
    def finished(self) -> bool:
        """Whether a finishReason arrived."""
        return self._finish is not None

    def finish(self) -> list[c.Event]:
        """Close the answer at the end of the stream."""
        if self.done:
            return []
        self.done = True
        return [
            *self._close_block(),
            c.End(stop_from_finish(self._finish, self._calls), None, self.usage),
        ]


class StreamEmitter:
    """Canonical events -> Gemini SSE chunks."""

    def __init__(self, model: str, names: ToolNames = TOOL_NAMES) -> None:
        self.model = model
        self.names = names
        self._id = new_id("gen_")
        self._ended = False
        self._blocks: dict[int, dict[str, Any]] = {}
        self._pending_sig: str | None = None

    def _chunk(
        self, parts: list[dict[str, Any]], finish: str | None = None, usage: Usage | None = None
    ) -> bytes:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        data: dict[str, Any] = {
            "candidates": [cand],
            "modelVersion": self.model,
            "responseId": self._id,
        }
        if usage is not None:
            data["usageMetadata"] = emit_usage(usage)
        return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\r\n\r\n"

    def _with_sig(self, part: dict[str, Any]) -> dict[str, Any]:
        if self._pending_sig:
            part["thoughtSignature"] = self._pending_sig
            self._pending_sig = None
        return part

    def emit(self, ev: c.Event) -> bytes:
        """Bytes for one canonical event."""
        if self._ended:
            return b""
        if isinstance(ev, c.Start):
            self._id = ev.id
            return b""
        if isinstance(ev, c.BlockStart):
            self._blocks[ev.index] = {"ev": ev, "buf": [], "sig": [], "text": False}
            return b""
        if isinstance(ev, c.Delta):
            state = self._blocks.get(ev.index)
            if state is None:
                return b""
            if ev.kind == "text":
                return self._chunk([self._with_sig({"text": ev.value})])
            if ev.kind == "thinking":
                state["text"] = True
                return self._chunk([{"text": ev.value, "thought": True}])
            if ev.kind in ("json", "signature"):
                state["buf" if ev.kind == "json" else "sig"].append(ev.value)
            return b""
        if isinstance(ev, c.BlockStop):
            return self._stop(ev.index)
        if isinstance(ev, c.End):
            out = b"".join(self._stop(i) for i in list(self._blocks))
            parts = [self._with_sig({"text": "", "thought": True})] if self._pending_sig else []
            self._ended = True
            return out + self._chunk(
                parts or [{"text": ""}], finish_from_stop(ev.stop_reason), ev.usage
            )
        if isinstance(ev, c.StreamError):
            return self.error(ev.message, ev.kind)
        return b""

    def _stop(self, index: int) -> bytes:
        state = self._blocks.pop(index, None)
        if state is None:
            return b""
        start: c.BlockStart = state["ev"]
        if start.kind == "thinking" and state["sig"]:
            thinking = c.Thinking(
                signature="".join(state["sig"]), origin=start.origin, item_id=start.item_id
            )
            sealed = c.slot_value(thinking, API)
            if state["text"]:
                # The signature closes the thought it signs, as Gemini's own thought parts do.
                return self._chunk([{"text": "", "thought": True, "thoughtSignature": sealed}])
            self._pending_sig = sealed  # a bare signature rides on the next part
            return b""
        if start.kind == "tool_use":
            args = c.parse_json_args("".join(state["buf"]))
            call = {"name": self.names.from_provider(start.name or ""), "args": args}
            if start.id:
                call["id"] = start.id
            return self._chunk([self._with_sig({"functionCall": call})])
        return b""

    def error(self, message: str, kind: str = "api_error") -> bytes:
        """An in-stream error chunk."""
        self._ended = True
        status = status_for_kind(kind)
        return b"data: " + json.dumps(error_body(status, message)).encode() + b"\r\n\r\n"


# ---------------------------------------------------------------- errors


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """A Google-style error body."""
    del kind
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """(message, kind) from a Google-style error body (also inside a one-element list)."""
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return err.get("message"), err.get("status")
    return None, None


# ---------------------------------------------------------------- usage taps

# The chunks worth decoding for usage and finish reason (the model is in every chunk).
TAP_MARKERS = (b'"usageMetadata"', b'"finishReason"')
TAP_CALL_MARKER = b'"functionCall"'


def tap_event(chunk: dict[str, Any], seen: TapReading) -> None:
    """What one streamed chunk says of the answer's model, usage and finish reason."""
    seen.model = seen.model or chunk.get("modelVersion")
    if isinstance(chunk.get("usageMetadata"), dict):
        seen.usage = parse_usage(chunk["usageMetadata"])
    for cand in chunk.get("candidates") or []:
        if isinstance(cand, dict) and isinstance(cand.get("finishReason"), str):
            seen.finish = cand["finishReason"]
