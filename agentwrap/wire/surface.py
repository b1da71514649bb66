"""One typed description per API surface, and the table of them.

Everything agentwrap knows about an API lives in its `Surface`: the paths the front door
serves it on, where each endpoint goes upstream, the default base URL and how a key travels,
how bodies, streams, errors and usage are read and written. The front door matches paths,
the upstream client builds URLs and headers, the profile fills in defaults and `translate`
dispatches through `SURFACES`; adding an API means one module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from agentwrap.wire import anthropic, gemini, openai_chat, openai_responses
from agentwrap.wire import canonical as c
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.common import TapReading, Usage
from agentwrap.wire.names import ToolNames
from agentwrap.wire.stream import StreamEmitter, StreamParser

MODEL = "{model}"  # where a path carries the model (Gemini)


@dataclass(frozen=True)
class AuthScheme:
    """How a provider's key travels: one header, the key behind an optional prefix."""

    name: str  # what a profile's `auth` says
    header: str
    prefix: str = ""

    def headers(self, key: str) -> dict[str, str]:
        """The header that carries `key`."""
        return {self.header: self.prefix + key}


API_KEY = AuthScheme("x-api-key", "x-api-key")
BEARER = AuthScheme("bearer", "authorization", "Bearer ")
GOOG_API_KEY = AuthScheme("x-goog-api-key", "x-goog-api-key")
AUTH_SCHEMES: Mapping[str, AuthScheme] = {s.name: s for s in (API_KEY, BEARER, GOOG_API_KEY)}
# Headers that may carry an agent's own credentials (api-key: Azure OpenAI's).
CREDENTIAL_HEADERS = frozenset({s.header for s in AUTH_SCHEMES.values()} | {"api-key"})


@dataclass(frozen=True)
class Route:
    """What the front door names from a request's method and path."""

    surface: str
    endpoint: str
    path_model: str | None = None  # Gemini carries the model in the path


@dataclass(frozen=True)
class Endpoint:
    """One operation of a surface: the paths agents call it on, and its path upstream.

    `paths` are below the session prefix, without the leading slash; `upstream` is appended
    to the provider's base URL. Either may hold `{model}`.
    """

    name: str  # messages | count_tokens | models | chat | responses | generate | stream_generate
    paths: tuple[str, ...]
    upstream: str
    method: str = "POST"
    forwards_query: bool = True  # the agent's query string goes upstream with the call

    def path_model(self, method: str, path: str) -> tuple[bool, str | None]:
        """Whether this endpoint serves `path` (normalised), and the model the path names."""
        if method != self.method:
            return False, None
        for template in self.paths:
            if MODEL not in template:
                if path == template:
                    return True, None
                continue
            head, _, tail = template.partition(MODEL)
            if len(path) >= len(head) + len(tail) and path.startswith(head) and path.endswith(tail):
                return True, unquote(path[len(head) : len(path) - len(tail)])
        return False, None


def model_segment(model: str | None) -> str:
    """A model name quoted into one URL path segment, so `/` and `..` in it cannot climb out.

    Every template follows `{model}` with `:verb`, so even a name of dots is no dot-segment.
    """
    return quote(model or "", safe="")


