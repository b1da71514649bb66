"""A minimal translating relay for tests: agent SDK -> this server -> a fake provider.

It does only what the proxy does around agentwrap.wire (translate the request, forward it,
translate the answer, stream or whole, and errors), so the official SDKs can judge the
translation without the rest of the proxy.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from agentwrap.wire import translate as t
from tests.support.fake_providers import FakeProvider


class Bridge:
    """Serves API `agent_api` on 127.0.0.1 and relays every call to `provider`."""

    def __init__(self, agent_api: str, provider: FakeProvider, model: str = "routed-model"):
        self.agent_api = agent_api
        self.provider = provider
        self.model = model
        self.port = 0
        self.sent: list[dict[str, Any]] = []  # translated request bodies
        self.translators: list[t.StreamTranslator] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Bridge:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if self.agent_api == "gemini":
            agent_model = request.path.rsplit("/", 1)[-1].split(":")[0]
            stream = ":streamGenerateContent" in request.path
        else:
            agent_model = body.get("model", "")
            stream = bool(body.get("stream"))
        try:
            out = t.translate_request(
                body, self.agent_api, self.provider.api, self.model, stream=stream
            )
        except t.TranslationError as exc:
            return web.Response(
                status=400,
                body=t.error_body(self.agent_api, 400, str(exc)),
                content_type="application/json",
            )
        self.sent.append(out)
        base = self.provider.root + ("/v1" if self.provider.api.startswith("openai") else "")
        url = base + t.upstream_path(self.provider.api, self.model, stream)
        assert self._session is not None
        async with self._session.post(url, data=json.dumps(out).encode()) as up:
            if up.status >= 400:
                status, data = t.translate_error(
                    up.status,
                    await up.read(),
                    up.headers.get("content-type"),
                    self.provider.api,
                    self.agent_api,
                )
                return web.Response(status=status, body=data, content_type="application/json")
            if "text/event-stream" not in up.headers.get("content-type", ""):
                doc = await up.json()
                answer = t.translate_response(doc, self.provider.api, self.agent_api, agent_model)
                return web.json_response(answer)
            translator = t.StreamTranslator(self.provider.api, self.agent_api, agent_model)
            self.translators.append(translator)
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                data = translator.feed(chunk)
                if data:
                    await resp.write(data)
            await resp.write(translator.close())
            await resp.write_eof()
            return resp
