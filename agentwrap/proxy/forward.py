"""Forwarding: the request a provider gets for a call, byte-faithful or translated.

When the provider speaks the agent's API the agent's bytes go out as they came, with only
`model` changed (and reasoning another API issued scrubbed, where some could be); otherwise
the call is translated into the provider's API. Headers follow `upstream.upstream_headers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from agentwrap.proxy import http1
from agentwrap.proxy.bodies import dumps, json_error
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.upstream import Transport, UpstreamRequest, response_headers, upstream_headers
from agentwrap.route.decide import Target
from agentwrap.route.profile import Profile
from agentwrap.wire import translate
from agentwrap.wire.call import Call
from agentwrap.wire.surface import SURFACES, listing_surface, surface_for

# Conversations whose history was scanned for foreign reasoning; beyond this, scan again.
_CHECKED_THREADS_MAX = 10_000


@dataclass(frozen=True)
class Incoming:
    """One agent request as the pipeline carries it: the HTTP request and what was read of it."""

    request: http1.Request
    call: Call
    body: bytes  # as received
    query: str  # the query string, kept on same-API paths
    thread_id: str | None  # the agent's conversation, when it names one


def count_tokens_estimate(call: Call) -> bytes:
    """A count_tokens answer for a provider that cannot count: agentwrap's own estimate."""
    return dumps({"input_tokens": translate.count_tokens_estimate(call.body, call.surface)})


class Forwarder:
    """Builds upstream requests for one session, and remembers what it has translated."""

    def __init__(self, profile: Profile, transport: Transport, options: ProxyOptions) -> None:
        self.profile = profile
        self.transport = transport
        self.options = options
        self._translated = False  # some answer was translated from another API
        self._checked_threads: set[str] = set()

    def request_for(
        self, incoming: Incoming, target: Target, model: str | None, notes: list[str]
    ) -> UpstreamRequest:
        """The request to send `target`; `notes` gets what translation left out.

        Raises ValueError when the call cannot be expressed in the provider's API.
        """
        notes.clear()  # only the attempt that is sent counts
        call, provider = incoming.call, target.provider
        api = surface_for(provider.api)
        if provider.api == call.surface:
            url = api.upstream_url(provider.base_url, call.endpoint, model, incoming.query)
            body = self._same_api(incoming, model)
        else:
            self._translated = True
            out = translate.translate_request(
                call.body, call.surface, provider.api, model or "", stream=call.stream, notes=notes
            )
            url = api.upstream_url(provider.base_url, api.call_endpoint(call.stream), model)
            body = dumps(out)
        headers = upstream_headers(
            call.headers, provider, call.surface, provider.key(self.options.env)
        )
        return UpstreamRequest("POST", url, headers, body)

    def _same_api(self, incoming: Incoming, model: str | None) -> bytes:
        call = incoming.call
        changed: dict[str, Any] | None = None
        if self._may_carry_foreign_reasoning(incoming.thread_id) and translate.needs_scrub(
            incoming.body, call.surface
        ):
            # Reasoning another provider issued would be rejected by this one.
            changed = translate.scrub_foreign_reasoning(call.body, call.surface)
        model_key = SURFACES[call.surface].request_model_key
        if model_key is None:  # the model is in the path
            return incoming.body if changed is None else dumps(changed)
        if model == call.model and changed is None:
            return incoming.body  # byte-faithful: nothing to change
        body = dict(changed if changed is not None else call.body)
        body[model_key] = model
        return dumps(body)

    def _may_carry_foreign_reasoning(self, thread: str | None) -> bool:
        """Whether a same-API body must be scanned for reasoning another API issued.

        Such reasoning enters a conversation only through a translated answer: one of this
        proxy's (then every call is scanned), or one from before this session, which the
        first call of each conversation brings along in its history (so that one is scanned).
        """
        if self._translated:
            return True
        if not thread:
            return True
        if thread in self._checked_threads:
            return False
        if len(self._checked_threads) < _CHECKED_THREADS_MAX:
            self._checked_threads.add(thread)
        return True

    async def list_models(self, headers: Mapping[str, str], query: str) -> http1.Response:
        """Forward a models listing to the provider of the API the client's headers name."""
        api = listing_surface(headers)
        surface = api.name
        provider = self.profile.provider_for_api(surface)
        hdrs = upstream_headers(headers, provider, surface, provider.key(self.options.env))
        url = api.upstream_url(provider.base_url, "models", query=query)
        wait = self.options.first_byte_timeout
        try:
            # No redirects: the agent's credentials are for this host, not wherever it points.
            async with asyncio.timeout(wait):
                up = await self.transport.send(UpstreamRequest("GET", url, hdrs))
                try:
                    data = await up.read()
                finally:
                    up.release()
        except TimeoutError:
            return json_error(
                surface, 504, f"agentwrap: {provider.name} did not list its models within {wait:g}s"
            )
        except aiohttp.ClientError as exc:
            return json_error(surface, 502, f"agentwrap: cannot reach {provider.name}: {exc}")
        return http1.Response(status=up.status, body=data, headers=response_headers(up.headers))
