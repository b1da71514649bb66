"""The passthrough provider behind an endpoint the agent called itself (transparent mode)."""

from __future__ import annotations

from agentwrap.route.endpoint import normalize, profile_at, provider_at
from agentwrap.route.profile import parse_profile_text

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "http://127.0.0.1:9101"

[providers.router]
api = "openai-chat"
base_url = "https://OpenRouter.ai:443/api/v1/"
key_env = "ROUTER_KEY"
"""


def profile():
    return parse_profile_text(PROFILE, env={"ROUTER_KEY": "k"})


def test_normalize_compares_base_urls_by_meaning():
    assert normalize("HTTPS://Api.Anthropic.com:443/") == "https://api.anthropic.com"
    assert normalize("http://gw.example:8080/v1/") == "http://gw.example:8080/v1"
    assert normalize("https://gw.example:8443") == "https://gw.example:8443"


def test_the_apis_usual_home_goes_to_the_profiles_passthrough_provider():
    prof = profile()
    found = provider_at(prof, "https://api.anthropic.com", "anthropic")
    # The profile moved Anthropic's provider: the agent's call to api.anthropic.com follows it.
    assert found.name == "anthropic" and found.base_url == "http://127.0.0.1:9101"
    assert profile_at(prof, "https://api.anthropic.com", "anthropic") is prof


def test_a_providers_own_endpoint_is_that_provider_with_its_key():
    prof = profile()
    found = provider_at(prof, "https://openrouter.ai/api/v1", "openai-chat")
    assert found.name == "router" and found.key_env == "ROUTER_KEY"
    # The same provider also carries the other OpenAI API at its base URL.
    other = provider_at(prof, "https://openrouter.ai/api/v1", "openai-responses")
    assert other.name == "router" and other.api == "openai-responses"
    scoped = profile_at(prof, "https://openrouter.ai/api/v1", "openai-chat")
    assert scoped is not prof and scoped.provider_for_api("openai-chat").name == "router"
    # The session's profile itself is left as it was.
    assert prof.provider_for_api("openai-chat").base_url == "https://api.openai.com/v1"


def test_an_unknown_endpoint_keeps_the_call_where_the_agent_sent_it():
    prof = profile()
    found = provider_at(prof, "https://api.anthropic.com/v1", "openai-chat")
    # Anthropic's OpenAI-compatible endpoint: the agent's key must not travel to OpenAI.
    assert found.base_url == "https://api.anthropic.com/v1" and found.api == "openai-chat"
    assert found.name == "api.anthropic.com" and found.key_env is None
    scoped = profile_at(prof, "https://api.anthropic.com/v1", "openai-chat")
    assert scoped.provider_for_api("openai-chat") == found
    assert scoped.provider_for_api("anthropic").base_url == "http://127.0.0.1:9101"
