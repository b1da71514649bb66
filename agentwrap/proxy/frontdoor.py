"""The front door: an HTTP/1.1 server on 127.0.0.1 that every agent call passes through.

Every route lives under `/s/<secret>/`; anything else is refused with 403 and nothing is
forwarded. For each inference call the front door reads the body (bounded), names the API
surface from the path, classifies the step and decides the model, then hands the call on:
`fallback` tries the decision's targets (each request built by `forward`, each answer
relayed by `relay`) and `ledger` records the call, also when it fails or the agent goes away.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import random
import secrets
import socket
import time
from functools import partial
from typing import Any

from agentwrap import knownprices
from agentwrap.agents.base import SECRET_HEADER
from agentwrap.agents.registry import conversation_ids
from agentwrap.pricing import PriceBook
from agentwrap.proxy import http1
from agentwrap.proxy.bodies import json_error
from agentwrap.proxy.fallback import Fallback
from agentwrap.proxy.forward import Forwarder, Incoming
from agentwrap.proxy.ledger import SIDE_STEPS, CallLedger, Conversation, Ledger
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.upstream import ENDPOINT_HEADER, Transport, UpstreamPool
from agentwrap.route.decide import Decision, SessionState, Step, Target, classify, decide
from agentwrap.route.endpoint import profile_at
from agentwrap.route.learn import Evidence
from agentwrap.route.outcome import conversation_fingerprint
from agentwrap.route.profile import Profile
from agentwrap.trace.recorder import Recorder
from agentwrap.wire import jsonload
from agentwrap.wire.call import ANTHROPIC, Call
from agentwrap.wire.surface import Route, guess_surface, match_route

log = logging.getLogger(__name__)


class Proxy:
    """The embedded proxy for one session: owns the server's lifetime and each call's pipeline.

    `transport` is what upstream requests go through (the pooled aiohttp client unless a
    test passes its own); `sock`, a listening socket already bound (the session binds it
    before the agent starts), is served instead of binding host and port.
    """

    def __init__(
        self,
        profile: Profile,
        recorder: Recorder,
        *,
        secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ProxyOptions | None = None,
        pricebook: PriceBook | None = None,
        transport: Transport | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.profile = profile
        self.recorder = recorder
        self.secret = secret or secrets.token_urlsafe(18)
        self.host = host
        self.port = port
        self.sock = sock
        self.options = options or ProxyOptions()
        self.state = SessionState(agent=self.options.agent, observe=self.options.observe)
        self._remember_prices = False  # the price book is the session's own (not a caller's)
        self.transport: Transport = transport or UpstreamPool(
            limit_per_host=self.options.pool_size, connect_timeout=self.options.connect_timeout
        )
        if pricebook is None:
            pricebook = profile.price_book()
            # Prices earlier sessions read: pricing a call need not load the whole table.
            knownprices.recall(pricebook)
            self._remember_prices = True
        self.ledger = Ledger(recorder, pricebook, self.state, _stored_evidence(recorder))
        self.rng = random.Random(self.options.explore_seed)  # learned routing's exploration
        self.forwarder = Forwarder(profile, self.transport, self.options)
        self.fallback = Fallback(self.forwarder, self.transport, self.options)
        self._server: http1.Server | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._stopping = False  # stop() has cancelled the calls still in flight

    # -- lifecycle ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/s/{self.secret}"

    async def start(self) -> str:
        """Listen (on a free port when port=0); returns the base URL agents use."""
        # An agent that hangs up cancels its call, fallbacks included; the idle timeout also
        # bounds a request head that never arrives (a byte at a time).
        self._server = http1.Server(self._handle, idle_timeout=self.options.idle_timeout)
        self.port = await self._server.start(self.host, self.port, self.sock)
        return self.base_url

    async def stop(self, grace: float | None = None) -> None:
        """Let in-flight calls finish (up to `grace` seconds, by default the options'), then
        end the rest, each with an error in its agent's API, and close everything."""
        grace = self.options.shutdown_grace if grace is None else grace
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            self._stopping = True
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        if self._server is not None:
            await self._server.close()
        await self.transport.close()
        if self._remember_prices:
            knownprices.remember(self.ledger.pricebook)

    # -- the door -------------------------------------------------------------
    def _session_path(self, request: http1.Request) -> str | None:
        """The path below the session, or None when the request does not show the secret.

        The secret comes first in the path (`/s/<secret>/...`), or in SECRET_HEADER for agents
        that are given a base URL without it (so it stays off their command line).
        """
        prefix = f"/s/{self.secret}/"
        raw = request.raw_path
        if _same(raw[: len(prefix)], prefix):
            return raw[len(prefix) :]
        if _same(raw.rstrip("/"), prefix.rstrip("/")):
            return ""
        shown = request.headers.get(SECRET_HEADER)
        if shown is not None and _same(shown, self.secret):
            return raw.lstrip("/")
        return None

    async def _handle(self, request: http1.Request) -> http1.StreamResponse:
        rest = self._session_path(request)
        if rest is None:
            return json_error(ANTHROPIC, 403, "agentwrap: forbidden: unknown session path")
        if request.method == "HEAD":  # agents warm their connection up with a HEAD
            return http1.Response(status=200)
        if rest.split("?", 1)[0] == "_agentwrap/health":
            return http1.json_response({"ok": True, "session": self.recorder.session_id})
        route = match_route(request.method, rest)
        if route is None:
            return json_error(
                guess_surface(rest).name,
                501 if request.method in ("POST", "GET") else 405,
                f"agentwrap: {request.method} /{rest.split('?', 1)[0]} is not served by agentwrap yet",
            )
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            return await self._call(request, route, rest)
        finally:
            if task is not None:
                self._inflight.discard(task)

    # -- one call -------------------------------------------------------------
    async def _call(self, request: http1.Request, route: Route, rest: str) -> http1.StreamResponse:
        call_id = new_call_id()
        started = time.time()
        t0 = time.perf_counter()
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != SECRET_HEADER}
        seq = self.recorder.next_seq()
        if route.endpoint == "models":
            query = rest.split("?", 1)[1] if "?" in rest else ""
            return await self.forwarder.list_models(headers, query)
        entry = self.ledger.open(call_id, seq, route.surface, route.endpoint, started, t0)
        # Every call that got this far ends with its row finished, whatever happens below.
        call: Call | None = None
        step: Step | None = None
        decision: Decision | None = None
        conversation: Conversation = (None, None)
        try:
            # 1. Read the body, bounded.
            read = await self._read_body(request, route, entry)
            if isinstance(read, http1.Response):
                return read
            body_bytes, body = read

            # 2-4. The call, its step and the decision.
            endpoint = headers.pop(ENDPOINT_HEADER, None)
            call = Call(
                route.surface, route.endpoint, body, headers, route.path_model, len(body_bytes)
            )
            step, decision = self._route(call, endpoint)
            conversation = self._conversation(call)
            incoming = Incoming(request, call, body_bytes, request.query_string, conversation[0])
            entry.record.request_bytes = len(body_bytes)
            entry.started(call, step, decision, conversation)
            if step is None or step.kind not in SIDE_STEPS:
                entry.later(partial(self.ledger.label_previous_step, call, conversation))
            if decision.stop:
                msg = f"agentwrap: {decision.reason}"
                result = entry.result
                result.status, result.http_status, result.error = "refused", 400, msg
                return json_error(call.surface, 400, msg)

            # 5-7. Forward along the chain, relay the answer, record how it went.
            chain = [decision.target, *decision.fallbacks]
            return await self.fallback.answer(incoming, chain, entry)
        except asyncio.CancelledError:
            result = entry.result
            if result.status == "error" or (result.status == "ok" and result.complete):
                raise  # what the agent heard is recorded already: then it hung up
            result.status = "aborted"
            if not self._stopping:
                began = "mid-answer" if result.ttfb_ms is not None else "before the answer began"
                result.error = f"the agent closed the connection {began}"
                raise
            result.error = "agentwrap stopped while the call was in flight"
            task = asyncio.current_task()
            if result.ttfb_ms is not None or task is None:
                raise
            # Nothing reached the agent yet: it still gets an answer that says why.
            task.uncancel()
            return json_error(route.surface, 503, f"agentwrap: {result.error}")
        except Exception as exc:
            log.exception("proxy error")
            result = entry.result
            result.status, result.http_status = "proxy_error", 502
            result.error = f"{type(exc).__name__}: {exc}"
            return json_error(route.surface, 502, f"agentwrap: internal error: {result.error}")
        finally:
            if not entry.closed:
                self._finish(entry, call, step, decision, conversation)

    def _finish(
        self,
        entry: CallLedger,
        call: Call | None,
        step: Step | None,
        decision: Decision | None,
        conversation: Conversation,
    ) -> None:
        """Price and close the call's row; a call that failed before its decision is closed
        as it stands."""
        result = entry.result
        try:
            if call is not None and decision is not None:
                used = result.target or decision.target
                self.ledger.finish(entry, call, step, decision, conversation, used)
            else:
                status = "proxy_error" if result.status == "ok" else result.status
                entry.fail(status, result.error or "agentwrap failed", result.http_status)
        except Exception:  # the trace must not take the proxy down with it
            log.exception("recording call %s failed", entry.record.id)

    def _route(self, call: Call, endpoint: str | None) -> tuple[Step | None, Decision]:
        """The step and decision; `endpoint`: the base URL the agent called (transparent)."""
        profile = self.profile
        try:
            if endpoint and self.options.transparent:
                profile = profile_at(self.profile, endpoint, call.surface)
            step = classify(call, self.options.agent)
            return step, decide(profile, call, step, self.state, self.ledger.evidence, self.rng)
        except Exception as exc:  # a routing bug must not take the call down
            log.exception("routing failed")
            return None, _passthrough(profile, call, f"routing failed ({exc}); passthrough")

    def _conversation(self, call: Call) -> Conversation:
        """(conversation id, subagent id) of a call, as its agent names them.

        An agent that names none (Gemini CLI) has its conversations named by their first
        message, so that each step still gets the outcome its next request reveals.
        """
        ids = conversation_ids(call.headers, self.options.agent)
        if ids == (None, None):
            return conversation_fingerprint(call), None
        return ids

    async def _read_body(
        self, request: http1.Request, route: Route, entry: CallLedger
    ) -> tuple[bytes, dict[str, Any]] | http1.Response:
        """The body as received and as JSON, or the refusal the agent gets (also recorded)."""
        limit = self.options.max_body
        body_bytes, too_large = await read_bounded(request, limit, self.options.request_timeout)
        if body_bytes is None:
            wait = self.options.request_timeout
            msg = f"agentwrap: the request body did not arrive within {wait:g}s"
            return self._refuse(entry, route, 408, msg, 0)
        if too_large:
            msg = f"agentwrap: request body is larger than the limit of {limit} bytes"
            return self._refuse(entry, route, 413, msg, len(body_bytes))
        try:
            body = jsonload.loads(body_bytes)
            if not isinstance(body, dict):
                raise ValueError("the top level is not a JSON object")
        except RecursionError:
            msg = "agentwrap: request body is not valid JSON: it is nested too deeply"
            return self._refuse(entry, route, 400, msg, len(body_bytes))
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"agentwrap: request body is not valid JSON: {exc}"
            return self._refuse(entry, route, 400, msg, len(body_bytes))
        return body_bytes, body

    def _refuse(
        self, entry: CallLedger, route: Route, status: int, msg: str, size: int
    ) -> http1.Response:
        entry.refused_unread(status, msg, size)
        return json_error(route.surface, status, msg)


