"""The proxy's entry points for calls whose agent and provider speak different APIs.

Everything here goes through the canonical model: parse with the source surface, emit with the
destination surface. Pure functions and small stateful stream translators; no I/O.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

from agentwrap.wire import anthropic, gemini
from agentwrap.wire import canonical as c
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_RESPONSES
from agentwrap.wire.common import Usage, kind_for_status
from agentwrap.wire.names import TOOL_NAMES, ToolNames
from agentwrap.wire.sse import SSEDecoder
from agentwrap.wire.surface import SURFACES, surface_for

TranslationError = c.TranslationError
# What a body of an unexpected shape makes the parsers raise.
_MALFORMED = (TypeError, AttributeError, KeyError, IndexError, ValueError)


def upstream_path(api: str, model: str, stream: bool) -> str:
    """The path to append to a provider's base_url for one call translated into `api`.

    Anthropic base URLs have no /v1; OpenAI ones end in /v1; Gemini's is the host root.
    """
    surface = surface_for(api)
    return surface.upstream_path(surface.call_endpoint(stream), model)


def parse_request(body: dict[str, Any], api: str, model: str | None = None) -> c.Request:
    """An agent's request body in canonical form (`model`: Gemini's model from the path)."""
    if not isinstance(body, dict):
        raise TranslationError("the request body is not a JSON object")
    return surface_for(api).parse_request(body, model, TOOL_NAMES)


def translate_request(
    body: dict[str, Any],
    src: str,
    dst: str,
    model: str,
    *,
    stream: bool | None = None,
    max_output_tokens: int | None = None,
    names: ToolNames = TOOL_NAMES,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The agent's request (API `src`) as a provider request (API `dst`) for `model`.

    `stream` overrides the body's stream flag; pass it when `src` is Gemini, whose bodies do
    not say (the path does). `max_output_tokens` caps the answer length for a model that
    accepts less than the agent asks for (Claude Code asks for 64000); without it a few
    well-known limits apply. Raises TranslationError for what `dst` cannot express; what
    the translation leaves out instead (a tool only the agent's provider hosts) is appended
    to `notes` when a list is given, in words for the call's record.
    """
    source, destination = surface_for(src), surface_for(dst)
    if src == dst:
        out = dict(body)
        if destination.request_model_key is not None:
            out[destination.request_model_key] = model
        return out
    try:
        if not isinstance(body, dict):
            raise TranslationError("the request body is not a JSON object")
        req = source.parse_request(body, None, names)
        if notes is not None:
            notes.extend(req.notes)
        if stream is not None:
            req.stream = stream
        cap = max_output_tokens or known_output_limit(model)
        if cap and req.max_tokens and req.max_tokens > cap:
            req.max_tokens = cap
        return destination.emit_request(req, model, names)
    except TranslationError:
        raise
    except _MALFORMED as exc:
        raise TranslationError(f"the {src} request has an unexpected shape: {exc!r}") from exc


# Output limits of a few popular models that reject larger max_tokens (longest prefix wins).
_OUTPUT_LIMITS = {
    "deepseek-chat": 8192,
    "deepseek-reasoner": 65536,
    "gpt-4o": 16384,
    "gpt-4.1": 32768,
    "gpt-3.5": 4096,
    "gpt-5": 128000,
    "o3": 100000,
    "o4-mini": 100000,
    "gemini-2.0": 8192,
    "gemini-2.5": 65536,
}


def known_output_limit(model: str) -> int | None:
    """The largest max_tokens a well-known model accepts, or None when not known."""
    name = model.rsplit("/", 1)[-1].lower()
    best = max((p for p in _OUTPUT_LIMITS if name.startswith(p)), key=len, default=None)
    return _OUTPUT_LIMITS[best] if best else None


