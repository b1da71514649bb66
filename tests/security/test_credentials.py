"""Credentials go only where they belong: real local servers stand in for the agent's own
provider and for third parties, record the headers they receive, and `agentwrap serve` sits
between them and a client that sends every kind of credential an agent might."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from agentwrap.fakes.provider import FakeProvider, Reply
from agentwrap.proxy.upstream import is_credential_header, upstream_headers
from agentwrap.route.profile import Provider, parse_profile_text
from tests.support.serve import serve

AGENT_KEY = "sk-ant-agent-own-key-0001"
# Everything that identifies the user to their own provider, plus headers that are not secret.
AGENT_HEADERS = {
    "x-api-key": AGENT_KEY,
    "authorization": "Bearer agent-oauth-token-0002",
    "cookie": "session=agent-cookie-0003",
    "x-gateway-key": "gateway-key-0004",
    "x-corp-token": "corp-token-0005",
    "x-team-secret": "team-secret-0006",
    "x-auth-user": "alice-0007",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "interleaved-thinking-2025-05-14",
    "x-claude-code-session-id": "thread-1",
}
SECRETS = [v for k, v in AGENT_HEADERS.items() if is_credential_header(k)]

PROFILE = """\
[providers.keyed]
api = "anthropic"
base_url = "{keyed}"
key_env = "KEYED_API_KEY"

[providers.keyless]
api = "anthropic"
base_url = "{keyless}"

[providers.trusted]
api = "anthropic"
base_url = "{trusted}"
forward_agent_key = true

[providers.chat]
api = "openai-chat"
base_url = "{chat}"
key_env = "CHAT_API_KEY"

[models.k]
provider = "keyed"
model = "k-1"

[models.n]
provider = "keyless"
model = "n-1"

[models.t]
provider = "trusted"
model = "t-1"

[models.c]
provider = "chat"
model = "c-1"

[[rules]]
requested_model = "to-keyed"
use = "k"

[[rules]]
requested_model = "to-keyless"
use = "n"

[[rules]]
requested_model = "to-trusted"
use = "t"

[[rules]]
requested_model = "to-chat"
use = "c"

