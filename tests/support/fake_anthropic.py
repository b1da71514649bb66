"""A scriptable fake of the Anthropic Messages API, served for real by aiohttp on 127.0.0.1.

Tests point a real client (the `anthropic` SDK, the Claude Code CLI, agentwrap's proxy) at
`fake.base_url` and script what the "model" answers, one reply per `POST .../v1/messages`.

Synchronous tests (the server runs in its own thread with its own event loop)::

    with FakeAnthropic(script=["Hello!", Reply([ToolUse("Bash", {"command": "ls"})])]) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test")
        client.messages.create(...)
        assert fake.requests[0].body["model"] == "claude-sonnet-4-5"

Async tests (the server runs on the test's own event loop)::

    async with FakeAnthropic(script=[...]) as fake:
        ...

The script is either a list, consumed in order (a `str` is a text reply; a `Reply` says
everything), or a callable `(body, headers) -> Reply | str` asked for every messages call.
When a list runs out, `default` answers; with no default the fake answers HTTP 400 (an
Anthropic `invalid_request_error` saying the script ran out), because an unexpected extra call
usually means the test is wrong, and a 400 is not retried by clients (a 5xx would be, slowly).

Served (under any path prefix, with or without a query such as `?beta=true`):

- `POST <prefix>/v1/messages`: streaming (SSE, when the body says `"stream": true`) or JSON.
  The SSE is the real API's sequence: `message_start`, then per content block
  `content_block_start`, `content_block_delta` (`text_delta`, `thinking_delta` +
  `signature_delta`, `input_json_delta`), `content_block_stop`, a `ping` after the first block
  start, `message_delta` (stop reason + usage) and `message_stop`.
- `POST <prefix>/v1/messages/count_tokens`: `{"input_tokens": N}`, N estimated from the body.
- `GET <prefix>/v1/models`: a small model list (`models=`).

Anything else is a 404 `not_found_error`. A callable script that raises answers 400 with the
exception in the message, and the exception is kept in `fake.script_errors`. Every request (including those) is recorded in
`fake.requests` as a `RecordedRequest` (method, path with query, lower-cased headers, parsed
JSON body, raw bytes).

A `Reply` can also be an HTTP error with an Anthropic error body (`Reply.error(429)`), wait
before the response headers (`first_byte_delay`) or between SSE events (`event_delay`), send
the first N events and then wait for a `threading.Event` (`hold_after`, `release`), gzip the
response (`gzip=True`), end a stream with an `error` event (`stream_error`) or cut the
connection after N events (`drop_after`).
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "ERROR_TYPES",
    "FakeAnthropic",
    "RawBlock",
    "RecordedRequest",
    "Reply",
    "Script",
    "Text",
    "Thinking",
    "ToolUse",
    "estimate_tokens",
]

# The error `type` the real API uses for each HTTP status.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
    529: "overloaded_error",
}

DEFAULT_MODELS = ("claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5-20251001")


@dataclass(frozen=True)
class Text:
    """A text content block, streamed as `text_delta`s of `chunk` characters."""

    text: str
    chunk: int = 24


@dataclass(frozen=True)
class ToolUse:
    """A `tool_use` block; its input is streamed as `input_json_delta` pieces.

    `id` defaults to a fresh `toolu_fake_<n>`.
    """

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    chunk: int = 32


@dataclass(frozen=True)
class Thinking:
    """A `thinking` block: `thinking_delta`s, then one `signature_delta`."""

    thinking: str
    signature: str = "ZmFrZS1zaWduYXR1cmU="
    chunk: int = 24


@dataclass(frozen=True)
class RawBlock:
    """Any other block (server_tool_use, web_search_tool_result, redacted_thinking...).

    Sent whole in `content_block_start`, followed directly by `content_block_stop`.
    """

    block: Mapping[str, Any]


Block = Text | ToolUse | Thinking | RawBlock


@dataclass
class Reply:
    """One scripted answer to a messages call.

    Token counts left as None are estimated: input from the request body's size, output from
    the reply's content. `stop_reason` defaults to "tool_use" when a ToolUse block is present,
    else "end_turn". `model` defaults to the model the request asked for.
    """

    content: str | Sequence[Block] = ""
    stop_reason: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    first_byte_delay: float = 0.0
    event_delay: float = 0.0
    hold_after: int | None = None
    release: threading.Event | None = None
    hold_timeout: float = 30.0
    gzip: bool = False
    stream_error: tuple[str, str] | None = None
    drop_after: int | None = None

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        first_byte_delay: float = 0.0,
    ) -> Reply:
        """An HTTP error with the real API's error body (type chosen from the status)."""
        return cls(
            status=status,
            error_type=error_type or ERROR_TYPES.get(status, "api_error"),
            error_message=message or f"fake upstream error {status}",
            headers=dict(headers or {}),
            first_byte_delay=first_byte_delay,
        )

    def blocks(self) -> list[Block]:
        """The content as a list of blocks (a plain string is one Text block)."""
        if isinstance(self.content, str):
            return [Text(self.content)] if self.content else []
        return list(self.content)

    def error_body(self) -> dict[str, Any]:
        """The JSON body of an error reply."""
        return {
            "type": "error",
            "error": {
                "type": self.error_type or ERROR_TYPES.get(self.status, "api_error"),
                "message": self.error_message or f"fake upstream error {self.status}",
            },
        }


