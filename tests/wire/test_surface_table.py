"""The surface table is the one description of each API.

The paths the front door serves, the upstream URLs it builds, the default base URLs and the
auth headers all come from `SURFACES`. The expectations below are written out by hand, apart
from the table, so a wrong entry in it fails here.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yarl
from aiohttp import web

from agentwrap import paths
from agentwrap.cli.route import load_request
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.proxy.upstream import upstream_headers
from agentwrap.route.profile import ProfileError, Provider, load_profile, parse_profile_text
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore
from agentwrap.wire import translate
from agentwrap.wire.surface import (
    AUTH_SCHEMES,
    MODEL,
    SURFACES,
    Route,
    guess_surface,
    listing_surface,
    match_route,
    model_segment,
)

GEMINI_MODEL = "gemini-2.5-pro"

# What the front door serves: (method, path below the session prefix) -> (surface, endpoint).
SERVED = {
    ("POST", "v1/messages"): ("anthropic", "messages"),
    ("POST", "v1/messages/count_tokens"): ("anthropic", "count_tokens"),
    ("GET", "v1/models"): ("anthropic", "models"),  # first in table order; headers decide
    ("GET", "models"): ("openai-chat", "models"),
    ("POST", "v1/chat/completions"): ("openai-chat", "chat"),
    ("POST", "chat/completions"): ("openai-chat", "chat"),
    ("POST", "v1/responses"): ("openai-responses", "responses"),
    ("POST", "responses"): ("openai-responses", "responses"),
    ("POST", f"v1beta/models/{GEMINI_MODEL}:generateContent"): ("gemini", "generate"),
    ("POST", f"v1/models/{GEMINI_MODEL}:generateContent"): ("gemini", "generate"),
    ("POST", f"v1beta/models/{GEMINI_MODEL}:streamGenerateContent"): ("gemini", "stream_generate"),
    ("POST", f"v1/models/{GEMINI_MODEL}:streamGenerateContent"): ("gemini", "stream_generate"),
}

NEAR_MISSES = [
    ("POST", "v1/message"),
    ("POST", "v1/messages/batches"),
    ("POST", "v2/messages"),
    ("POST", "messages"),
    ("POST", "v1/messages/count_token"),
    ("GET", "v1/messages"),
    ("PUT", "v1/messages"),
    ("POST", "v1/models"),
    ("GET", "v1/models/claude-x"),
    ("POST", "v1/chat/completion"),
    ("POST", "v1/chat"),
    ("POST", "api/v1/chat/completions"),
    ("POST", "v1/responses/resp_1"),
    ("GET", "v1/responses"),
    ("POST", f"v1beta/models/{GEMINI_MODEL}"),
    ("POST", f"v1beta/models/{GEMINI_MODEL}:countTokens"),
    ("POST", f"v1beta/models/{GEMINI_MODEL}:generatecontent"),
    ("POST", f"v1beta/models/{GEMINI_MODEL}:generateContentX"),
    ("POST", f"v1beta/model/{GEMINI_MODEL}:generateContent"),
    ("POST", f"v2/models/{GEMINI_MODEL}:generateContent"),
    ("GET", f"v1beta/models/{GEMINI_MODEL}:generateContent"),
    ("GET", "v1beta/models"),
    ("POST", "_agentwrap/health"),
]


def declared() -> list[tuple[str, str, str, str]]:
    """(surface, endpoint, method, path) for every path the table declares, model filled in."""
    return [
        (surface.name, endpoint.name, endpoint.method, path.replace(MODEL, GEMINI_MODEL))
        for surface in SURFACES.values()
        for endpoint in surface.endpoints
        for path in endpoint.paths
    ]


def test_the_table_has_the_four_apis_by_name() -> None:
    assert list(SURFACES) == ["anthropic", "openai-chat", "openai-responses", "gemini"]
    for name, surface in SURFACES.items():
        assert surface.name == name
        names = [e.name for e in surface.endpoints]
        assert len(names) == len(set(names))
        assert all(surface.endpoint(e) for e in surface.call_endpoints)
        with pytest.raises(AttributeError):
            surface.base_url = "http://elsewhere"  # type: ignore[misc]


def test_the_table_declares_exactly_the_paths_the_front_door_serves() -> None:
    assert {(method, path) for _, _, method, path in declared()} == set(SERVED)


@pytest.mark.parametrize(("method", "path"), sorted(SERVED))
def test_every_served_path_matches_its_surface_and_endpoint(method: str, path: str) -> None:
    surface, endpoint = SERVED[method, path]
    model = GEMINI_MODEL if surface == "gemini" else None
    for spelled in (path, f"/{path}", f"{path}/", f"{path}?alt=sse&beta=true"):
        assert match_route(method, spelled) == Route(surface, endpoint, model)


@pytest.mark.parametrize(("surface", "endpoint", "method", "path"), declared())
def test_each_surface_matches_its_own_declared_paths(
    surface: str, endpoint: str, method: str, path: str
) -> None:
    model = GEMINI_MODEL if MODEL in SURFACES[surface].endpoint(endpoint).paths[0] else None
    assert SURFACES[surface].match(method, path) == Route(surface, endpoint, model)


@pytest.mark.parametrize(("method", "path"), NEAR_MISSES)
def test_near_misses_are_not_served(method: str, path: str) -> None:
    assert match_route(method, path) is None


@pytest.mark.parametrize(("method", "path"), sorted(SERVED))
def test_mutations_of_served_paths_are_not_served(method: str, path: str) -> None:
    for other in (path + "x", path[:-1], path + "/extra", "x" + path, "v9/" + path):
        if (method, other.strip("/")) not in SERVED:
            assert match_route(method, other) is None, other
    other_method = "GET" if method == "POST" else "POST"
    if (other_method, path) not in SERVED:
        assert match_route(other_method, path) is None


def test_the_path_model_is_read_decoded() -> None:
    route = match_route("POST", "v1beta/models/tuned%2Fmine:generateContent")
    assert route == Route("gemini", "generate", "tuned/mine")
    # A colon inside the model name stays in it: only the last one starts the verb.
    route = match_route("POST", "v1beta/models/a:b:streamGenerateContent")
    assert route == Route("gemini", "stream_generate", "a:b")


def test_models_listing_goes_to_the_api_whose_headers_the_client_sent() -> None:
    assert listing_surface({"anthropic-version": "2023-06-01"}).name == "anthropic"
    assert listing_surface({"x-api-key": "k"}).name == "anthropic"
    assert listing_surface({"authorization": "Bearer k"}).name == "openai-responses"


def test_an_unserved_path_is_answered_in_the_api_it_looks_like() -> None:
    assert guess_surface("v1/chat/completions/x").name == "openai-chat"
    assert guess_surface("v1/responses/resp_1/cancel").name == "openai-responses"
    assert guess_surface("v1beta/models/g:countTokens").name == "gemini"
    assert guess_surface("v1/messages/batches").name == "anthropic"
    # Responses errors have Chat's shape: the agent sees the same body either way.
    chat, responses = SURFACES["openai-chat"], SURFACES["openai-responses"]
    assert chat.error_body(501, "no", None) == responses.error_body(501, "no", None)


# ---------------------------------------------------------------- upstream URLs

# (surface, endpoint, base URL, model, the agent's query) -> the URL sent upstream.
UPSTREAM = [
    ("anthropic", "messages", "https://api.anthropic.com", None, "beta=true",
     "https://api.anthropic.com/v1/messages?beta=true"),
    # A base is used as given, as the vendor's SDK would: one ending in /v1 gets /v1/v1/.
    ("anthropic", "messages", "http://gw.test:8/v1/", None, "",
     "http://gw.test:8/v1/v1/messages"),
    ("anthropic", "count_tokens", "http://gw.test:8/", None, "beta=true",
     "http://gw.test:8/v1/messages/count_tokens?beta=true"),
    ("anthropic", "models", "https://api.anthropic.com", None, "limit=5",
     "https://api.anthropic.com/v1/models?limit=5"),
    ("openai-chat", "chat", "https://api.openai.com/v1", None, "",
     "https://api.openai.com/v1/chat/completions"),
    ("openai-chat", "chat", "http://127.0.0.1:11434", None, "x=1",
     "http://127.0.0.1:11434/chat/completions?x=1"),
    ("openai-chat", "models", "https://api.openai.com/v1/", None, "",
     "https://api.openai.com/v1/models"),
    ("openai-responses", "responses", "https://api.openai.com/v1/", None, "",
     "https://api.openai.com/v1/responses"),
    ("openai-responses", "responses", "http://gw.test", None, "",
     "http://gw.test/responses"),
    ("openai-responses", "models", "https://api.openai.com/v1", None, "limit=2",
     "https://api.openai.com/v1/models?limit=2"),
    # Gemini's query is its own (alt=sse for streams): the agent's is not carried over.
    ("gemini", "generate", "https://generativelanguage.googleapis.com", "gemini-2.5-flash",
     "key=k", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"),
    ("gemini", "stream_generate", "https://generativelanguage.googleapis.com/", GEMINI_MODEL,
     "alt=sse", f"https://generativelanguage.googleapis.com/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse"),
    ("gemini", "generate", "http://gw.test/v1", "tuned/mine", "",
     "http://gw.test/v1/v1beta/models/tuned%2Fmine:generateContent"),
]  # fmt: skip


@pytest.mark.parametrize(("api", "endpoint", "base", "model", "query", "url"), UPSTREAM)
def test_upstream_urls_come_from_the_table(
    api: str, endpoint: str, base: str, model: str | None, query: str, url: str
) -> None:
    assert SURFACES[api].upstream_url(base, endpoint, model, query) == url


def test_every_endpoint_has_an_upstream_url_checked_above() -> None:
    covered = {(api, endpoint) for api, endpoint, *_ in UPSTREAM}
    assert covered == {(s.name, e.name) for s in SURFACES.values() for e in s.endpoints}


@pytest.mark.parametrize("api", list(SURFACES))
@pytest.mark.parametrize("stream", [False, True])
def test_translated_calls_go_to_the_tables_call_endpoint(api: str, stream: bool) -> None:
    surface = SURFACES[api]
    path = translate.upstream_path(api, GEMINI_MODEL, stream)
    assert path == surface.endpoint(surface.call_endpoint(stream)).upstream.replace(
        MODEL, GEMINI_MODEL
    )
    url = surface.upstream_url("http://p.test/", surface.call_endpoint(stream), GEMINI_MODEL)
    assert url == "http://p.test" + path


@pytest.mark.parametrize(
    "model", ["../../v1/x", "../x", "..", "a/../../b", "/v1/x", "..%2F..%2Fv1%2Fx", "a?b#c"]
)
@pytest.mark.parametrize("endpoint", ["generate", "stream_generate"])
def test_a_gemini_model_name_cannot_leave_its_path_segment(model: str, endpoint: str) -> None:
    url = SURFACES["gemini"].upstream_url("http://p.test/root", endpoint, model)
    # As the proxy's HTTP client sends it, and as a server that normalises dot-segments sees it.
    for path in (yarl.URL(url).raw_path, posixpath.normpath(urlsplit(url).path)):
        assert path.startswith("/root/v1beta/models/"), path
        segment = path.removeprefix("/root/v1beta/models/")
        assert "/" not in segment and segment.split(":")[-1] in (
            "generateContent",
            "streamGenerateContent",
        )
    assert "/v1/x:" not in yarl.URL(url).raw_path
    assert urlsplit(url).query == ("alt=sse" if endpoint == "stream_generate" else "")


def test_a_path_model_goes_back_upstream_as_the_agent_spelled_it() -> None:
    for spelled in ("gemini-2.5-flash", "..%2F..%2Fv1%2Fx", "tuned%2Fmine"):
        route = match_route("POST", f"v1beta/models/{spelled}:generateContent")
        assert route is not None
        assert model_segment(route.path_model) == spelled


# ---------------------------------------------------------------- base URLs and auth

AUTH = {
    "anthropic": {"x-api-key": "s3"},
    "openai-chat": {"authorization": "Bearer s3"},
    "openai-responses": {"authorization": "Bearer s3"},
    "gemini": {"x-goog-api-key": "s3"},
}
BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai-chat": "https://api.openai.com/v1",
    "openai-responses": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}


@pytest.mark.parametrize("api", list(SURFACES))
def test_profile_defaults_are_the_tables(api: str) -> None:
    assert SURFACES[api].base_url == BASE_URLS[api]
    profile = parse_profile_text(
        f'[providers.p]\napi = "{api}"\nkey_env = "P_KEY"\n', env={"P_KEY": "s3"}
    )
    provider = profile.providers["p"]
    assert provider.base_url == BASE_URLS[api]
    assert provider.auth_headers({"P_KEY": "s3"}) == AUTH[api]
    # A profile without a provider for the API passes its calls to the vendor's own URL.
    assert parse_profile_text("").provider_for_api(api).base_url == BASE_URLS[api]


@pytest.mark.parametrize("api", list(SURFACES))
def test_upstream_auth_is_the_tables(api: str) -> None:
    provider = Provider("p", api, "http://127.0.0.1:9", "P_KEY")
    out = upstream_headers(
        {"x-api-key": "agent", "authorization": "Bearer agent"}, provider, api, "s3"
    )
    for header, value in AUTH[api].items():
        assert out[header] == value
    assert "agent" not in json.dumps(out)
    assert out.get("anthropic-version") == ("2023-06-01" if api == "anthropic" else None)


@pytest.mark.parametrize("scheme", list(AUTH_SCHEMES))
def test_a_profile_may_name_any_scheme_of_the_table(scheme: str) -> None:
    profile = parse_profile_text(
        f'[providers.p]\napi = "anthropic"\nkey_env = "P_KEY"\nauth = "{scheme}"\n',
        env={"P_KEY": "s3"},
    )
    assert profile.providers["p"].auth_headers({"P_KEY": "s3"}) == AUTH_SCHEMES[scheme].headers(
        "s3"
    )


# ---------------------------------------------------------------- route explain


@pytest.mark.parametrize(
    ("path", "surface", "endpoint", "model"),
    [
        ("/v1/messages?beta=true", "anthropic", "messages", "claude-x"),
        ("/s/secret/v1/messages/count_tokens", "anthropic", "count_tokens", "claude-x"),
        ("https://api.openai.com/v1/chat/completions", "openai-chat", "chat", "claude-x"),
        ("/s/secret/v1/responses", "openai-responses", "responses", "claude-x"),
        (
            "/s/secret/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            "gemini",
            "stream_generate",
            "gemini-2.5-pro",
        ),
    ],
)
def test_route_explain_names_a_captured_path_from_the_table(
    tmp_path: Path, path: str, surface: str, endpoint: str, model: str
) -> None:
    capture = tmp_path / "capture.json"
    capture.write_text(json.dumps({"path": path, "body": {"model": "claude-x"}}))
    call, _ = load_request(capture, None, None)
    assert (call.surface, call.endpoint, call.model) == (surface, endpoint, model)


# ---------------------------------------------------------------- the front door, for real

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{root}/a"

[providers.openai]
api = "openai-responses"
base_url = "{root}/o/v1"

[providers.gemini]
api = "gemini"
base_url = "{root}/g"

[models.far]
provider = "gemini"
model = "gemini-2.5-flash"

[routing]
default = "{default}"
"""
PREFIX = {"anthropic": "/a", "openai-chat": "/o/v1", "openai-responses": "/o/v1", "gemini": "/g"}
BODIES: dict[str, dict[str, Any]] = {
    "anthropic": {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    "openai-chat": {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]},
    "openai-responses": {"model": "gpt-x", "input": "hi"},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}  # fmt: skip


