"""Decision tables: profile + call + step + session state → target, rule, reason, fallbacks."""

from __future__ import annotations

import re
import textwrap

import pytest

from agentwrap.route.decide import Decision, SessionState, classify, decide
from agentwrap.route.profile import Profile, load_profile, parse_profile_text
from agentwrap.wire.call import Call
from tests.route import claude_wire as cw

# Every model here costs the same (the price overrides), so these tables test routing alone;
# never sending a step to a dearer model than the requested one is tested in test_cost_cap.py.
PROFILE = """\
[providers.cheap]
api = "anthropic"
base_url = "http://127.0.0.1:9/cheap"
key_env = "CHEAP_KEY"

[providers.oa]
api = "openai-chat"
base_url = "http://127.0.0.1:9/oa"

[models.opus]
provider = "anthropic"
model = "claude-opus-4-8"
price = { input = 1, output = 5 }

[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-4-6"
price = { input = 1, output = 5 }
context_window = 200000

[models.haiku]
provider = "anthropic"
model = "claude-haiku-4-5"
price = { input = 1, output = 5 }
context_window = 200000

[models.flash]
provider = "cheap"
model = "glm-5.1"
price = { input = 1, output = 5 }
context_window = 128000
capabilities = ["tools"]

[models.gpt]
provider = "oa"
model = "gpt-5"
price = { input = 1, output = 5 }

[routing]
plan = "opus"
implement = "sonnet"
explore = "flash"
subagent = "sonnet"
background = "flash"
compact = "haiku"
search = "flash"

[[rules]]
name = "escalate"
step = "implement"
last_failed = true
use = "opus"

[[rules]]
name = "opus-asks-for-opus"
requested_model = "claude-opus-*"
step = "subagent"
use = "opus"

[fallbacks]
flash = ["haiku", "sonnet"]
sonnet = ["opus"]
"""

KEYS = {"CHEAP_KEY": "k"}


def profile(
    text: str = PROFILE, env: dict[str, str] | None = None, translation: bool = False, **kw: object
) -> Profile:
    return parse_profile_text(
        textwrap.dedent(text),
        "p.toml",
        env=KEYS if env is None else env,
        translation=translation,
        **kw,
    )


def run(p: Profile, call: Call, state: SessionState | None = None) -> Decision:
    return decide(p, call, classify(call, "claude"), state)


def aliases(d: Decision) -> list[str | None]:
    return [d.target.alias, *[t.alias for t in d.fallbacks]]


@pytest.mark.parametrize(
    ("make", "kind", "target", "rule"),
    [
        (lambda: cw.main_loop(), "implement", "sonnet", "routing.implement"),
        (lambda: cw.subagent(cw.EXPLORE_PROMPT), "explore", "flash", "routing.explore"),
        (lambda: cw.subagent(cw.PLAN_PROMPT), "plan", "opus", "routing.plan"),
        (lambda: cw.subagent(cw.GENERAL_PROMPT), "subagent", "sonnet", "routing.subagent"),
        (
            lambda: cw.subagent(cw.GENERAL_PROMPT, model="claude-opus-4-8"),
            "subagent",
            "opus",
            "rule 'opus-asks-for-opus'",
        ),
        (lambda: cw.title_call(), "background", "flash", "routing.background"),
        (lambda: cw.compact_call(), "compact", "haiku", "routing.compact"),
        (lambda: cw.main_loop(cw.tool_round(True)), "implement", "opus", "rule 'escalate'"),
        (lambda: cw.main_loop(cw.tool_round(False)), "implement", "sonnet", "routing.implement"),
    ],
)
def test_decision_table(make, kind: str, target: str, rule: str) -> None:
    call = make()
    d = run(profile(), call)
    assert (d.step.kind, d.target.alias, d.rule) == (kind, target, rule)
    assert d.target.model == profile().models[target].model
    assert d.reason.startswith(rule)
    assert f"→ {target} (" in d.reason


