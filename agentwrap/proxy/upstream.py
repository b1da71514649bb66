"""The upstream side: the transport seam, the pooled keep-alive client behind it, the header policy.

Forwarding talks to providers through one method, `Transport.send(UpstreamRequest)`, which
returns an `UpstreamResponse` once the status and headers have arrived. `UpstreamPool` is the
real transport (keep-alive connections pooled per provider host, by `h1client`: agents leave
idle gaps while tools run, and the next call should not pay a new TCP+TLS handshake); tests
pass their own transport to inject faults below the proxy. Transports raise what aiohttp
raises: `aiohttp.ClientError` when a provider cannot be reached
(`aiohttp.ConnectionTimeoutError` when connecting took too long), and its payload and
connection errors when a body breaks off.

The caller bounds an attempt's wait for the provider with a `FirstByteClock`; a transport that
has to wait for a connection first (a full pool, a new TCP+TLS handshake) holds that clock
meanwhile, so a busy pool is never mistaken for a silent provider.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from agentwrap.agents.base import SECRET_HEADER
from agentwrap.proxy import h1client
from agentwrap.route.profile import Provider
from agentwrap.wire.surface import CREDENTIAL_HEADERS, SURFACES, auth_scheme

# Hop-by-hop headers (RFC 9110 §7.6.1) and headers the proxy itself owns.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# The endpoint the agent meant, added by transparent mode's interceptor for the front door.
ENDPOINT_HEADER = "x-agentwrap-endpoint"
REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "content-length",
    "accept-encoding",
    ENDPOINT_HEADER,
    SECRET_HEADER,
}
RESPONSE_DROP = HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}

# Request headers that carry a credential or tie a call to the user's account. They go only to
# the agent's own provider; so does any header named like one (`is_credential_header`).
CREDENTIAL_NAMES = CREDENTIAL_HEADERS | {
    "authorization",
    "proxy-authorization",
    "cookie",
    "cookie2",
    "chatgpt-account-id",
    "openai-organization",
    "openai-project",
}
CREDENTIAL_SUFFIXES = (
    "-key",
    "-token",
    "-secret",
    "-password",
    "-credential",
    "-credentials",
    "-cookie",
)


def is_credential_header(name: str) -> bool:
    """Whether a request header may carry a credential: a known name (authorization, cookie,
    x-api-key...), a name ending in -key, -token, -secret, -password, -credential(s) or
    -cookie, or any name that mentions auth (x-auth-user, proxy-authorization)."""
    lname = name.lower()
    return lname in CREDENTIAL_NAMES or lname.endswith(CREDENTIAL_SUFFIXES) or "auth" in lname


def _accept_encoding() -> str:
    # Only encodings the client can decode: usage must be read from the answer.
    try:
        import brotli  # noqa: F401

        return "gzip, deflate, br"
    except ImportError:
        return "gzip, deflate"


ACCEPT_ENCODING = _accept_encoding()


def _env_proxy(scheme: str, host: str) -> str | None:
    # Looked up once per upstream host: reading the environment per request costs ~0.2 ms.
    import urllib.request

    # proxy_bypass reads NO_PROXY from the environment on Linux (the system settings elsewhere).
    if urllib.request.proxy_bypass(host) or host in ("127.0.0.1", "localhost", "::1"):
        return None
    return urllib.request.getproxies_environment().get(scheme)


def upstream_headers(
    agent_headers: Mapping[str, str],
    provider: Provider,
    agent_api: str,
    key: str | None,
) -> dict[str, str]:
    """Headers to send upstream: the agent's, minus hop-by-hop, with the provider's auth.

    The agent's own credentials (its key or token, cookies, every credential header) go only
    to its own provider: one of the agent's API without a key of its own that takes them (the
    API's own host, the agent's own base URL, or `forward_agent_key`; see
    `Provider.takes_agent_credentials`). Every other provider gets none of them; one with
    `key_env` gets its key.
    """
    own = provider.api == agent_api and key is None and provider.takes_agent_credentials()
    out: dict[str, str] = {}
    for name, value in agent_headers.items():
        lname = name.lower()
        if lname in REQUEST_DROP or (not own and is_credential_header(lname)):
            continue
        out[name] = value
    if provider.api != agent_api:
        # A cross-API call carries only headers meaningful to every API.
        out = {
            k: v
            for k, v in out.items()
            if k.lower() in {"user-agent", "accept", "content-type"}
            or k.lower().startswith("x-")
            and not k.lower().startswith(
                ("x-stainless", "x-claude", "x-app", "x-codex", "x-openai")
            )
        }
        out["content-type"] = "application/json"
    if key is not None:
        # A profile may name the header scheme (Anthropic-compatible gateways often want bearer).
        out.update(auth_scheme(provider.api, provider.auth or None).headers(key))
    surface = SURFACES.get(provider.api)
    if surface is not None and (key is not None or provider.api != agent_api):
        # What the API requires on every request; the agent's own requests carry it already.
        for name, value in surface.required_headers:
            out.setdefault(name, value)
    out.update(provider.headers)
    out["accept-encoding"] = ACCEPT_ENCODING
    return out


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Upstream response headers to pass to the agent (the body is re-framed by us)."""
    return {k: v for k, v in headers.items() if k.lower() not in RESPONSE_DROP}


