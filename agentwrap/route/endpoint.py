"""The provider behind an endpoint the agent called itself (transparent mode).

In transparent mode the agent keeps its own API host, and the call reaches the front door
with the base URL it was sent to (`https://api.anthropic.com`, `https://openrouter.ai/api/v1`).
That base URL decides the call's passthrough provider, the one that takes the requested model
unchanged and receives the agent's own credentials:

1. a provider of the profile at that base URL, for the call's API: the profile's own entry,
   with its key, headers and auth scheme;
2. the API's usual home (`api.anthropic.com` for an Anthropic call): the profile's
   passthrough provider for that API, which the profile or the user's environment may have
   moved to a gateway, exactly as when the agent is given agentwrap's base URL;
3. anything else: the endpoint itself, so the agent's credentials go only where it sent them.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from agentwrap.route.profile import Profile, Provider
from agentwrap.wire.call import OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.surface import surface_for

_OPENAI = frozenset({OPENAI_CHAT, OPENAI_RESPONSES})
_DEFAULT_PORTS = {"https": 443, "http": 80}


def normalize(url: str) -> str:
    """A base URL compared by meaning: lower-case scheme and host, no default port or end slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


def _serves(provider: Provider, api: str) -> bool:
    return provider.api == api or {provider.api, api} <= _OPENAI


def provider_at(profile: Profile, base_url: str, api: str) -> Provider:
    """The provider that carries passthrough calls of `api` sent to `base_url` (see above)."""
    wanted = normalize(base_url)
    for provider in profile.providers.values():
        if _serves(provider, api) and normalize(provider.base_url) == wanted:
            found = provider if provider.api == api else replace(provider, api=api)
            if found.key_env is None and found.forward_agent_key is None:
                # The agent sends its own credentials to this host itself.
                found = replace(found, forward_agent_key=True)
            return found
    if wanted == normalize(surface_for(api).base_url):
        return profile.provider_for_api(api)
    host = urlsplit(wanted).hostname or wanted
    return Provider(name=host, api=api, base_url=wanted, forward_agent_key=True)


def profile_at(profile: Profile, base_url: str, api: str) -> Profile:
    """`profile`, or a copy whose passthrough for `api` is the provider at `base_url`."""
    provider = provider_at(profile, base_url, api)
    if provider == profile.provider_for_api(api):
        return profile
    return replace(profile, passthrough={**profile.passthrough, api: provider})