@dataclass(frozen=True)
class Surface:
    """Everything agentwrap knows about one API surface."""

    name: str
    endpoints: tuple[Endpoint, ...]
    # The endpoints a call translated into this API goes to: (whole answer, streamed).
    call_endpoints: tuple[str, str]
    base_url: str  # the vendor's, as its SDK appends `upstream` paths to it
    auth: AuthScheme  # the usual scheme; a profile's `auth` may name another
    # Headers every request agentwrap authors for this API must carry.
    required_headers: tuple[tuple[str, str], ...]
    # Headers only this API's clients send (tells whose a shared path's request is).
    client_headers: tuple[str, ...]
    # Fragments that make an unserved path look like this API (for the error's shape).
    path_hints: tuple[str, ...]
    request_model_key: str | None  # where a request body names the model (None: the path)
    response_model_key: str  # where a response body names the model
    # Bodies: (body, the path's model, tool names) -> canonical, and back for a model.
    parse_request: Callable[[dict[str, Any], str | None, ToolNames], c.Request]
    emit_request: Callable[[c.Request, str, ToolNames], dict[str, Any]]
    parse_response: Callable[[dict[str, Any]], c.Response]
    emit_response: Callable[[c.Response, str, ToolNames], dict[str, Any]]
    stream_parser: Callable[[], StreamParser]
    stream_emitter: Callable[[str, ToolNames], StreamEmitter]
    # Errors: the body the agent gets (status, message, kind), and (message, kind) from one.
    error_body: Callable[[int, str, str | None], dict[str, Any]]
    parse_error: Callable[[Any], tuple[str | None, str | None]]
    parse_usage: Callable[[Any], Usage]
    # Usage taps on untouched answers: the stream events worth decoding and how to read one.
    usage_markers: tuple[bytes, ...]
    tap_event: Callable[[dict[str, Any], TapReading], None]
    model_in_every_event: bool = False  # the first event names the model, marker or not
    call_marker: bytes | None = None  # a stream that holds it asked for tools
    # A raw finish reason -> canonical stop reason, given whether tools were called.
    stop_from_finish: Callable[[str | None, bool], str] | None = None

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name` (KeyError when this API has none)."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(f"{self.name} has no endpoint '{name}'")

    def match(self, method: str, path: str) -> Route | None:
        """The route for a request below the session prefix, when this API serves it."""
        path = path.split("?", 1)[0].strip("/")
        for endpoint in self.endpoints:
            served, model = endpoint.path_model(method, path)
            if served:
                return Route(self.name, endpoint.name, model)
        return None

    def call_endpoint(self, stream: bool) -> str:
        """The endpoint a call translated into this API goes to."""
        return self.call_endpoints[1 if stream else 0]

    def upstream_path(self, endpoint: str, model: str | None = None) -> str:
        """The path to append to a provider's base URL (the model quoted into it if needed)."""
        return self.endpoint(endpoint).upstream.replace(MODEL, model_segment(model))

    def upstream_url(
        self, base_url: str, endpoint: str, model: str | None = None, query: str = ""
    ) -> str:
        """The URL of `endpoint` at a provider's `base_url`, the agent's query kept if it goes."""
        path = self.upstream_path(endpoint, model)
        if query and self.endpoint(endpoint).forwards_query:
            path += ("&" if "?" in path else "?") + query
        return base_url.rstrip("/") + path


_MODELS = Endpoint("models", ("v1/models", "models"), "/models", method="GET")

SURFACES: Mapping[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            name=ANTHROPIC,
            endpoints=(
                Endpoint("messages", ("v1/messages",), "/v1/messages"),
                Endpoint(
                    "count_tokens", ("v1/messages/count_tokens",), "/v1/messages/count_tokens"
                ),
                Endpoint("models", ("v1/models",), "/v1/models", method="GET"),
            ),
            call_endpoints=("messages", "messages"),
            base_url="https://api.anthropic.com",
            auth=API_KEY,
            required_headers=(("anthropic-version", "2023-06-01"),),
            client_headers=("anthropic-version", "x-api-key"),
            path_hints=(),
            request_model_key="model",
            response_model_key="model",
            parse_request=lambda body, model, names: anthropic.parse_request(body),
            emit_request=anthropic.emit_request,
            parse_response=anthropic.parse_response,
            emit_response=anthropic.emit_response,
            stream_parser=anthropic.StreamParser,
            stream_emitter=anthropic.StreamEmitter,
            error_body=anthropic.error_body,
            parse_error=anthropic.parse_error,
            parse_usage=anthropic.parse_usage,
            usage_markers=anthropic.TAP_MARKERS,
            tap_event=anthropic.tap_event,
        ),
        Surface(
            name=OPENAI_CHAT,
            endpoints=(
                Endpoint("chat", ("v1/chat/completions", "chat/completions"), "/chat/completions"),
                _MODELS,
            ),
            call_endpoints=("chat", "chat"),
            base_url="https://api.openai.com/v1",
            auth=BEARER,
            required_headers=(),
            client_headers=(),
            path_hints=("chat/completions",),
            request_model_key="model",
            response_model_key="model",
            parse_request=lambda body, model, names: openai_chat.parse_request(body),
            emit_request=openai_chat.emit_request,
            parse_response=openai_chat.parse_response,
            emit_response=openai_chat.emit_response,
            stream_parser=openai_chat.StreamParser,
            stream_emitter=openai_chat.StreamEmitter,
            error_body=openai_chat.error_body,
            parse_error=openai_chat.parse_error,
            parse_usage=openai_chat.parse_usage,
            usage_markers=openai_chat.TAP_MARKERS,
            tap_event=openai_chat.tap_event,
            model_in_every_event=True,
            call_marker=openai_chat.TAP_CALL_MARKER,
            stop_from_finish=openai_chat.stop_from_finish,
        ),
        Surface(
            name=OPENAI_RESPONSES,
            endpoints=(Endpoint("responses", ("v1/responses", "responses"), "/responses"), _MODELS),
            call_endpoints=("responses", "responses"),
            base_url="https://api.openai.com/v1",
            auth=BEARER,
            required_headers=(),
            client_headers=(),
            path_hints=("responses",),
            request_model_key="model",
            response_model_key="model",
            # Its namespaces and tool search are remembered where the answer will look.
            parse_request=lambda body, model, names: openai_responses.parse_request(body, names),
            emit_request=openai_responses.emit_request,
            parse_response=openai_responses.parse_response,
            emit_response=openai_responses.emit_response,
            stream_parser=openai_responses.StreamParser,
            stream_emitter=openai_responses.StreamEmitter,
            # Errors have Chat's shape.
            error_body=openai_chat.error_body,
            parse_error=openai_chat.parse_error,
            parse_usage=openai_responses.parse_usage,
            usage_markers=openai_responses.TAP_MARKERS,
            tap_event=openai_responses.tap_event,
        ),
        Surface(
            name=GEMINI,
            endpoints=(
                Endpoint(
                    "generate",
                    (
                        f"v1beta/models/{MODEL}:generateContent",
                        f"v1/models/{MODEL}:generateContent",
                    ),
                    f"/v1beta/models/{MODEL}:generateContent",
                    forwards_query=False,
                ),
                Endpoint(
                    "stream_generate",
                    (
                        f"v1beta/models/{MODEL}:streamGenerateContent",
                        f"v1/models/{MODEL}:streamGenerateContent",
                    ),
                    f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                    forwards_query=False,
                ),
            ),
            call_endpoints=("generate", "stream_generate"),
            base_url="https://generativelanguage.googleapis.com",
            auth=GOOG_API_KEY,
            required_headers=(),
            client_headers=(),
            path_hints=("v1beta",),
            request_model_key=None,
            response_model_key="modelVersion",
            parse_request=lambda body, model, names: gemini.parse_request(body, model),
            emit_request=gemini.emit_request,
            parse_response=gemini.parse_response,
            emit_response=gemini.emit_response,
            stream_parser=gemini.StreamParser,
            stream_emitter=gemini.StreamEmitter,
            error_body=gemini.error_body,
            parse_error=gemini.parse_error,
            parse_usage=gemini.parse_usage,
            usage_markers=gemini.TAP_MARKERS,
            tap_event=gemini.tap_event,
            model_in_every_event=True,
            call_marker=gemini.TAP_CALL_MARKER,
            stop_from_finish=gemini.stop_from_finish,
        ),
    )
}


def surface_for(api: str) -> Surface:
    """The surface called `api` (a TranslationError naming the known ones otherwise)."""
    try:
        return SURFACES[api]
    except KeyError:
        raise c.TranslationError(f"unknown API '{api}' (known: {', '.join(SURFACES)})") from None


def match_route(method: str, path: str) -> Route | None:
    """The surface and endpoint the front door serves at `path`, first in table order."""
    for surface in SURFACES.values():
        route = surface.match(method, path)
        if route is not None:
            return route
    return None


def guess_surface(path: str) -> Surface:
    """The API an unserved path looks like, so its error reaches the agent in that shape."""
    for surface in SURFACES.values():
        if any(hint in path for hint in surface.path_hints):
            return surface
    return SURFACES[ANTHROPIC]


def listing_surface(headers: Mapping[str, str]) -> Surface:
    """Whose model list a GET on a shared models path asks for, from its lower-case headers."""
    for surface in SURFACES.values():
        if any(name in headers for name in surface.client_headers):
            return surface
    # An OpenAI client listing models (Codex does): its bearer token belongs to OpenAI.
    return SURFACES[OPENAI_RESPONSES]


def auth_scheme(api: str, name: str | None = None) -> AuthScheme:
    """The scheme a profile names, else the API's usual one (bearer for an unknown API)."""
    if name is not None:
        # Profiles name a known scheme; any other name is taken as the header to send.
        return AUTH_SCHEMES.get(name) or AuthScheme(name, name)
    surface = SURFACES.get(api)
    return surface.auth if surface is not None else BEARER
