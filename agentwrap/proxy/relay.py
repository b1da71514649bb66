"""The relay: a provider's answer back to the agent, handed on only once it has soundly begun.

Nothing reaches the agent until `open_answer` has read the answer far enough: the first chunk
of a stream, or a whole body (up to the answer buffer). A failure up to there belongs to the
attempt, and the call may still fall back. `deliver` then hands the answer on: a stream is
pumped chunk by chunk (translated event by event when the provider speaks another API), its
usage tapped and its soundness checked on the way, and cut with an error event when the
provider goes silent or breaks off; a whole body goes in one piece; a body past the buffer
streams through. A failure reading from the provider (`UpstreamBroke`, `Stalled`) is never
mistaken for the agent leaving (`AgentLeft`): each side's errors are caught where it is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from agentwrap.proxy import http1
from agentwrap.proxy.bodies import dumps
from agentwrap.proxy.forward import Incoming
from agentwrap.proxy.ledger import MAX_ANSWER, CallLedger, CallResult
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.upstream import FirstByteClock, UpstreamResponse, response_headers
from agentwrap.route.decide import Target
from agentwrap.wire import translate
from agentwrap.wire.call import Call
from agentwrap.wire.check import StreamCheck, whole_body_flaw
from agentwrap.wire.usage import UsageTap

_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
# What reading a provider's body raises when the connection or its encoding fails.
_UPSTREAM_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, ConnectionError)
# What writing to the agent raises once it has closed its connection.
_AGENT_ERRORS = (ConnectionError, aiohttp.ClientConnectionResetError)
ERROR_BODY_LIMIT = 1 << 20  # an error body is read up to this, the rest dropped
ERROR_BODY_TIMEOUT = 10.0  # and must arrive within this (or the stall timeout, if shorter)


class Stalled(Exception):
    """The provider sent nothing for longer than the stall timeout, inside its answer."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the provider sent nothing for {seconds:g}s")


class UpstreamBroke(Exception):
    """Reading the provider's answer failed: the connection reset, the body cut, undecodable."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {' '.join(str(cause).split())}")


class AgentLeft(Exception):
    """Writing to the agent failed: it closed its connection."""


class Unsound(Exception):
    """The answer began broken (an empty stream, an error event, a body that is not JSON)."""


async def read_chunk(upstream: UpstreamResponse, timeout: float | None) -> bytes:
    """The answer's next bytes (b"" at its end); Stalled after `timeout` seconds of silence."""
    try:
        if timeout is None:
            return await upstream.readany()
        async with asyncio.timeout(timeout):
            return await upstream.readany()
    except TimeoutError:
        raise Stalled(timeout or 0.0) from None
    except _UPSTREAM_ERRORS as exc:
        raise UpstreamBroke(exc) from exc


async def write_agent(resp: http1.StreamResponse, data: bytes) -> None:
    """Send bytes to the agent; AgentLeft when it has gone away."""
    try:
        await resp.write(data)
    except _AGENT_ERRORS as exc:
        raise AgentLeft(str(exc)) from exc


async def read_error_body(upstream: UpstreamResponse, timeout: float) -> tuple[bytes, str | None]:
    """An error answer's body (at most ERROR_BODY_LIMIT bytes), and what went wrong reading it."""
    buf = bytearray()
    try:
        async with asyncio.timeout(min(timeout, ERROR_BODY_TIMEOUT)):
            while len(buf) <= ERROR_BODY_LIMIT:
                chunk = await upstream.readany()
                if not chunk:
                    return bytes(buf), None
                buf += chunk
    except TimeoutError:
        return bytes(buf), f"its body did not arrive within {min(timeout, ERROR_BODY_TIMEOUT):g}s"
    except _UPSTREAM_ERRORS as exc:
        return bytes(buf), f"its body broke off: {type(exc).__name__}: {exc}"
    return bytes(buf[:ERROR_BODY_LIMIT]), None


@dataclass
class Opened:
    """An answer read far enough to hand on: the first chunk of a stream, or a whole body."""

    upstream: UpstreamResponse
    is_sse: bool
    head: bytes
    whole: bool  # `head` is the whole body
    check: StreamCheck | None = None


