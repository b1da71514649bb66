"""Scriptable fake providers for each API, served for real by aiohttp on 127.0.0.1.

One server per API — "anthropic", "openai-chat", "openai-responses", "gemini" — answering
scripted replies in that API's own wire format. The wire formats are written out by hand here,
independently of agentwrap.wire, so tests that translate between APIs check agentwrap against
an honest counterpart rather than against itself.

    async with FakeProvider("openai-chat", [Reply(text="Hi"), Reply(tool_calls=[...])]) as fake:
        ... point something at fake.base_url ...
        assert fake.requests[0].body["messages"][0]["role"] == "system"

    with FakeProvider("gemini", [...]) as fake:   # server in its own thread, for sync clients
        ...

`base_url` follows the provider convention: Anthropic and Gemini at the root, OpenAI at /v1.
Every request is recorded (method, path with query, lower-cased headers, parsed JSON body).
Each POST consumes the next script item — a Reply, or a callable given the request body that
returns one; when the script runs out the fake answers HTTP 400. `stream_bytes(api, reply)`
and `whole_body(api, reply)` give the same wire bytes without a server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APIS = ("anthropic", "openai-chat", "openai-responses", "gemini")


@dataclass
class Call:
    """A tool call the scripted model makes."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass
class Reply:
    """One scripted answer.

    usage: input (uncached), output, cache_read, cache_write — written in each API's own
    convention (OpenAI and Gemini count cached tokens inside the prompt total).
    signature: the opaque reasoning token (Anthropic signature, Responses encrypted_content,
    Gemini thoughtSignature). status >= 400 answers an error with `error` as its message, or
    `error_body` verbatim with `content_type` (an HTML page, say). `cut_after` ends a stream
    after that many events without its terminal event; `stream_error` sends an error event
    after the content instead of the normal end. `delay` waits between stream events,
    `first_byte_delay` before the response starts (to test timeouts and fallbacks).
    """

    text: str = ""
    tool_calls: list[Call] = field(default_factory=list)
    reasoning: str = ""
    signature: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input": 10, "output": 5})
    stop: str | None = None
    status: int = 200
    error: str | None = None
    error_body: bytes | None = None
    content_type: str | None = None
    stream: bool | None = None
    delay: float = 0.0
    first_byte_delay: float = 0.0
    cut_after: int | None = None
    stream_error: str | None = None
    model: str = "fake-model-1"


