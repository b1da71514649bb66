"""Simulated model providers: one local aiohttp server that plays several APIs at once.

Each provider lives under its own path prefix (`/anthropic`, `/openai`, `/gemini`, or any
name) and answers in its API's own wire format, streamed or whole:

- Anthropic Messages (`…/v1/messages`): SSE events message_start … message_stop, or JSON;
- OpenAI Chat Completions (`…/chat/completions`): chunks, with usage when
  `stream_options.include_usage` asks for it, then `[DONE]`;
- OpenAI Responses (`…/responses`): response.created … response.completed;
- Gemini (`…/v1beta/models/<model>:generateContent` and `:streamGenerateContent?alt=sse`).

What they answer comes from the demo's script (agentwrap.sim.scenario), chosen from the
request's own content, so it works on translated requests too. Token counts are estimated
from the request and the reply (about four characters a token); repeated prefixes are cache
reads (Anthropic at its cache_control breakpoints, the others implicitly). Latencies follow
the model's class — time to first token, then per-token pacing — divided by `speed`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import string
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agentwrap.sim import scenario
from agentwrap.sim.scenario import Exchange, Reply, ToolCall

ANTHROPIC = "anthropic"
OPENAI_CHAT = "openai-chat"
OPENAI_RESPONSES = "openai-responses"
GEMINI = "gemini"

CHARS_PER_TOKEN = 4
CACHE_MIN_TOKENS = 1024  # shorter prefixes are never cached (as with the real providers)
PREFILL_TOKENS_PER_S = 40_000  # reading the prompt adds to the time to first token
CHUNK_TOKENS = 3  # tokens per streamed delta
# The request's prepared streaming response, to hand back when the client goes away.
_STREAM_KEY: Any = (
    web.RequestKey("agentwrap.sim.stream", web.StreamResponse)
    if hasattr(web, "RequestKey")  # aiohttp >= 3.13; plain string keys before
    else "agentwrap.sim.stream"
)
DEFAULT_REPLY = Reply(text="(simulated provider: no scripted reply matches this request) OK.")


def estimate_tokens(text: str) -> int:
    """Tokens of a text, estimated from its length (about four characters a token)."""
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN) if text else 0


@dataclass(frozen=True)
class Latency:
    """How fast a class of model answers: time to first token and output tokens per second."""

    ttft_s: float
    tokens_per_s: float


def latency_for(model: str) -> Latency:
    """Typical latencies by model class (frontier models are slower than small ones)."""
    name = model.lower()
    if "opus" in name or "pro" in name:
        return Latency(1.6, 45.0)
    if "sonnet" in name or name.startswith("gpt-5.") and "mini" not in name:
        return Latency(1.0, 70.0)
    if any(small in name for small in ("haiku", "flash", "mini", "nano", "lite")):
        return Latency(0.45, 150.0)
    return Latency(0.8, 80.0)


# ---------------------------------------------------------------- reading requests


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (keys excluded), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _is_model_turn(api: str, item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if api == GEMINI:
        return item.get("role") == "model"
    if api == OPENAI_RESPONSES:
        kind = item.get("type")
        if kind in ("function_call", "reasoning", "custom_tool_call", "web_search_call"):
            return True
        return item.get("role") == "assistant"
    return item.get("role") == "assistant"


def conversation(api: str, body: dict[str, Any]) -> list[Any]:
    """The request's list of turns, whatever the API calls it."""
    key = {OPENAI_RESPONSES: "input", GEMINI: "contents"}.get(api, "messages")
    turns = body.get(key)
    if isinstance(turns, str):
        return [{"role": "user", "content": turns}]
    return turns if isinstance(turns, list) else []


def trailing_text(api: str, body: dict[str, Any]) -> str:
    """The text of the last user-side turns (prompt, tool results), after the model's last turn."""
    turns = conversation(api, body)
    tail: list[Any] = []
    for item in reversed(turns):
        if _is_model_turn(api, item):
            break
        tail.append(item)
    return "\n".join(_strings(list(reversed(tail))))


