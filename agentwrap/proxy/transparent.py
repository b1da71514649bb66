"""Transparent mode: the agent keeps its own API hosts, and agentwrap intercepts only those.

For agents that ignore a base URL (or lose features with one). The agent is started with
`HTTPS_PROXY` pointing at an HTTP proxy that mitmproxy runs on 127.0.0.1 for this session,
and with a certificate bundle that adds a CA made for this session alone:

- TLS to a known LLM API host (`LLM_API_HOSTS`, and the hosts of the profile's providers) is
  decrypted with a certificate that CA issues. Its inference calls (the POST paths the front
  door serves) are handed to agentwrap's own front door under the session secret, with the
  base URL the agent used in `ENDPOINT_HEADER`; the same pipeline classifies, routes,
  translates, streams and records them, and the endpoint decides where passthrough calls go
  (route/endpoint.py). Other requests to those hosts (a sign-in, a model list) go on to the
  host as the agent sent them.
- Every other host is tunnelled byte for byte: mitmproxy's `allow_hosts` leaves its TLS alone,
  so the agent sees that host's own certificate.

The CA's key lives in a 0700 temporary directory that is removed when the session ends (one
left by an agentwrap that was killed goes when the next transparent session starts); nothing
is added to any trust store of the system.

mitmproxy runs in a thread of its own with its own event loop, beside the front door's
(proxy/runner.py): its master installs an eager task factory and an exception handler on the
loop it runs, and it does its TLS work (handshakes, a certificate per host) on that loop. Apart,
none of that reaches the front door's stream pumps, and either can stop without waiting on the
other; they talk over loopback HTTP, as an agent and the front door do. This is the only
module that imports mitmproxy, and only when a session is transparent (0.5-1.6 s of imports).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentwrap.agents.base import with_no_proxy
from agentwrap.processes import pid_alive
from agentwrap.proxy.h1client import DEFAULT_PORTS
from agentwrap.proxy.upstream import ENDPOINT_HEADER
from agentwrap.route.profile import Profile
from agentwrap.wire.surface import match_route

if TYPE_CHECKING:
    from mitmproxy import http

# Intercepted in every transparent session, besides the hosts of the profile's providers.
LLM_API_HOSTS = (
    "api.anthropic.com",
    "api.openai.com",
    "generativelanguage.googleapis.com",
    "openrouter.ai",
)
# What the agent's TLS clients read: OpenSSL (curl, Python, Go, Rust), requests, curl, Node.
BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# Read instead of those by Nix-built programs and gRPC: given the bundle too when the user set them.
BUNDLE_VARS_IF_SET = ("NIX_SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
NODE_CA_VAR = "NODE_EXTRA_CA_CERTS"
_CA_NAME = "mitmproxy"  # the file names mitmproxy's certificate store looks for in its confdir
_CA_DIR_PREFIX = "agentwrap-ca-"  # then the pid of the agentwrap that made it, and a suffix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Host:
    """A scheme, host and port whose traffic is decrypted and read; all others are tunnelled."""

    scheme: str
    name: str
    port: int


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def intercepted_hosts(profile: Profile) -> list[Host]:
    """The known LLM API hosts and the hosts of the profile's providers.

    Loopback providers are left out: the agent reaches loopback directly (NO_PROXY).
    """
    hosts = {Host("https", name, 443): None for name in LLM_API_HOSTS}
    for provider in profile.providers.values():
        parts = urlsplit(provider.base_url)
        scheme, name = parts.scheme.lower(), (parts.hostname or "").lower()
        if scheme in DEFAULT_PORTS and name and not _is_loopback(name):
            hosts[Host(scheme, name, parts.port or DEFAULT_PORTS[scheme])] = None
    return list(hosts)


# Where agents read a base URL of the user's; one on loopback is reached without the proxy.
BASE_URL_VARS = (
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "GOOGLE_GEMINI_BASE_URL",
)


def loopback_notes(env: Mapping[str, str]) -> list[str]:
    """What transparent mode cannot see: base URLs of the user's that point at loopback."""
    notes = []
    for var in BASE_URL_VARS:
        host = urlsplit(env.get(var) or "").hostname
        if host and _is_loopback(host):
            notes.append(
                f"{var} points at {host}, which stays direct in transparent mode: calls sent "
                "there will NOT pass through agentwrap (nothing is routed or recorded)"
            )
    return notes


