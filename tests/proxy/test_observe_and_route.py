"""--observe forwards unchanged and records the profile's choice; --route overrides one run."""

from __future__ import annotations

import anthropic

from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.proxy.conftest import running_serve, wait_calls

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"

[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"

[models.big]
provider = "anthropic"
model = "claude-opus-4-6"

[routing]
default = "small"
"""


def _ask(url: str) -> None:
    c = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    c.messages.create(
        model="claude-sonnet-4-6", max_tokens=300, messages=[{"role": "user", "content": "hi"}]
    )


def test_observe_forwards_the_requested_model_and_records_the_would_be_choice(
    agentwrap_bin, tmp_path
):
    with FakeAnthropic(default=Reply("ok", input_tokens=10_000, output_tokens=500)) as fake:
        (tmp_path / "p.toml").write_text(PROFILE.format(url=fake.base_url))
        with running_serve(
            agentwrap_bin, fake.base_url, "--profile", str(tmp_path / "p.toml"), "--observe"
        ) as url:
            _ask(url)
            (call,) = wait_calls(1)
        assert fake.message_requests[0].body["model"] == "claude-sonnet-4-6"
    assert call["model"] == "claude-sonnet-4-6" and call["rule"] == "observe"
    assert call["would_model"] == "claude-haiku-4-5"
    assert 0 < call["would_cost_usd"] < call["cost_usd"]
    assert "haiku" in call["reason"]


def test_route_override_for_one_run(agentwrap_bin, tmp_path):
    with FakeAnthropic(default=Reply("ok")) as fake:
        (tmp_path / "p.toml").write_text(PROFILE.format(url=fake.base_url))
        args = ("--profile", str(tmp_path / "p.toml"))
        with running_serve(agentwrap_bin, fake.base_url, *args, "--route", "implement=big") as url:
            _ask(url)  # no step markers: the default kind, implement
            (call,) = wait_calls(1)
        assert fake.message_requests[0].body["model"] == "claude-opus-4-6"
    assert call["step"] == "implement" and call["model"] == "claude-opus-4-6"
    assert "route" in call["rule"]


def test_bad_route_flag_is_a_clear_error(agentwrap_bin):
    import subprocess

    done = subprocess.run(
        [agentwrap_bin, "serve", "--route", "nonsense"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "--route expects STEP=MODEL" in done.stderr