async def open_answer(
    call: Call,
    target: Target,
    upstream: UpstreamResponse,
    options: ProxyOptions,
    clock: FirstByteClock | None,
) -> Opened:
    """Read a non-error answer until it has soundly begun; nothing has reached the agent yet.

    The first bytes arrive within the caller's first-byte clock, the rest of a whole body
    within the stall timeout between reads. Raises Unsound, UpstreamBroke or Stalled.
    """
    api = target.provider.api
    is_sse = "text/event-stream" in upstream.headers.get("content-type", "")
    sound_status = 200 <= upstream.status < 300
    first = await read_chunk(upstream, None)
    if clock is not None:
        clock.stop()
    if is_sse and sound_status:
        check = StreamCheck(api)
        check.feed(first)
        if not first:
            check.close()
        flaw = check.flaw(ended=not first)
        if flaw is not None and check.content == 0:
            raise Unsound(flaw)
        return Opened(upstream, True, first, False, check)
    buf = bytearray(first)
    chunk = first
    while chunk:
        if len(buf) > options.answer_buffer:
            if api != call.surface:
                limit = options.answer_buffer
                raise Unsound(f"answered with more than {limit} bytes, too many to translate")
            return Opened(upstream, is_sse, bytes(buf), False)
        chunk = await read_chunk(upstream, options.stall_timeout)
        buf += chunk
    body = bytes(buf)
    if sound_status:
        flaw = whole_body_flaw(api, body)
        if flaw is not None:
            raise Unsound(flaw)
    return Opened(upstream, is_sse, body, True)


async def deliver(
    incoming: Incoming,
    target: Target,
    opened: Opened,
    entry: CallLedger,
    options: ProxyOptions,
) -> http1.StreamResponse:
    """Answer the agent with an opened answer; what was seen goes into `entry.result`."""
    entry.result.http_status = opened.upstream.status
    if opened.whole:
        return _whole(incoming.call, target, opened, entry)
    if opened.is_sse:
        return await _stream(incoming, target, opened, entry, options.stall_timeout)
    return await _through(incoming, opened, entry, options)


def error_answer(
    call: Call,
    target: Target,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
) -> http1.Response:
    """A provider's error answer for the agent, in the agent's API (as sent, same-API)."""
    ctype = headers.get("content-type")
    if target.provider.api == call.surface and _is_json(body):
        return http1.Response(status=status, body=body, headers=response_headers(headers))
    status, data = translate.translate_error(status, body, ctype, target.provider.api, call.surface)
    return http1.Response(status=status, body=data, content_type="application/json")


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _whole(call: Call, target: Target, opened: Opened, entry: CallLedger) -> http1.Response:
    result, upstream, data = entry.result, opened.upstream, opened.head
    same_api = target.provider.api == call.surface
    tap = UsageTap(target.provider.api, opened.is_sse)
    tap.feed(data)
    tap.finish()
    result.ttfb_ms = entry.elapsed_ms()
    if not same_api:
        data = translate_whole(call, target, data)
    hdrs = response_headers(upstream.headers) if same_api else {"content-type": "application/json"}
    keep(result, data)
    result.usage, result.response_bytes = tap.usage, len(data)
    result.stop_reason = tap.stop_reason
    entry.first_byte()
    return http1.Response(status=upstream.status, body=data, headers=hdrs)


async def _through(
    incoming: Incoming, opened: Opened, entry: CallLedger, options: ProxyOptions
) -> http1.StreamResponse:
    """A same-API whole body past the answer buffer: passed on as it arrives, never held."""
    result, upstream = entry.result, opened.upstream
    result.usage_read = False
    resp = http1.StreamResponse(status=upstream.status, headers=response_headers(upstream.headers))
    chunk = opened.head
    try:
        await _prepare(resp, incoming.request)
        result.ttfb_ms = entry.elapsed_ms()
        entry.first_byte()
        while chunk:
            result.response_bytes += len(chunk)
            keep(result, chunk)
            await write_agent(resp, chunk)
            chunk = await read_chunk(upstream, options.stall_timeout)
        await _eof(resp)
    except AgentLeft as exc:
        result.status = "aborted"
        result.error = f"the agent closed the connection mid-answer ({exc})"
    except (Stalled, UpstreamBroke) as exc:
        # Too late for an error in the agent's API: a cut connection at least is not a whole answer.
        result.status = "error"
        result.error = f"upstream body broke: {exc}"
        if incoming.request.transport is not None:
            incoming.request.transport.close()
    return resp


