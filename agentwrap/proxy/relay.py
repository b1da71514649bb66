"""The relay: a provider's answer back to the agent, as it arrives.

A stream is pumped chunk by chunk (translated event by event when the provider speaks another
API), its usage tapped on the way, and cut with an error event when the provider goes silent
for longer than the stall timeout or the connection breaks. Whole bodies (and errors) are read
at once, translated if needed, and answered in one piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
from aiohttp import web

from agentwrap.proxy.bodies import dumps, error_text
from agentwrap.proxy.forward import Incoming
from agentwrap.proxy.ledger import MAX_ANSWER, CallLedger, CallResult
from agentwrap.proxy.upstream import UpstreamResponse, response_headers
from agentwrap.route.decide import Target
from agentwrap.wire import translate
from agentwrap.wire.call import Call
from agentwrap.wire.usage import UsageTap

_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


class Stalled(Exception):
    """The provider sent nothing for longer than the stall timeout, mid-stream."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the provider sent nothing for {seconds:g}s")


async def relay(
    incoming: Incoming,
    target: Target,
    upstream: UpstreamResponse,
    entry: CallLedger,
    stall_timeout: float,
) -> web.StreamResponse:
    """Answer the agent with `upstream`'s answer; what was seen goes into `entry.result`."""
    entry.result.http_status = upstream.status
    ctype = upstream.headers.get("content-type", "")
    is_sse = "text/event-stream" in ctype
    if upstream.status >= 400 or not is_sse:
        return await _whole(incoming.call, target, upstream, entry, ctype, is_sse)
    return await _stream(incoming, target, upstream, entry, stall_timeout)


async def _whole(
    call: Call,
    target: Target,
    upstream: UpstreamResponse,
    entry: CallLedger,
    ctype: str,
    is_sse: bool,
) -> web.Response:
    result = entry.result
    same_api = target.provider.api == call.surface
    data = await upstream.read()
    tap = UsageTap(target.provider.api, is_sse)
    tap.feed(data)
    tap.finish()
    result.ttfb_ms = entry.elapsed_ms()
    status = upstream.status
    if status >= 400:
        result.status, result.error = "error", error_text(data)
        status, data = error_for_agent(call, target, status, data, ctype)
    elif not same_api:
        data = translate_whole(call, target, data)
    hdrs = response_headers(upstream.headers) if same_api else {"content-type": "application/json"}
    resp = web.Response(status=status, body=data, headers=hdrs)
    keep(result, data)
    result.usage, result.response_bytes = tap.usage, len(data)
    result.stop_reason = tap.stop_reason
    entry.first_byte()
    return resp


async def _stream(
    incoming: Incoming,
    target: Target,
    upstream: UpstreamResponse,
    entry: CallLedger,
    stall_timeout: float,
) -> web.StreamResponse:
    call, result = incoming.call, entry.result
    tap = UsageTap(target.provider.api, True)
    translator = None
    if target.provider.api != call.surface:
        translator = translate.StreamTranslator(
            target.provider.api, call.surface, call.model or target.model or ""
        )
    hdrs = response_headers(upstream.headers) if translator is None else _SSE_HEADERS
    resp = web.StreamResponse(status=upstream.status, headers=hdrs)
    try:
        # Inside the try: the agent may have gone away before the first byte.
        await resp.prepare(incoming.request)
        await _pump(resp, upstream, tap, translator, entry, stall_timeout)
    except (ConnectionResetError, aiohttp.ClientConnectionResetError) as exc:
        result.status = "aborted"
        result.error = f"the agent closed the connection mid-stream ({exc})"
    except (Stalled, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        result.status = "error"
        result.error = f"upstream stream broke: {type(exc).__name__}: {exc}"
        await _end_early(resp, call, translator, exc)
    except asyncio.CancelledError:
        result.status, result.error = "aborted", "the call was cancelled mid-stream"
        raise
    finally:
        tap.finish()
        result.usage = translator.usage if translator is not None else tap.usage
        result.stop_reason = (translator if translator is not None else tap).stop_reason
    return resp


async def _pump(
    resp: web.StreamResponse,
    upstream: UpstreamResponse,
    tap: UsageTap,
    translator: translate.StreamTranslator | None,
    entry: CallLedger,
    stall_timeout: float,
) -> None:
    result = entry.result
    while True:
        try:
            chunk = await asyncio.wait_for(upstream.readany(), stall_timeout)
        except TimeoutError:
            raise Stalled(stall_timeout) from None
        if not chunk:
            break
        tap.feed(chunk)
        out = translator.feed(chunk) if translator is not None else chunk
        if not out:
            continue
        if result.ttfb_ms is None:
            result.ttfb_ms = entry.elapsed_ms()
            entry.first_byte()
        result.response_bytes += len(out)
        keep(result, out)
        await resp.write(out)
    if translator is not None:
        tail = translator.close()
        if tail:
            result.response_bytes += len(tail)
            keep(result, tail)
            await resp.write(tail)
    await resp.write_eof()


async def _end_early(
    resp: web.StreamResponse,
    call: Call,
    translator: translate.StreamTranslator | None,
    exc: Exception,
) -> None:
    """Tell the agent, in its own stream's terms, that the provider's stream broke off."""
    with contextlib.suppress(Exception):
        msg = f"agentwrap: the provider's stream ended early: {exc}"
        await resp.write(
            translator.error_event(msg)
            if translator is not None
            else translate.error_event(call.surface, msg)
        )
        await resp.write_eof()


def keep(result: CallResult, data: bytes) -> None:
    """Keep what the agent got when content is captured, up to MAX_ANSWER bytes."""
    if result.answer is not None and len(result.answer) < MAX_ANSWER:
        result.answer += data[: MAX_ANSWER - len(result.answer)]


def error_for_agent(
    call: Call, target: Target, status: int, body: bytes, ctype: str | None
) -> tuple[int, bytes]:
    """A provider's error answer in the agent's API (unchanged when they speak the same)."""
    if target.provider.api == call.surface:
        return status, body
    return translate.translate_error(status, body, ctype, target.provider.api, call.surface)


def translate_whole(call: Call, target: Target, data: bytes) -> bytes:
    """A whole (non-stream) answer from the provider's API into the agent's."""
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    return dumps(
        translate.translate_response(doc, target.provider.api, call.surface, call.model or "")
    )