def offered_tools(api: str, body: dict[str, Any]) -> set[str]:
    """Names of the function tools a request offers."""
    names: set[str] = set()
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if api == OPENAI_CHAT and isinstance(tool.get("function"), dict):
            names.add(str(tool["function"].get("name")))
        elif api == GEMINI:
            for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
                if isinstance(decl, dict):
                    names.add(str(decl.get("name")))
        elif tool.get("name"):
            names.add(str(tool["name"]))
    return names


def has_web_search(body: dict[str, Any]) -> bool:
    """Whether an Anthropic request offers the web-search server tool."""
    return any(
        isinstance(t, dict) and str(t.get("type", "")).startswith("web_search")
        for t in body.get("tools") or []
    )


def wants_thinking(api: str, body: dict[str, Any]) -> bool:
    """Whether an Anthropic request asks for thinking blocks."""
    thinking = body.get("thinking")
    return (
        api == ANTHROPIC
        and isinstance(thinking, dict)
        and thinking.get("type") in ("enabled", "adaptive")
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _unmarked(value: Any) -> Any:
    """A block without its cache_control: moving the breakpoint does not change the prefix."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "cache_control"}
    return value


def prompt_segments(api: str, body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The prompt in cache order, as (serialised piece, cache breakpoint after it)."""
    out: list[tuple[str, bool]] = []
    if api == ANTHROPIC:
        for tool in body.get("tools") or []:
            out.append((_dump(_unmarked(tool)), isinstance(tool, dict) and "cache_control" in tool))
        system = body.get("system")
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system or []
        for block in blocks:
            out.append(
                (_dump(_unmarked(block)), isinstance(block, dict) and "cache_control" in block)
            )
        for message in conversation(api, body):
            content = message.get("content") if isinstance(message, dict) else None
            role = message.get("role") if isinstance(message, dict) else None
            items = content if isinstance(content, list) else [content]
            for block in items:
                mark = isinstance(block, dict) and "cache_control" in block
                out.append((_dump({"role": role, "block": _unmarked(block)}), mark))
        return out
    # The others cache implicitly at any point: every piece ends a candidate prefix.
    head = {k: body.get(k) for k in ("instructions", "systemInstruction", "tools") if k in body}
    if head:
        out.append((_dump(head), True))
    for item in conversation(api, body):
        out.append((_dump(item), True))
    return out


class PrefixCache:
    """Which prompt prefixes a model has seen: repeated prefixes are read from cache."""

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def account(
        self, key: str, segments: list[tuple[str, bool]], *, explicit: bool
    ) -> tuple[int, int, int]:
        """(uncached input, cache write, cache read) tokens for a prompt, remembering it.

        `explicit`: only breakpoints are written and writes are reported (Anthropic);
        otherwise every prefix is remembered and nothing is reported as written.
        """
        seen = self._seen.setdefault(key, set())
        digest = hashlib.sha256()
        positions: list[tuple[str, int, bool]] = []  # (prefix hash, tokens so far, breakpoint)
        tokens = 0
        for text, mark in segments:
            digest.update(text.encode())
            tokens += estimate_tokens(text)
            positions.append((digest.copy().hexdigest(), tokens, mark))
        total = tokens
        read = max((n for h, n, _ in positions if h in seen), default=0)
        last_mark = max((n for _, n, m in positions if m), default=0)
        write = 0
        if explicit and last_mark >= CACHE_MIN_TOKENS and last_mark > read:
            write = last_mark - read
        for h, n, mark in positions:
            if n >= CACHE_MIN_TOKENS and mark:
                seen.add(h)
        if not explicit:
            # Implicit caches report whole blocks of 128 tokens.
            read = (read // 128) * 128 if read >= CACHE_MIN_TOKENS else 0
        return total - read - write, write, read


# ---------------------------------------------------------------- answers


@dataclass
class Block:
    """One piece of an answer: thinking, text, a tool call, or a web search with results."""

    kind: str  # thinking | text | tool | search
    text: str = ""
    tool: ToolCall | None = None
    id: str = ""
    results: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Answer:
    """A reply ready to be written in some API's format, with its token counts."""

    model: str
    blocks: list[Block]
    input_tokens: int
    cache_write: int
    cache_read: int
    output_tokens: int
    latency: Latency
    exchange: str | None

    @property
    def has_tools(self) -> bool:
        return any(b.kind == "tool" for b in self.blocks)

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_write + self.cache_read


def _rand_id(prefix: str, n: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def answer_blocks(api: str, body: dict[str, Any], reply: Reply) -> list[Block]:
    """The blocks of a reply as this request can receive them."""
    blocks: list[Block] = []
    if reply.thinking and wants_thinking(api, body):
        blocks.append(Block("thinking", reply.thinking))
    if reply.search_results and api == ANTHROPIC and has_web_search(body):
        blocks.append(Block("search", id=_rand_id("srvtoolu_"), results=reply.search_results))
    elif reply.search_results:
        listing = "\n".join(f"- {title}: {url}" for title, url in reply.search_results)
        blocks.append(Block("text", f"Sources:\n{listing}\n\n"))
    if reply.text:
        blocks.append(Block("text", reply.text))
    offered = offered_tools(api, body)
    tool_prefix = {ANTHROPIC: "toolu_", GEMINI: ""}.get(api, "call_")
    for call in reply.tool_calls:
        if call.name in offered:
            blocks.append(Block("tool", tool=call, id=_rand_id(tool_prefix) if tool_prefix else ""))
        else:
            blocks.append(
                Block(
                    "text",
                    f"\n(simulated provider: the script calls the tool {call.name}, which this "
                    "request does not offer)",
                )
            )
    if not blocks:
        blocks.append(Block("text", "OK."))
    return blocks


def _output_tokens(blocks: list[Block]) -> int:
    total = 0
    for block in blocks:
        if block.kind == "tool" and block.tool is not None:
            total += estimate_tokens(block.tool.name + _dump(block.tool.input)) + 8
        elif block.kind == "search":
            total += 20
        else:
            total += estimate_tokens(block.text)
    return max(1, total)


def _pieces(text: str) -> list[str]:
    """A text cut into streamed deltas of about CHUNK_TOKENS tokens."""
    size = CHUNK_TOKENS * CHARS_PER_TOKEN
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class Received:
    """One request a simulated provider received, and how it was answered."""

    provider: str
    api: str
    model: str
    stream: bool
    exchange: str | None
    status: int
    at: float
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # kept when record_requests is set
    body: dict[str, Any] | None = None


# ---------------------------------------------------------------- the server


class SimProviders:
    """The simulated providers' server. `await start()` returns its root URL."""

    def __init__(
        self,
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record_requests: bool = False,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.record_requests = record_requests
        self.host = host
        self.port = port
        self.received: list[Received] = []
        self.cache = PrefixCache()
        self._failed: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str, api: str) -> str:
        """The base URL a profile gives a provider of this API (the way the proxy joins paths)."""
        if api in (OPENAI_CHAT, OPENAI_RESPONSES):
            return f"{self.root}/{provider}/v1"
        return f"{self.root}/{provider}"

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a random port unless one was given); return the root URL."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.root

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def counts(self, by: str = "model") -> Counter[str]:
        """How many requests were answered successfully, by 'model', 'provider', 'api' or 'exchange'."""
        return Counter(str(getattr(r, by)) for r in self.received if r.status == 200)

    # -- requests -------------------------------------------------------------
    def _sleep(self, seconds: float) -> Any:
        return asyncio.sleep(seconds / self.speed)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        provider, _, rest = request.path.strip("/").partition("/")
        api, path_model, stream = _route(rest, request.query)
        if api is None:
            return web.json_response(
                {"error": {"message": f"no simulated endpoint at {request.path}"}}, status=404
            )
        if not _authorised(api, request):
            return _error(api, 401, "missing API key (simulated provider)")
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return _error(api, 400, f"invalid JSON body: {exc}")
        model = path_model or str(body.get("model") or "")
        if not model:
            return _error(api, 400, "model is required")
        if api != GEMINI:
            stream = bool(body.get("stream"))

        def note(exchange_name: str | None, status: int) -> None:
            kept = self.record_requests
            self.received.append(
                Received(
                    provider,
                    api,
                    model,
                    stream,
                    exchange_name,
                    status,
                    time.time(),
                    request.path_qs,
                    {k.lower(): v for k, v in request.headers.items()} if kept else {},
                    body if kept else None,
                )
            )

        whole = "\n".join(_strings(body))
        exchange = scenario.match(trailing_text(api, body), whole)
        if exchange is not None and exchange.fail_first and not self._failed[exchange.name]:
            self._failed[exchange.name] += 1
            note(exchange.name, exchange.fail_first)
            await self._sleep(0.3)
            return _error(api, exchange.fail_first, "Overloaded (simulated)")
        answer = self._answer(provider, api, model, body, exchange)
        note(answer.exchange, 200)
        writer = {
            ANTHROPIC: _anthropic,
            OPENAI_CHAT: _openai_chat,
            OPENAI_RESPONSES: _openai_responses,
            GEMINI: _gemini,
        }[api]
        try:
            return await writer(self, request, body, answer, stream)
        except ConnectionResetError:
            # The client went away mid-answer (the agent was stopped): nothing more to send.
            return request.get(_STREAM_KEY) or web.Response(status=499)

    def _answer(
        self, provider: str, api: str, model: str, body: dict[str, Any], exchange: Exchange | None
    ) -> Answer:
        reply = exchange.reply if exchange is not None else DEFAULT_REPLY
        blocks = answer_blocks(api, body, reply)
        uncached, write, read = self.cache.account(
            f"{provider}/{model}", prompt_segments(api, body), explicit=api == ANTHROPIC
        )
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] <= 16:
            blocks = [Block("text", "ok")]  # a probe
        return Answer(
            model=model,
            blocks=blocks,
            input_tokens=uncached,
            cache_write=write,
            cache_read=read,
            output_tokens=_output_tokens(blocks),
            latency=latency_for(model),
            exchange=exchange.name if exchange else None,
        )

    async def first_token_delay(self, answer: Answer) -> None:
        """Wait as long as the model takes to start answering."""
        prefill = (answer.input_tokens + answer.cache_write) / PREFILL_TOKENS_PER_S
        await self._sleep(answer.latency.ttft_s + prefill)

    async def pace(self, text: str, answer: Answer) -> None:
        """Wait as long as the model takes to produce this text."""
        await self._sleep(estimate_tokens(text) / answer.latency.tokens_per_s)

    async def whole_delay(self, answer: Answer) -> None:
        """Wait for a non-streamed answer: first token, then all output tokens."""
        await self.first_token_delay(answer)
        await self._sleep(answer.output_tokens / answer.latency.tokens_per_s)


def _route(rest: str, query: Any) -> tuple[str | None, str | None, bool]:
    """(api, model from the path, streamed) for a path below the provider prefix."""
    path = "/" + rest
    if path.endswith("/messages"):
        return ANTHROPIC, None, False
    if path.endswith("/chat/completions"):
        return OPENAI_CHAT, None, False
    if path.endswith("/responses"):
        return OPENAI_RESPONSES, None, False
    if "/models/" in path and ":" in path:
        model, _, action = path.split("/models/", 1)[1].rpartition(":")
        if action == "generateContent":
            return GEMINI, model, False
        if action == "streamGenerateContent":
            return GEMINI, model, True
    return None, None, False


def _authorised(api: str, request: web.Request) -> bool:
    headers = request.headers
    if api == ANTHROPIC:
        return bool(headers.get("x-api-key") or headers.get("authorization"))
    if api == GEMINI:
        return bool(headers.get("x-goog-api-key") or request.query.get("key"))
    return headers.get("authorization", "").lower().startswith("bearer ")


def _error(api: str, status: int, message: str) -> web.Response:
    """An error in the API's own format."""
    if api == ANTHROPIC:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        doc: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    elif api == GEMINI:
        status = 503 if status == 529 else status
        state = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}
        doc = {
            "error": {
                "code": status,
                "message": message,
                "status": state.get(status, "UNAVAILABLE"),
            }
        }
    else:
        status = 503 if status == 529 else status
        kind = {400: "invalid_request_error", 401: "invalid_api_key"}.get(status, "server_error")
        doc = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return web.json_response(doc, status=status)


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=200,
        headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
    )
    await resp.prepare(request)
    request[_STREAM_KEY] = resp
    return resp