def new_call_id() -> str:
    """A call's id: 32 hex digits, the first 12 the milliseconds since the epoch (as a version 7
    UUID starts), the rest random. A session's new rows then land at the end of the store's index
    of call ids instead of all over it, which kept the writer's cost growing with the store."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def _same(given: str, expected: str) -> bool:
    """Constant-time equality, for any text a client sends."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _stored_evidence(recorder: Recorder) -> Evidence:
    """What learned routing knows from earlier sessions (nothing, if the store cannot say)."""
    try:
        return recorder.store.evidence()
    except Exception:  # an unreadable store must not stop the session
        log.exception("learned routing's evidence could not be read; starting from none")
        return Evidence()


def _passthrough(profile: Profile, call: Call, reason: str) -> Decision:
    provider = profile.provider_for_api(call.surface)
    return Decision(Target(None, None, provider), "passthrough", reason, [], call.model)


async def read_bounded(
    request: http1.Request, limit: int, timeout: float | None = None
) -> tuple[bytes | None, bool]:
    """The request body, and whether it is over `limit` bytes (then read no further).

    The body is None when it did not arrive within `timeout` seconds (a client that sends
    it a byte at a time, or less than its Content-Length).
    """
    if request.content_length is not None and request.content_length > limit:
        return b"", True
    # The pieces are joined once at the end (a body that came in one piece is not copied).
    pieces: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_any():
                pieces.append(chunk)
                size += len(chunk)
                if size > limit:
                    return b"".join(pieces), True
    except TimeoutError:
        return None, False
    return pieces[0] if len(pieces) == 1 else b"".join(pieces), False
