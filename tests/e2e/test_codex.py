"""`agentwrap codex` with the real Codex CLI against local fake upstreams."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time

import pytest

from agentwrap.fakes.provider import Call, FakeProvider, Reply
from agentwrap.pricing import PriceBook
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, sessions
from tests.support.claude_env import TmuxPane
from tests.support.codex_env import CLASSIC_MODEL, OFFLINE_ARGS, CodexEnv, make_codex_env

REPLY = "Hello from the fake Responses upstream, through agentwrap."

OPENAI_PROFILE = """
[providers.openai]
api = "openai-responses"
base_url = "{url}"
# A local stand-in for the API's own host: the agent's own key goes there when told.
forward_agent_key = true

[routing]
default = "requested"
"""

ANTHROPIC_PROFILE = """
[providers.claude]
api = "anthropic"
base_url = "{url}"

[models.sonnet]
provider = "claude"
model = "claude-sonnet-4-6"
capabilities = ["tools"]

[routing]
default = "sonnet"
implement = "sonnet"
compact = "sonnet"
"""


def run_codex(ce: CodexEnv, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`agentwrap codex <offline flags> ARGS` in the test repository, no panel."""
    env = {**ce.env, "AGENTWRAP_CODEX_BIN": str(ce.binary), "AGENTWRAP_PANEL": "off"}
    return subprocess.run(
        [agentwrap_exe(), "codex", *OFFLINE_ARGS, *args],
        cwd=ce.cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_codex_exec_through_agentwrap(tmp_path):
    script = [Reply(text=REPLY, usage={"input": 3000, "output": 12, "cache_read": 1000})]
    with FakeProvider("openai-responses", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "say hello")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY  # stdout stays the agent's alone
    (request,) = requests
    assert request.path == "/v1/responses"  # the proxy's /s/<secret> prefix is not forwarded
    # The user's own key reached the upstream as Codex sent it.
    assert request.headers["authorization"] == f"Bearer {ce.api_key}"
    assert request.headers["originator"] == "codex_exec"
    assert request.body["stream"] is True and request.body["input"]
    (sess,) = sessions()
    assert sess["agent"] == "codex" and sess["exit_code"] == 0 and sess["ended_at"]
    assert sess["argv"] == ["codex", *OFFLINE_ARGS, "exec", "say hello"]
    (call,) = calls_of(sess["id"])
    assert call["status"] == "ok" and call["streamed"] == 1
    assert call["surface"] == "openai-responses" and call["provider_api"] == "openai-responses"
    assert call["model"] == request.body["model"]  # passthrough: the model Codex asked for
    # Responses counts cached tokens inside input_tokens; the trace keeps them apart.
    assert (call["input_tokens"], call["cache_read_tokens"], call["output_tokens"]) == (
        3000,
        1000,
        12,
    )
    if PriceBook().has_price(call["model"], "openai"):
        assert call["cost_usd"] and call["cost_usd"] > 0
    else:  # a default model newer than the price table (0.171's): unpriced, never $0
        assert call["cost_usd"] is None and "unpriced" in done.stderr
    assert call["step"] == "implement" and "request_kind=turn" in call["evidence"]
    assert sess["id"] in done.stderr and "agentwrap log" in done.stderr
    assert ce.api_key not in json.dumps(calls_of(sess["id"])) + json.dumps(sess)


def test_codex_runs_a_shell_command_and_answers(tmp_path):
    script = [
        Reply(
            tool_calls=[Call("exec_command", {"cmd": "ls"}, id="call_ls_1")],
            usage={"input": 2000, "output": 20},
        ),
        Reply(
            text="The repository holds README.md and app.py.", usage={"input": 2100, "output": 11}
        ),
    ]
    with FakeProvider("openai-responses", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "-m", CLASSIC_MODEL, "list the files")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "The repository holds README.md and app.py." in done.stdout
    assert len(requests) == 2
    assert any(t.get("name") == "exec_command" for t in requests[0].body["tools"])
    outputs = [
        item
        for item in requests[1].body["input"]
        if item.get("type") == "function_call_output" and item.get("call_id") == "call_ls_1"
    ]
    assert outputs, "Codex did not send back the result of the shell call"
    result = json.dumps(outputs[-1]["output"])
    assert "README.md" in result and "app.py" in result  # the real `ls` of the repository
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [c["input_tokens"] for c in calls] == [2000, 2100]
    assert all(c["status"] == "ok" and c["model"] == CLASSIC_MODEL for c in calls)
    assert all(c["cost_usd"] and c["cost_usd"] > 0 for c in calls)


def test_codex_routed_to_an_anthropic_model(tmp_path):
    script = [Reply(text="Answered by an Anthropic model.", usage={"input": 1800, "output": 9})]
    with FakeProvider("anthropic", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(ANTHROPIC_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "say hello")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Answered by an Anthropic model."
    (request,) = requests
    assert request.path.startswith("/v1/messages")
    body = request.body
    assert body["model"] == "claude-sonnet-4-6" and body["stream"] is True
    # Codex's developer messages became the system prompt; its prompt is the last user turn.
    system = json.dumps(body["system"])
    assert "You are Codex" in system
    assert "say hello" in json.dumps(body["messages"][-1])
    # The OpenAI key is the user's, for OpenAI: it never goes to another provider, and
    # neither does Codex's turn metadata (its installation id, the workspace's paths).
    assert ce.api_key not in json.dumps(request.headers)
    assert not [h for h in request.headers if h.startswith(("x-codex", "x-openai"))]
    assert str(ce.cwd) not in json.dumps(request.headers)
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert call["surface"] == "openai-responses" and call["provider_api"] == "anthropic"
    assert call["model"] == "claude-sonnet-4-6" and call["status"] == "ok"
    assert (call["input_tokens"], call["output_tokens"]) == (1800, 9)
    assert call["cost_usd"] and call["cost_usd"] > 0


def test_codex_compaction_is_recorded_as_a_compact_step(tmp_path):
    # A first answer far above the compaction limit makes Codex summarise before going on.
    script = [
        Reply(
            tool_calls=[Call("exec_command", {"cmd": "ls"})], usage={"input": 50000, "output": 20}
        ),
        Reply(
            text="Summary: the user asked for the files; ls ran.",
            usage={"input": 900, "output": 30},
        ),
        Reply(text="Done: README.md and app.py.", usage={"input": 400, "output": 9}),
    ]
    with FakeProvider("openai-responses", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        done = run_codex(
            ce,
            "-c",
            "model_auto_compact_token_limit=10000",
            "exec",
            "-m",
            CLASSIC_MODEL,
            "list the files",
        )
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "Done: README.md and app.py." in done.stdout
    kinds = [json.loads(r.headers["x-codex-turn-metadata"])["request_kind"] for r in requests]
    assert kinds == ["turn", "compaction", "turn"]
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [c["step"] for c in calls] == ["implement", "compact", "implement"]
    assert "request_kind=compaction" in calls[1]["evidence"]


def test_codex_review_is_recorded_as_a_subagent_step(tmp_path):
    review = {
        "findings": [],
        "overall_correctness": "patch is correct",
        "overall_explanation": "The change only edits a print.",
        "overall_confidence_score": 0.9,
    }
    with FakeProvider("openai-responses", [Reply(text=json.dumps(review))]) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        (ce.cwd / "app.py").write_text("print('changed')\n")  # something to review
        done = run_codex(ce, "review", "check the change")
        (request,) = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "The change only edits a print." in done.stdout
    assert request.headers["x-openai-subagent"] == "review"
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert call["step"] == "subagent" and "x-openai-subagent: review" in call["evidence"]


def tool_results(request, tool_use_id: str) -> list[dict]:
    """The tool_result blocks answering `tool_use_id` in an Anthropic request."""
    return [
        block
        for message in request.body["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result" and block.get("tool_use_id") == tool_use_id
    ]


def tool_uses(request) -> dict[str, dict]:
    """The tool_use blocks of an Anthropic request's history, by id."""
    return {
        block["id"]: block
        for message in request.body["messages"]
        if message["role"] == "assistant" and isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    }


def test_codex_default_model_tools_reach_an_anthropic_model(tmp_path):
    # The default model's "responses lite" request declares its tools in an input item, in
    # namespaces; its shell access is a free-form JavaScript tool (`exec`).
    script = [
        Reply(tool_calls=[Call("exec", {"input": 'text("hi from js")'}, id="toolu_js_1")]),
        Reply(tool_calls=[Call("clock__sleep", {"duration_ms": 5}, id="toolu_sleep_1")]),
        Reply(text="Slept after running the script."),
    ]
    with FakeProvider("anthropic", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(ANTHROPIC_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "say hello")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "Slept after running the script." in done.stdout
    assert len(requests) == 3
    assert requests[0].headers.get("x-openai-internal-codex-responses-lite") is None
    tools = {t["name"]: t for t in requests[0].body["tools"]}
    # The default namespace keeps bare names; another namespace's tools are prefixed by it.
    assert {"exec", "wait", "clock__sleep", "collaboration__spawn_agent"} <= set(tools)
    assert tools["exec"]["input_schema"]["required"] == ["input"]
    assert "lark" in tools["exec"]["input_schema"]["properties"]["input"]["description"]
    assert tools["clock__sleep"]["input_schema"]["required"] == ["duration_ms"]
    # Codex ran the JavaScript (a custom tool call) and the sleep (a namespaced function call)
    # and answered each under the id the Anthropic model gave it.
    (js,) = tool_results(requests[1], "toolu_js_1")
    assert "hi from js" in json.dumps(js)
    (sleep,) = tool_results(requests[2], "toolu_sleep_1")
    assert "Sleep completed" in json.dumps(sleep)
    assert not sleep.get("is_error")
    # Its history replays both calls with the same ids, names and inputs.
    uses = tool_uses(requests[2])
    assert uses["toolu_js_1"]["name"] == "exec"
    assert uses["toolu_js_1"]["input"] == {"input": 'text("hi from js")'}
    assert uses["toolu_sleep_1"]["name"] == "clock__sleep"
    assert uses["toolu_sleep_1"]["input"] == {"duration_ms": 5}


def test_codex_shell_call_through_an_anthropic_model(tmp_path):
    script = [
        Reply(
            tool_calls=[Call("exec_command", {"cmd": "ls"}, id="toolu_ls_1")],
            usage={"input": 2000, "output": 20},
        ),
        Reply(text="README.md and app.py are here.", usage={"input": 2100, "output": 9}),
    ]
    with FakeProvider("anthropic", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(ANTHROPIC_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "-m", CLASSIC_MODEL, "list the files")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "README.md and app.py are here." in done.stdout
    assert len(requests) == 2
    tools = {t["name"]: t for t in requests[0].body["tools"]}
    # Codex runs its tool search itself: a function for the Anthropic model. web_search runs
    # only on OpenAI's servers: left out, not sent as a tool the model could never use.
    assert {"exec_command", "apply_patch", "tool_search"} <= set(tools)
    assert tools["tool_search"]["input_schema"]["required"] == ["query"]
    assert "web_search" not in json.dumps(requests[0].body["tools"])
    (result,) = tool_results(requests[1], "toolu_ls_1")
    assert "app.py" in json.dumps(result)
    assert tool_uses(requests[1])["toolu_ls_1"]["input"] == {"cmd": "ls"}
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert [c["status"] for c in calls] == ["ok", "ok"]
    # What translation left out is said in the call's recorded reason.
    assert all("left out web_search" in c["reason"] for c in calls)


def test_codex_tool_search_through_an_anthropic_model(tmp_path):
    script = [
        Reply(tool_calls=[Call("tool_search", {"query": "calendar", "limit": 2}, id="toolu_ts_1")]),
        Reply(text="No calendar tool is installed."),
    ]
    with FakeProvider("anthropic", script) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(ANTHROPIC_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "-m", CLASSIC_MODEL, "find a calendar tool")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert "No calendar tool is installed." in done.stdout
    assert len(requests) == 2
    # Codex took the call as its own tool search and searched (nothing is deferred here).
    (result,) = tool_results(requests[1], "toolu_ts_1")
    assert "No tools matched" in json.dumps(result)
    use = tool_uses(requests[1])["toolu_ts_1"]
    assert (use["name"], use["input"]) == ("tool_search", {"query": "calendar", "limit": 2})


def test_codex_login_key_is_used_when_no_key_is_in_the_environment(tmp_path):
    with FakeProvider("openai-responses", [Reply(text=REPLY)]) as fake:
        ce = make_codex_env(tmp_path, api_key=None)
        # What `codex login --with-api-key` stores.
        login_key = "sk-proj-from-codex-login-" + "1" * 30
        (ce.codex_home / "auth.json").write_text(
            json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": login_key})
        )
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        done = run_codex(ce, "exec", "say hello")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY
    (request,) = requests
    assert request.headers["authorization"] == f"Bearer {login_key}"


def test_a_model_provider_of_the_users_own_becomes_the_upstream(tmp_path):
    with FakeProvider("openai-responses", [Reply(text=REPLY)]) as fake:
        ce = make_codex_env(tmp_path, extra_env={"CORP_KEY": "corp-secret-1"})
        (ce.codex_home / "config.toml").write_text(
            'model_provider = "corp"\n\n[model_providers.corp]\nname = "Corp gateway"\n'
            f'base_url = "{fake.base_url}"\nenv_key = "CORP_KEY"\nwire_api = "responses"\n'
            'http_headers = { "x-corp-team" = "infra" }\n'
            'query_params = { "api-version" = "2026-01-01" }\n'
        )
        done = run_codex(ce, "exec", "say hello")
        requests = posts(fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY
    assert f"agentwrap forwards Codex's calls to {fake.base_url}" in done.stderr
    (request,) = requests
    assert request.path == "/v1/responses?api-version=2026-01-01"
    assert request.headers["authorization"] == "Bearer corp-secret-1"
    assert request.headers["x-corp-team"] == "infra"
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert call["status"] == "ok" and call["provider"] == "openai"


def test_codex_missing_is_a_clear_error_with_exit_127(tmp_path):
    env = dict(os.environ)
    env["PATH"] = str(tmp_path)  # no codex here
    env.pop("AGENTWRAP_CODEX_BIN", None)
    done = subprocess.run(
        [agentwrap_exe(), "codex", "exec", "hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 127
    assert "npm install -g @openai/codex" in done.stderr
    assert "Traceback" not in done.stderr
    assert sessions() == []  # nothing recorded as if it ran


def test_codex_bin_override_that_is_not_executable(tmp_path):
    env = dict(os.environ)
    env["AGENTWRAP_CODEX_BIN"] = str(tmp_path / "nope")
    done = subprocess.run(
        [agentwrap_exe(), "codex", "exec", "hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 127
    assert "AGENTWRAP_CODEX_BIN" in done.stderr and "not an executable" in done.stderr
    assert sessions() == []


def _jwt(claims: dict) -> str:
    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def chatgpt_auth(account: str) -> dict:
    """An auth.json shaped like a ChatGPT sign-in (`codex login`), with unsigned test tokens."""
    now = int(time.time())
    claims = {
        "exp": now + 86400,
        "iat": now,
        "https://api.openai.com/auth": {
            "chatgpt_plan_type": "plus",
            "chatgpt_account_id": account,
            "chatgpt_user_id": "user-test",
        },
    }
    return {
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": _jwt({**claims, "email": "user@example.invalid"}),
            "access_token": _jwt(claims),
            "refresh_token": "rt-test",
            "account_id": account,
        },
        "last_refresh": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
    }


def test_chatgpt_sign_in_passes_through_to_its_own_backend(tmp_path):
    # The ChatGPT backend is played by the fake: the launcher would name chatgpt.com here.
    with FakeProvider("openai-responses", [Reply(text=REPLY)]) as fake:
        ce = make_codex_env(tmp_path, extra_env={"AGENTWRAP_OPENAI_UPSTREAM": fake.base_url})
        auth = chatgpt_auth("acct-test-1")
        (ce.codex_home / "auth.json").write_text(json.dumps(auth))
        # `apps` would also dial the ChatGPT backend directly (not a model call).
        done = run_codex(ce, "--disable", "apps", "exec", "say hello")
        requests = fake.requests
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == REPLY
    (post,) = [r for r in requests if r.method == "POST"]
    assert post.path == "/v1/responses"
    # The sign-in's token, not the OPENAI_API_KEY of the environment, as Codex itself does.
    assert post.headers["authorization"] == f"Bearer {auth['tokens']['access_token']}"
    assert post.headers["chatgpt-account-id"] == "acct-test-1"
    # Codex's model list request (sent for signed-in users) reaches the same backend.
    gets = [r for r in requests if r.method == "GET"]
    assert gets and all(r.path.startswith("/v1/models") for r in gets)
    assert all(r.headers.get("chatgpt-account-id") == "acct-test-1" for r in gets)
    (sess,) = sessions()
    calls = [c for c in calls_of(sess["id"]) if c["endpoint"] == "responses"]
    assert len(calls) == 1 and calls[0]["status"] == "ok"


def test_launch_plan_follows_the_login_codex_would_use(tmp_path):
    from agentwrap.agents import codex

    home = tmp_path / "codex-home"
    home.mkdir()
    env = {"CODEX_HOME": str(home), "OPENAI_API_KEY": "sk-env", "PATH": "/usr/bin"}
    base = "http://127.0.0.1:9/s/abc"

    def provider_arg(plan) -> str:
        (arg,) = [a for a in plan.argv if a.startswith("model_providers.agentwrap=")]
        return arg

    # No login file: the environment's key.
    plan = codex.plan("/bin/codex", ["exec", "hi"], base, env)
    assert plan.argv[-2:] == ["exec", "hi"] and plan.argv[:3] == [
        "/bin/codex",
        "-c",
        'model_provider="agentwrap"',
    ]
    assert 'env_key = "OPENAI_API_KEY"' in provider_arg(plan)
    # The session secret is not on the command line: Codex sends it in a header from its env.
    assert 'base_url = "http://127.0.0.1:9/v1"' in provider_arg(plan)
    assert '"x-agentwrap-secret" = "AGENTWRAP_SESSION_SECRET"' in provider_arg(plan)
    assert plan.env["AGENTWRAP_SESSION_SECRET"] == "abc"
    assert not any("abc" in arg for arg in plan.argv)
    assert codex.upstreams(env) == {}
    # A ChatGPT sign-in: Codex's own login, and its calls belong to the ChatGPT backend.
    (home / "auth.json").write_text(json.dumps(chatgpt_auth("acct-2")))
    plan = codex.plan("/bin/codex", [], base, env)
    assert "requires_openai_auth = true" in provider_arg(plan) and "env_key" not in provider_arg(
        plan
    )
    assert codex.upstreams(env) == {"openai": codex.CHATGPT_BASE_URL}
    # A stored API key: Codex's login again, to OpenAI's API.
    (home / "auth.json").write_text(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": "sk-x"}))
    plan = codex.plan("/bin/codex", [], base, env)
    assert "requires_openai_auth = true" in provider_arg(plan) and codex.upstreams(env) == {}
    # A config.toml that picks a provider agentwrap cannot carry is announced.
    (home / "config.toml").write_text('model_provider = "ollama"\n')
    plan = codex.plan("/bin/codex", [], base, env)
    assert any("'ollama', which agentwrap cannot carry" in note for note in plan.notes)


def test_openai_upstream_env_moves_only_a_keyless_openai_provider(tmp_path):
    from agentwrap.route.profile import load_profile

    plain = load_profile(tmp_path, env={}, agent_api="openai-responses")
    default = plain.provider_for_api("openai-responses")
    assert (default.name, default.base_url) == ("openai", "https://api.openai.com/v1")
    env = {"AGENTWRAP_OPENAI_UPSTREAM": "http://127.0.0.1:5/backend/"}
    profile = load_profile(tmp_path, env=env, agent_api="openai-responses")
    provider = profile.provider_for_api("openai-responses")
    assert (provider.name, provider.base_url) == ("openai", "http://127.0.0.1:5/backend")
    keyed = tmp_path / "keyed.toml"
    keyed.write_text(
        '[providers.openai]\napi = "openai-responses"\nbase_url = "https://api.openai.com/v1"\n'
        'key_env = "MY_OPENAI_KEY"\n\n[routing]\ndefault = "requested"\n'
    )
    profile = load_profile(
        tmp_path, str(keyed), {**env, "MY_OPENAI_KEY": "k"}, agent_api="openai-responses"
    )
    assert profile.provider_for_api("openai-responses").base_url == "https://api.openai.com/v1"


@pytest.mark.tmux
def test_interactive_codex_in_tmux(tmp_path):
    reply = "Hello from the fake, interactively."

    def answer(body):
        # The title call races the turn: tell them apart by the schema the title call asks for.
        fmt = (body.get("text") or {}).get("format") or {}
        if "title" in (fmt.get("schema") or {}).get("properties", {}):
            return Reply(text='{"title": "Greet"}')
        return Reply(text=reply)

    with FakeProvider("openai-responses", [answer, answer]) as fake:
        ce = make_codex_env(tmp_path)
        (ce.cwd / ".agentwrap.toml").write_text(OPENAI_PROFILE.format(url=fake.base_url))
        # Codex asks whether to trust a new folder; a config entry answers it ahead of time.
        (ce.codex_home / "config.toml").write_text(
            f'[projects."{ce.cwd}"]\ntrust_level = "trusted"\n'
        )
        env = {**ce.env, "AGENTWRAP_CODEX_BIN": str(ce.binary), "AGENTWRAP_PANEL": "off"}
        pane = TmuxPane(f"aw-codex-{os.getpid()}", width=120, height=40)
        pane.start([agentwrap_exe(), "codex", *OFFLINE_ARGS], env, ce.cwd)
        try:
            pane.wait_for("Ask Codex", timeout=60)
            pane.submit("hello there")
            pane.wait_for(reply, timeout=60)
            # The title call races the turn and may not have left Codex yet on a loaded
            # machine: quitting before it does would end the session without it.
            deadline = time.monotonic() + 60
            while len(posts(fake)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            pane.submit("/quit")
            screen = pane.wait_for("[exited 0]", timeout=60)
        finally:
            pane.kill()
        requests = posts(fake)
    assert "agentwrap log" in screen  # the summary was printed after Codex exited
    assert all(r.headers["originator"] == "codex-tui" for r in requests)
    (sess,) = sessions()
    steps = sorted(c["step"] for c in calls_of(sess["id"]))
    # The prompt's turn, and the call that names the conversation (it races the turn).
    assert steps == ["background", "implement"]


def test_subcommand_skips_options_and_their_values():
    from agentwrap.agents.codex import subcommand

    assert subcommand(["-c", "analytics.enabled=false", "exec", "hi"]) == "exec"
    assert subcommand(["-m", "exec", "--full-auto", "fix it"]) == "fix it"  # a model named exec
    assert subcommand(["--search", "review"]) == "review"
    assert subcommand(["-c", "x=1"]) is None
