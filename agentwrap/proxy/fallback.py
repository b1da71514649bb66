"""Fallback: a decision's chain of targets, tried in order until one answers.

`next_move` is the rule, a pure function of one attempt's result and what is left of the
chain: relay the answer, retry the same target after a pause, try the next target, or give
up. `Fallback.answer` is the loop around it, which sends each attempt, reads its answer until
it has soundly begun (`relay.open_answer`) and records it. An attempt fails when no answer
comes within the first-byte timeout, the connection fails, or the answer breaks off or is
unsound before anything reached the agent; nothing falls back once the agent has bytes.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass, field, replace
from enum import Enum

import aiohttp

from agentwrap.proxy import http1
from agentwrap.proxy.forward import Forwarder, Incoming, count_tokens_estimate
from agentwrap.proxy.ledger import CallLedger
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.relay import (
    Opened,
    Stalled,
    Unsound,
    UpstreamBroke,
    deliver,
    error_answer,
    open_answer,
    read_error_body,
)
from agentwrap.proxy.upstream import FirstByteClock, Transport, UpstreamResponse
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

    A target that gave no answer (or one that broke off before the agent got a byte), or a
    retryable status, passes the call on to the next target at once: another model now beats
    the same one later. Only the last target is retried, and only once per call (`retried`
    says whether it was), when its retryable status comes with a retry-after of at most
    `max_retry_after` seconds; otherwise that error goes to the agent as the provider sent
    it, and the agent's own client may retry it as it sees fit.
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


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a retry-after header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).

    None when absent or unreadable; a date in the past is 0. `now` is the current time in
    seconds since the epoch (the clock's, unless given).
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; a date without a zone is not one
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class ErrorAnswer:
    """An error for the agent, in its API, kept in case no later target answers."""

    status: int
    body: bytes
    message: str  # what the record says went wrong
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})

    @classmethod
    def of(cls, api: str, status: int, message: str) -> ErrorAnswer:
        return cls(status, translate.error_body(api, status, f"agentwrap: {message}"), message)


@dataclass(frozen=True)
class Failed:
    """An attempt that gave the agent nothing: how it ended, for the rule and the record."""

    result: AttemptResult
    outcome: str  # the attempt's outcome in the record
    answer: ErrorAnswer  # what the agent gets if this is the last word


class Fallback:
    """The loop around `next_move`: sends each attempt, records it, relays the answer."""

    def __init__(self, forwarder: Forwarder, transport: Transport, options: ProxyOptions) -> None:
        self.forwarder = forwarder
        self.transport = transport
        self.options = options

    async def answer(
        self, incoming: Incoming, chain: list[Target], entry: CallLedger
    ) -> http1.StreamResponse:
        """Try `chain` in order; answer the agent with the first answer taken, or the last error."""
        call = incoming.call
        last_error: ErrorAnswer | None = None
        i, retried = 0, False
        while i < len(chain):
            target = chain[i]
            model = target.model or call.model
            if call.endpoint == "count_tokens" and target.provider.api != call.surface:
                return self._estimate(incoming, target, model, entry)
            remaining, patience = len(chain) - 1 - i, self.options.max_retry_after
            tried = await self._attempt(incoming, target, model, i, entry)
            if isinstance(tried, Opened):
                entry.answering(target, model)
                try:
                    return await deliver(incoming, target, tried, entry, self.options)
                finally:
                    tried.upstream.release()
            step = next_move(tried.result, remaining, retried, patience)
            last_error = tried.answer
            if step.move is Move.RELAY:
                return self._fail(target, tried.answer, entry)
            if step.move is Move.RETRY:
                retried = True
                await asyncio.sleep(step.delay)
            else:
                i += 1
        error = last_error or ErrorAnswer.of(call.surface, 502, "no provider could take the call")
        return self._fail(chain[min(i, len(chain) - 1)], error, entry)

    async def _attempt(
        self,
        incoming: Incoming,
        target: Target,
        model: str | None,
        attempt: int,
        entry: CallLedger,
    ) -> Opened | Failed:
        """Send one attempt and read its answer until it has begun, or say how it failed."""
        surface, provider = incoming.call.surface, target.provider
        who = f"{provider.name} ({model})" if model else provider.name
        sent_at = time.perf_counter()
        try:
            request = self.forwarder.request_for(incoming, target, model, entry.result.notes)
        except ValueError as exc:  # cannot be expressed for this provider
            failed = Failed(
                AttemptResult(None), f"refused: {exc}", ErrorAnswer.of(surface, 400, str(exc))
            )
            entry.attempts.append(Attempt(model, provider.name, failed.outcome, 0.0))
            return failed
        if attempt > 0:
            entry.trying(attempt, target, model)
        wait = self.options.first_byte_timeout
        upstream: UpstreamResponse | None = None
        clock: FirstByteClock | None = None
        outcome: Opened | Failed
        try:
            async with asyncio.timeout(wait) as deadline:
                clock = FirstByteClock(deadline, wait)
                upstream = await self.transport.send(replace(request, clock=clock))
                if upstream.status >= 400:
                    clock.stop()
                    outcome = await self._provider_error(incoming, target, who, upstream)
                else:
                    outcome = await open_answer(
                        incoming.call, target, upstream, self.options, clock
                    )
        except aiohttp.ConnectionTimeoutError:
            seconds = f"{self.options.connect_timeout:g}s"
            outcome = Failed(
                AttemptResult(None),
                "connect timeout",
                ErrorAnswer.of(
                    surface, 504, f"cannot connect to {who} at {provider.base_url} within {seconds}"
                ),
            )
        except TimeoutError:
            said = "nothing" if upstream is None else f"HTTP {upstream.status} headers but no body"
            outcome = Failed(
                AttemptResult(None),
                "timeout before first byte",
                ErrorAnswer.of(surface, 504, f"{who} sent {said} within {wait:g}s"),
            )
        except (Stalled, UpstreamBroke) as exc:
            outcome = Failed(
                AttemptResult(None),
                f"broke off before the answer reached the agent: {exc}",
                ErrorAnswer.of(surface, 502, f"{who}'s answer broke off: {exc}"),
            )
        except Unsound as exc:
            status = upstream.status if upstream is not None else 0
            outcome = Failed(
                AttemptResult(None),
                f"http {status}, unsound: {exc}",
                ErrorAnswer.of(surface, 502, f"{who} {exc}"),
            )
        except asyncio.CancelledError:
            # The agent left (or agentwrap is stopping): the chain ends here.
            ms = (time.perf_counter() - sent_at) * 1000.0
            entry.attempts.append(Attempt(model, provider.name, "cancelled", ms))
            if upstream is not None:
                upstream.release()
            raise
        except aiohttp.ClientError as exc:
            where = f"{provider.name} ({provider.base_url})"
            outcome = Failed(
                AttemptResult(None),
                f"connection error: {exc}",
                ErrorAnswer.of(surface, 502, f"cannot reach {where}: {exc}"),
            )
        ms = (time.perf_counter() - sent_at) * 1000.0
        waited = clock.held_ms if clock is not None and clock.held_ms > 0 else None
        if isinstance(outcome, Opened):
            done = f"http {outcome.upstream.status}"
            entry.attempts.append(Attempt(model, provider.name, done, ms, wait_ms=waited))
            return outcome
        if upstream is not None:
            upstream.release()  # a connection left mid-body is closed, not pooled
        error = outcome.answer.message
        entry.attempts.append(
            Attempt(model, provider.name, outcome.outcome, ms, error=error, wait_ms=waited)
        )
        return outcome

    async def _provider_error(
        self, incoming: Incoming, target: Target, who: str, upstream: UpstreamResponse
    ) -> Failed:
        """A provider's error status: its body read (bounded) and put in the agent's API."""
        call, status = incoming.call, upstream.status
        body, problem = await read_error_body(upstream, self.options.stall_timeout)
        ctype = upstream.headers.get("content-type")
        message = translate.describe_error_body(status, body, ctype, target.provider.api)
        if problem is not None:
            message = f"{who} answered HTTP {status}, and {problem}"
            answer = ErrorAnswer.of(call.surface, status, message)
        else:
            resp = error_answer(call, target, status, body, upstream.headers)
            assert isinstance(resp.body, bytes)
            answer = ErrorAnswer(status, resp.body, message, dict(resp.headers))
        result = AttemptResult(status, retry_after(upstream.headers.get("retry-after")))
        return Failed(result, f"http {status}", answer)

    def _estimate(
        self, incoming: Incoming, target: Target, model: str | None, entry: CallLedger
    ) -> http1.Response:
        # Only Anthropic counts tokens; for another provider agentwrap estimates.
        estimate = count_tokens_estimate(incoming.call)
        entry.attempts.append(Attempt(model, target.provider.name, "estimated locally", 0.0))
        result = entry.result
        result.http_status, result.response_bytes = 200, len(estimate)
        result.ttfb_ms, result.target = entry.elapsed_ms(), target
        return http1.Response(status=200, body=estimate, content_type="application/json")

    def _fail(self, target: Target, error: ErrorAnswer, entry: CallLedger) -> http1.Response:
        """The call ends with `error` for the agent; the record says what went wrong."""
        result = entry.result
        result.status, result.http_status = "error", error.status
        result.error, result.response_bytes = error.message, len(error.body)
        result.target = target
        headers = {k: v for k, v in error.headers.items() if k.lower() != "content-length"}
        return http1.Response(status=error.status, body=error.body, headers=headers)
