"""The fake providers' server: a real aiohttp server on 127.0.0.1 that records every request,
asks its script (a subclass) for an answer and delivers it in the API's format, faults included.

It runs on the caller's event loop (`async with`, or `await start()`) or in a thread of its own
(`with`), for tests whose client is synchronous.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import json
import socket
import struct
import threading
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from aiohttp import web

from agentwrap.fakes.content import Answer
from agentwrap.fakes.formats import Event, Format, format_for

# Claude Code's bodies are ~100 KB and grow with the conversation: allow big ones.
MAX_BODY = 256 * 1024 * 1024
# The request's prepared streaming response, to hand back when the client goes away.
_PREPARED: Any = (
    web.RequestKey("agentwrap.fakes.prepared", web.StreamResponse)
    if hasattr(web, "RequestKey")  # aiohttp >= 3.13; plain string keys before
    else "agentwrap.fakes.prepared"
)


@dataclass
class Received:
    """One request as a fake provider received it, and how it was answered."""

    method: str
    path: str  # with the query string, e.g. "/s/abc/v1/messages?beta=true"
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw: bytes
    received_at: float
    api: str | None = None
    endpoint: str = "other"  # the API's name for it: "messages", "responses", "models"...
    model: str = ""
    stream: bool = False
    provider: str = ""  # the first path segment, for servers that host several providers
    status: int = 0  # the HTTP status answered; 0 until then
    exchange: str | None = None  # the name of the scripted exchange that answered, if any
    size: int = 0  # the body's length in bytes (kept when the body itself is not)

    @property
    def at(self) -> float:
        """When it arrived (seconds since the epoch)."""
        return self.received_at


@dataclass
class Delivery:
    """How an answer reaches the client: its status, and the faults to play on the way.

    status >= 400 answers an error in the API's shape with `error` as its message (and
    `error_kind` as its type, else chosen from the status), or `error_body` verbatim with
    `content_type` (an HTML page, say). `stream` overrides what the request asked for.

    Faults: `first_byte_delay` before the response starts; `event_delay` between streamed
    events, or `pace(event)` seconds before each; the first `hold_after` events, then a wait for
    `release`; `gzip` the body; `stream_error` sends an error event after the content instead
    of the normal end; `cut_after` ends the stream cleanly after that many events, without its
    ending events; `drop_after` closes the connection after that many. `burst_after` sends the
    events from that one on in a single write, as a provider whose answer is ready does.

    Faults of the connection and the body: `reset` resets the connection before any byte;
    `stall_after_headers` sends the status and headers, then nothing for that many seconds
    (stream or whole body); `cut_body_after` announces the whole body's length but closes the
    connection after that many bytes; `raw_body` answers a 200 with these bytes (and
    `content_type`) instead of the API's answer: an HTML page, malformed events;
    `false_encoding` claims a content-encoding (gzip, say) the body does not have.
    """

    status: int = 200
    error: str | None = None
    error_kind: str | None = None
    error_body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stream: bool | None = None
    first_byte_delay: float = 0.0
    event_delay: float = 0.0
    pace: Callable[[Event], float] | None = None
    hold_after: int | None = None
    release: threading.Event | None = None
    hold_timeout: float = 30.0
    gzip: bool = False
    cut_after: int | None = None
    drop_after: int | None = None
    burst_after: int | None = None
    stream_error: str | None = None
    stream_error_kind: str | None = None
    reset: bool = False
    stall_after_headers: float | None = None
    cut_body_after: int | None = None
    raw_body: bytes | None = None
    false_encoding: str | None = None


class Scripted(Protocol):
    """A scripted reply, in whichever vocabulary: it says what to answer a request."""

    def outcome(self, request: Received, number: int) -> Outcome:
        """The answer to `request`, the server's `number`th generating call."""
        ...


@dataclass
class Outcome:
    """What a fake answers one generating call: an answer (None for an error) and its delivery."""

    answer: Answer | None
    delivery: Delivery = field(default_factory=Delivery)


