"""`--transparent` with the real agent CLIs: each keeps its own API host.

No base URL is given; each CLI's own HTTPS_PROXY support and the session CA bring its calls
to mitmproxy, which hands them to agentwrap's front door, which forwards them to the profile's
provider for that API: a local fake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from agentwrap.fakes.provider import FakeProvider
from agentwrap.fakes.provider import Reply as ApiReply
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, sessions
from tests.support.claude_env import is_title_request, make_claude_env
from tests.support.codex_env import OFFLINE_ARGS, make_codex_env
from tests.support.gemini_env import is_router_call, make_gemini_env, router_reply_text

REPLY = "Hello from the fake upstream, reached through interception."
# Each local stand-in plays the API's own host: the agent's own key goes there when told.
PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"
forward_agent_key = true
"""


def answer(body, headers):
    if is_title_request(body):
        return Reply('{"title": "Greeting"}', input_tokens=50, output_tokens=6)
    return Reply(REPLY, input_tokens=2400, output_tokens=15)


def test_claude_transparent_reaches_the_profiles_provider_through_interception(tmp_path):
    with FakeAnthropic(answer) as fake:
        ce = make_claude_env(tmp_path)  # no ANTHROPIC_BASE_URL: the CLI calls its own host
        profile = tmp_path / "profile.toml"
        profile.write_text(PROFILE.format(url=fake.base_url))
        # A shim records the environment agentwrap gives the CLI, then is the CLI.
        seen = tmp_path / "claude-env.json"
        shim = tmp_path / "claude"
        shim.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            f"json.dump(dict(os.environ), open({str(seen)!r}, 'w'))\n"
            f"os.execv({str(ce.binary)!r}, [{str(ce.binary)!r}, *sys.argv[1:]])\n"
        )
        shim.chmod(0o755)
        ce.env["AGENTWRAP_CLAUDE_BIN"] = str(shim)
        done = subprocess.run(
            [agentwrap_exe(), "claude", "--transparent", "--profile", str(profile)]
            + ["-p", "say hello"],
            cwd=ce.cwd,
            env=ce.env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == REPLY
        msgs = fake.message_requests
        assert msgs, "no call reached the fake provider"
        assert all(r.headers.get("x-api-key") == ce.api_key for r in msgs)
        assert all("x-agentwrap-endpoint" not in r.headers for r in msgs)
    child = json.loads(seen.read_text())
    assert "ANTHROPIC_BASE_URL" not in child  # agentwrap gave it no base URL
    assert child["HTTPS_PROXY"].startswith("http://127.0.0.1:")
    assert Path(child["NODE_EXTRA_CA_CERTS"]).parent == Path(child["SSL_CERT_FILE"]).parent
    assert not os.path.exists(Path(child["SSL_CERT_FILE"]).parent)  # the CA went with it
    (sess,) = sessions()
    assert sess["agent"] == "claude" and sess["exit_code"] == 0
    calls = calls_of(sess["id"])
    assert len(calls) == len(msgs)
    main = [c for c in calls if c["input_tokens"] == 2400]
    assert main and main[0]["status"] == "ok" and main[0]["step"] == "implement"
    assert all(c["provider"] == "anthropic" and c["surface"] == "anthropic" for c in calls)
    assert "transparent mode:" not in done.stderr  # the CLI trusted the session CA


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**env, "AGENTWRAP_PANEL": "off"},
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def test_gemini_transparent_reaches_the_profiles_provider_through_interception(tmp_path):
    def answer(body: dict) -> ApiReply:
        if is_router_call(body):
            return ApiReply(text=router_reply_text(), usage={"input": 900, "output": 30})
        return ApiReply(text=REPLY, usage={"input": 3000, "output": 12})

    with FakeProvider("gemini", [answer, answer]) as fake:
        ge = make_gemini_env(tmp_path)
        profile = tmp_path / "profile.toml"
        profile.write_text(
            f'[providers.gemini]\napi = "gemini"\nbase_url = "{fake.base_url}"\n'
            "forward_agent_key = true\n"
        )
        ge.env["AGENTWRAP_GEMINI_BIN"] = str(ge.binary)
        done = run(
            [agentwrap_exe(), "gemini", "--transparent", "--profile", str(profile)]
            + ["-p", "say hello"],
            ge.cwd,
            ge.env,
        )
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY
    assert [r.path.split(":")[1] for r in requests] == [
        "generateContent",
        "streamGenerateContent?alt=sse",
    ]
    assert all(r.headers["x-goog-api-key"] == ge.api_key for r in requests)
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [c["step"] for c in calls] == ["background", "implement"]
    assert all(c["status"] == "ok" and c["surface"] == "gemini" for c in calls)


def test_codex_transparent_reaches_the_profiles_provider_through_interception(tmp_path):
    script = [ApiReply(text=REPLY, usage={"input": 3000, "output": 12})]
    with FakeProvider("openai-responses", script) as fake:
        ce = make_codex_env(tmp_path, api_key=None)
        # What `codex login --with-api-key` stores: the key Codex's own provider sends.
        login_key = "sk-proj-from-codex-login-" + "2" * 30
        (ce.codex_home / "auth.json").write_text(
            json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": login_key})
        )
        profile = tmp_path / "profile.toml"
        profile.write_text(
            f'[providers.openai]\napi = "openai-responses"\nbase_url = "{fake.base_url}"\n'
            "forward_agent_key = true\n"
        )
        ce.env["AGENTWRAP_CODEX_BIN"] = str(ce.binary)
        done = run(
            [agentwrap_exe(), "codex", "--transparent", "--profile", str(profile)]
            + [*OFFLINE_ARGS, "exec", "say hello"],
            ce.cwd,
            ce.env,
        )
        (request,) = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY
    assert request.path == "/v1/responses"  # Codex's own provider, not one agentwrap gave it
    assert request.headers["authorization"] == f"Bearer {login_key}"
    # Its Responses WebSocket was refused once, so it went straight to HTTPS (no reconnects).
    assert "Reconnecting" not in done.stderr
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert call["status"] == "ok" and call["surface"] == "openai-responses"
    assert call["step"] == "implement"
