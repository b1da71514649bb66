"""Asking each provider of a profile whether it answers and takes its key, before a session.

`agentwrap profile check --probe` lists each provider's models (one small GET, the request any
SDK makes first) with the credentials agentwrap would send it, and says in a word what came
back. It is the CLI's own one-off HTTP, so it uses httpx, not the proxy's aiohttp stack.

Which key goes where follows the proxy's rule: a provider's own `key_env`; otherwise the
agent's usual key, but only to a provider that takes the agent's own credentials
(`Provider.takes_agent_credentials`: the API's own host, the agent's own base URL, or
`forward_agent_key = true`) — a probe never hands the agent's key to a third party the
profile gave no key of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from agentwrap.route.profile import Profile, Provider
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.surface import SURFACES, Surface

TIMEOUT_S = 8.0
# Where each API's official clients read the key from, and the scheme each travels in.
AGENT_KEYS: Mapping[str, tuple[tuple[str, str], ...]] = {
    ANTHROPIC: (("ANTHROPIC_API_KEY", "x-api-key"), ("ANTHROPIC_AUTH_TOKEN", "bearer")),
    OPENAI_CHAT: (("OPENAI_API_KEY", "bearer"),),
    OPENAI_RESPONSES: (("OPENAI_API_KEY", "bearer"),),
    GEMINI: (("GEMINI_API_KEY", "x-goog-api-key"), ("GOOGLE_API_KEY", "x-goog-api-key")),
}
# The model list's path where a surface declares no `models` endpoint of its own.
GEMINI_MODELS = "/v1beta/models"


@dataclass(frozen=True)
class ProbeResult:
    """What one provider said: a verdict word, and the detail a person needs to act on it."""

    provider: str
    url: str
    verdict: str  # ok | key rejected | not found | error | unreachable | timeout
    detail: str
    credentials: str  # which key was sent, by name (never the key)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def _models_url(surface: Surface, base_url: str) -> str:
    try:
        return surface.upstream_url(base_url, "models")
    except KeyError:
        return base_url.rstrip("/") + GEMINI_MODELS


def _credentials(provider: Provider, env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The auth headers the probe sends and a description by name."""
    if provider.key_env:
        headers = provider.auth_headers(env)
        state = "set" if headers else "NOT SET"
        return headers, f"{provider.key_env} ({state})"
    if not provider.takes_agent_credentials():
        return {}, "none (no key_env; the agent's own key is not sent to this host)"
    for var, scheme in AGENT_KEYS.get(provider.api, ()):
        key = env.get(var)
        if key:
            header = "authorization" if scheme == "bearer" else scheme
            value = f"Bearer {key}" if scheme == "bearer" else key
            return {header: value}, f"the agent's {var}"
    names = " or ".join(var for var, _ in AGENT_KEYS.get(provider.api, ()))
    return {}, f"none ({names or 'no key'} not set)"


def probe(provider: Provider, env: Mapping[str, str], client: httpx.Client) -> ProbeResult:
    """One provider's answer to a model-list request."""
    surface = SURFACES[provider.api]
    url = _models_url(surface, provider.base_url)
    auth, credentials = _credentials(provider, env)
    headers = {**dict(surface.required_headers), **provider.headers, **auth}
    try:
        response = client.get(url, headers=headers)
    except httpx.TimeoutException:
        return ProbeResult(
            provider.name, url, "timeout", f"no answer in {TIMEOUT_S:g} s", credentials
        )
    except httpx.HTTPError as exc:
        return ProbeResult(
            provider.name, url, "unreachable", str(exc) or type(exc).__name__, credentials
        )
    status = response.status_code
    if status == 200:
        verdict, detail = "ok", _model_count(response)
    elif status in (401, 403):
        verdict, detail = "key rejected", f"HTTP {status}"
    elif status == 404:
        verdict, detail = "not found", f"HTTP 404 (no model list at {url})"
    else:
        verdict, detail = "error", f"HTTP {status}"
    return ProbeResult(provider.name, url, verdict, detail, credentials)


def _model_count(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return "HTTP 200"
    models = doc.get("data", doc.get("models")) if isinstance(doc, dict) else None
    return f"HTTP 200, {len(models)} models" if isinstance(models, list) else "HTTP 200"


def probe_profile(profile: Profile, env: Mapping[str, str]) -> list[ProbeResult]:
    """Every provider of `profile`, probed side by side, in the profile's order."""
    providers = list(profile.providers.values())
    # The proxy's own upstream settings (e.g. a proxy) are the environment's, as here.
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
        if not providers:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(providers))) as pool:
            return list(pool.map(lambda p: probe(p, env, client), providers))