def _event(name: str | None, data: Any) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _tool_json(block: Block) -> str:
    assert block.tool is not None
    return json.dumps(block.tool.input, ensure_ascii=False)


# ---------------------------------------------------------------- Anthropic Messages


def _anthropic_usage(answer: Answer, output: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": answer.input_tokens,
        "cache_creation_input_tokens": answer.cache_write,
        "cache_read_input_tokens": answer.cache_read,
        "output_tokens": output,
    }
    if any(b.kind == "search" for b in answer.blocks):
        usage["server_tool_use"] = {"web_search_requests": 1}
    return usage


def _anthropic_content(block: Block) -> list[dict[str, Any]]:
    if block.kind == "thinking":
        return [{"type": "thinking", "thinking": block.text, "signature": _signature(block.text)}]
    if block.kind == "text":
        return [{"type": "text", "text": block.text}]
    if block.kind == "tool":
        assert block.tool is not None
        return [
            {"type": "tool_use", "id": block.id, "name": block.tool.name, "input": block.tool.input}
        ]
    return [
        {
            "type": "server_tool_use",
            "id": block.id,
            "name": "web_search",
            "input": {"query": scenario.SEARCH_QUERY},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": block.id,
            "content": [
                {
                    "type": "web_search_result",
                    "title": title,
                    "url": url,
                    "encrypted_content": _signature(url),
                    "page_age": None,
                }
                for title, url in block.results
            ],
        },
    ]