[routing]
default = "requested"
"""


def post(base_url: str, model: str) -> httpx.Response:
    body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{base_url}/v1/messages", json=body, headers=AGENT_HEADERS, timeout=30)


def assert_no_agent_credential(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        for secret in SECRETS:
            assert secret not in value, f"{name} carried the agent's {secret}"
    assert "cookie" not in headers


@pytest.fixture
def providers():
    with (
        FakeProvider("anthropic", default=Reply(text="own")) as own,
        FakeProvider("anthropic", default=Reply(text="keyed")) as keyed,
        FakeProvider("anthropic", default=Reply(text="keyless")) as keyless,
        FakeProvider("anthropic", default=Reply(text="trusted")) as trusted,
        FakeProvider("openai-chat", default=Reply(text="chat")) as chat,
    ):
        yield {"own": own, "keyed": keyed, "keyless": keyless, "trusted": trusted, "chat": chat}


def test_each_provider_gets_only_the_credentials_it_should(
    agentwrap_bin: str, tmp_path: Path, providers: dict[str, FakeProvider]
) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(PROFILE.format(**{k: p.base_url for k, p in providers.items()}))
    env = {
        "AGENTWRAP_ANTHROPIC_UPSTREAM": providers["own"].base_url,
        "KEYED_API_KEY": "keyed-provider-key",
        "CHAT_API_KEY": "chat-provider-key",
    }
    with serve(agentwrap_bin, "--profile", str(profile), env=env) as served:
        for model in ("claude-haiku-4-5", "to-keyed", "to-keyless", "to-trusted", "to-chat"):
            answer = post(served.base_url, model)
            assert answer.status_code == 200, (model, answer.text)

    (own,) = providers["own"].generating()
    # The agent's own provider (its own base URL) gets everything it sent, as without us.
    for name, value in AGENT_HEADERS.items():
        assert own.headers[name] == value, name

    (keyed,) = providers["keyed"].generating()
    assert keyed.headers["x-api-key"] == "keyed-provider-key"
    assert_no_agent_credential(keyed.headers)
    assert keyed.headers["anthropic-beta"] == AGENT_HEADERS["anthropic-beta"]  # not a secret

    (keyless,) = providers["keyless"].generating()
    # A third-party host without a key of its own gets no credential at all.
    assert "x-api-key" not in keyless.headers and "authorization" not in keyless.headers
    assert_no_agent_credential(keyless.headers)

    (trusted,) = providers["trusted"].generating()
    # forward_agent_key = true: the profile said so explicitly.
    assert trusted.headers["x-api-key"] == AGENT_KEY
    assert trusted.headers["cookie"] == AGENT_HEADERS["cookie"]

    (chat,) = providers["chat"].generating()
    assert chat.headers["authorization"] == "Bearer chat-provider-key"
    assert_no_agent_credential(chat.headers)


def test_profile_check_says_who_receives_which_credentials(
    agentwrap_bin: str, tmp_path: Path
) -> None:
    urls = {k: f"http://127.0.0.1:{9000 + i}" for i, k in enumerate(["keyed", "keyless", "trusted", "chat"])}  # fmt: skip
    (tmp_path / "p.toml").write_text(PROFILE.format(**urls))
    done = subprocess.run(
        [agentwrap_bin, "profile", "check", "--profile", "p.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "KEYED_API_KEY": "x", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    lines = {x.split()[1]: x for x in done.stdout.splitlines() if x.startswith("  provider ")}
    assert "the agent's own credentials" in lines["anthropic"]
    assert "api.anthropic.com" in lines["anthropic"]
    assert "key KEYED_API_KEY present (as x-api-key)" in lines["keyed"]
    assert "agent's" not in lines["keyed"]
    assert "no credentials" in lines["keyless"] and "forward_agent_key" in lines["keyless"]
    assert "the agent's own credentials" in lines["trusted"]
    assert "forward_agent_key" in lines["trusted"]
    assert "key CHAT_API_KEY MISSING (as bearer)" in lines["chat"]
    assert "reach only a provider of the agent's own API" in done.stdout


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("x-api-key", True),
        ("x-goog-api-key", True),
        ("api-key", True),
        ("x-gateway-key", True),
        ("x-portkey-api-key", True),
        ("x-amz-security-token", True),
        ("x-client-secret", True),
        ("x-db-password", True),
        ("chatgpt-account-id", True),
        ("openai-organization", True),
        ("x-auth-user", True),
        ("anthropic-beta", False),
        ("anthropic-version", False),
        ("x-claude-code-session-id", False),
        ("user-agent", False),
        ("content-type", False),
        ("x-stainless-retry-count", False),
    ],
)
def test_credential_headers_by_name_and_pattern(name: str, credential: bool) -> None:
    assert is_credential_header(name) is credential


def test_the_apis_own_host_gets_the_agents_credentials_and_others_only_when_told() -> None:
    home = Provider("anthropic", "anthropic", "https://api.anthropic.com")
    lookalike = Provider("anthropic", "anthropic", "https://api.anthropic.com.evil.example")
    told = Provider("gw", "anthropic", "https://gw.example.com", forward_agent_key=True)
    refused = Provider("anthropic", "anthropic", "https://api.anthropic.com", forward_agent_key=False)  # fmt: skip
    assert upstream_headers(AGENT_HEADERS, home, "anthropic", None)["x-api-key"] == AGENT_KEY
    assert upstream_headers(AGENT_HEADERS, told, "anthropic", None)["x-api-key"] == AGENT_KEY
    for provider in (lookalike, refused):
        assert_no_agent_credential(upstream_headers(AGENT_HEADERS, provider, "anthropic", None))


def test_a_repository_profile_that_forwards_the_agents_key_is_said_out_loud() -> None:
    profile = parse_profile_text(
        '[providers.gw]\napi = "anthropic"\nbase_url = "https://gw.example.com"\n'
        "forward_agent_key = true\n",
        "/repo/.agentwrap.toml",
        base_dir=Path("/repo"),
    )
    (warning,) = profile.warnings
    assert warning.startswith("/repo/.agentwrap.toml:4: provider 'gw' receives the agent's own")
    assert "https://gw.example.com" in warning
