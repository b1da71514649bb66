"""The routing benchmark: its world files, its sessions, and that it says it is simulated."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentwrap.route.profile import parse_profile_text
from bench.routing import (
    WorldError,
    load_world,
    parse_world,
    play,
    session_steps,
)

ROOT = Path(__file__).resolve().parents[2]
WORLDS = ROOT / "bench" / "worlds"
PROFILES = ROOT / "bench" / "profiles"

WORLD = """\
name = "tiny"
sessions = 30
seed = 3
max_consecutive_failures = 2

[steps]
plan = 1
implement = 8

[tokens]
plan = [1000, 100]
implement = [2000, 50]

[models.big]
price = { input = 10.0, output = 50.0 }
success = { plan = 1.0, implement = 0.9 }

[models.small]
price = { input = 1.0, output = 5.0 }
success = { plan = 0.5, implement = 0.5 }

[[drift]]
after_session = 10
model = "small"
success = { implement = 0.99 }
"""


def world_error(text: str) -> str:
    with pytest.raises(WorldError) as info:
        parse_world(text, "w.toml")
    return str(info.value)


def test_a_world_parses_and_drifts() -> None:
    world = parse_world(WORLD, "w.toml")
    assert (world.name, world.sessions, world.seed, world.max_consecutive_failures) == (
        "tiny",
        30,
        3,
        2,
    )
    assert world.tokens["implement"] == (2000, 50)
    assert world.models["big"].cost(1_000_000, 1_000_000) == pytest.approx(60.0)
    # "after_session = 10": session 10 still has the old rate, session 11 the new one.
    assert world.success("small", "implement", 10) == 0.5
    assert world.success("small", "implement", 11) == 0.99
    assert world.success("small", "plan", 11) == 0.5
    assert world.success("big", "implement", 11) == 0.9


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("sessions = 30", "sessions = 30\ncolour = 1"),
            "w.toml:3: unknown key 'colour'; expected one of: name, sessions",
        ),
        (
            ("plan = [1000, 100]\n", ""),
            "w.toml:10: tokens.plan: missing; every step kind in [steps] needs [input, output]",
        ),
        (
            ("implement = [2000, 50]", "implement = [2000]"),
            "w.toml:12: tokens.implement: expected [input, output] token counts",
        ),
        (
            (
                "success = { plan = 1.0, implement = 0.9 }",
                "success = { plan = 1.5, implement = 0.9 }",
            ),
            "w.toml:16: models.big.success.plan: expected a number from 0 to 1, got 1.5",
        ),
        (
            (
                "success = { plan = 1.0, implement = 0.9 }",
                "success = { plan = 1.0, implemnt = 0.9 }",
            ),
            "w.toml:16: models.big.success.implemnt: unknown step kind 'implemnt'; known: plan, implement",
        ),
        (
            ("success = { plan = 1.0, implement = 0.9 }", "success = { plan = 1.0 }"),
            "w.toml:16: models.big.success.implement: missing; the world's steps are plan, implement",
        ),
        (
            ("price = { input = 10.0, output = 50.0 }", "price = { input = 10.0 }"),
            "w.toml:15: models.big.price.output: missing (USD per million tokens)",
        ),
        (
            ('model = "small"', 'model = "tiny"'),
            "w.toml:24: drift[1].model: unknown model 'tiny'; known: big, small",
        ),
        (
            ("after_session = 10", "after_session = 30"),
            "w.toml:23: drift[1].after_session: 30 is not before the last session (30)",
        ),
        (
            ("plan = 1\n", "plan = 1\nreview = 2\n"),
            "w.toml:8: steps.review: unknown step kind 'review'; known: plan, explore",
        ),
        (
            ("seed = 3\n", ""),
            "w.toml: seed: missing; expected an integer (the world's random seed)",
        ),
        (
            ("max_consecutive_failures = 2", "max_consecutive_failures = 0"),
            "w.toml:4: max_consecutive_failures: expected an integer >= 1, got 0",
        ),
    ],
)
def test_world_errors_name_the_line_and_the_key(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in WORLD
    assert world_error(WORLD.replace(old, new, 1)).startswith(expected)


def test_not_toml_and_missing_files() -> None:
    assert world_error("name = ").startswith("w.toml: not valid TOML")
    with pytest.raises(WorldError, match="cannot read the world"):
        load_world(Path("/nonexistent/world.toml"))


def test_the_shipped_worlds_load() -> None:
    names = {load_world(path).name for path in WORLDS.glob("*.toml")}
    assert names == {"published-figures", "cheap-model-poor-at-implementation", "drift-halfway"}


def test_sessions_are_the_same_for_every_profile_and_vary_between_sessions() -> None:
    world = parse_world(WORLD, "w.toml")
    first = session_steps(world, 1)
    assert first == session_steps(world, 1)
    assert first != session_steps(world, 2)
    kinds = [kind for kind, _, _ in first]
    assert kinds == sorted(kinds, key=lambda k: k != "plan"), "plan steps come first"
    for kind, input_tokens, output_tokens in first:
        mean_in, mean_out = world.tokens[kind]
        assert mean_in * 0.5 <= input_tokens <= mean_in * 1.5
        assert mean_out * 0.5 <= output_tokens <= mean_out * 1.5


def profile(text: str, name: str = "p"):  # type: ignore[no-untyped-def]
    return parse_profile_text(textwrap.dedent(text), name, translation=False)


FIXED = """\
[models.big]
provider = "anthropic"
model = "claude-opus-4-5"