class FirstByteClock:
    """One attempt's first-byte deadline, which runs only while the request is with the provider.

    The caller wraps its wait in `asyncio.timeout()` and hands that here; the transport calls
    `hold()` while it waits for a connection and `run()` once the request is on its way.
    `held_ms` is how long the attempt waited for its connection.
    """

    def __init__(self, deadline: asyncio.Timeout, seconds: float) -> None:
        self.deadline = deadline
        self.seconds = seconds
        self.held_ms = 0.0
        self._held_at: float | None = None

    def hold(self) -> None:
        """Waiting for a connection (pool or connect): the provider's time does not run."""
        if self._held_at is None:
            self._held_at = time.perf_counter()
            self.deadline.reschedule(None)

    def run(self) -> None:
        """The request is on its way: the provider has `seconds` from now to answer."""
        if self._held_at is not None:
            self.held_ms += (time.perf_counter() - self._held_at) * 1000.0
            self._held_at = None
        self.deadline.reschedule(asyncio.get_running_loop().time() + self.seconds)

    def stop(self) -> None:
        """The first bytes arrived: from here on the stall timeout bounds each read."""
        self.deadline.reschedule(None)


@dataclass(frozen=True)
class UpstreamRequest:
    """One request to a provider, ready to send (`clock`: its first-byte deadline, if any)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    allow_redirects: bool = False
    clock: FirstByteClock | None = None


class UpstreamResponse(Protocol):
    """A provider's answer whose status and headers have arrived; the body is read from it."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive: looked up by lower-case names."""
        ...

    async def read(self) -> bytes:
        """The whole (remaining) body."""
        ...

    async def readany(self) -> bytes:
        """The next bytes of the body as they arrive; b"" at its end."""
        ...

    def release(self) -> None:
        """Give the connection back (to the pool, when the body was read to its end)."""
        ...


class Transport(Protocol):
    """What forwarding sends through: `UpstreamPool`, or a test's own."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send; return once the status and headers arrived."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


class _PooledResponse:
    """An aiohttp response behind the `UpstreamResponse` protocol."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        return await self._resp.read()

    async def readany(self) -> bytes:
        return await self._resp.content.readany()

    def release(self) -> None:
        self._resp.release()


async def _on_request_start(
    session: aiohttp.ClientSession, ctx: SimpleNamespace, params: object
) -> None:
    if isinstance(ctx.trace_request_ctx, FirstByteClock):
        ctx.trace_request_ctx.hold()


async def _on_headers_sent(
    session: aiohttp.ClientSession, ctx: SimpleNamespace, params: object
) -> None:
    if isinstance(ctx.trace_request_ctx, FirstByteClock):
        ctx.trace_request_ctx.run()


def _clock_trace() -> aiohttp.TraceConfig:
    # From the request's start until its headers are written the pool finds a connection.
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_on_request_start)
    trace.on_request_headers_sent.append(_on_headers_sent)
    trace.freeze()
    return trace


_BY_SESSION = "session"  # a URL sent through aiohttp's client session (see UpstreamPool)
_ROUTES_MAX = 1024  # URLs remembered with their origin and request target