def allow_patterns(hosts: Iterable[Host]) -> list[str]:
    """mitmproxy `allow_hosts` for the TLS hosts: only these are decrypted."""
    return [f"^{re.escape(h.name)}:{h.port}$" for h in hosts if h.scheme == "https"]


def handoff(method: str, path: str) -> tuple[str, str] | None:
    """(base path, path below it) of an inference call the front door serves, else None.

    The split is the last one the front door recognises, so the base path followed by the
    API's own path is what the agent sent: `/api/v1` + `chat/completions`, `` + `v1/messages`.
    """
    if method != "POST":
        return None
    target, sep, query = path.partition("?")
    segments = target.split("/")
    for k in range(len(segments) - 1, 0, -1):
        rest = "/".join(segments[k:])
        if match_route(method, rest) is not None:
            return "/".join(segments[:k]), rest + sep + query
    return None


def websocket_call(method: str, path: str, upgrade: str | None) -> bool:
    """Whether a request asks to carry inference calls over a WebSocket (Codex's Responses).

    The front door speaks HTTP; refused, the agent falls back to the POST it hands over.
    """
    return (
        method == "GET" and (upgrade or "").lower() == "websocket" and bool(handoff("POST", path))
    )


def endpoint_url(scheme: str, host: str, port: int, base_path: str) -> str:
    """The base URL the agent called: `https://openrouter.ai/api/v1`."""
    netloc = host if port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{base_path}"


class Handoff:
    """mitmproxy addon: inference calls to intercepted hosts go to agentwrap's front door."""

    def __init__(
        self,
        front_door: str,
        hosts: Iterable[Host],
        listening: Callable[[list[Any]], None],
    ) -> None:
        door = urlsplit(front_door)
        self._door = (door.hostname or "127.0.0.1", door.port or 80, door.path.rstrip("/"))
        self._hosts = frozenset(hosts)
        self._listening = listening

    def running(self) -> None:
        from mitmproxy import ctx

        self._listening(ctx.master.addons.get("proxyserver").listen_addrs())

    def request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        if Host(req.scheme, req.host.lower(), req.port) not in self._hosts:
            return  # plain HTTP to another host: on its way untouched
        if websocket_call(req.method, req.path, req.headers.get("upgrade")):
            from mitmproxy.http import Response

            flow.response = Response.make(426, b"agentwrap: inference over HTTP only\n")
            return
        found = handoff(req.method, req.path)
        if found is None:
            return  # not an inference call: to the host, as the agent sent it
        base_path, rest = found
        req.headers[ENDPOINT_HEADER] = endpoint_url(req.scheme, req.host, req.port, base_path)
        host, port, prefix = self._door
        req.scheme, req.host, req.port = "http", host, port
        req.path = f"{prefix}/{rest}"

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            flow.response.stream = True  # chunks reach the agent as they arrive


def trusted_roots(env: Mapping[str, str]) -> list[Path]:
    """The CA files the agent trusted before: its own bundle settings, else the system's."""
    found: list[Path] = []
    for var in (*BUNDLE_VARS, *BUNDLE_VARS_IF_SET):
        value = env.get(var)
        if value and Path(value).is_file() and Path(value) not in found:
            found.append(Path(value))
    if found:
        return found
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return [Path(candidate)]
    import certifi  # mitmproxy depends on it

    return [Path(certifi.where())]


