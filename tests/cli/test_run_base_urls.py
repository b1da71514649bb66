"""`agentwrap run -- CMD` keeps every base URL the user had set as that API's upstream.

Real parts only: each base URL the user "had" points at a FakeProvider on 127.0.0.1, the
command run through agentwrap is a Python script using the official SDKs (and httpx for
Gemini), and the calls are read back from the session's trace.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrap.agents.base import BASE_URL_VARS, base_url_notes, own_base_urls, point_base_urls
from agentwrap.fakes.provider import FakeProvider, Reply
from tests.support.agent_cli import agentwrap_exe, calls_of, posts, sessions

# What the command run through agentwrap does: one call per API, each to the base URL it sees.
# Each SDK is imported only when its API is called (importing one costs about a second).
CLIENT = """\
import json, os, sys

seen = {k: os.environ.get(k) for k in sys.argv[2].split(",")}
replies = []
if "anthropic" in sys.argv[3]:
    import anthropic

    msg = anthropic.Anthropic(api_key="sk-ant-test").messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    replies.append(msg.content[0].text)
if "openai" in sys.argv[3]:
    import openai

    base = os.environ["OPENAI_BASE_URL"] if "base_url" in sys.argv[3] else os.environ["OPENAI_API_BASE"]
    chat = openai.OpenAI(api_key="sk-test", base_url=base).chat.completions.create(
        model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]
    )
    replies.append(chat.choices[0].message.content)
if "gemini" in sys.argv[3]:
    import httpx

    url = os.environ["GOOGLE_GEMINI_BASE_URL"] + "/v1beta/models/gemini-3-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    got = httpx.post(url, json=body, headers={"x-goog-api-key": "g-test"}, timeout=30).json()
    replies.append(got["candidates"][0]["content"]["parts"][0]["text"])