def _signature(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _anthropic(
    sim: SimProviders, request: web.Request, body: dict[str, Any], answer: Answer, stream: bool
) -> web.StreamResponse:
    msg_id = _rand_id("msg_")
    content = [c for b in answer.blocks for c in _anthropic_content(b)]
    stop = "tool_use" if answer.has_tools else "end_turn"
    if not stream:
        await sim.whole_delay(answer)
        return web.json_response(
            {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": answer.model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": _anthropic_usage(answer, answer.output_tokens),
            }
        )
    await sim.first_token_delay(answer)
    resp = await _sse(request)
    start = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _anthropic_usage(answer, 1),
    }
    await resp.write(_event("message_start", {"type": "message_start", "message": start}))
    await resp.write(_event("ping", {"type": "ping"}))
    for index, block in enumerate(content):
        await _anthropic_block(sim, resp, index, block, answer)
    await resp.write(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": _anthropic_usage(answer, answer.output_tokens),
            },
        )
    )
    await resp.write(_event("message_stop", {"type": "message_stop"}))
    await resp.write_eof()
    return resp


async def _anthropic_block(
    sim: SimProviders, resp: web.StreamResponse, index: int, block: dict[str, Any], answer: Answer
) -> None:
    kind = block["type"]

    async def delta(payload: dict[str, Any]) -> None:
        await resp.write(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": payload},
            )
        )

    if kind == "text":
        opening = {"type": "text", "text": ""}
    elif kind == "thinking":
        opening = {"type": "thinking", "thinking": "", "signature": ""}
    elif kind in ("tool_use", "server_tool_use"):
        opening = {**block, "input": {}}
    else:
        opening = block  # a web_search_tool_result arrives whole
    await resp.write(
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
    )
    if kind == "text":
        for piece in _pieces(block["text"]):
            await sim.pace(piece, answer)
            await delta({"type": "text_delta", "text": piece})
    elif kind == "thinking":
        for piece in _pieces(block["thinking"]):
            await sim.pace(piece, answer)
            await delta({"type": "thinking_delta", "thinking": piece})
        await delta({"type": "signature_delta", "signature": block["signature"]})
    elif kind in ("tool_use", "server_tool_use"):
        for piece in _pieces(json.dumps(block["input"], ensure_ascii=False)):
            await sim.pace(piece, answer)
            await delta({"type": "input_json_delta", "partial_json": piece})
    await resp.write(_event("content_block_stop", {"type": "content_block_stop", "index": index}))