async def _stream(
    incoming: Incoming,
    target: Target,
    opened: Opened,
    entry: CallLedger,
    stall_timeout: float,
) -> http1.StreamResponse:
    """Pump an opened stream to the agent, then end it; how it went goes into `entry.result`."""
    call, result, upstream = incoming.call, entry.result, opened.upstream
    check = opened.check or StreamCheck(target.provider.api)
    tap = UsageTap(target.provider.api, True)
    translator = None
    if target.provider.api != call.surface:
        translator = translate.StreamTranslator(
            target.provider.api, call.surface, call.model or target.model or ""
        )
    hdrs = response_headers(upstream.headers) if translator is None else _SSE_HEADERS
    resp = http1.StreamResponse(status=upstream.status, headers=hdrs)
    who = _who(target, entry)
    try:
        await _prepare(resp, incoming.request)
        await _pump(resp, opened, entry, check, tap, translator, stall_timeout)
        await _end_stream(resp, call, entry, check, translator, who)
    except AgentLeft as exc:
        if result.status == "ok" and not result.complete:
            result.status = "aborted"
            result.error = f"the agent closed the connection mid-stream ({exc})"
    except (Stalled, UpstreamBroke) as exc:
        result.status = "error"
        result.error = f"upstream stream broke: {exc}"
        await _end_early(resp, call, translator, f"{who}'s stream ended early: {exc}")
    except asyncio.CancelledError:
        if result.status == "ok" and not result.complete:
            result.status, result.error = "aborted", "the call was cancelled mid-stream"
            # When agentwrap stops, the agent still hears why its answer ends here.
            await _end_early(resp, call, translator, "agentwrap stopped while this answer streamed")
        raise
    finally:
        tap.finish()
        result.usage = translator.usage if translator is not None else tap.usage
        result.stop_reason = (translator if translator is not None else tap).stop_reason
    return resp


async def _pump(
    resp: http1.StreamResponse,
    opened: Opened,
    entry: CallLedger,
    check: StreamCheck,
    tap: UsageTap,
    translator: translate.StreamTranslator | None,
    stall_timeout: float,
) -> None:
    """Hand the stream on chunk by chunk until it ends or carries an error event.

    The first chunk was checked when the answer was opened; each chunk is tapped for usage,
    translated when the provider speaks another API, and written as soon as it is read.
    """
    result, upstream = entry.result, opened.upstream
    chunk = opened.head
    while chunk:
        tap.feed(chunk)
        out = translator.feed(chunk) if translator is not None else chunk
        if out:
            if result.ttfb_ms is None:
                result.ttfb_ms = entry.elapsed_ms()
                entry.later(entry.first_byte)  # reported when the loop next waits
            result.response_bytes += len(out)
            if result.answer is not None:
                keep(result, out)
            await write_agent(resp, out)
        if check.error is not None:
            return  # an error event ends the answer; the agent has it
        # The agent may hang up once it has the whole answer: that is not an abort.
        result.complete = check.complete
        if result.ttfb_ms is None:
            entry.routed()  # the first byte waits for more of the stream: routed goes alone
        chunk = await read_chunk(upstream, stall_timeout)
        if chunk:
            check.feed(chunk)


async def _end_stream(
    resp: http1.StreamResponse,
    call: Call,
    entry: CallLedger,
    check: StreamCheck,
    translator: translate.StreamTranslator | None,
    who: str,
) -> None:
    """The stream is over: judge it, tell the agent of a flaw its bytes do not show, end it."""
    result = entry.result
    check.close()
    flaw = check.flaw()
    if flaw is not None:
        # Recorded first: an agent that hangs up on hearing of it does not unmake it.
        result.status, result.error = "error", f"{who} {flaw}"
    tail = b""
    if translator is not None:
        tail = translator.close()
    elif flaw is not None and check.error is None and not check.malformed:
        # The provider's own bytes do not say the answer broke off: say it in its API.
        tail = translate.error_event(call.surface, f"agentwrap: {who} {flaw}")
    if tail:
        result.response_bytes += len(tail)
        keep(result, tail)
        await write_agent(resp, tail)
    await _eof(resp)


async def _prepare(resp: http1.StreamResponse, request: http1.Request) -> None:
    try:
        await resp.prepare(request)
    except _AGENT_ERRORS as exc:
        raise AgentLeft(str(exc)) from exc


async def _eof(resp: http1.StreamResponse) -> None:
    try:
        await resp.write_eof()
    except _AGENT_ERRORS as exc:
        raise AgentLeft(str(exc)) from exc


async def _end_early(
    resp: http1.StreamResponse,
    call: Call,
    translator: translate.StreamTranslator | None,
    why: str,
) -> None:
    """Tell the agent, in its own stream's terms, that the answer ends here."""
    msg = f"agentwrap: {why}"
    event = (
        translator.error_event(msg)
        if translator is not None
        else translate.error_event(call.surface, msg)
    )
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await resp.write(event)
            await resp.write_eof()


def keep(result: CallResult, data: bytes) -> None:
    """Keep what the agent got when content is captured, up to MAX_ANSWER bytes."""
    if result.answer is not None and len(result.answer) < MAX_ANSWER:
        result.answer += data[: MAX_ANSWER - len(result.answer)]


def _who(target: Target, entry: CallLedger) -> str:
    model = entry.record.model or target.model
    return f"{target.provider.name} ({model})" if model else target.provider.name


def translate_whole(call: Call, target: Target, data: bytes) -> bytes:
    """A whole (non-stream) answer from the provider's API into the agent's."""
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    return dumps(
        translate.translate_response(doc, target.provider.api, call.surface, call.model or "")
    )