open(sys.argv[1], "w").write(json.dumps({"env": seen, "replies": replies}))
"""

VARS = [var for var, _, _ in BASE_URL_VARS]


def run_through(
    tmp_path: Path, env: dict[str, str], apis: str
) -> tuple[subprocess.CompletedProcess[str], dict]:
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    out = tmp_path / "seen.json"
    done = subprocess.run(
        [agentwrap_exe(), "run", "--", sys.executable, str(client), str(out), ",".join(VARS), apis],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return done, json.loads(out.read_text()) if out.exists() else {}


def user_env(**base_urls: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in VARS}
    env["AGENTWRAP_PANEL"] = "off"
    env.update(base_urls)
    return env


@pytest.mark.slow
def test_every_base_url_the_user_had_stays_the_upstream_of_its_api(tmp_path):
    with (
        FakeProvider("anthropic", [Reply(text="from the Anthropic gateway")]) as anth,
        FakeProvider("openai-chat", [Reply(text="from the local OpenAI server")]) as oai,
        FakeProvider("gemini", [Reply(text="from the Gemini gateway")]) as gem,
    ):
        env = user_env(
            ANTHROPIC_BASE_URL=anth.base_url,
            OPENAI_BASE_URL=oai.base_url,
            GOOGLE_GEMINI_BASE_URL=gem.base_url + "/",
        )
        done, seen = run_through(tmp_path, env, "anthropic,openai-base_url,gemini")
        got = {name: posts(fake) for name, fake in (("a", anth), ("o", oai), ("g", gem))}
    assert done.returncode == 0, done.stderr
    assert seen["replies"] == [
        "from the Anthropic gateway",
        "from the local OpenAI server",
        "from the Gemini gateway",
    ]
    # The command saw agentwrap, never the user's endpoints ...
    ours = seen["env"]["ANTHROPIC_BASE_URL"]
    assert ours.startswith("http://127.0.0.1:") and "/s/" in ours
    assert seen["env"]["OPENAI_BASE_URL"] == seen["env"]["OPENAI_API_BASE"] == ours + "/v1"
    assert seen["env"]["GOOGLE_GEMINI_BASE_URL"] == ours
    # ... and each call still reached the endpoint the user had set for its API.
    assert [r.path for r in got["a"]] == ["/v1/messages"]
    assert [r.path for r in got["o"]] == ["/v1/chat/completions"]
    assert [r.path for r in got["g"]] == ["/v1beta/models/gemini-3-flash:generateContent"]
    assert got["o"][0].headers["authorization"] == "Bearer sk-test"  # the user's key, untouched
    for var, url in (
        ("ANTHROPIC_BASE_URL", anth.base_url),
        ("OPENAI_BASE_URL", oai.base_url),
        ("GOOGLE_GEMINI_BASE_URL", gem.base_url),
    ):
        assert f"{var} was {url}: agentwrap forwards" in done.stderr
    (sess,) = sessions()
    calls = calls_of(sess["id"])
    assert sorted((c["surface"], c["status"]) for c in calls) == [
        ("anthropic", "ok"),
        ("gemini", "ok"),
        ("openai-chat", "ok"),
    ]


@pytest.mark.slow
def test_openai_api_base_is_kept_like_openai_base_url(tmp_path):
    # Clients of the older convention (aider, LiteLLM) read OPENAI_API_BASE instead.
    with FakeProvider("openai-chat", [Reply(text="from the company gateway")]) as gateway:
        done, seen = run_through(tmp_path, user_env(OPENAI_API_BASE=gateway.base_url), "openai")
        (request,) = posts(gateway)
    assert done.returncode == 0, done.stderr
    assert seen["replies"] == ["from the company gateway"]
    assert "/s/" in seen["env"]["OPENAI_API_BASE"] and seen["env"]["OPENAI_API_BASE"].endswith(
        "/v1"
    )
    assert request.path == "/v1/chat/completions"
    (sess,) = sessions()
    (call,) = calls_of(sess["id"])
    assert (call["surface"], call["provider_api"], call["status"]) == (
        "openai-chat",
        "openai-chat",
        "ok",
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OPENAI_BASE_URL": "http://gw/v1/"}, {"openai": ("OPENAI_BASE_URL", "http://gw/v1")}),
        ({"OPENAI_API_BASE": "http://old/v1"}, {"openai": ("OPENAI_API_BASE", "http://old/v1")}),
        (  # both set: the SDK's own variable wins
            {"OPENAI_BASE_URL": "http://new/v1", "OPENAI_API_BASE": "http://old/v1"},
            {"openai": ("OPENAI_BASE_URL", "http://new/v1")},
        ),
        ({"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/s/abc"}, {}),  # a nested agentwrap's own
        ({"GOOGLE_GEMINI_BASE_URL": "  "}, {}),
    ],
)
def test_own_base_urls(env: dict[str, str], expected: dict) -> None:
    assert own_base_urls(env) == expected


def test_notes_say_where_calls_go_and_which_variable_lost() -> None:
    env = {"OPENAI_BASE_URL": "http://new/v1", "OPENAI_API_BASE": "http://old/v1"}
    assert base_url_notes(env) == [
        "OPENAI_BASE_URL was http://new/v1: agentwrap forwards OpenAI calls there",
        "OPENAI_API_BASE (http://old/v1) differs from OPENAI_BASE_URL, which wins",
    ]
    assert base_url_notes(env, ["OPENAI_API_BASE"]) == [
        "OPENAI_API_BASE was http://old/v1: agentwrap forwards OpenAI calls there"
    ]


def test_point_base_urls_sets_only_the_named_variables() -> None:
    env: dict[str, str] = {"OPENAI_BASE_URL": "http://mine/v1"}
    point_base_urls(env, "http://127.0.0.1:5/s/x", ["OPENAI_API_BASE", "ANTHROPIC_BASE_URL"])
    assert env == {
        "OPENAI_BASE_URL": "http://mine/v1",
        "OPENAI_API_BASE": "http://127.0.0.1:5/s/x/v1",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:5/s/x",
    }