# ---------------------------------------------------------------- OpenAI Chat Completions


def _chat_usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.prompt_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": answer.cache_read},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _text_of(answer: Answer) -> str:
    return "".join(b.text for b in answer.blocks if b.kind == "text")


async def _openai_chat(
    sim: SimProviders, request: web.Request, body: dict[str, Any], answer: Answer, stream: bool
) -> web.StreamResponse:
    chat_id = _rand_id("chatcmpl-")
    created = int(time.time())
    finish = "tool_calls" if answer.has_tools else "stop"
    tools = [b for b in answer.blocks if b.kind == "tool"]
    text = _text_of(answer)
    if not stream:
        await sim.whole_delay(answer)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tools:
            message["tool_calls"] = [
                {
                    "id": b.id,
                    "type": "function",
                    "function": {"name": b.tool.name, "arguments": _tool_json(b)},  # type: ignore[union-attr]
                }
                for b in tools
            ]
        return web.json_response(
            {
                "id": chat_id,
                "object": "chat.completion",
                "created": created,
                "model": answer.model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": _chat_usage(answer),
            }
        )

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _event(
            None,
            {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": answer.model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
                ],
            },
        )

    await sim.first_token_delay(answer)
    resp = await _sse(request)
    await resp.write(chunk({"role": "assistant", "content": ""}))
    for piece in _pieces(text) if text else []:
        await sim.pace(piece, answer)
        await resp.write(chunk({"content": piece}))
    for index, block in enumerate(tools):
        assert block.tool is not None
        head = {
            "index": index,
            "id": block.id,
            "type": "function",
            "function": {"name": block.tool.name, "arguments": ""},
        }
        await resp.write(chunk({"tool_calls": [head]}))
        for piece in _pieces(_tool_json(block)):
            await sim.pace(piece, answer)
            await resp.write(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    await resp.write(chunk({}, finish))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        await resp.write(
            _event(
                None,
                {
                    "id": chat_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": answer.model,
                    "choices": [],
                    "usage": _chat_usage(answer),
                },
            )
        )
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


# ---------------------------------------------------------------- OpenAI Responses


def _responses_usage(answer: Answer) -> dict[str, Any]:
    return {
        "input_tokens": answer.prompt_tokens,
        "input_tokens_details": {"cached_tokens": answer.cache_read},
        "output_tokens": answer.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.prompt_tokens + answer.output_tokens,
    }


def _responses_items(answer: Answer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = _text_of(answer)
    if text:
        items.append(
            {
                "type": "message",
                "id": _rand_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    for block in answer.blocks:
        if block.kind == "tool" and block.tool is not None:
            items.append(
                {
                    "type": "function_call",
                    "id": _rand_id("fc_"),
                    "call_id": block.id,
                    "name": block.tool.name,
                    "arguments": _tool_json(block),
                    "status": "completed",
                }
            )
    return items


def _response_doc(
    resp_id: str, created: int, body: dict[str, Any], answer: Answer, status: str, output: list
) -> dict[str, Any]:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": answer.model,
        "output": output,
        "usage": _responses_usage(answer) if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "text": {"format": {"type": "text"}},
        "store": body.get("store", True),
    }


async def _openai_responses(
    sim: SimProviders, request: web.Request, body: dict[str, Any], answer: Answer, stream: bool
) -> web.StreamResponse:
    resp_id = _rand_id("resp_")
    created = int(time.time())
    items = _responses_items(answer)
    if not stream:
        await sim.whole_delay(answer)
        return web.json_response(_response_doc(resp_id, created, body, answer, "completed", items))
    seq = 0

    async def send(kind: str, **payload: Any) -> None:
        nonlocal seq
        await resp.write(_event(kind, {"type": kind, "sequence_number": seq, **payload}))
        seq += 1

    await sim.first_token_delay(answer)
    resp = await _sse(request)
    await send(
        "response.created",
        response=_response_doc(resp_id, created, body, answer, "in_progress", []),
    )
    await send(
        "response.in_progress",
        response=_response_doc(resp_id, created, body, answer, "in_progress", []),
    )
    for index, item in enumerate(items):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            await send(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
            await send("response.content_part.added", **ids, part=part)
            for piece in _pieces(text):
                await sim.pace(piece, answer)
                await send("response.output_text.delta", **ids, delta=piece, logprobs=[])
            await send("response.output_text.done", **ids, text=text, logprobs=[])
            await send("response.content_part.done", **ids, part={**part, "text": text})
        else:
            await send(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in _pieces(item["arguments"]):
                await sim.pace(piece, answer)
                await send(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            await send(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        await send("response.output_item.done", output_index=index, item=item)
    await send(
        "response.completed",
        response=_response_doc(resp_id, created, body, answer, "completed", items),
    )
    await resp.write_eof()
    return resp


# ---------------------------------------------------------------- Gemini


def _gemini_usage(answer: Answer) -> dict[str, Any]:
    usage = {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": answer.output_tokens,
        "totalTokenCount": answer.prompt_tokens + answer.output_tokens,
    }
    if answer.cache_read:
        usage["cachedContentTokenCount"] = answer.cache_read
    return usage


def _gemini_doc(
    answer: Answer, parts: list[dict[str, Any]], finish: bool, resp_id: str
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    doc: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": answer.model,
        "responseId": resp_id,
    }
    if finish:
        candidate["finishReason"] = "STOP"
        doc["usageMetadata"] = _gemini_usage(answer)
    return doc


def _gemini_call(block: Block) -> dict[str, Any]:
    assert block.tool is not None
    return {"functionCall": {"name": block.tool.name, "args": block.tool.input}}


async def _gemini(
    sim: SimProviders, request: web.Request, body: dict[str, Any], answer: Answer, stream: bool
) -> web.StreamResponse:
    resp_id = _rand_id("", 22)
    text = _text_of(answer)
    calls = [_gemini_call(b) for b in answer.blocks if b.kind == "tool"]
    if not stream:
        await sim.whole_delay(answer)
        parts = ([{"text": text}] if text else []) + calls
        return web.json_response(_gemini_doc(answer, parts, True, resp_id))
    await sim.first_token_delay(answer)
    resp = await _sse(request)
    pieces = _pieces(text) if text else []
    for i, piece in enumerate(pieces):
        await sim.pace(piece, answer)
        last = i == len(pieces) - 1 and not calls
        await resp.write(_event(None, _gemini_doc(answer, [{"text": piece}], last, resp_id)))
    if calls:
        # Gemini sends each function call whole, the last chunk with the usage.
        for call in calls:
            await sim.pace(json.dumps(call), answer)
        await resp.write(_event(None, _gemini_doc(answer, calls, True, resp_id)))
    await resp.write_eof()
    return resp