def test_fallback_chain_in_order_with_providers() -> None:
    d = run(profile(), cw.subagent(cw.EXPLORE_PROMPT))
    # flash's chain, then the chains of its fallbacks (sonnet → opus), breadth first.
    assert aliases(d) == ["flash", "haiku", "sonnet", "opus"]
    assert d.target.provider.base_url == "http://127.0.0.1:9/cheap"
    assert [t.provider.name for t in d.fallbacks] == ["anthropic"] * 3


def test_missing_key_skips_the_provider_visibly() -> None:
    p = profile(env={})
    d = run(p, cw.subagent(cw.EXPLORE_PROMPT))
    assert aliases(d) == ["haiku", "sonnet", "opus"]
    assert "skipped flash: provider cheap is unavailable (CHEAP_KEY is not set)" in d.reason
    assert p.warnings and "CHEAP_KEY" in p.warnings[0]


def test_search_with_server_tool_is_rerouted_to_anthropic() -> None:
    d = run(profile(), cw.web_search_call())
    assert d.step.kind == "search"
    assert d.target.alias == "haiku" and d.target.provider.api == "anthropic"
    assert "web_search_20250305 is a server tool that only Anthropic providers run" in d.reason


def test_server_tool_with_no_anthropic_model_in_chain_goes_to_requested() -> None:
    text = PROFILE.replace('flash = ["haiku", "sonnet"]', "flash = []")
    d = run(profile(text), cw.web_search_call())
    assert d.target.alias is None and d.target.model is None
    assert d.target.provider.name == "anthropic"
    assert "the requested model" in d.reason


def test_images_need_vision() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                },
                {"type": "text", "text": "what is this"},
            ],
        }
    ]
    call = cw.subagent(cw.EXPLORE_PROMPT)
    call.body["messages"] = messages
    d = run(profile(), call)
    assert d.target.alias == "haiku"
    assert "skipped flash: the call has images and the model has no vision" in d.reason


def test_context_window_too_small() -> None:
    call = cw.subagent(cw.EXPLORE_PROMPT)
    call.body["messages"] = [{"role": "user", "content": "x" * 600_000}]  # ~150k tokens
    d = run(profile(), call)
    assert d.target.alias == "haiku"
    assert "exceed its 128000-token window" in d.reason


def test_rule_conditions() -> None:
    text = PROFILE.replace(
        '[[rules]]\nname = "escalate"',
        textwrap.dedent(
            """\
            [[rules]]
            name = "big"
            tokens_above = 1000
            thinking = true
            agent = "claude"
            use = "opus"

            [[rules]]
            name = "explore-subagent"
            subagent = "explore"
            tools = true
            use = "haiku"

            [[rules]]
            name = "escalate\""""
        ),
    )
    p = profile(text)
    small = run(p, cw.main_loop())
    assert small.rule == "routing.implement"
    big = run(p, cw.main_loop([{"role": "user", "content": "y" * 8000}]))
    assert big.rule == "rule 'big'" and big.target.alias == "opus"
    assert "tokens > 1000, thinking, agent claude" in big.reason
    no_thinking = cw.main_loop(
        [{"role": "user", "content": "y" * 8000}], thinking={"type": "disabled"}
    )
    assert run(p, no_thinking).rule == "routing.implement"
    explore = run(p, cw.subagent(cw.EXPLORE_PROMPT))
    assert explore.rule == "rule 'explore-subagent'" and explore.target.alias == "haiku"


def test_route_override_beats_rules() -> None:
    p = profile(routes={"implement": "haiku"})
    d = run(p, cw.main_loop(cw.tool_round(True)))
    assert (d.target.alias, d.rule) == ("haiku", "--route implement=haiku")
    p = profile(routes={"default": "opus"})
    assert run(p, cw.subagent(cw.EXPLORE_PROMPT)).target.alias == "opus"


def test_passthrough_preset_keeps_the_requested_model() -> None:
    p = load_profile(explicit="passthrough", env={})
    call = cw.main_loop()
    d = run(p, call)
    assert d.target.alias is None and d.target.model is None
    assert d.target.model_for(call) == "claude-sonnet-4-6"
    assert d.baseline_model == "claude-sonnet-4-6"
    assert d.fallbacks == []