class UpstreamPool:
    """The real transport: keep-alive connections pooled per scheme://host:port.

    `limit_per_host` connections at most per host (a call beyond waits for one, without its
    first-byte clock running); a new connection must open within `connect_timeout` seconds.
    Requests go out through `h1client`, an HTTP/1.1 client around aiohttp's response parser;
    a host the environment sends through an HTTP(S) proxy (HTTPS_PROXY...), a request that
    follows redirects, and a URL that client does not take (credentials in it, a host name
    that is not ASCII, another scheme) go through aiohttp's client session instead, one per
    host, as every request did before. `ssl_context` verifies providers' certificates
    (aiohttp's verified default, unless given).
    """

    def __init__(
        self,
        keepalive_s: float = 300.0,
        limit_per_host: int = 128,
        connect_timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._proxies: dict[str, str | None] = {}
        self._origins: dict[str, h1client.Origin] = {}
        self._routes: dict[str, tuple[h1client.Origin, str] | str] = {}
        self._keepalive = keepalive_s
        self._limit = limit_per_host
        self._connect_timeout = connect_timeout
        self._ssl = ssl_context
        self._trace: aiohttp.TraceConfig | None = None

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send on a pooled connection (or through the host's session, see the class)."""
        route = self._routes.get(request.url) or self._route(request.url)
        if route is _BY_SESSION or request.allow_redirects:
            return await self._send_by_session(request)
        assert not isinstance(route, str)
        origin, target = route
        method, body = request.method, request.body
        head = h1client.request_head(method, target, origin, request.headers, body)
        return await h1client.exchange(origin, method, request.url, head, body, request.clock)

    def _route(self, url: str) -> tuple[h1client.Origin, str] | str:
        """Where a URL goes: its origin's pool and request target, or _BY_SESSION."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._proxies:
            self._proxies[key] = _env_proxy(parts.scheme, parts.hostname or "")
        route: tuple[h1client.Origin, str] | str = _BY_SESSION
        try:
            port = parts.port or h1client.DEFAULT_PORTS.get(parts.scheme)
        except ValueError:  # aiohttp's client says what is wrong with it
            port = None
        host = parts.hostname
        if (
            parts.scheme in h1client.DEFAULT_PORTS
            and port is not None
            and host
            and host.isascii()
            and parts.username is None
            and self._proxies[key] is None
        ):
            origin = self._origins.get(key)
            if origin is None:
                origin = self._origins[key] = self._origin(parts.scheme, host, port)
            route = (origin, h1client.request_target(parts.path, parts.query))
        if len(self._routes) >= _ROUTES_MAX:
            self._routes.clear()
        self._routes[url] = route
        return route

    def _origin(self, scheme: str, host: str, port: int) -> h1client.Origin:
        loop = asyncio.get_running_loop()
        pool = h1client.HostPool(loop, self._limit, self._keepalive, self._connect_timeout)
        context = None
        if scheme == "https":
            context = self._ssl or h1client.default_ssl_context()
        origin = h1client.Origin(scheme, host, port, context, pool)
        pool.origin = origin
        return origin

    async def _send_by_session(self, request: UpstreamRequest) -> UpstreamResponse:
        resp = await self.session_for(request.url).request(
            request.method,
            request.url,
            data=request.body,
            headers=request.headers,
            allow_redirects=request.allow_redirects,
            proxy=self.proxy_for(request.url),
            trace_request_ctx=request.clock,
            ssl=self._ssl if self._ssl is not None else True,
        )
        return _PooledResponse(resp)

    def session_for(self, url: str) -> aiohttp.ClientSession:
        """The aiohttp client session for this URL's host (proxied or redirected requests)."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        session = self._sessions.get(key)
        if session is None or session.closed:
            if self._trace is None:
                self._trace = _clock_trace()
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self._limit,
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                # Reads are bounded by the relay (first byte, stall), connecting here.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
                trust_env=False,  # proxy settings are resolved once per host, below
                trace_configs=[self._trace],
            )
            self._sessions[key] = session
        if key not in self._proxies:
            self._proxies[key] = _env_proxy(parts.scheme, parts.hostname or "")
        return session

    def proxy_for(self, url: str) -> str | None:
        """The HTTP(S) proxy from the environment for this URL's host (a corporate proxy)."""
        parts = urlsplit(url)
        return self._proxies.get(f"{parts.scheme}://{parts.netloc}")

    async def close(self) -> None:
        for origin in self._origins.values():
            origin.pool.close()
        self._origins.clear()
        self._routes.clear()
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