class SessionCA:
    """A certificate authority for one session, in a 0700 directory removed at its end."""

    def __init__(self, session_id: str, env: Mapping[str, str]) -> None:
        from mitmproxy import certs

        remove_orphan_cas()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{_CA_DIR_PREFIX}{os.getpid()}-"))
        try:
            self.dir.chmod(0o700)
            certs.CertStore.create_store(
                self.dir, _CA_NAME, 2048, organization="agentwrap", cn=f"agentwrap {session_id}"
            )
            self.cert = self.dir / f"{_CA_NAME}-ca-cert.pem"
            ours = self.cert.read_bytes()
            self.bundle = self.dir / "bundle.pem"
            roots = b"".join(_pem_text(p) for p in trusted_roots(env))
            self.bundle.write_bytes(roots + ours)
            # Node adds these to its own roots; a file the user had named is kept in.
            self.node_extra = self.dir / "node-extra.pem"
            theirs = env.get(NODE_CA_VAR)
            extra = _pem_text(Path(theirs)) if theirs and Path(theirs).is_file() else b""
            self.node_extra.write_bytes(extra + ours)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the directory, the CA's key with it."""
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_orphan_cas(tmp: Path | None = None) -> list[Path]:
    """Delete session CA directories whose agentwrap is gone (killed before it could).

    Only directories of this user whose name carries a pid that no longer runs; returns them.
    """
    root = Path(tmp or tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{_CA_DIR_PREFIX}*-*"):
        pid = path.name[len(_CA_DIR_PREFIX) :].split("-", 1)[0]
        try:
            mine = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _pem_text(path: Path) -> bytes:
    data = path.read_bytes()
    return data if data.endswith(b"\n") else data + b"\n"


class _Problems(logging.Handler):
    """Keeps mitmproxy's warnings (an agent that refused the session CA) off the terminal."""

    def __init__(self, limit: int = 20) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []
        self._limit = limit

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.seen and len(self.seen) < self._limit:
            self.seen.append(text)


class Interceptor:
    """mitmproxy for one session: its CA, an HTTP proxy on 127.0.0.1, a thread of its own."""

    def __init__(
        self, front_door: str, profile: Profile, session_id: str, env: Mapping[str, str]
    ) -> None:
        self.front_door = front_door
        self.hosts = intercepted_hosts(profile)
        self.ca = SessionCA(session_id, env)
        self.url = ""
        self._thread = threading.Thread(target=self._run, name="agentwrap-intercept", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._master: Any = None
        self._problems = _Problems()

    @property
    def problems(self) -> list[str]:
        """What mitmproxy warned about during the session (TLS refused by the agent, ...)."""
        return list(self._problems.seen)

    def start(self, timeout: float = 15.0) -> str:
        """Start mitmproxy; returns the proxy URL for HTTPS_PROXY."""
        quiet = logging.getLogger("mitmproxy")
        quiet.propagate = False  # its messages would land in the agent's terminal
        quiet.addHandler(self._problems)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("transparent mode could not start: mitmproxy did not start in time")
        if self._error is not None or not self.url:
            self.stop()
            raise RuntimeError(f"transparent mode could not start: {self._error}")
        return self.url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        from mitmproxy import master, options
        from mitmproxy.addons import core, disable_h2c, next_layer, proxyserver, tlsconfig

        opts = options.Options()
        self._master = master.Master(opts)
        self._master.addons.add(
            core.Core(),
            proxyserver.Proxyserver(),
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            disable_h2c.DisableH2C(),
            Handoff(self.front_door, self.hosts, self._listening),
        )
        opts.update(
            mode=["regular"],
            listen_host="127.0.0.1",
            listen_port=0,
            confdir=str(self.ca.dir),
            allow_hosts=allow_patterns(self.hosts),
            # No connection to a host before a request needs one: handed-off calls never
            # touch the real host, and an offline one does not stall the agent's handshake.
            connection_strategy="lazy",
        )
        await self._master.run()

    def _listening(self, addrs: list[Any]) -> None:
        if addrs:
            host, port = addrs[0][0], addrs[0][1]
            self.url = f"http://{host}:{port}"
        else:
            self._error = RuntimeError("mitmproxy is not listening")
            self._master.shutdown()
        self._ready.set()

    def child_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` plus the proxy and the bundles that make the agent trust this session's CA."""
        child = dict(env)
        for var in ("HTTPS_PROXY", "https_proxy"):
            child[var] = self.url
        if any(h.scheme == "http" for h in self.hosts):
            # Only a plain-HTTP provider needs it; other plain HTTP then passes through as is.
            for var in ("HTTP_PROXY", "http_proxy"):
                child[var] = self.url
        for var in (*BUNDLE_VARS, *(v for v in BUNDLE_VARS_IF_SET if env.get(v))):
            child[var] = str(self.ca.bundle)
        child[NODE_CA_VAR] = str(self.ca.node_extra)
        child.setdefault("NODE_USE_ENV_PROXY", "1")  # Node >= 24: fetch reads HTTPS_PROXY
        with_no_proxy(child)
        return child

    def stop(self) -> None:
        """Stop mitmproxy and delete the session's CA. Safe to call more than once."""
        try:
            if self._master is not None and self._thread.is_alive():
                self._master.shutdown()
                self._thread.join(timeout=10)
        finally:
            self.ca.remove()
            quiet = logging.getLogger("mitmproxy")
            quiet.removeHandler(self._problems)