class FakeServer(ABC):
    """A real HTTP server playing one or more APIs; subclasses say what to answer."""

    def __init__(
        self,
        apis: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] | None = None,
        require_key: bool = False,
        keep_bodies: bool = True,
    ) -> None:
        """`models`: what the model-list endpoint lists (None: no such endpoint).
        `require_key`: refuse requests without a key, in the API's own way.
        `keep_bodies`: record headers and bodies (off for long runs that only count calls)."""
        self.formats = [format_for(api) for api in apis]
        self.host = host
        self.port = port
        self.models = list(models) if models is not None else None
        self.require_key = require_key
        self.keep_bodies = keep_bodies
        self.requests: list[Received] = []
        self._answered = 0
        self._changed = threading.Condition()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- what subclasses decide -------------------------------------------------------------

    @abstractmethod
    async def respond(
        self, request: Received, body: dict[str, Any], fmt: Format, number: int
    ) -> Outcome:
        """The answer to a generating call (its JSON `body` kept even when the record's is
        not); `number` counts the calls from 1."""

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """http://127.0.0.1:<port>, once started."""
        if not self.port:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        """Listen on the running event loop (a free port unless one was given); the root URL."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.root

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> Self:
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

        self._thread = threading.Thread(target=serve, name=type(self).__name__, daemon=True)
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

    # -- what was received ------------------------------------------------------------------

    def generating(self) -> list[Received]:
        """The requests that asked the model (not model lists or token counts), in order."""
        return [r for r in list(self.requests) if self._generates(r)]

    def wait_for_requests(
        self, count: int, timeout: float = 10.0, endpoint: str | None = None
    ) -> list[Received]:
        """Block until `count` requests of `endpoint` (default: generating calls) arrived.

        In async mode the server shares the test's loop: call this through
        `await asyncio.to_thread(fake.wait_for_requests, count)`.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [
                    r
                    for r in self.requests
                    if (r.endpoint == endpoint if endpoint else self._generates(r))
                ]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    what = endpoint or "generating"
                    raise TimeoutError(f"{len(got)} of {count} {what} requests after {timeout}s")
                self._changed.wait(left)

    def _generates(self, request: Received) -> bool:
        return any(f.api == request.api and request.endpoint in f.generates for f in self.formats)

    # -- serving ----------------------------------------------------------------------------

    def _route(self, method: str, path: str) -> tuple[Format | None, str]:
        for fmt in self.formats:
            endpoint = fmt.endpoint(method, path)
            if endpoint is not None:
                return fmt, endpoint
        return None, "other"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fmt, endpoint = self._route(request.method, request.path)
        keep = self.keep_bodies
        received = Received(
            method=request.method,
            path=request.path_qs,
            headers={k.lower(): v for k, v in request.headers.items()} if keep else {},
            body=body if keep else None,
            raw=raw if keep else b"",
            received_at=time.time(),
            api=fmt.api if fmt else None,
            endpoint=endpoint,
            model=fmt.model(request.path, body) if fmt else "",
            stream=fmt.wants_stream(request.path, body) if fmt else False,
            provider=request.path.strip("/").partition("/")[0],
            size=len(raw),
        )
        with self._changed:
            self.requests.append(received)
            self._changed.notify_all()
        try:
            response = await self._serve(request, received, fmt, body)
        except ConnectionResetError:
            # The client went away mid-answer: nothing more to send.
            return request.get(_PREPARED) or web.Response(status=499)
        if not received.status:
            received.status = response.status
        return response

    async def _serve(
        self, request: web.Request, received: Received, fmt: Format | None, body: Any
    ) -> web.StreamResponse:
        if fmt is None:
            fallback = self.formats[0]
            message = f"fake upstream: no route {request.method} {request.path}"
            return _json(404, fallback.error(404, message))
        if self.require_key and not fmt.authorised(request.headers, request.query):
            return _json(401, fmt.error(401, "missing API key (fake provider)"))
        if received.endpoint == "models" and self.models is not None:
            return _json(200, fmt.models(self.models))
        if received.endpoint == "count_tokens":
            return _json(200, fmt.count_tokens(body if isinstance(body, dict) else {}))
        if received.endpoint not in fmt.generates:
            message = f"fake upstream: no route {request.method} {request.path}"
            return _json(404, fmt.error(404, message))
        if not isinstance(body, dict):
            return _json(400, fmt.error(400, "fake upstream: the body is not a JSON object"))
        self._answered += 1
        outcome = await self.respond(received, body, fmt, self._answered)
        received.status = outcome.delivery.status
        return await _deliver(request, fmt, received, body, outcome)


async def _deliver(
    request: web.Request, fmt: Format, received: Received, body: dict[str, Any], outcome: Outcome
) -> web.StreamResponse:
    """Write the outcome: an error, a JSON document or a stream, with its faults."""
    d = outcome.delivery
    if d.first_byte_delay:
        await asyncio.sleep(d.first_byte_delay)
    if d.reset:
        _reset(request)
        return web.Response(status=499)  # never sent: the connection is gone
    if d.raw_body is not None and d.status < 400:
        content_type = d.content_type or "text/html"
        return await _write_body(request, d.raw_body, content_type, d)
    if d.status >= 400 or outcome.answer is None:
        if d.stall_after_headers is not None or d.cut_body_after is not None:
            error = fmt.error(d.status, d.error or f"fake upstream error {d.status}", d.error_kind)
            return await _write_body(request, json.dumps(error).encode(), "application/json", d)
        if d.error_body is not None:
            content_type = (d.content_type or "text/html").split(";")[0]
            return web.Response(
                status=d.status, body=d.error_body, content_type=content_type, headers=d.headers
            )
        error = fmt.error(d.status, d.error or f"fake upstream error {d.status}", d.error_kind)
        return _json(d.status, error, d.headers, d.gzip)
    stream = received.stream if d.stream is None else d.stream
    if not stream:
        if d.stall_after_headers is None and d.cut_body_after is None and not d.false_encoding:
            return _json(200, fmt.whole(outcome.answer, body), d.headers, d.gzip)
        data = json.dumps(fmt.whole(outcome.answer, body)).encode()
        return await _write_body(request, data, "application/json", d)
    return await _write_stream(request, stream_events(fmt, outcome.answer, d, body), d)