def test_baseline_alias() -> None:
    d = run(profile('baseline = "opus"\n' + PROFILE), cw.subagent(cw.EXPLORE_PROMPT))
    assert (d.baseline_model, d.baseline_provider) == ("claude-opus-4-8", "anthropic")
    d = run(profile(), cw.subagent(cw.EXPLORE_PROMPT))
    assert d.baseline_model == "claude-haiku-4-5"  # what the agent asked for


@pytest.mark.parametrize(
    ("on_exceed", "target", "stop"),
    [("warn", "sonnet", False), ("downgrade", "haiku", False), ("stop", "sonnet", True)],
)
def test_budget(on_exceed: str, target: str, stop: bool) -> None:
    text = (
        PROFILE
        + f'\n[budget]\nsession_usd = 1.5\non_exceed = "{on_exceed}"\ndowngrade_to = "haiku"\n'
    )
    p = profile(text)
    under = run(p, cw.main_loop(), SessionState(cost_usd=1.49))
    assert (under.target.alias, under.stop, under.budget_exceeded) == ("sonnet", False, False)
    over = run(p, cw.main_loop(), SessionState(cost_usd=1.5))
    assert (over.target.alias, over.stop, over.budget_exceeded) == (target, stop, True)
    assert "session cost $1.50 reached the $1.50 budget" in over.reason


def test_observe_mode_forwards_unchanged_and_records_the_choice() -> None:
    call = cw.subagent(cw.EXPLORE_PROMPT)
    d = run(profile(), call, SessionState(observe=True))
    assert d.target.model is None and d.target.provider.name == "anthropic"
    assert d.rule == "observe"
    assert d.observed is not None and d.observed.target.alias == "flash"
    assert "would send flash (glm-5.1 on cheap)" in d.reason


def test_call_on_another_api_without_translation_goes_to_requested() -> None:
    call = Call(
        "openai-chat", "chat", {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}
    )
    d = decide(profile(), call, classify(call), None)
    assert d.target.alias is None and d.target.provider.api == "openai-chat"
    assert "translation is not available" in d.reason


# ---------------------------------------------------------------- the sticky main loop


BIG = [{"role": "user", "content": "z" * 40_000}]  # ~10k tokens: real cache to lose


def _after(p: Profile, call: Call, state: SessionState) -> Decision:
    step = classify(call, "claude")
    d = decide(p, call, step, state)
    state.record(call, step, d)
    return d


def test_main_loop_stays_after_an_escalation() -> None:
    p, state = profile(), SessionState()
    first = _after(p, cw.main_loop(BIG + cw.tool_round(True)), state)
    assert first.target.alias == "opus" and state.main_model == "claude-opus-4-8"
    second = _after(p, cw.main_loop(BIG + cw.tool_round(False)), state)
    assert second.target.alias == "opus" and second.rule == "main_loop.sticky"
    assert "would throw away its prompt cache" in second.reason
    # The cache's size as every view writes a count: with thousands separators.
    assert re.search(r"prompt cache \(~\d{1,3}(,\d{3})+ tokens\)", second.reason), second.reason
    assert [t.alias for t in second.fallbacks] == []


def test_escalation_switch_says_the_cache_is_rewritten() -> None:
    p, state = profile(), SessionState()
    _after(p, cw.main_loop(BIG), state)
    d = _after(p, cw.main_loop(BIG + cw.tool_round(True)), state)
    assert d.target.alias == "opus"
    assert "switches the main loop from claude-sonnet-4-6 to claude-opus-4-8" in d.reason
    assert "chosen by rule 'escalate'" in d.reason


def test_phase_change_plan_to_implement_switches() -> None:
    p, state = profile(), SessionState()
    plan = _after(p, cw.main_loop([{"role": "system", "content": cw.PLAN_REMINDER}, *BIG]), state)
    assert plan.target.alias == "opus"
    implement = _after(p, cw.main_loop(BIG), state)
    assert implement.target.alias == "sonnet"
    assert "phase change plan → implement" in implement.reason


