"""Fallback: a decision's chain of targets, tried in order until one answers.

`next_move` is the rule, a pure function of one attempt's result and what is left of the
chain: relay the answer, retry the same target after a pause, try the next target, or give
up. `Fallback.answer` is the loop around it, which sends each attempt and records it. Nothing
falls back once the answer is being relayed: by then the agent has its status line.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import Enum

import aiohttp
from aiohttp import web

from agentwrap.proxy.bodies import error_text
from agentwrap.proxy.forward import Forwarder, Incoming, count_tokens_estimate
from agentwrap.proxy.ledger import CallLedger
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.relay import relay
from agentwrap.proxy.upstream import Transport, UpstreamResponse
from agentwrap.route.decide import Target
from agentwrap.trace.record import Attempt
from agentwrap.wire import translate

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504, 529})


class Move(Enum):
    RELAY = "relay"  # hand this answer to the agent (a success, or an error to pass on)
    RETRY = "retry"  # ask the same target again after `delay` seconds
    NEXT = "next"  # try the next target of the chain
    GIVE_UP = "give up"  # no target left: answer the agent with the last error


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to, as far as choosing the next move goes."""

    status: (
        int | None
    )  # the provider's HTTP status; None: no answer (refused, timeout, unreachable)
    retry_after: float | None = None  # seconds, from the provider's retry-after header


@dataclass(frozen=True)
class Next:
    """The move after an attempt; `delay` is the pause before a retry."""

    move: Move
    delay: float = 0.0


def next_move(result: AttemptResult, remaining: int, retried: bool, max_retry_after: float) -> Next:
    """What to do after an attempt, with `remaining` targets after this one in the chain.

    A target that gave no answer, or a retryable status, passes the call on to the next
    target. The last target's retryable status is retried once (`retried` says whether it
    was) when the provider asks to come back within `max_retry_after` seconds; otherwise
    that error goes to the agent as the provider sent it.
    """
    if result.status is None:
        return Next(Move.NEXT) if remaining else Next(Move.GIVE_UP)
    if result.status not in RETRYABLE_STATUS:
        return Next(Move.RELAY)
    if remaining:
        return Next(Move.NEXT)
    delay = result.retry_after
    if not retried and delay is not None and delay <= max_retry_after:
        return Next(Move.RETRY, delay)
    return Next(Move.RELAY)


def retry_after(value: str | None) -> float | None:
    """Seconds from a retry-after header given in seconds (None when absent or a date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class ErrorAnswer:
    """An error for the agent, in its API, kept in case no later target answers."""

    status: int
    body: bytes

    @classmethod
    def of(cls, api: str, status: int, message: str) -> ErrorAnswer:
        return cls(status, translate.error_body(api, status, message))


class Fallback:
    """The loop around `next_move`: sends each attempt, records it, relays the answer."""

    def __init__(self, forwarder: Forwarder, transport: Transport, options: ProxyOptions) -> None:
        self.forwarder = forwarder
        self.transport = transport
        self.options = options

    async def answer(
        self, incoming: Incoming, chain: list[Target], entry: CallLedger
    ) -> web.StreamResponse:
        """Try `chain` in order; answer the agent with the first answer taken, or the last error."""
        call = incoming.call
        last_error: ErrorAnswer | None = None
        i, retried = 0, False
        while i < len(chain):
            target = chain[i]
            model = target.model or call.model
            if call.endpoint == "count_tokens" and target.provider.api != call.surface:
                return self._estimate(incoming, target, model, entry)
            sent_at = time.perf_counter()
            sent = await self._send(incoming, target, model, i, entry, sent_at)
            remaining, patience = len(chain) - 1 - i, self.options.max_retry_after
            if isinstance(sent, ErrorAnswer):
                last_error = sent
                step = next_move(AttemptResult(None), remaining, retried, patience)
            else:
                result = AttemptResult(sent.status, retry_after(sent.headers.get("retry-after")))
                step = next_move(result, remaining, retried, patience)
                if step.move is not Move.RELAY:
                    # An answer not taken: read it, so its connection goes back to the pool.
                    await sent.read()
                    sent.release()
                outcome = f"http {sent.status}"
                entry.attempts.append(Attempt(model, target.provider.name, outcome, _ms(sent_at)))
                if step.move is Move.RELAY:
                    return await self._relay(incoming, target, model, sent, entry)
            if step.move is Move.RETRY:
                retried = True
                await asyncio.sleep(step.delay)
            else:
                i += 1
        return self._give_up(incoming, chain, min(i, len(chain) - 1), last_error, entry)

    async def _relay(
        self,
        incoming: Incoming,
        target: Target,
        model: str | None,
        upstream: UpstreamResponse,
        entry: CallLedger,
    ) -> web.StreamResponse:
        entry.answering(target, model)
        try:
            return await relay(incoming, target, upstream, entry, self.options.stall_timeout)
        finally:
            upstream.release()

    async def _send(
        self,
        incoming: Incoming,
        target: Target,
        model: str | None,
        attempt: int,
        entry: CallLedger,
        sent_at: float,
    ) -> UpstreamResponse | ErrorAnswer:
        """Send one attempt: the provider's response, or the error to give if none comes."""
        surface, provider = incoming.call.surface, target.provider
        try:
            request = self.forwarder.request_for(incoming, target, model, entry.result.notes)
        except ValueError as exc:  # cannot be expressed for this provider
            entry.attempts.append(Attempt(model, provider.name, f"refused: {exc}", 0.0))
            return ErrorAnswer.of(surface, 400, f"agentwrap: {exc}")
        if attempt > 0:
            entry.trying(attempt, target, model)
        try:
            return await asyncio.wait_for(
                self.transport.send(request), timeout=self.options.first_byte_timeout
            )
        except TimeoutError:
            entry.attempts.append(
                Attempt(model, provider.name, "timeout before first byte", _ms(sent_at))
            )
            wait = f"{self.options.first_byte_timeout:g}s"
            return ErrorAnswer.of(
                surface, 504, f"agentwrap: {provider.name} did not answer within {wait}"
            )
        except aiohttp.ClientError as exc:
            entry.attempts.append(
                Attempt(model, provider.name, f"connection error: {exc}", _ms(sent_at))
            )
            where = f"{provider.name} ({provider.base_url})"
            return ErrorAnswer.of(surface, 502, f"agentwrap: cannot reach {where}: {exc}")

    def _estimate(
        self, incoming: Incoming, target: Target, model: str | None, entry: CallLedger
    ) -> web.Response:
        # Only Anthropic counts tokens; for another provider agentwrap estimates.
        estimate = count_tokens_estimate(incoming.call)
        entry.attempts.append(Attempt(model, target.provider.name, "estimated locally", 0.0))
        result = entry.result
        result.http_status, result.response_bytes = 200, len(estimate)
        result.ttfb_ms, result.target = entry.elapsed_ms(), target
        return web.Response(status=200, body=estimate, content_type="application/json")

    def _give_up(
        self,
        incoming: Incoming,
        chain: list[Target],
        last: int,
        error: ErrorAnswer | None,
        entry: CallLedger,
    ) -> web.Response:
        surface = incoming.call.surface
        error = error or ErrorAnswer.of(surface, 502, "agentwrap: no provider could take the call")
        result = entry.result
        result.status, result.http_status = "error", error.status
        result.error, result.response_bytes = error_text(error.body), len(error.body)
        result.target = chain[last]
        return web.Response(status=error.status, body=error.body, content_type="application/json")


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