def _reset(request: web.Request) -> None:
    """Reset the connection (RST, not a polite close), as a crashed provider's host does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _write_body(
    request: web.Request, data: bytes, content_type: str, d: Delivery
) -> web.StreamResponse:
    """A whole body written by hand, so that it can stall, be cut or lie about its encoding."""
    response = web.StreamResponse(
        status=d.status, headers={"Content-Type": content_type, **d.headers}
    )
    if d.false_encoding:
        response.headers["Content-Encoding"] = d.false_encoding
    response.content_length = len(data)
    await response.prepare(request)
    request[_PREPARED] = response
    if d.stall_after_headers is not None:
        await asyncio.sleep(d.stall_after_headers)
    if d.cut_body_after is not None:
        await response.write(data[: d.cut_body_after])
        await asyncio.sleep(0.05)  # let those bytes leave before the connection goes
        if request.transport is not None:
            request.transport.close()
        return response
    # In pieces, as a large answer arrives.
    for start in range(0, len(data), 1 << 16):
        await response.write(data[start : start + (1 << 16)])
    await response.write_eof()
    return response


def stream_events(
    fmt: Format, answer: Answer, delivery: Delivery, request: dict[str, Any]
) -> list[Event]:
    """The events of a streamed answer, ended by a stream error or cut short as scripted."""
    played = fmt.stream(answer, request)
    events = played.events
    if delivery.stream_error is not None:
        ending = fmt.stream_error(delivery.stream_error, delivery.stream_error_kind)
        events = events[: played.content] + [ending]
    if delivery.cut_after is not None:
        events = events[: delivery.cut_after]
    return events


def _json(
    status: int, payload: Any, headers: Mapping[str, str] | None = None, gzip: bool = False
) -> web.Response:
    data = json.dumps(payload).encode()
    out = dict(headers or {})
    if gzip:
        data = gzip_module.compress(data)
        out["Content-Encoding"] = "gzip"
    # As the real APIs do: Gemini CLI's interactive mode stalls on a JSON answer without one.
    return web.Response(
        status=status, body=data, headers=out, content_type="application/json", charset="utf-8"
    )


async def _write_stream(
    request: web.Request, events: list[Event], d: Delivery
) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            **d.headers,
        },
    )
    compressor = None
    if d.false_encoding:
        response.headers["Content-Encoding"] = d.false_encoding
    if d.gzip:
        response.headers["Content-Encoding"] = "gzip"
        compressor = zlib.compressobj(wbits=31)  # 31: gzip framing
    await response.prepare(request)
    request[_PREPARED] = response
    if d.stall_after_headers is not None:
        await asyncio.sleep(d.stall_after_headers)
    if d.burst_after is not None:
        burst = Event(b"".join(e.data for e in events[d.burst_after :]))
        events = [*events[: d.burst_after], burst]
    for sent, event in enumerate(events):
        if d.drop_after is not None and sent >= d.drop_after:
            # An upstream that dies mid-stream: no end chunk, the socket just closes.
            if request.transport is not None:
                request.transport.close()
            return response
        if d.hold_after is not None and sent == d.hold_after:
            await _wait_for_release(d)
        elif d.pace is not None:
            await asyncio.sleep(d.pace(event))
        elif sent and d.event_delay:
            await asyncio.sleep(d.event_delay)
        chunk = event.data
        if compressor is not None:
            # A sync flush per event keeps the gzip stream decodable event by event.
            chunk = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        await response.write(chunk)
    if compressor is not None:
        await response.write(compressor.flush())
    await response.write_eof()
    return response


async def _wait_for_release(d: Delivery) -> None:
    if d.release is None:
        raise ValueError("hold_after needs release (a threading.Event)")
    deadline = time.monotonic() + d.hold_timeout
    # Polling keeps this working whether the releasing test runs in this loop or another thread.
    while not d.release.is_set():
        if time.monotonic() > deadline:
            raise TimeoutError("release was never set")
        await asyncio.sleep(0.002)