def test_small_prompt_switches_freely_and_sticky_can_be_off() -> None:
    p, state = profile(), SessionState()
    _after(p, cw.main_loop(cw.tool_round(True)), state)
    d = _after(p, cw.main_loop(cw.tool_round(False)), state)
    assert d.target.alias == "sonnet" and "the prompt is small" in d.reason
    p = profile(PROFILE + "\n[main_loop]\nsticky = false\n")
    state = SessionState()
    _after(p, cw.main_loop(BIG + cw.tool_round(True)), state)
    d = _after(p, cw.main_loop(BIG + cw.tool_round(False)), state)
    assert d.target.alias == "sonnet" and "main_loop.sticky = false" in d.reason


def test_compaction_resets_the_main_loop() -> None:
    p, state = profile(), SessionState()
    _after(p, cw.main_loop(BIG + cw.tool_round(True)), state)
    _after(p, cw.compact_call(), state)
    assert state.main_model is None
    d = _after(p, cw.main_loop(BIG + cw.tool_round(False)), state)
    assert d.target.alias == "sonnet" and d.rule == "routing.implement"


def test_subagents_do_not_touch_the_main_loop_state() -> None:
    p, state = profile(), SessionState()
    _after(p, cw.main_loop(BIG), state)
    _after(p, cw.subagent(cw.EXPLORE_PROMPT), state)
    assert state.main_model == "claude-sonnet-4-6" and state.main_step == "implement"


def test_chains_are_bounded_and_cycle_safe() -> None:
    text = PROFILE.replace(
        'sonnet = ["opus"]',
        'sonnet = ["opus"]\nopus = ["gpt", "sonnet"]\nhaiku = ["flash", "opus"]',
    )
    d = run(profile(text, translation=True), cw.subagent(cw.EXPLORE_PROMPT))
    assert aliases(d) == ["flash", "haiku", "sonnet", "opus"]  # gpt would be fifth


def test_sticky_lasts_sticky_calls_then_the_steps_model_returns() -> None:
    p, state = profile(PROFILE + "\n[main_loop]\nsticky_calls = 3\n"), SessionState()
    assert _after(p, cw.main_loop(BIG + cw.tool_round(True)), state).target.alias == "opus"
    kept = [_after(p, cw.main_loop(BIG + cw.tool_round(False)), state) for _ in range(2)]
    assert [d.target.alias for d in kept] == ["opus", "opus"]
    assert "call 2 of 3" in kept[0].reason and "call 3 of 3" in kept[1].reason
    back = _after(p, cw.main_loop(BIG + cw.tool_round(False)), state)
    assert back.target.alias == "sonnet"
    assert "after 3 calls on it (main_loop.sticky_calls)" in back.reason
    assert state.main_calls == 1 and state.main_model == "claude-sonnet-4-6"


def test_the_requested_model_can_have_fallbacks() -> None:
    text = (
        PROFILE.replace('implement = "sonnet"', 'implement = "requested"')
        + 'requested = ["sonnet", "flash"]\n'
    )
    d = run(profile(text), cw.main_loop())
    assert d.target.alias is None and d.target.model is None
    assert aliases(d) == [None, "sonnet", "flash", "opus"]


def test_observe_mode_follows_the_profiles_own_main_loop() -> None:
    p, state = profile(), SessionState(observe=True)
    first = _after(p, cw.main_loop(BIG + cw.tool_round(True)), state)
    assert first.target.model is None and first.observed.target.alias == "opus"
    assert state.main_model == "claude-opus-4-8"  # what the profile would be on
    second = _after(p, cw.main_loop(BIG + cw.tool_round(False)), state)
    assert second.observed.rule == "main_loop.sticky"


def test_record_follows_the_fallback_that_answered() -> None:
    p, state = profile(), SessionState()
    call = cw.main_loop(BIG)
    step = classify(call, "claude")
    d = decide(p, call, step, state)
    assert d.target.alias == "sonnet" and d.fallbacks[0].alias == "opus"
    state.record(call, step, d, used=d.fallbacks[0])
    assert state.main_model == "claude-opus-4-8"
    again = decide(p, cw.main_loop(BIG), step, state)
    assert again.target.alias == "opus" and again.rule == "main_loop.sticky"
