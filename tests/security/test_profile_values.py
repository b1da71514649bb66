"""Profile values that would leak a credential or send a call elsewhere are refused with the
profile's own error form (file:line: key: why), and files a person saved in another encoding
get a clear error instead of a traceback. Each case runs the real `agentwrap profile check`, in
the test's process, in the directory whose profile it reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentwrap.route.profile import ProfileError, load_profile, parse_profile_text
from tests.support.cli import Ran, agentwrap

GEMINI_PROFILE = """\
[providers.google]
api = "gemini"
key_env = "GEMINI_API_KEY"

[models.pro]
provider = "google"
model = "{model}"

[routing]
default = "pro"
"""


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`agentwrap profile check ARGS` run in `cwd`, where it finds .agentwrap.toml."""

    def run(cwd: Path, *args: str) -> Ran:
        monkeypatch.chdir(cwd)
        return agentwrap("profile", "check", *args)

    return run


def write(cwd: Path, data: bytes) -> Path:
    path = cwd / ".agentwrap.toml"
    path.write_bytes(data)
    return path


def test_base_url_with_user_and_password_is_refused_without_echoing_them(
    check: Callable[..., Ran], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        b'extends = "balanced"\n\n[providers.gateway]\napi = "anthropic"\n'
        b'base_url = "https://alice:hunter2@gw.example.com/anthropic"\n',
    )
    done = check(tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"agentwrap: {path}:5: providers.gateway.base_url: ")
    assert "user name or password" in done.stderr and "key_env" in done.stderr
    assert "hunter2" not in done.stderr and "alice" not in done.stderr
    assert "https://***@gw.example.com/anthropic" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_gateway_url_with_credentials_from_the_agents_environment_is_refused() -> None:
    env = {"AGENTWRAP_ANTHROPIC_UPSTREAM": "https://bob:s3cret@gw.example.com"}
    with pytest.raises(ProfileError) as caught:
        load_profile(explicit="passthrough", env=env)
    message = str(caught.value)
    assert message.startswith("AGENTWRAP_ANTHROPIC_UPSTREAM")
    assert "s3cret" not in message and "bob" not in message


def test_non_utf8_profile_names_the_file_line_and_byte(
    check: Callable[..., Ran], tmp_path: Path
) -> None:
    path = write(tmp_path, b'[routing]\n# na\xefve comment\ndefault = "requested"\n')
    done = check(tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"agentwrap: {path}:2: not UTF-8 text (byte 0xef at column 5); save the profile as UTF-8"
    )


def test_a_utf8_byte_order_mark_is_accepted(check: Callable[..., Ran], tmp_path: Path) -> None:
    write(tmp_path, b'\xef\xbb\xbfextends = "balanced"\n[routing]\nplan = "sonnet"\n')
    done = check(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok: profile .agentwrap.toml" in done.stdout
    shown = agentwrap("profile", "show")
    # Lines are still counted right after the mark: plan is set on line 3.
    assert 'plan = "sonnet"' in shown.stdout
    assert any(
        line.startswith("# routing.plan from ") and line.endswith(".agentwrap.toml:3")
        for line in shown.stdout.splitlines()
    )


def test_a_toml_syntax_error_reads_like_every_other_profile_error(
    check: Callable[..., Ran], tmp_path: Path
) -> None:
    path = write(tmp_path, b'extends = "balanced"\n\n[routing]\nplan = \n')
    done = check(tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"agentwrap: {path}:4: not valid TOML: ")
    assert "(column " in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "model",
    ["../../v1/x", "models/gemini-2.5-pro", "gemini-pro?alt=x", "gemini%2F..", "a b", "..", ".x"],
)
def test_a_gemini_model_name_with_path_characters_is_refused(model: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile_text(GEMINI_PROFILE.format(model=model), "p.toml", translation=True)
    assert str(caught.value).startswith("p.toml:7: models.pro.model: ")
    assert "cannot be a Gemini model name" in str(caught.value)


def test_a_plain_gemini_model_name_is_fine_and_other_apis_keep_slashes() -> None:
    parse_profile_text(GEMINI_PROFILE.format(model="gemini-2.5-pro"), "p.toml", translation=True)
    # An id in a JSON body may hold '/': OpenRouter's names do.
    parse_profile_text(
        '[providers.or]\napi = "anthropic"\nbase_url = "https://openrouter.ai/api"\n'
        'key_env = "K"\n[models.g]\nprovider = "or"\nmodel = "google/gemini-3.1-pro"\n'
        '[routing]\ndefault = "g"\n',
        "p.toml",
    )


def test_a_route_to_a_gemini_path_model_is_refused_too() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile_text(
            GEMINI_PROFILE.format(model="gemini-2.5-pro"),
            "p.toml",
            routes={"plan": "google:../../v1/x"},
            translation=True,
        )
    assert str(caught.value).startswith("--route: ")