@dataclass
class Recorded:
    """A request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def pieces(text: str, size: int = 7) -> list[str]:
    """Text cut in small pieces, as a streaming model would send it."""
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def _u(reply: Reply, key: str) -> int:
    return int(reply.usage.get(key, 0))


class FakeProvider:
    """An aiohttp app speaking one API, answering a script."""

    def __init__(
        self, api: str, script: list[Reply | Callable[[Any], Reply]] | None = None
    ) -> None:
        if api not in APIS:
            raise ValueError(f"unknown api {api}")
        self.api = api
        self.script = list(script or [])
        self.requests: list[Recorded] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._counter = 0

    # ---------------------------------------------------------------- lifecycle

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1" if self.api.startswith("openai") else self.root

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> FakeProvider:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # ---------------------------------------------------------------- requests

    def _expected_path(self, path: str) -> bool:
        if self.api == "anthropic":
            return path.endswith("/v1/messages")
        if self.api == "openai-chat":
            return path.endswith("/chat/completions")
        if self.api == "openai-responses":
            return path.endswith("/responses")
        return ":generateContent" in path or ":streamGenerateContent" in path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            Recorded(
                request.method,
                request.path_qs,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        if request.method != "POST" or not self._expected_path(request.path):
            return self._error(404, f"no route {request.method} {request.path}")
        if not self.script:
            return self._error(400, "the fake provider's script ran out")
        item = self.script.pop(0)
        reply = item(body) if callable(item) else item
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        if reply.status >= 400:
            if reply.error_body is not None:
                return web.Response(
                    status=reply.status,
                    body=reply.error_body,
                    content_type=(reply.content_type or "text/html").split(";")[0],
                )
            return self._error(reply.status, reply.error or "scripted error")
        if self.api == "gemini":
            wants_stream = ":streamGenerateContent" in request.path
        else:
            wants_stream = isinstance(body, dict) and bool(body.get("stream"))
        stream = wants_stream if reply.stream is None else reply.stream
        self._counter += 1
        writer = _WRITERS[self.api](reply, self._counter, body if isinstance(body, dict) else {})
        if not stream:
            return web.json_response(writer.whole())
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        events = writer.events()
        if reply.stream_error is not None:
            events = events[: writer.content_events] + [writer.stream_error(reply.stream_error)]
        if reply.cut_after is not None:
            events = events[: reply.cut_after]
        for i, event in enumerate(events):
            if reply.delay and i:
                await asyncio.sleep(reply.delay)
            await resp.write(event)
        await resp.write_eof()
        return resp

    def _error(self, status: int, message: str) -> web.Response:
        if self.api == "anthropic":
            kind = {
                400: "invalid_request_error",
                401: "authentication_error",
                404: "not_found_error",
                429: "rate_limit_error",
                529: "overloaded_error",
            }.get(status, "api_error")
            doc: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        elif self.api == "gemini":
            name = {
                400: "INVALID_ARGUMENT",
                401: "UNAUTHENTICATED",
                404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED",
                503: "UNAVAILABLE",
            }.get(status, "INTERNAL")
            doc = {"error": {"code": status, "message": message, "status": name}}
        else:
            kind = {429: "rate_limit_exceeded", 401: "invalid_request_error"}.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
            doc = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return web.json_response(doc, status=status)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


class _Writer:
    def __init__(self, reply: Reply, n: int, request: dict[str, Any]) -> None:
        self.r = reply
        self.n = n
        self.request = request
        self.content_events = 0

    def call_id(self, i: int, call: Call, prefix: str) -> str:
        return call.id or f"{prefix}{self.n}_{i}"


# ------------------------------------------------------------------------- Anthropic


class _Anthropic(_Writer):
    def stop(self) -> str:
        return self.r.stop or ("tool_use" if self.r.tool_calls else "end_turn")

    def usage(self) -> dict[str, int]:
        return {
            "input_tokens": _u(self.r, "input"),
            "output_tokens": _u(self.r, "output"),
            "cache_creation_input_tokens": _u(self.r, "cache_write"),
            "cache_read_input_tokens": _u(self.r, "cache_read"),
        }

    def whole(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if self.r.reasoning:
            content.append(
                {
                    "type": "thinking",
                    "thinking": self.r.reasoning,
                    "signature": self.r.signature or "sig",
                }
            )
        if self.r.text:
            content.append({"type": "text", "text": self.r.text})
        for i, call in enumerate(self.r.tool_calls):
            content.append(
                {
                    "type": "tool_use",
                    "id": self.call_id(i, call, "toolu_"),
                    "name": call.name,
                    "input": call.arguments,
                }
            )
        return {
            "id": f"msg_fake{self.n}",
            "type": "message",
            "role": "assistant",
            "model": self.r.model,
            "content": content,
            "stop_reason": self.stop(),
            "stop_sequence": None,
            "usage": self.usage(),
        }

    def events(self) -> list[bytes]:
        start_usage = dict(self.usage(), output_tokens=1)
        out = [
            _sse(
                {
                    "type": "message_start",
                    "message": {
                        "id": f"msg_fake{self.n}",
                        "type": "message",
                        "role": "assistant",
                        "model": self.r.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
                "message_start",
            )
        ]
        index = 0

        def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
            nonlocal index
            out.append(
                _sse(
                    {"type": "content_block_start", "index": index, "content_block": start},
                    "content_block_start",
                )
            )
            if index == 0:
                out.append(_sse({"type": "ping"}, "ping"))
            for d in deltas:
                out.append(
                    _sse(
                        {"type": "content_block_delta", "index": index, "delta": d},
                        "content_block_delta",
                    )
                )
            out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1

        if self.r.reasoning:
            block(
                {"type": "thinking", "thinking": "", "signature": ""},
                [{"type": "thinking_delta", "thinking": p} for p in pieces(self.r.reasoning)]
                + [{"type": "signature_delta", "signature": self.r.signature or "sig"}],
            )
        if self.r.text:
            block(
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": p} for p in pieces(self.r.text)],
            )
        for i, call in enumerate(self.r.tool_calls):
            args = json.dumps(call.arguments)
            block(
                {
                    "type": "tool_use",
                    "id": self.call_id(i, call, "toolu_"),
                    "name": call.name,
                    "input": {},
                },
                [{"type": "input_json_delta", "partial_json": p} for p in ["", *pieces(args, 5)]],
            )
        self.content_events = len(out)
        out.append(
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop(), "stop_sequence": None},
                    "usage": self.usage(),
                },
                "message_delta",
            )
        )
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return out

    def stream_error(self, message: str) -> bytes:
        return _sse(
            {"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error"
        )


# ------------------------------------------------------------------------- OpenAI Chat


class _Chat(_Writer):
    def finish(self) -> str:
        return self.r.stop or ("tool_calls" if self.r.tool_calls else "stop")

    def usage(self) -> dict[str, Any]:
        cached = _u(self.r, "cache_read")
        prompt = _u(self.r, "input") + cached + _u(self.r, "cache_write")
        return {
            "prompt_tokens": prompt,
            "completion_tokens": _u(self.r, "output"),
            "total_tokens": prompt + _u(self.r, "output"),
            "prompt_tokens_details": {"cached_tokens": cached},
        }

    def whole(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": self.r.text or None}
        if self.r.reasoning:
            msg["reasoning_content"] = self.r.reasoning
        if self.r.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": self.call_id(i, c, "call_"),
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for i, c in enumerate(self.r.tool_calls)
            ]
        return {
            "id": f"chatcmpl-fake{self.n}",
            "object": "chat.completion",
            "created": 1,
            "model": self.r.model,
            "choices": [{"index": 0, "message": msg, "finish_reason": self.finish()}],
            "usage": self.usage(),
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": f"chatcmpl-fake{self.n}",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": self.r.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    def events(self) -> list[bytes]:
        out = [self.chunk({"role": "assistant", "content": ""})]
        out += [self.chunk({"reasoning_content": p}) for p in pieces(self.r.reasoning)]
        out += [self.chunk({"content": p}) for p in pieces(self.r.text)]
        for i, call in enumerate(self.r.tool_calls):
            out.append(
                self.chunk(
                    {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": self.call_id(i, call, "call_"),
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for p in pieces(json.dumps(call.arguments), 4):
                out.append(self.chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
        self.content_events = len(out)
        out.append(self.chunk({}, self.finish()))
        if (self.request.get("stream_options") or {}).get("include_usage"):
            out.append(
                _sse(
                    {
                        "id": f"chatcmpl-fake{self.n}",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": self.r.model,
                        "choices": [],
                        "usage": self.usage(),
                    }
                )
            )
        out.append(b"data: [DONE]\n\n")
        return out

    def stream_error(self, message: str) -> bytes:
        return _sse(
            {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
        )


# ------------------------------------------------------------------------- OpenAI Responses


class _Responses(_Writer):
    def usage(self) -> dict[str, Any]:
        cached = _u(self.r, "cache_read")
        prompt = _u(self.r, "input") + cached + _u(self.r, "cache_write")
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": _u(self.r, "output"),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + _u(self.r, "output"),
        }

    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if self.r.reasoning:
            items.append(
                {
                    "id": f"rs_fake{self.n}",
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": self.r.reasoning}],
                    "encrypted_content": self.r.signature or "enc",
                }
            )
        if self.r.text:
            items.append(
                {
                    "id": f"msg_fake{self.n}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": self.r.text, "annotations": []}],
                }
            )
        for i, call in enumerate(self.r.tool_calls):
            items.append(
                {
                    "id": f"fc_fake{self.n}_{i}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": self.call_id(i, call, "call_"),
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                }
            )
        return items

    def response(self, status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": f"resp_fake{self.n}",
            "object": "response",
            "created_at": 1,
            "status": status,
            "model": self.r.model,
            "output": output,
            "error": None,
            "incomplete_details": None,
            "usage": self.usage() if usage else None,
        }
        if self.r.stop == "max_output_tokens":
            doc["status"] = "incomplete"
            doc["incomplete_details"] = {"reason": "max_output_tokens"}
        return doc

    def whole(self) -> dict[str, Any]:
        return self.response("completed", self.items(), True)

    def events(self) -> list[bytes]:
        seq = itertools.count()

        def ev(data: dict[str, Any]) -> bytes:
            data["sequence_number"] = next(seq)
            return _sse(data, data["type"])

        out = [
            ev({"type": "response.created", "response": self.response("in_progress", [], False)}),
            ev(
                {
                    "type": "response.in_progress",
                    "response": self.response("in_progress", [], False),
                }
            ),
        ]
        for pos, item in enumerate(self.items()):
            base = {"item_id": item["id"], "output_index": pos}
            if item["type"] == "reasoning":
                out.append(
                    ev(
                        {
                            "type": "response.output_item.added",
                            "output_index": pos,
                            "item": {"id": item["id"], "type": "reasoning", "summary": []},
                        }
                    )
                )
                part = {"type": "summary_text", "text": ""}
                out.append(
                    ev(
                        {
                            "type": "response.reasoning_summary_part.added",
                            **base,
                            "summary_index": 0,
                            "part": part,
                        }
                    )
                )
                for p in pieces(self.r.reasoning):
                    out.append(
                        ev(
                            {
                                "type": "response.reasoning_summary_text.delta",
                                **base,
                                "summary_index": 0,
                                "delta": p,
                            }
                        )
                    )
                out.append(
                    ev(
                        {
                            "type": "response.reasoning_summary_text.done",
                            **base,
                            "summary_index": 0,
                            "text": self.r.reasoning,
                        }
                    )
                )
                out.append(
                    ev(
                        {
                            "type": "response.reasoning_summary_part.done",
                            **base,
                            "summary_index": 0,
                            "part": {"type": "summary_text", "text": self.r.reasoning},
                        }
                    )
                )
            elif item["type"] == "message":
                out.append(
                    ev(
                        {
                            "type": "response.output_item.added",
                            "output_index": pos,
                            "item": {**item, "status": "in_progress", "content": []},
                        }
                    )
                )
                out.append(
                    ev(
                        {
                            "type": "response.content_part.added",
                            **base,
                            "content_index": 0,
                            "part": {"type": "output_text", "text": "", "annotations": []},
                        }
                    )
                )
                for p in pieces(self.r.text):
                    out.append(
                        ev(
                            {
                                "type": "response.output_text.delta",
                                **base,
                                "content_index": 0,
                                "delta": p,
                                "logprobs": [],
                            }
                        )
                    )
                out.append(
                    ev(
                        {
                            "type": "response.output_text.done",
                            **base,
                            "content_index": 0,
                            "text": self.r.text,
                            "logprobs": [],
                        }
                    )
                )
                out.append(
                    ev(
                        {
                            "type": "response.content_part.done",
                            **base,
                            "content_index": 0,
                            "part": item["content"][0],
                        }
                    )
                )
            else:
                out.append(
                    ev(
                        {
                            "type": "response.output_item.added",
                            "output_index": pos,
                            "item": {**item, "status": "in_progress", "arguments": ""},
                        }
                    )
                )
                for p in pieces(item["arguments"], 4):
                    out.append(
                        ev({"type": "response.function_call_arguments.delta", **base, "delta": p})
                    )
                out.append(
                    ev(
                        {
                            "type": "response.function_call_arguments.done",
                            **base,
                            "arguments": item["arguments"],
                        }
                    )
                )
            out.append(ev({"type": "response.output_item.done", "output_index": pos, "item": item}))
        self.content_events = len(out)
        final = self.response("completed", self.items(), True)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        out.append(ev({"type": kind, "response": final}))
        self._seq = seq
        return out

    def stream_error(self, message: str) -> bytes:
        return _sse(
            {
                "type": "error",
                "code": "server_error",
                "message": message,
                "param": None,
                "sequence_number": 9999,
            },
            "error",
        )


# ------------------------------------------------------------------------- Gemini


class _Gemini(_Writer):
    def finish(self) -> str:
        return self.r.stop or "STOP"

    def usage(self) -> dict[str, int]:
        cached = _u(self.r, "cache_read")
        prompt = _u(self.r, "input") + cached + _u(self.r, "cache_write")
        meta = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": _u(self.r, "output"),
            "totalTokenCount": prompt + _u(self.r, "output"),
        }
        if cached:
            meta["cachedContentTokenCount"] = cached
        return meta

    def parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if self.r.reasoning:
            parts.append({"text": self.r.reasoning, "thought": True})
        if self.r.text:
            parts.append({"text": self.r.text})
        for i, call in enumerate(self.r.tool_calls):
            part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
            if call.id:
                part["functionCall"]["id"] = call.id
            if i == 0 and self.r.signature:
                part["thoughtSignature"] = self.r.signature
            parts.append(part)
        return parts

    def doc(self, parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        doc: dict[str, Any] = {
            "candidates": [cand],
            "modelVersion": self.r.model,
            "responseId": f"gemfake{self.n}",
        }
        if last:
            cand["finishReason"] = self.finish()
            doc["usageMetadata"] = self.usage()
        return doc

    def whole(self) -> dict[str, Any]:
        return self.doc(self.parts(), True)

    def events(self) -> list[bytes]:
        out: list[bytes] = []
        for p in pieces(self.r.reasoning, 12):
            out.append(
                _sse(self.doc([{"text": p, "thought": True}], False)).replace(b"\n\n", b"\r\n\r\n")
            )
        for p in pieces(self.r.text, 12):
            out.append(_sse(self.doc([{"text": p}], False)).replace(b"\n\n", b"\r\n\r\n"))
        calls = [p for p in self.parts() if "functionCall" in p]
        if calls:
            out.append(_sse(self.doc(calls, False)))
        self.content_events = len(out)
        out.append(_sse(self.doc([{"text": ""}], True)))
        return out

    def stream_error(self, message: str) -> bytes:
        return _sse({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})


def stream_bytes(api: str, reply: Reply, request: dict[str, Any] | None = None) -> bytes:
    """The SSE bytes the fake would stream for `reply` (for tests that need no server)."""
    writer = _WRITERS[api](reply, 1, request or {"stream_options": {"include_usage": True}})
    events = writer.events()
    if reply.stream_error is not None:
        events = events[: writer.content_events] + [writer.stream_error(reply.stream_error)]
    if reply.cut_after is not None:
        events = events[: reply.cut_after]
    return b"".join(events)


def whole_body(api: str, reply: Reply) -> dict[str, Any]:
    """The JSON body the fake would answer for `reply` without streaming."""
    return _WRITERS[api](reply, 1, {}).whole()


_WRITERS: dict[str, type[_Writer]] = {
    "anthropic": _Anthropic,
    "openai-chat": _Chat,
    "openai-responses": _Responses,
    "gemini": _Gemini,
}
