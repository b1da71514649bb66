"""Learned routing on simulated worlds, decided by the real decide and learn code."""

from __future__ import annotations

import textwrap
from collections import Counter

from agentwrap.route.profile import Profile, parse_profile_text
from bench.routing import CallLog, parse_world, play

WORLD = """\
name = "learning"
sessions = 120
seed = 5
max_consecutive_failures = 3

[steps]
plan = 1
explore = 8
implement = 16

[tokens]
plan = [20000, 1500]
explore = [25000, 1200]
implement = [60000, 800]

[models.opus]
price = { input = 5.0, output = 25.0 }
success = { plan = 0.98, explore = 0.99, implement = 0.98 }

[models.sonnet]
price = { input = 3.0, output = 15.0 }
success = { plan = 0.97, explore = 0.99, implement = 0.97 }

[models.haiku]
price = { input = 1.0, output = 5.0 }
success = { plan = 0.90, explore = 0.99, implement = 0.75 }
"""

DRIFT = (
    WORLD.replace("implement = 0.75", "implement = 0.99")
    + """
[[drift]]
after_session = 60
model = "haiku"
success = { implement = 0.5 }
"""
)

LEARNED = """\
[models.opus]
provider = "anthropic"
model = "claude-opus-4-5"

[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-4-5"

[models.haiku]
provider = "anthropic"
model = "claude-haiku-4-5"

[auto]
candidates = ["haiku", "sonnet", "opus"]
max_failure_rate = 0.10
explore = 0.1

[routing]
default = "auto"
"""


def profile(text: str = LEARNED) -> Profile:
    return parse_profile_text(textwrap.dedent(text), "learned", env={}, translation=False)


def mix(log: list[CallLog], kind: str, first: int, last: int) -> dict[str, float]:
    calls = Counter(c.alias for c in log if c.kind == kind and first <= c.session <= last)
    total = sum(calls.values())
    return {alias: n / total for alias, n in calls.items()}


def test_with_enough_evidence_it_settles_on_the_cheapest_candidate_within_tolerance() -> None:
    result = play(parse_world(WORLD, "w.toml"), profile())
    late_implement = mix(result.log, "implement", 81, 120)
    late_explore = mix(result.log, "explore", 81, 120)
    # Haiku fails a quarter of its implementation steps: sonnet is the cheapest within 10%.
    assert late_implement.get("sonnet", 0) > 0.85
    assert late_implement.get("haiku", 0) < 0.02, "haiku is credibly too poor to try again"
    # Exploring is as good on every model: haiku takes it.
    assert late_explore.get("haiku", 0) > 0.85
    # At the start nothing is known: the last candidate, opus, does the work.
    assert mix(result.log, "implement", 1, 3).get("opus", 0) > 0.8


def test_it_moves_off_a_model_after_it_drifts() -> None:
    result = play(parse_world(DRIFT, "w.toml"), profile())
    assert mix(result.log, "implement", 41, 60).get("haiku", 0) > 0.85
    # Within a few sessions of the drift the main loop has left haiku; only exploring tries it.
    assert mix(result.log, "implement", 64, 70).get("haiku", 0) < 0.5
    settled = [c for c in result.log if c.kind == "implement" and c.session > 70]
    assert sum(c.alias == "haiku" and not c.explored for c in settled) / len(settled) < 0.02
    assert mix(result.log, "implement", 71, 120).get("haiku", 0) < 0.12
    late = [c for c in result.log if c.kind == "implement" and c.session > 70]
    assert sum(not c.ok for c in late) / len(late) < 0.10, "back within the tolerance"


def test_it_never_explores_where_the_profile_forbids_it() -> None:
    world = parse_world(WORLD, "w.toml")
    result = play(world, profile(), sessions=60)
    plans = [c for c in result.log if c.kind == "plan"]
    assert plans and all(c.learned for c in plans)
    assert all(not c.explored and c.propensity == 1.0 and c.alias == "opus" for c in plans)
    assert any(c.explored for c in result.log), "other step kinds do explore"
    quiet = play(world, profile(LEARNED.replace("explore = 0.1", "explore = 0")), sessions=60)
    assert not any(c.explored for c in quiet.log)
    assert all(c.propensity == 1.0 for c in quiet.log)


def test_every_call_logs_a_propensity() -> None:
    result = play(parse_world(WORLD, "w.toml"), profile(), sessions=60)
    assert len(result.log) == result.calls > 0
    assert all(c.learned for c in result.log)
    for c in result.log:
        if c.explored:
            assert 0 < c.propensity <= 0.1
        else:
            assert 0.9 <= c.propensity <= 1.0
    # The propensities are honest: explored calls are about as frequent as they say.
    explorable = [c for c in result.log if c.kind != "plan"]
    share = sum(c.explored for c in explorable) / len(explorable)
    assert 0.06 < share < 0.14