def translate_response(
    body: dict[str, Any], src: str, dst: str, model: str, *, names: ToolNames = TOOL_NAMES
) -> dict[str, Any]:
    """A provider's whole JSON response (API `src`) in the agent's API `dst`.

    `model` is the name shown to the agent (the one it asked for).
    """
    if not isinstance(body, dict):
        raise TranslationError("the response body is not a JSON object")
    source, destination = surface_for(src), surface_for(dst)
    if src == dst:
        out = dict(body)
        out[destination.response_model_key] = model
        return out
    try:
        resp = source.parse_response(body)
        return destination.emit_response(resp, model, names)
    except _MALFORMED as exc:
        raise TranslationError(f"the {src} response has an unexpected shape: {exc!r}") from exc


def response_events(resp: c.Response) -> list[c.Event]:
    """A whole response as the stream of canonical events that would have produced it."""
    out: list[c.Event] = [c.Start(resp.id, resp.model)]
    for index, part in enumerate(resp.content):
        if isinstance(part, c.Text):
            out += [c.BlockStart(index, "text"), c.Delta(index, "text", part.text)]
        elif isinstance(part, c.Thinking):
            if part.redacted:
                out.append(
                    c.BlockStart(
                        index, "redacted_thinking", data=part.signature, origin=part.origin
                    )
                )
            else:
                out.append(
                    c.BlockStart(index, "thinking", origin=part.origin, item_id=part.item_id)
                )
                if part.text:
                    out.append(c.Delta(index, "thinking", part.text))
                if part.signature:
                    out.append(c.Delta(index, "signature", part.signature))
        elif isinstance(part, c.ToolCall):
            out.append(c.BlockStart(index, "tool_use", id=part.id, name=part.name))
            out.append(c.Delta(index, "json", c.dump_json_args(part.input)))
        else:
            continue
        out.append(c.BlockStop(index))
    out.append(c.End(resp.stop_reason, resp.stop_sequence, resp.usage))
    return out