[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"

[routing]
plan = "big"
implement = "small"
"""


def test_a_fixed_profile_is_played_by_decide() -> None:
    world = parse_world(WORLD, "w.toml")
    result = play(world, profile(FIXED))
    assert result.sessions == 30
    assert set(result.kinds["plan"].calls) == {"big"}
    assert set(result.kinds["implement"].calls) == {"small"}
    # small fails half its implementation steps before session 11: some sessions end early.
    assert result.succeeded < 30
    assert len(result.log) == result.calls
    assert all(c.propensity == 1.0 and not c.learned for c in result.log)
    assert not result.learned
    expected = sum(s.cost for s in result.kinds.values())
    assert result.cost == pytest.approx(expected)


def test_a_profile_sending_calls_outside_the_world_is_an_error() -> None:
    world = parse_world(WORLD, "w.toml")
    other = FIXED.replace("[models.small]", "[models.mini]").replace('"small"', '"mini"')
    with pytest.raises(
        WorldError,
        match="sends calls to 'mini', which the world does not know; its models: big, small",
    ):
        play(world, profile(other))


def test_every_line_says_simulated(tmp_path: Path) -> None:
    world = tmp_path / "w.toml"
    world.write_text(WORLD)
    args = [sys.executable, str(ROOT / "bench" / "routing.py"), "--world", str(world)]
    args += ["--profile", str(PROFILES / "frontier-only.toml"), "--profile", "balanced"]
    text = subprocess.run(args, capture_output=True, text=True, check=False)
    assert text.returncode == 2
    assert "[simulated] error:" in text.stderr and "sends calls to 'opus'" in text.stderr
    sonnet = "[models.sonnet]\nprice = { input = 3.0, output = 15.0 }\nsuccess = { plan = 0.9, implement = 0.9 }\n"
    world.write_text(WORLD.replace("big", "opus").replace("small", "haiku") + sonnet)
    text = subprocess.run(args, capture_output=True, text=True, check=True)
    out = text.stdout.splitlines()
    assert len(out) > 5
    assert all(line.startswith("[simulated world 'tiny']") for line in out)
    assert "balanced: sessions succeeded" in text.stdout and "vs frontier-only" in text.stdout
    report = json.loads(
        subprocess.run([*args, "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert report["simulated"] is True
    assert [p["profile"] for p in report["profiles"]] == ["frontier-only", "balanced"]
    assert report["profiles"][0]["saved_vs_baseline"] == 0.0
