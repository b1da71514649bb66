"""A provider's `auth` scheme from the profile decides which header carries its key."""

from __future__ import annotations

from agentwrap.proxy.upstream import upstream_headers
from agentwrap.route.profile import Provider

AGENT = {"x-api-key": "agent-key", "anthropic-beta": "b1", "x-claude-code-session-id": "s"}


def test_bearer_provider_of_the_agents_api_gets_its_key_as_bearer() -> None:
    provider = Provider("deepseek", "anthropic", "http://127.0.0.1:9", "K", auth="bearer")
    out = upstream_headers(AGENT, provider, "anthropic", "own-key")
    assert out["authorization"] == "Bearer own-key"
    assert "x-api-key" not in out  # the agent's key never reaches another provider
    assert out["anthropic-beta"] == "b1" and out["anthropic-version"] == "2023-06-01"


def test_default_scheme_is_the_apis_own() -> None:
    provider = Provider("gw", "anthropic", "http://127.0.0.1:9", "K")
    out = upstream_headers(AGENT, provider, "anthropic", "own-key")
    assert out["x-api-key"] == "own-key" and "authorization" not in out


def test_provider_without_key_env_passes_the_agents_credentials() -> None:
    # At the API's own host; any other host takes them only when the profile says so.
    provider = Provider("anthropic", "anthropic", "https://api.anthropic.com")
    out = upstream_headers(AGENT, provider, "anthropic", None)
    assert out["x-api-key"] == "agent-key"
    told = Provider("gw", "anthropic", "http://127.0.0.1:9", forward_agent_key=True)
    assert upstream_headers(AGENT, told, "anthropic", None)["x-api-key"] == "agent-key"