Script = Sequence[Reply | str] | Callable[[dict[str, Any], dict[str, str]], Reply | str]


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str  # with the query string, e.g. "/s/abc/v1/messages?beta=true"
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw: bytes
    received_at: float

    @property
    def endpoint(self) -> str:
        """ "messages", "count_tokens", "models" or "other"."""
        return _endpoint(self.method, self.path.split("?", 1)[0])


def _endpoint(method: str, path: str) -> str:
    if method == "POST" and path.endswith("/v1/messages"):
        return "messages"
    if method == "POST" and path.endswith("/v1/messages/count_tokens"):
        return "count_tokens"
    if method == "GET" and path.endswith("/v1/models"):
        return "models"
    return "other"


def estimate_tokens(value: Any) -> int:
    """A rough token count (4 characters a token) of a JSON value; at least 1."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, len(text) // 4)


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_json(block: Block, tool_id: str) -> dict[str, Any]:
    """The block as it appears, complete, in a non-streaming response."""
    match block:
        case Text():
            return {"type": "text", "text": block.text}
        case ToolUse():
            return {
                "type": "tool_use",
                "id": tool_id,
                "name": block.name,
                "input": dict(block.input),
            }
        case Thinking():
            return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
        case RawBlock():
            return dict(block.block)
    raise TypeError(f"not a content block: {block!r}")


def _block_events(index: int, block: Block, tool_id: str) -> list[tuple[str, dict[str, Any]]]:
    """content_block_start, its deltas and content_block_stop for one block."""
    if isinstance(block, Text):
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(block.text, block.chunk)]
    elif isinstance(block, ToolUse):
        start = {"type": "tool_use", "id": tool_id, "name": block.name, "input": {}}
        encoded = json.dumps(dict(block.input), ensure_ascii=False)
        deltas = [
            {"type": "input_json_delta", "partial_json": p} for p in _pieces(encoded, block.chunk)
        ]
    elif isinstance(block, Thinking):
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in _pieces(block.thinking, block.chunk)
        ]
        deltas.append({"type": "signature_delta", "signature": block.signature})
    else:
        start, deltas = _block_json(block, tool_id), []
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


@dataclass
class _Resolved:
    """A reply with every default filled in for one request."""

    reply: Reply
    message_id: str
    model: str
    blocks: list[Block]
    tool_ids: list[str]
    usage: dict[str, Any]
    stop_reason: str


def _resolve(
    reply: Reply, body: Any, raw: bytes, message_id: str, next_tool_id: Callable[[], str]
) -> _Resolved:
    blocks = reply.blocks()
    tool_ids = [(b.id or next_tool_id()) if isinstance(b, ToolUse) else "" for b in blocks]
    requested = body.get("model") if isinstance(body, dict) else None
    model = reply.model or (requested if isinstance(requested, str) else "claude-fake")
    output = reply.output_tokens
    if output is None:
        output = (
            sum(estimate_tokens(_block_json(b, t)) for b, t in zip(blocks, tool_ids, strict=True))
            or 1
        )
    usage = {
        "input_tokens": reply.input_tokens
        if reply.input_tokens is not None
        else max(1, len(raw) // 4),
        "cache_creation_input_tokens": reply.cache_creation_input_tokens,
        "cache_read_input_tokens": reply.cache_read_input_tokens,
        "output_tokens": output,
        "service_tier": "standard",
    }
    stop = reply.stop_reason or (
        "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    )
    return _Resolved(reply, message_id, model, blocks, tool_ids, usage, stop)


def _message_json(r: _Resolved) -> dict[str, Any]:
    return {
        "id": r.message_id,
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": [_block_json(b, t) for b, t in zip(r.blocks, r.tool_ids, strict=True)],
        "stop_reason": r.stop_reason,
        "stop_sequence": None,
        "usage": r.usage,
    }


def sse_events(r: _Resolved) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs of a streamed reply, in the real API's order."""
    start_usage = dict(r.usage)
    # The real API reports the input side up front and only a token or so of output.
    start_usage["output_tokens"] = min(1, r.usage["output_tokens"])
    message = _message_json(r) | {"content": [], "stop_reason": None, "usage": start_usage}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    for index, (block, tool_id) in enumerate(zip(r.blocks, r.tool_ids, strict=True)):
        block_events = _block_events(index, block, tool_id)
        events.append(block_events[0])
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        events.extend(block_events[1:])
    if not r.blocks:
        events.append(("ping", {"type": "ping"}))
    if r.reply.stream_error is not None:
        kind, text = r.reply.stream_error
        events.append(("error", {"type": "error", "error": {"type": kind, "message": text}}))
        return events
    final_usage = {k: v for k, v in r.usage.items() if k != "service_tier"}
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": r.stop_reason, "stop_sequence": None},
                "usage": final_usage,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def encode_sse(name: str, data: Mapping[str, Any]) -> bytes:
    """One SSE event as the real API writes it."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class FakeAnthropic:
    """A real HTTP server on 127.0.0.1 playing the Anthropic Messages API (see module doc)."""

    def __init__(
        self,
        script: Script = (),
        *,
        default: Reply | str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        prefix: str = "",
    ) -> None:
        """`prefix` only shapes `base_url`; every path prefix is accepted anyway."""
        self.script = script
        self.default = default
        self.models = list(models)
        self.prefix = prefix.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.script_errors: list[Exception] = []  # raised by a callable script
        self.port: int | None = None
        self._script_index = 0
        self._ids = itertools.count(1)
        self._tool_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = threading.Condition()

    # -- public -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What a client uses as ANTHROPIC_BASE_URL (no trailing slash, no /v1)."""
        if self.port is None:
            raise RuntimeError("FakeAnthropic is not started")
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Only the `POST .../v1/messages` requests, in arrival order."""
        return [r for r in list(self.requests) if r.endpoint == "messages"]

    def wait_for_requests(
        self, count: int, timeout: float = 10.0, endpoint: str = "messages"
    ) -> list[RecordedRequest]:
        """Block until `count` requests of `endpoint` arrived (TimeoutError otherwise).

        In async mode the server shares the test's loop: call this through
        `await asyncio.to_thread(fake.wait_for_requests, count)`.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [r for r in self.requests if r.endpoint == endpoint]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(got)} of {count} {endpoint} requests after {timeout}s"
                    )
                self._changed.wait(left)

    def __enter__(self) -> FakeAnthropic:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-anthropic", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None
        self._loop = None

    async def __aenter__(self) -> FakeAnthropic:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving on the running event loop (a random free port on 127.0.0.1)."""
        # Claude Code's bodies are ~100 KB and grow with the conversation: allow big ones.
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the asyncio server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- serving ----------------------------------------------------------------------------

    def _next_reply(self, body: Any, headers: dict[str, str]) -> Reply:
        script = self.script
        if callable(script):
            try:
                answer = script(body if isinstance(body, dict) else {}, headers)
            except Exception as exc:
                # A 400 and not a 5xx: clients retry 5xx with backoff, hiding the bug for minutes.
                self.script_errors.append(exc)
                return Reply.error(400, f"fake upstream: the script raised {exc!r}")
        else:
            with self._lock:
                index = self._script_index
                self._script_index += 1
            if index < len(script):
                answer = script[index]
            elif self.default is not None:
                answer = self.default
            else:
                return Reply.error(
                    400, f"fake upstream: the script has no reply for messages call #{index + 1}"
                )
        return Reply(answer) if isinstance(answer, str) else answer

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorded = RecordedRequest(request.method, request.path_qs, headers, body, raw, time.time())
        with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()
        endpoint = recorded.endpoint
        if endpoint == "models":
            return self._json(200, self._models_body())
        if endpoint == "count_tokens":
            count = (
                estimate_tokens({k: body.get(k) for k in ("system", "messages", "tools")})
                if isinstance(body, dict)
                else 1
            )
            return self._json(200, {"input_tokens": count})
        if endpoint != "messages":
            return self._json(
                404,
                Reply.error(
                    404, f"fake upstream: no route {request.method} {request.path}"
                ).error_body(),
            )
        if not isinstance(body, dict):
            return self._json(
                400, Reply.error(400, "fake upstream: the body is not a JSON object").error_body()
            )
        reply = self._next_reply(body, headers)
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        if reply.status >= 400:
            return self._json(reply.status, reply.error_body(), reply.headers, reply.gzip)
        resolved = _resolve(
            reply,
            body,
            raw,
            f"msg_fake_{next(self._ids):04d}",
            lambda: f"toolu_fake_{next(self._tool_ids):04d}",
        )
        if body.get("stream"):
            return await self._stream(request, resolved)
        return self._json(200, _message_json(resolved), reply.headers, reply.gzip)

    def _models_body(self) -> dict[str, Any]:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"}
            for m in self.models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def _json(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
    ) -> web.Response:
        out = {"request-id": f"req_fake_{next(self._ids):04d}", **(headers or {})}
        data = json.dumps(payload).encode()
        if gzip:
            data = gzip_module.compress(data)
            out["Content-Encoding"] = "gzip"
        return web.Response(status=status, body=data, headers=out, content_type="application/json")

    async def _stream(self, request: web.Request, r: _Resolved) -> web.StreamResponse:
        reply = r.reply
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": f"req_fake_{next(self._ids):04d}",
                **reply.headers,
            },
        )
        compressor = None
        if reply.gzip:
            response.headers["Content-Encoding"] = "gzip"
            compressor = zlib.compressobj(wbits=31)  # 31: gzip framing
        await response.prepare(request)
        for sent, (name, data) in enumerate(sse_events(r)):
            if reply.drop_after is not None and sent >= reply.drop_after:
                # An upstream that dies mid-stream: no end chunk, the socket just closes.
                if request.transport is not None:
                    request.transport.close()
                return response
            if reply.hold_after is not None and sent == reply.hold_after:
                await self._wait_for_release(reply)
            elif sent and reply.event_delay:
                await asyncio.sleep(reply.event_delay)
            chunk = encode_sse(name, data)
            if compressor is not None:
                # A sync flush per event keeps the gzip stream decodable event by event.
                chunk = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
            await response.write(chunk)
        if compressor is not None:
            await response.write(compressor.flush())
        await response.write_eof()
        return response

    @staticmethod
    async def _wait_for_release(reply: Reply) -> None:
        if reply.release is None:
            raise ValueError("Reply.hold_after needs Reply.release (a threading.Event)")
        deadline = time.monotonic() + reply.hold_timeout
        # Polling keeps this working whether the releasing test runs in this loop or another thread.
        while not reply.release.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("Reply.release was never set")
            await asyncio.sleep(0.002)
