"""The front door: an aiohttp server on 127.0.0.1 that every agent call passes through.

Every route lives under `/s/<secret>/`; anything else is refused with 403 and nothing is
forwarded. For each inference call: read the body (bounded), name the API surface from the
path, classify the step, decide the model, forward (byte-faithfully when the provider speaks
the agent's API, translated otherwise), stream the answer back chunk by chunk, and record
the call — also when it fails or the agent goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from agentwrap.agents.registry import conversation_ids
from agentwrap.pricing import PriceBook, Usage
from agentwrap.proxy.upstream import UpstreamPool, response_headers, upstream_headers
from agentwrap.route.decide import Decision, SessionState, Step, Target, classify, decide
from agentwrap.route.features import last_step_outcome
from agentwrap.route.profile import Profile
from agentwrap.trace import recorder as ev
from agentwrap.trace.recorder import Recorder
from agentwrap.wire import translate
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES, Call
from agentwrap.wire.usage import UsageTap

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 32 * 1024 * 1024
# Side requests share a conversation's ids but are not its steps (titles, searches...).
SIDE_STEPS = frozenset({"background", "search"})
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504, 529})


@dataclass
class Route:
    surface: str
    endpoint: str
    path_model: str | None = None


def match_route(method: str, rest: str) -> Route | None:
    """Name the API surface and endpoint from a path below the secret prefix."""
    path = rest.split("?", 1)[0].strip("/")
    if method == "POST":
        if path == "v1/messages":
            return Route(ANTHROPIC, "messages")
        if path == "v1/messages/count_tokens":
            return Route(ANTHROPIC, "count_tokens")
        if path in ("v1/chat/completions", "chat/completions"):
            return Route(OPENAI_CHAT, "chat")
        if path in ("v1/responses", "responses"):
            return Route(OPENAI_RESPONSES, "responses")
        for prefix in ("v1beta/models/", "v1/models/"):
            if path.startswith(prefix) and ":" in path:
                model, _, action = path[len(prefix) :].rpartition(":")
                if action == "generateContent":
                    return Route(GEMINI, "generate", model)
                if action == "streamGenerateContent":
                    return Route(GEMINI, "stream_generate", model)
    if method == "GET" and path in ("v1/models", "models"):
        return Route(ANTHROPIC, "models")
    return None


@dataclass
class Attempt:
    model: str | None
    provider: str
    outcome: str  # ok | http <status> | connection error | timeout | ...
    ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "outcome": self.outcome,
            "ms": round(self.ms, 1),
        }


@dataclass
class ProxyOptions:
    max_body: int = DEFAULT_MAX_BODY
    first_byte_timeout: float = 120.0
    stall_timeout: float = 300.0  # longest silence inside a stream before it counts as broken
    max_retry_after: float = 5.0
    agent: str | None = None
    observe: bool = False
    env: Mapping[str, str] | None = None


@dataclass
class _Outcome:
    status: str = "ok"
    http_status: int | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    ttfb_ms: float | None = None
    response_bytes: int = 0
    model_seen: str | None = None
    stop_reason: str | None = None
    target: Target | None = None  # the model that answered (or was trying to)
    notes: list[str] = field(default_factory=list)  # what translation left out, for the reason


class Proxy:
    """The embedded proxy for one session."""

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
    ) -> None:
        self.profile = profile
        self.recorder = recorder
        self.secret = secret or secrets.token_urlsafe(18)
        self.host = host
        self.port = port
        self.options = options or ProxyOptions()
        self.pricebook = pricebook or profile.price_book()
        self.state = SessionState(agent=self.options.agent, observe=self.options.observe)
        self.pool = UpstreamPool()
        self._runner: web.AppRunner | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._translated = False  # some answer was translated from another API
        self._checked_threads: set[str] = set()
        # Per conversation (thread, subagent): the call whose tool calls await their results.
        self._awaiting: dict[tuple[str | None, str | None], str] = {}

    # -- lifecycle ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/s/{self.secret}"

    async def start(self) -> str:
        app = web.Application(client_max_size=self.options.max_body + 1)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the real port when port=0
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self, grace: float = 5.0) -> None:
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.pool.close()

    # -- front door -----------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix = f"/s/{self.secret}/"
        raw = request.raw_path
        if request.method == "HEAD" and hmac.compare_digest(raw.rstrip("/"), prefix.rstrip("/")):
            return web.Response(status=200)
        if not (len(raw) > len(prefix) and hmac.compare_digest(raw[: len(prefix)], prefix)):
            return _json_error(ANTHROPIC, 403, "agentwrap: forbidden: unknown session path")
        rest = raw[len(prefix) :]
        if request.method == "HEAD":  # agents warm their connection up with a HEAD
            return web.Response(status=200)
        if rest.split("?", 1)[0] == "_agentwrap/health":
            return web.json_response({"ok": True, "session": self.recorder.session_id})
        route = match_route(request.method, rest)
        if route is None:
            surface = _guess_surface(rest)
            return _json_error(
                surface,
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

    async def _call(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        call_id = uuid.uuid4().hex
        started = time.time()
        t0 = time.perf_counter()
        headers = {k.lower(): v for k, v in request.headers.items()}
        base = {
            "seq": self.recorder.next_seq(),
            "surface": route.surface,
            "endpoint": route.endpoint,
            "started_at": started,
        }

        if route.endpoint == "models":
            return await self._forward_get(request, route, rest, call_id, base, t0)

        # 1. Read the body, bounded.
        body_bytes, too_large = await _read_bounded(request, self.options.max_body)
        if too_large:
            msg = (
                f"agentwrap: request body is larger than the limit of {self.options.max_body} bytes"
            )
            return self._refuse(call_id, base, route, 413, msg, len(body_bytes), t0)
        try:
            body = json.loads(body_bytes)
            if not isinstance(body, dict):
                raise ValueError("the top level is not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"agentwrap: request body is not valid JSON: {exc}"
            return self._refuse(call_id, base, route, 400, msg, len(body_bytes), t0)

        # 2-4. The call, its step and the decision.
        call = Call(route.surface, route.endpoint, body, headers, route.path_model, len(body_bytes))
        query = request.query_string
        try:
            step = classify(call, self.options.agent)
            decision = decide(self.profile, call, step, self.state)
        except Exception as exc:  # a routing bug must not take the call down
            log.exception("routing failed")
            step = None
            decision = _passthrough(self.profile, call, f"routing failed ({exc}); passthrough")
        would = decision.observed
        chain = [decision.target, *decision.fallbacks]
        thread_id, agent_id = self._conversation(call)
        self.recorder.call_started(
            call_id,
            **base,
            requested_model=call.model,
            streamed=call.stream,
            request_bytes=len(body_bytes),
            step=step.kind if step else None,
            evidence=step.evidence if step else None,
            rule=decision.rule,
            reason=decision.reason,
            model=decision.target.model or call.model,
            model_alias=decision.target.alias,
            provider=decision.target.provider.name,
            provider_api=decision.target.provider.api,
            baseline_model=decision.baseline_model or call.model,
            would_model=would.target.model_for(call) if would else None,
            thread_id=thread_id,
            agent_id=agent_id,
        )

        if step is None or step.kind not in SIDE_STEPS:
            self._label_previous_step(call)

        if decision.stop:
            msg = f"agentwrap: {decision.reason}"
            self.recorder.call_event(
                ev.FAILED, call_id, status="refused", http_status=400, error=msg, total_ms=_ms(t0)
            )
            return _json_error(call.surface, 400, msg)

        outcome = _Outcome()
        attempts: list[Attempt] = []
        try:
            # The outcome is filled in place, so a cancellation keeps what was seen so far.
            return await self._attempts(
                request, call, body_bytes, query, chain, attempts, call_id, t0, outcome
            )
        except asyncio.CancelledError:
            outcome.status, outcome.error = (
                "aborted",
                "agentwrap stopped while the call was in flight",
            )
            raise
        except Exception as exc:
            log.exception("proxy error")
            outcome.status, outcome.http_status, outcome.error = (
                "proxy_error",
                502,
                f"{type(exc).__name__}: {exc}",
            )
            return _json_error(call.surface, 502, f"agentwrap: internal error: {exc}")
        finally:
            self._finish(
                call_id,
                call,
                step,
                decision,
                would,
                outcome.target or chain[0],
                attempts,
                outcome,
                t0,
            )

    # -- attempts and fallback ------------------------------------------------
    async def _attempts(
        self,
        request: web.Request,
        call: Call,
        body_bytes: bytes,
        query: str,
        chain: list[Target],
        attempts: list[Attempt],
        call_id: str,
        t0: float,
        outcome: _Outcome,
    ) -> web.StreamResponse:
        env = self.options.env
        last_error: tuple[int, bytes, str | None] | None = None
        i = 0
        retried_same = False
        while i < len(chain):
            target = chain[i]
            is_last = i == len(chain) - 1
            model = target.model or call.model
            ta = time.perf_counter()
            if call.endpoint == "count_tokens" and target.provider.api != call.surface:
                # Only Anthropic counts tokens; for another provider agentwrap estimates.
                n = translate.count_tokens_estimate(call.body, call.surface)
                estimate = _dumps({"input_tokens": n})
                attempts.append(Attempt(model, target.provider.name, "estimated locally", 0.0))
                outcome.http_status, outcome.response_bytes = 200, len(estimate)
                outcome.ttfb_ms, outcome.target = _ms(t0), target
                return web.Response(status=200, body=estimate, content_type="application/json")
            try:
                url, out_body = self._build_request(
                    call, body_bytes, query, target, model, outcome.notes
                )
            except ValueError as exc:  # cannot be expressed for this provider
                attempts.append(Attempt(model, target.provider.name, f"refused: {exc}", 0.0))
                last_error = (
                    400,
                    translate.error_body(call.surface, 400, f"agentwrap: {exc}"),
                    "application/json",
                )
                i += 1
                continue
            hdrs = upstream_headers(
                call.headers, target.provider, call.surface, target.provider.key(env)
            )
            session = self.pool.session_for(url)
            if i > 0:
                self.recorder.call_event(
                    ev.FALLBACK,
                    call_id,
                    attempt=i,
                    model=model,
                    provider=target.provider.name,
                    attempts=[a.as_dict() for a in attempts],
                )
            try:
                upstream = await asyncio.wait_for(
                    session.post(
                        url,
                        data=out_body,
                        headers=hdrs,
                        allow_redirects=False,
                        proxy=self.pool.proxy_for(url),
                    ),
                    timeout=self.options.first_byte_timeout,
                )
            except TimeoutError:
                attempts.append(
                    Attempt(model, target.provider.name, "timeout before first byte", _ms(ta))
                )
                last_error = (
                    504,
                    translate.error_body(
                        call.surface,
                        504,
                        f"agentwrap: {target.provider.name} did not answer within {self.options.first_byte_timeout:g}s",
                    ),
                    "application/json",
                )
                i += 1
                continue
            except aiohttp.ClientError as exc:
                attempts.append(
                    Attempt(model, target.provider.name, f"connection error: {exc}", _ms(ta))
                )
                last_error = (
                    502,
                    translate.error_body(
                        call.surface,
                        502,
                        f"agentwrap: cannot reach {target.provider.name} ({target.provider.base_url}): {exc}",
                    ),
                    "application/json",
                )
                i += 1
                continue

            if upstream.status in RETRYABLE_STATUS:
                delay = _retry_after(upstream.headers.get("retry-after"))
                # The last model in the chain is retried once when the provider says soon.
                retry_same = (
                    is_last
                    and not retried_same
                    and delay is not None
                    and delay <= self.options.max_retry_after
                )
                if not is_last or retry_same:
                    await upstream.read()
                    upstream.release()
                    attempts.append(
                        Attempt(model, target.provider.name, f"http {upstream.status}", _ms(ta))
                    )
                    if retry_same:
                        retried_same = True
                        await asyncio.sleep(delay or 0.0)
                    else:
                        i += 1
                    continue

            attempts.append(
                Attempt(model, target.provider.name, f"http {upstream.status}", _ms(ta))
            )
            # The model that is answering: after a fallback it differs from the first choice.
            self.recorder.call_event(
                ev.ROUTED,
                call_id,
                model=model,
                provider=target.provider.name,
                provider_api=target.provider.api,
                model_alias=target.alias,
            )
            outcome.target = target
            try:
                return await self._relay(
                    request, call, target, upstream, model, call_id, t0, outcome
                )
            finally:
                upstream.release()

        status, body, ctype = last_error or (
            502,
            translate.error_body(call.surface, 502, "agentwrap: no provider could take the call"),
            "application/json",
        )
        outcome.status, outcome.http_status = "error", status
        outcome.error, outcome.response_bytes = _error_text(body), len(body)
        outcome.target = chain[min(i, len(chain) - 1)]
        return web.Response(
            status=status, body=body, content_type=(ctype or "application/json").split(";")[0]
        )

    def _build_request(
        self,
        call: Call,
        body_bytes: bytes,
        query: str,
        target: Target,
        model: str | None,
        notes: list[str],
    ) -> tuple[str, bytes]:
        notes.clear()  # only the attempt that is sent counts
        provider = target.provider
        base = provider.base_url.rstrip("/")
        if provider.api == call.surface:
            changed: dict[str, Any] | None = None
            if self._may_carry_foreign_reasoning(call) and translate.needs_scrub(
                body_bytes, call.surface
            ):
                # Reasoning another provider issued would be rejected by this one.
                changed = translate.scrub_foreign_reasoning(call.body, call.surface)
            if call.surface == GEMINI:
                action = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
                out = body_bytes if changed is None else _dumps(changed)
                return f"{base}/v1beta/models/{model}:{action}", out
            path = {
                ANTHROPIC: "/v1/messages"
                + ("/count_tokens" if call.endpoint == "count_tokens" else ""),
                OPENAI_CHAT: "/chat/completions",
                OPENAI_RESPONSES: "/responses",
            }[call.surface]
            if query:
                path += f"?{query}"
            if model == call.model and changed is None:
                return base + path, body_bytes  # byte-faithful: nothing to change
            body = dict(changed if changed is not None else call.body)
            body["model"] = model
            return base + path, _dumps(body)
        self._translated = True
        out = translate.translate_request(
            call.body, call.surface, provider.api, model or "", stream=call.stream, notes=notes
        )
        return base + translate.upstream_path(provider.api, model or "", call.stream), _dumps(out)

    def _conversation(self, call: Call) -> tuple[str | None, str | None]:
        """(conversation id, subagent id) of a call, as its agent names them."""
        return conversation_ids(call.headers, self.options.agent)

    def _label_previous_step(self, call: Call) -> None:
        """The request for step t+1 carries the tool results of step t: label step t."""
        key = self._conversation(call)
        previous = self._awaiting.pop(key, None)
        if previous is None:
            return
        outcome = last_step_outcome(call)
        self.recorder.call_event(ev.OUTCOME, previous, outcome=outcome or "unknown")

    def _may_carry_foreign_reasoning(self, call: Call) -> bool:
        """Whether a same-API body must be scanned for reasoning another API issued.

        Such reasoning enters a conversation only through a translated answer: one of this
        proxy's (then every call is scanned), or one from before this session, which the
        first call of each conversation brings along in its history (so that one is scanned).
        """
        if self._translated:
            return True
        thread, _ = self._conversation(call)
        if not thread:
            return True
        if thread in self._checked_threads:
            return False
        if len(self._checked_threads) < 10_000:
            self._checked_threads.add(thread)
        return True

    def _error_for_agent(
        self, call: Call, target: Target, status: int, body: bytes, ctype: str | None
    ) -> tuple[int, bytes, str | None]:
        if target.provider.api == call.surface:
            return status, body, ctype

        st, out = translate.translate_error(status, body, ctype, target.provider.api, call.surface)
        return st, out, "application/json"

    # -- relaying the answer --------------------------------------------------
    async def _relay(
        self,
        request: web.Request,
        call: Call,
        target: Target,
        upstream: aiohttp.ClientResponse,
        model: str | None,
        call_id: str,
        t0: float,
        outcome: _Outcome,
    ) -> web.StreamResponse:
        outcome.http_status = upstream.status
        same_api = target.provider.api == call.surface
        ctype = upstream.headers.get("content-type", "")
        is_sse = "text/event-stream" in ctype
        tap = UsageTap(target.provider.api, is_sse)

        if upstream.status >= 400 or not is_sse:
            data = await upstream.read()
            tap.feed(data)
            tap.finish()
            outcome.ttfb_ms = _ms(t0)
            status = upstream.status
            if status >= 400:
                outcome.status, outcome.error = "error", _error_text(data)
                status, data, _ = self._error_for_agent(call, target, status, data, ctype)
            elif not same_api:
                data = self._translate_whole(call, target, data)
            hdrs = response_headers(upstream.headers)
            if not same_api:
                hdrs = {"content-type": "application/json"}
            resp = web.Response(status=status, body=data, headers=hdrs)
            outcome.usage, outcome.model_seen, outcome.response_bytes = (
                tap.usage,
                tap.model,
                len(data),
            )
            outcome.stop_reason = tap.stop_reason
            self.recorder.call_event(ev.FIRST_BYTE, call_id, ttfb_ms=outcome.ttfb_ms)
            return resp

        translator = None
        if not same_api:
            translator = translate.StreamTranslator(
                target.provider.api, call.surface, call.model or model or ""
            )
        hdrs = response_headers(upstream.headers)
        if translator is not None:
            hdrs = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        resp = web.StreamResponse(status=upstream.status, headers=hdrs)
        try:
            # Inside the try: the agent may have gone away before the first byte.
            await resp.prepare(request)
            while True:
                try:
                    chunk = await asyncio.wait_for(
                        upstream.content.readany(), self.options.stall_timeout
                    )
                except TimeoutError:
                    raise _Stalled(self.options.stall_timeout) from None
                if not chunk:
                    break
                tap.feed(chunk)
                out = translator.feed(chunk) if translator is not None else chunk
                if not out:
                    continue
                if outcome.ttfb_ms is None:
                    outcome.ttfb_ms = _ms(t0)
                    self.recorder.call_event(ev.FIRST_BYTE, call_id, ttfb_ms=outcome.ttfb_ms)
                outcome.response_bytes += len(out)
                await resp.write(out)
            if translator is not None:
                tail = translator.close()
                if tail:
                    outcome.response_bytes += len(tail)
                    await resp.write(tail)
            await resp.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError) as exc:
            outcome.status, outcome.error = (
                "aborted",
                f"the agent closed the connection mid-stream ({exc})",
            )
        except (_Stalled, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            outcome.status, outcome.error = (
                "error",
                f"upstream stream broke: {type(exc).__name__}: {exc}",
            )
            with contextlib.suppress(Exception):
                msg = f"agentwrap: the provider's stream ended early: {exc}"
                await resp.write(
                    translator.error_event(msg)
                    if translator
                    else translate.error_event(call.surface, msg)
                )
                await resp.write_eof()
        except asyncio.CancelledError:
            outcome.status, outcome.error = "aborted", "the call was cancelled mid-stream"
            raise
        finally:
            tap.finish()
            usage = translator.usage if translator is not None else tap.usage
            outcome.usage, outcome.model_seen = usage, tap.model
            source = translator if translator is not None else tap
            outcome.stop_reason = source.stop_reason
        return resp

    def _translate_whole(self, call: Call, target: Target, data: bytes) -> bytes:
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        return _dumps(
            translate.translate_response(doc, target.provider.api, call.surface, call.model or "")
        )

    async def _forward_get(
        self,
        request: web.Request,
        route: Route,
        rest: str,
        call_id: str,
        base: dict[str, Any],
        t0: float,
    ) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        surface = route.surface
        if "anthropic-version" not in headers and "x-api-key" not in headers:
            # An OpenAI client listing models (Codex does): its bearer token belongs to OpenAI.
            surface = OPENAI_RESPONSES
        provider = self.profile.provider_for_api(surface)
        hdrs = upstream_headers(headers, provider, surface, provider.key(self.options.env))
        query = rest.split("?", 1)[1] if "?" in rest else ""
        path = "/v1/models" if surface == ANTHROPIC else "/models"  # OpenAI bases end in /v1
        url = provider.base_url.rstrip("/") + path + (f"?{query}" if query else "")
        try:
            async with self.pool.session_for(url).get(
                url, headers=hdrs, proxy=self.pool.proxy_for(url)
            ) as up:
                data = await up.read()
                return web.Response(
                    status=up.status, body=data, headers=response_headers(up.headers)
                )
        except aiohttp.ClientError as exc:
            return _json_error(surface, 502, f"agentwrap: cannot reach {provider.name}: {exc}")

    # -- recording ------------------------------------------------------------
    def _refuse(
        self,
        call_id: str,
        base: dict[str, Any],
        route: Route,
        status: int,
        msg: str,
        size: int,
        t0: float,
    ) -> web.Response:
        self.recorder.call_started(call_id, **base, request_bytes=size, streamed=False)
        self.recorder.call_event(
            ev.FAILED, call_id, status="refused", http_status=status, error=msg, total_ms=_ms(t0)
        )
        return _json_error(route.surface, status, msg)

    def _finish(
        self,
        call_id: str,
        call: Call,
        step: Step | None,
        decision: Decision,
        would: Decision | None,
        used: Target,
        attempts: list[Attempt],
        outcome: _Outcome,
        t0: float,
    ) -> None:
        model = used.model or call.model
        usage = outcome.usage
        cost = self.pricebook.cost(model, usage, used.provider.name)
        baseline_model = decision.baseline_model or call.model
        baseline = (
            self.pricebook.cost(baseline_model, usage, decision.baseline_provider)
            if baseline_model
            else None
        )
        fields: dict[str, Any] = {
            "status": outcome.status,
            "http_status": outcome.http_status,
            "error": outcome.error,
            "model": model,
            "model_alias": used.alias,
            "provider": used.provider.name,
            "provider_api": used.provider.api,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_tokens": usage.cache_creation_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cost_usd": cost.usd,
            "unpriced_reason": cost.unpriced_reason,
            "baseline_model": baseline_model,
            "baseline_cost_usd": baseline.usd if baseline else None,
            "ttfb_ms": outcome.ttfb_ms,
            "total_ms": _ms(t0),
            "response_bytes": outcome.response_bytes,
            "stop_reason": outcome.stop_reason,
            "reason": "; ".join([decision.reason, *outcome.notes]),
            "attempts": [a.as_dict() for a in attempts],
        }
        if would is not None:
            would_model = would.target.model_for(call)
            fields["would_model"] = would_model
            fields["would_cost_usd"] = self.pricebook.cost(
                would_model, usage, would.target.provider.name
            ).usd
        if cost.usd:
            self.state.cost_usd += cost.usd
        if (
            outcome.status == "ok"
            and outcome.stop_reason == "tool_use"
            and call.endpoint != "count_tokens"
            and (step is None or step.kind not in SIDE_STEPS)
        ):
            key = self._conversation(call)
            if key != (None, None) and len(self._awaiting) < 10_000:
                self._awaiting[key] = call_id
        if step is not None and outcome.status == "ok":
            # After the answer, so a fallback's model is the one whose prompt cache is warm.
            self.state.record(call, step, decision, used)
        kind = ev.FINISHED if outcome.status == "ok" else ev.FAILED
        self.recorder.call_event(kind, call_id, **fields)


# -- helpers ------------------------------------------------------------------
class _Stalled(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the provider sent nothing for {seconds:g}s")


def _passthrough(profile: Profile, call: Call, reason: str) -> Decision:
    provider = profile.provider_for_api(call.surface)
    return Decision(Target(None, None, provider), "passthrough", reason, [], call.model)


async def _read_bounded(request: web.Request, limit: int) -> tuple[bytes, bool]:
    if request.content_length is not None and request.content_length > limit:
        return b"", True
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            return bytes(buf), True
    return bytes(buf), False


def _json_error(api: str, status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=translate.error_body(api, status, message),
        content_type="application/json",
    )


def _guess_surface(rest: str) -> str:
    if "chat/completions" in rest or "responses" in rest:
        return OPENAI_CHAT
    if "v1beta" in rest:
        return GEMINI
    return ANTHROPIC


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_text(body: bytes, limit: int = 500) -> str:
    try:
        doc = json.loads(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:limit]
    except (ValueError, UnicodeDecodeError):
        pass
    return body[:limit].decode("utf-8", "replace")