class StreamTranslator:
    """Upstream SSE bytes in API `src` -> SSE bytes in the agent's API `dst`, incrementally."""

    def __init__(self, src: str, dst: str, model: str, *, names: ToolNames = TOOL_NAMES) -> None:
        self.src, self.dst, self.model = src, dst, model
        self._decoder = SSEDecoder()
        self._source = surface_for(src)
        self._parser = self._source.stream_parser()
        self._emitter = surface_for(dst).stream_emitter(model, names)
        self._raw = bytearray()  # kept only until the first SSE event: a JSON body instead
        self._events = 0
        self.malformed = 0  # upstream events skipped because of their shape
        self._closed = False
        self.stop_reason: str | None = None
        self._usage = Usage()
        self.upstream_model: str | None = None

    @property
    def usage(self) -> Usage:
        """Tokens seen so far (Anthropic semantics: input excludes cache tokens)."""
        return self._usage

    def _run(self, pairs: list[tuple[str | None, str]]) -> bytes:
        out = bytearray()
        for event, data in pairs:
            self._events += 1
            try:
                events = self._parser.feed(event, data)
            except _MALFORMED:
                # One event of an unexpected shape is skipped, not allowed to end the answer.
                self.malformed += 1
                continue
            for ev in events:
                out += self._emit(ev)
        self._usage = self._parser.usage if not self._closed else self._usage
        return bytes(out)

    def _emit(self, ev: c.Event) -> bytes:
        if isinstance(ev, c.Start):
            self.upstream_model = ev.model
        elif isinstance(ev, c.End):
            self.stop_reason = ev.stop_reason
        try:
            return self._emitter.emit(ev)
        except _MALFORMED:
            self.malformed += 1
            return b""

    def feed(self, chunk: bytes) -> bytes:
        """Bytes for the agent produced by this upstream chunk (possibly none)."""
        if self._events == 0 and len(self._raw) < 1 << 20:
            self._raw += chunk
        return self._run(self._decoder.feed(chunk))

    def close(self) -> bytes:
        """Flush at the end of the upstream body; a truncated stream ends with an error event."""
        out = self._run(self._decoder.close())
        parser = self._parser
        if not parser.done and self._events == 0 and self._raw.strip():
            out += self._whole_body(bytes(self._raw))
        if not parser.done and parser.finished:
            try:
                tail = parser.finish()
            except _MALFORMED:
                tail = []
            for ev in tail:
                out += self._emit(ev)
        self._usage = parser.usage
        if not parser.done:
            out += self._emitter.error("the upstream stream ended before the answer was complete")
        self._closed = True
        return out

    def _whole_body(self, raw: bytes) -> bytes:
        # Some servers answer a streamed request with one JSON body (or a JSON error).
        try:
            body = json.loads(raw)
        except ValueError:
            return b""
        if isinstance(body, dict | list):
            message, _ = _error_message(body, self.src)
            if message:
                self._parser.done = True
                return self._emitter.error(message)
        if not isinstance(body, dict):
            return b""
        try:
            resp = self._source.parse_response(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            return b""
        out = b"".join(self._emit(ev) for ev in response_events(resp))
        self._parser.done = True
        self._parser.usage = resp.usage
        return out

    def error_event(self, message: str) -> bytes:
        """A mid-stream error event in the agent's API."""
        return self._emitter.error(message)


# ---------------------------------------------------------------- same-API reasoning scrub

_SEALED = b"awsig1."


def needs_scrub(raw: bytes, api: str) -> bool:
    """Cheap test on a same-API request body: may it carry reasoning another API issued?

    Such reasoning (a thinking block whose signature is empty or sealed by agentwrap, a
    Responses reasoning item or Gemini part sealed the same way) reaches the agent when a
    turn was served by another provider; the agent's own provider would reject it.
    """
    if _SEALED in raw:
        return True
    return api == ANTHROPIC and re.search(rb'"signature"\s*:\s*""', raw) is not None


def scrub_foreign_reasoning(body: dict[str, Any], api: str) -> dict[str, Any]:
    """A copy of a same-API request without reasoning tokens that API did not issue."""
    out = dict(body)
    if api == ANTHROPIC:
        out["messages"] = [_scrub_anthropic(m) for m in body.get("messages") or []]
        thinking = out.get("thinking")
        if (
            isinstance(thinking, dict)
            and thinking.get("type") != "disabled"
            and anthropic.tool_turn_lacks_thinking(out["messages"])
        ):
            out.pop("thinking", None)
    elif api == OPENAI_RESPONSES and isinstance(body.get("input"), list):
        out["input"] = [
            item
            for item in body["input"]
            if not (
                isinstance(item, dict)
                and item.get("type") == "reasoning"
                and str(item.get("encrypted_content") or "").startswith(_SEALED.decode())
            )
        ]
    elif api == GEMINI and isinstance(body.get("contents"), list):
        out["contents"] = [_scrub_gemini(content) for content in body["contents"]]
    return out


def _scrub_anthropic(msg: Any) -> Any:
    if not isinstance(msg, dict) or msg.get("role") != "assistant":
        return msg
    content = msg.get("content")
    if not isinstance(content, list):
        return msg

    def foreign(block: Any) -> bool:
        if not isinstance(block, dict) or block.get("type") != "thinking":
            return False
        signature = str(block.get("signature") or "")
        return not signature or signature.startswith(_SEALED.decode())

    kept = [b for b in content if not foreign(b)]
    if len(kept) == len(content):
        return msg
    return {**msg, "content": kept or [{"type": "text", "text": "(reasoning omitted)"}]}


def _scrub_gemini(content: Any) -> Any:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return content
    parts = []
    scrubbed = False
    for part in content["parts"]:
        sig = part.get("thoughtSignature") if isinstance(part, dict) else None
        if isinstance(sig, str) and sig.startswith(_SEALED.decode()):
            scrubbed = True
            if part.get("thought"):
                continue
            part = {k: v for k, v in part.items() if k != "thoughtSignature"}
        parts.append(part)
    if scrubbed:
        # Gemini wants a signature on a turn's first function call; say there is none to check.
        for i, part in enumerate(parts):
            if isinstance(part, dict) and "functionCall" in part:
                if "thoughtSignature" not in part:
                    parts[i] = {**part, "thoughtSignature": gemini.SKIP_SIGNATURE}
                break
    return {**content, "parts": parts}


# ---------------------------------------------------------------- errors


def _error_message(body: Any, src: str) -> tuple[str | None, str | None]:
    order = [src, *[a for a in SURFACES if a != src]]
    for api in order:
        message, kind = SURFACES[api].parse_error(body)
        if message:
            return str(message), kind
    return None, None


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def describe_error_body(status: int, body: bytes, content_type: str | None, src: str) -> str:
    """A provider error body as one readable message (never parses HTML as JSON)."""
    ctype = (content_type or "").lower()
    text = body.strip()
    looks_html = "html" in ctype or text[:1] == b"<"
    if not looks_html and ("json" in ctype or text[:1] in (b"{", b"[")):
        try:
            message, _ = _error_message(json.loads(text), src)
        except ValueError:
            message = None
        if message:
            return message
    if looks_html:
        match = _TITLE.search(text)
        raw = match.group(1) if match else text
        words = _TAGS.sub(" ", html.unescape(raw.decode("utf-8", "replace")))
        words = " ".join(words.split())[:200]
        return f"the provider answered HTTP {status} with an HTML page" + (
            f": {words}" if words else ""
        )
    snippet = " ".join(text.decode("utf-8", "replace").split())[:500]
    return snippet or f"the provider answered HTTP {status} with an empty body"


def translate_error(
    status: int, body: bytes, content_type: str | None, src: str, dst: str
) -> tuple[int, bytes]:
    """A provider's error (API `src`) as (status, body) in the agent's API `dst`."""
    message = describe_error_body(status, body, content_type, src)
    kind: str | None = None
    if src == ANTHROPIC:
        try:
            _, kind = anthropic.parse_error(json.loads(body))
        except ValueError:
            kind = None
    if status < 400:
        status = 502
    return status, error_body(dst, status, message, kind)


def error_event(api: str, message: str) -> bytes:
    """A mid-stream error event in `api`'s streaming format (the proxy's own failures)."""
    return surface_for(api).stream_emitter("", TOOL_NAMES).error(message)


def error_body(api: str, status: int, message: str, kind: str | None = None) -> bytes:
    """An error the proxy itself makes, in `api`'s error format."""
    body = surface_for(api).error_body(status, message, kind or kind_for_status(status))
    return json.dumps(body, ensure_ascii=False).encode()


# ---------------------------------------------------------------- token estimate


def count_tokens_estimate(body: dict[str, Any], api: str) -> int:
    """A local estimate of a request's input tokens (for count_tokens off Anthropic)."""
    req = parse_request(body, api)
    chars = sum(len(t.text) for t in req.system)
    fixed = 0
    for msg in req.messages:
        fixed += 4
        for part in msg.parts:
            chars_part, fixed_part = _part_size(part)
            chars += chars_part
            fixed += fixed_part
    for tool in req.tools:
        chars += len(tool.name) + len(tool.description or "")
        chars += len(json.dumps(tool.parameters or {}, separators=(",", ":")))
        fixed += 8
    for server_tool in req.server_tools:
        chars += len(json.dumps(server_tool))
    # About 3.5 characters per token for English prose mixed with code and JSON.
    return max(1, math.ceil(chars / 3.5) + fixed)


def _part_size(part: c.Part) -> tuple[int, int]:
    if isinstance(part, c.Text):
        return len(part.text), 0
    if isinstance(part, c.Thinking):
        return len(part.text), 0
    if isinstance(part, c.Image):
        return 0, 1600  # a typical screenshot-sized image
    if isinstance(part, c.Document):
        if part.text is not None:
            return len(part.text), 0
        return 0, max(1500, len(part.data or "") * 3 // 4 // 50)
    if isinstance(part, c.ToolCall):
        return len(part.name) + len(c.dump_json_args(part.input)), 4
    if isinstance(part, c.ToolResult):
        total_chars, total_fixed = 0, 4
        for inner in part.content:
            ch, fx = _part_size(inner)
            total_chars += ch
            total_fixed += fx
        return total_chars, total_fixed
    return 0, 0