class Recording:
    """A provider that records each request's method and raw path, and answers `{}`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.root = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.raw_path))
        return web.json_response({})

    async def __aenter__(self) -> Recording:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@asynccontextmanager
async def front_door(
    tmp_path: Path, far: str = "gemini-2.5-flash", default: str = "requested"
) -> AsyncIterator[tuple[str, Recording]]:
    """agentwrap's proxy in-process, every API's provider at one recording server."""
    async with Recording() as upstream:
        profile_path = tmp_path / "profile.toml"
        profile_path.write_text(PROFILE.format(root=upstream.root, default=default))
        profile = load_profile(None, str(profile_path), {})
        # Profile files refuse some names `far` may hold; one set in code reaches the proxy.
        profile.models["far"].model = far
        store = TraceStore(paths.trace_db())
        session = f"table-{time.time_ns()}"
        store.insert_session(id=session, agent="test", started_at=time.time())
        recorder = Recorder(store, session)
        proxy = Proxy(profile, recorder)
        try:
            yield await proxy.start(), upstream
        finally:
            await proxy.stop()
            recorder.close()


async def send(
    root: str, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> int:
    # encoded=True: the path reaches the proxy exactly as written, dots and escapes included.
    url = yarl.URL(f"{root}/{path}", encoded=True)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers=headers) as resp,
    ):
        await resp.read()
        return resp.status


async def test_the_front_door_serves_the_tables_paths_at_the_tables_upstream_urls(
    tmp_path: Path,
) -> None:
    async with front_door(tmp_path) as (root, upstream):
        for (method, path), (surface, endpoint) in sorted(SERVED.items()):
            headers = {"x-api-key": "k"} if surface == "anthropic" else {}
            body = BODIES[surface] if method == "POST" else None
            upstream.seen.clear()
            await send(root, method, path + "?beta=true", body, headers)
            served = SURFACES[surface]
            model = GEMINI_MODEL if surface == "gemini" else None
            query = "beta=true" if served.endpoint(endpoint).forwards_query else ""
            url = served.upstream_url(PREFIX[surface], endpoint, model, query)
            assert upstream.seen == [(method, url)], (method, path)


async def test_a_models_listing_goes_where_the_clients_headers_say(tmp_path: Path) -> None:
    async with front_door(tmp_path) as (root, upstream):
        await send(root, "GET", "v1/models", None, {"anthropic-version": "2023-06-01"})
        await send(root, "GET", "v1/models", None, {"authorization": "Bearer k"})
        await send(root, "GET", "models?limit=2", None, {"authorization": "Bearer k"})
    assert upstream.seen == [
        ("GET", "/a/v1/models"),
        ("GET", "/o/v1/models"),
        ("GET", "/o/v1/models?limit=2"),
    ]


@pytest.mark.parametrize(("method", "path"), NEAR_MISSES[:-1])
async def test_the_front_door_refuses_near_misses_and_forwards_nothing(
    tmp_path: Path, method: str, path: str
) -> None:
    async with front_door(tmp_path) as (root, upstream):
        status = await send(root, method, path, BODIES["anthropic"], {"x-api-key": "k"})
    assert status == (501 if method in ("POST", "GET") else 405)
    assert upstream.seen == []


@pytest.mark.parametrize(
    "spelled", ["..%2F..%2Fv1%2Fx", "../../v1/x", "%2E%2E/%2E%2E/v1/x", "a/../../../v1/x"]
)
async def test_a_gemini_path_model_cannot_reach_another_upstream_path(
    tmp_path: Path, spelled: str
) -> None:
    async with front_door(tmp_path) as (root, upstream):
        await send(root, "POST", f"v1beta/models/{spelled}:generateContent", BODIES["gemini"], {})
    [(_, raw)] = upstream.seen
    assert raw.startswith("/g/v1beta/models/") and "/" not in raw[len("/g/v1beta/models/") :]
    assert raw.endswith("v1%2Fx:generateContent")


async def test_a_profiles_gemini_model_id_cannot_reach_another_upstream_path(
    tmp_path: Path,
) -> None:
    with pytest.raises(ProfileError, match="cannot be a Gemini model name"):
        parse_profile_text(
            '[providers.g]\napi = "gemini"\n[models.far]\nprovider = "g"\nmodel = "../../v1/x"\n'
        )
    async with front_door(tmp_path, far="../../v1/x", default="far") as (root, up):
        await send(root, "POST", "v1/messages", BODIES["anthropic"], {"x-api-key": "k"})
    assert up.seen == [("POST", "/g/v1beta/models/..%2F..%2Fv1%2Fx:generateContent")]
