"""Presets name tiers, resolved against the price table; no step goes to a model dearer than
the requested one unless a rule escalates by name. A synthetic price table stands in for the
bundled one, with newer and older members of every class of every vendor, and ids that look
like members but are not."""

from __future__ import annotations

import re
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentwrap.cli.main import build_app
from agentwrap.pricing import Price, PriceTable
from agentwrap.route.dearer import HeldBack, held_back
from agentwrap.route.decide import SessionState, classify, decide, routes_up
from agentwrap.route.profile import Profile, ProfileError, parse_profile_text
from agentwrap.route.tiers import TierError, class_of, members, resolve_tier
from agentwrap.wire.call import Call
from tests.route import claude_wire as cw


def _p(inp: str, out: str) -> Price:
    return Price(Decimal(inp), Decimal(out))


TABLE = PriceTable(
    {
        "anthropic": {
            "claude-opus-4-8": _p("5", "25"),
            "claude-opus-9-1": _p("4", "20"),  # the newest opus, cheaper than the older one
            "claude-opus-9-1-fast": _p("8", "40"),  # a speed, not a member
            "claude-sonnet-4-6": _p("3", "15"),
            "claude-sonnet-9": _p("2.5", "12"),
            "claude-sonnet-9-1": _p("2", "10"),
            "claude-sonnet-9-1-20990101": _p("2", "10"),  # a dated id, not a member
            "claude-3-5-haiku": _p("0.8", "4"),
            "claude-haiku-4-5": _p("1", "5"),
            "claude-haiku-9-1": _p("0.5", "2.5"),
            "claude-fable-9": _p("0.1", "0.1"),  # no class of ours
        },
        "openai": {
            "gpt-8": _p("1.25", "10"),
            "gpt-9.1": _p("2", "16"),
            "gpt-9.1-pro": _p("30", "180"),
            "gpt-8-mini": _p("0.25", "2"),
            "gpt-9.1-mini": _p("0.5", "4"),
            "gpt-8.5-nano": _p("0.05", "0.4"),
            "gpt-9.1-nano": _p("0.1", "0.8"),
        },
        "google": {
            "gemini-8-pro": _p("1.25", "10"),
            "gemini-9.1-pro-preview": _p("2", "12"),
            "gemini-9.9-flash": _p("0.3", "2.5"),
            "gemini-9.10-flash-preview": _p("0.5", "3"),
            "gemini-9.10-flash": _p("0.5", "3"),  # 9.10 is newer than 9.9; GA over preview
            "gemini-9.10-flash-tts": _p("0.5", "10"),
            "gemini-8-flash-lite": _p("0.1", "0.4"),
            "gemini-9.1-flash-lite": _p("0.1", "0.4"),
        },
    },
    version="synthetic table",
)

NEWEST = {
    ("anthropic", "opus"): "claude-opus-9-1",
    ("anthropic", "sonnet"): "claude-sonnet-9-1",
    ("anthropic", "haiku"): "claude-haiku-9-1",
    ("openai", "gpt"): "gpt-9.1",
    ("openai", "mini"): "gpt-9.1-mini",
    ("openai", "nano"): "gpt-9.1-nano",
    ("google", "pro"): "gemini-9.1-pro-preview",
    ("google", "flash"): "gemini-9.10-flash",
    ("google", "flash-lite"): "gemini-9.1-flash-lite",
}


@pytest.mark.parametrize(("vendor", "tier"), list(NEWEST))
def test_a_tier_is_the_newest_member_of_its_class(vendor: str, tier: str) -> None:
    found = resolve_tier(vendor, tier, TABLE.prices[vendor])
    assert found.model == NEWEST[vendor, tier]
    assert found.why().startswith(f"the newest {tier} of {vendor} in the price table; older: ")


def test_members_leave_out_dated_fast_and_other_ids() -> None:
    assert members("anthropic", "sonnet", TABLE.prices["anthropic"]) == [
        "claude-sonnet-9-1",
        "claude-sonnet-9",
        "claude-sonnet-4-6",
    ]
    assert members("anthropic", "haiku", TABLE.prices["anthropic"])[-1] == "claude-3-5-haiku"
    assert class_of("openai", "gpt-9.1-pro") is None
    assert class_of("anthropic", "claude-fable-9") is None
    assert class_of("google", "gemini-9.10-flash-tts") is None


def test_a_tier_that_is_not_a_class_or_has_no_member() -> None:
    with pytest.raises(TierError, match="'flash' is not a class of anthropic models; known: opus"):
        resolve_tier("anthropic", "flash", TABLE.prices["anthropic"])
    with pytest.raises(TierError, match="the price table knows no nano model of openai"):
        resolve_tier("openai", "nano", ["gpt-9.1"])


def profile(text: str) -> Profile:
    return parse_profile_text(
        textwrap.dedent(text), "p.toml", env={}, translation=True, price_table=TABLE
    )


def test_the_balanced_preset_resolves_against_the_table() -> None:
    p = profile('extends = "balanced"\n')
    models = {alias: m.model for alias, m in p.models.items()}
    assert models == {
        "opus": "claude-opus-9-1",
        "sonnet": "claude-sonnet-9-1",
        "haiku": "claude-haiku-9-1",
    }
    assert p.models["sonnet"].tier == "sonnet"
    assert "the newest sonnet of anthropic" in p.models["sonnet"].resolved
    # The preset keeps the model the agent asked for where it says so.
    assert p.routing["plan"] == "requested"
    assert p.rules[0].use == "requested"


def test_balanced_sends_each_step_to_the_newest_cheaper_member_or_keeps_the_request() -> None:
    p = profile('extends = "balanced"\n')
    asked = "claude-opus-9-1"

    def model_of(call: Call) -> str | None:
        return decide(p, call, classify(call, "claude")).target.model_for(call)

    assert model_of(cw.subagent(cw.PLAN_PROMPT, model=asked)) == asked
    assert model_of(cw.main_loop(model=asked)) == "claude-sonnet-9-1"
    assert model_of(cw.main_loop(cw.tool_round(True), model=asked)) == asked
    assert model_of(cw.subagent(cw.EXPLORE_PROMPT)) == "claude-haiku-9-1"


def test_tiers_of_every_vendor_in_a_profile() -> None:
    p = profile(
        """\
        [providers.openai]
        api = "openai-responses"
        [providers.gemini]
        api = "gemini"
        key_env = "GEMINI_API_KEY"
        [models.top]
        provider = "openai"
        tier = "gpt"
        [models.mini]
        provider = "openai"
        tier = "mini"
        [models.nano]
        provider = "openai"
        tier = "nano"
        [models.pro]
        provider = "gemini"
        tier = "pro"
        [models.flash]
        provider = "gemini"
        tier = "flash"
        [models.lite]
        provider = "gemini"
        tier = "flash-lite"
        """
    )
    assert [m.model for m in p.models.values()] == [
        "gpt-9.1",
        "gpt-9.1-mini",
        "gpt-9.1-nano",
        "gemini-9.1-pro-preview",
        "gemini-9.10-flash",
        "gemini-9.1-flash-lite",
    ]


def test_a_wrong_tier_names_the_file_line_and_the_known_classes() -> None:
    with pytest.raises(ProfileError) as info:
        profile('[models.x]\nprovider = "anthropic"\ntier = "mini"\n')
    assert str(info.value) == (
        "p.toml:3: models.x.tier: 'mini' is not a class of anthropic models; "
        "known: opus, sonnet, haiku"
    )
    with pytest.raises(ProfileError, match="p.toml:1: models.x: give model"):
        profile('[models.x]\nprovider = "anthropic"\ntier = "opus"\nmodel = "claude-opus-4-8"\n')


# ---------------------------------------------------------------- never dearer by accident

PINNED = """\
[models.opus]
provider = "anthropic"
model = "claude-opus-4-8"

[models.sonnet]
provider = "anthropic"
tier = "sonnet"

[routing]
plan = "opus"
implement = "sonnet"
"""


def test_decide_keeps_the_requested_model_when_the_route_costs_more() -> None:
    p = profile(PINNED)
    asked_plan = "claude-opus-9-1"
    call = cw.subagent(cw.PLAN_PROMPT, model=asked_plan)
    d = decide(p, call, classify(call, "claude"))
    assert (d.rule, d.target.alias, d.target.model_for(call)) == (
        "routing.plan",
        None,
        "claude-opus-9-1",
    )
    # The reason names the rule that asked for the dearer model and the change that allows it.
    found = re.search(
        r"never dearer: kept the requested model claude-opus-9-1: routing.plan sends this step "
        r"to opus \(claude-opus-4-8 on anthropic\), which costs more \(~\$([\d.]+) vs "
        r"~\$([\d.]+) for this call\); to allow it, add a \[\[rules\]\] entry with "
        r'step = "plan", use = "opus", escalate = true$',
        d.reason,
    )
    # $5/$25 against $4/$20 per million tokens: 1.25 times as much, whatever the call's size.
    assert found and float(found[1]) / float(found[2]) == pytest.approx(1.25, rel=0.01)
    assert not d.escalated
    # The summary reads the same note back.
    assert held_back(d.reason) == HeldBack("routing.plan", "opus", "claude-opus-4-8", asked_plan)
    # A cheaper route is taken as it was.
    main = cw.main_loop(model="claude-opus-9-1")
    assert decide(p, main, classify(main, "claude")).target.alias == "sonnet"


def test_a_rule_that_escalates_by_name_may_cost_more_and_lasts_while_the_main_loop_sticks() -> None:
    p = profile(
        PINNED + '\n[[rules]]\nname = "after-failure"\nstep = "implement"\nlast_failed = true\n'
        'use = "opus"\nescalate = true\n'
    )
    asked = "claude-sonnet-9-1"
    history = [{"role": "user", "content": "x" * 80_000}]
    state = SessionState(agent="claude")
    failed = cw.main_loop([*history, *cw.tool_round(True)], model=asked)
    d = decide(p, failed, classify(failed, "claude"), state)
    assert (d.rule, d.target.model, d.escalated) == (
        "rule 'after-failure'",
        "claude-opus-4-8",
        True,
    )
    assert "kept the requested model" not in d.reason
    state.record(failed, d.step, d)
    # The next call matches no rule; the main loop stays on its model, escalation and all.
    ok = cw.main_loop([*history, *cw.tool_round(False)], model=asked)
    kept = decide(p, ok, classify(ok, "claude"), state)
    assert (kept.rule, kept.target.model) == ("main_loop.sticky", "claude-opus-4-8")
    # Without the escalation the same rule keeps the requested model.
    plain = profile(PINNED + '\n[[rules]]\nstep = "implement"\nlast_failed = true\nuse = "opus"\n')
    d = decide(plain, failed, classify(failed, "claude"), SessionState(agent="claude"))
    assert d.target.model_for(failed) == asked
    assert d.reason.endswith(
        "for this call); to allow it, add escalate = true to rule 'rules[1]'"
    ), d.reason


def test_a_dearer_fallback_gives_way_to_the_requested_model() -> None:
    p = profile(PINNED + '\n[fallbacks]\nsonnet = ["opus"]\n')
    call = cw.main_loop(model="claude-opus-9-1")
    d = decide(p, call, classify(call, "claude"))
    assert [(t.alias, t.model_for(call)) for t in [d.target, *d.fallbacks]] == [
        ("sonnet", "claude-sonnet-9-1"),
        (None, "claude-opus-9-1"),
    ]


AUTO = """\
[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-9-1"

[models.opus]
provider = "anthropic"
model = "claude-opus-4-8"

[routing]
implement = { use = "auto", candidates = ["sonnet", "opus"], max_failure_rate = 0.1 }
"""


def test_learned_routing_whose_candidates_all_cost_more_keeps_the_requested_model() -> None:
    p = profile(AUTO)
    asked = "claude-haiku-9-1"
    call = cw.main_loop(model=asked)
    d = decide(p, call, classify(call, "claude"))
    assert (d.rule, d.target.alias, d.target.model_for(call)) == (
        "routing.implement",
        None,
        asked,
    )
    # Said as what happened: every candidate costs more, not that none can take the call.
    assert "no candidate can take this call" not in d.reason
    assert d.reason.startswith(
        "routing.implement (auto: every candidate that can take this call costs more than "
        "claude-haiku-9-1 (sonnet, opus)): implement → requested (claude-haiku-9-1 on anthropic); "
        "never dearer: kept the requested model claude-haiku-9-1: routing.implement sends this "
        "step to sonnet (claude-sonnet-9-1 on anthropic), which costs more"
    ), d.reason
    assert d.reason.endswith(
        'to allow it, add a [[rules]] entry with step = "implement", use = "sonnet", '
        "escalate = true"
    )
    # When one candidate costs no more, learned routing chooses among those that do not.
    cheaper = profile(AUTO.replace('candidates = ["sonnet", "opus"]', 'candidates = ["sonnet"]'))
    opus = cw.main_loop(model="claude-opus-9-1")
    assert decide(cheaper, opus, classify(opus, "claude")).target.alias == "sonnet"
    # A candidate that cannot take the call is still "no candidate can take this call".
    blind = profile(
        AUTO.replace(
            'model = "claude-sonnet-9-1"', 'model = "claude-sonnet-9-1"\ncontext_window = 10'
        ).replace('candidates = ["sonnet", "opus"]', 'candidates = ["sonnet"]')
    )
    d = decide(blind, opus, classify(opus, "claude"))
    assert "auto: no candidate can take this call" in d.reason


def test_routes_up_lists_every_place_without_an_escalation() -> None:
    p = profile(PINNED + '\n[[rules]]\nname = "hard"\nstep = "explore"\nuse = "opus"\n')
    found = [(r.where, r.alias, r.requested) for r in routes_up(p, ["claude-opus-9-1"])]
    assert found == [
        ("routing.plan", "opus", "claude-opus-9-1"),
        ("rule 'hard'", "opus", "claude-opus-9-1"),
    ]
    escalating = profile(
        PINNED.replace('plan = "opus"', 'plan = "requested"')
        + ('\n[[rules]]\nname = "hard"\nstep = "explore"\nuse = "opus"\nescalate = true\n')
    )
    assert routes_up(escalating, ["claude-opus-9-1"]) == []


runner = CliRunner()


def test_a_rule_for_one_agent_is_checked_against_what_that_agent_asks_for() -> None:
    p = profile(PINNED + '\n[[rules]]\nname = "to-claude"\nagent = ["gemini"]\nuse = "sonnet"\n')
    # Sonnet 9.1 ($2/$10) is cheaper than Opus 9.1 and dearer than Gemini 8 Pro ($1.25/$10).
    gemini = {"gemini": ("gemini", ["gemini-8-pro"])}
    found = [(r.where, r.alias, r.requested) for r in routes_up(p, ["claude-opus-9-1"], gemini)]
    assert found == [
        ("routing.plan", "opus", "claude-opus-9-1"),
        ("rule 'to-claude'", "sonnet", "gemini-8-pro"),
    ]
    # Only the agent's own rule is held to its model; without the agent, nothing is.
    assert [r.where for r in routes_up(p, ["claude-opus-9-1"])] == ["routing.plan"]


def test_profile_check_holds_a_rule_for_gemini_to_gemini_cli_s_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    rule = '[[rules]]\nname = "gemini-to-claude"\nagent = ["gemini"]\nuse = "sonnet"\n'
    sonnet = '[models.sonnet]\nprovider = "anthropic"\nmodel = "claude-sonnet-4-6"\n\n'
    (tmp_path / ".agentwrap.toml").write_text(sonnet + rule)
    app = build_app()
    result = runner.invoke(app, ["profile", "check"])
    assert result.exit_code == 0, result.output
    # The bundled table: Sonnet 4.6 ($3/$15) costs more than the newest Gemini Pro ($2/$12).
    found = re.search(
        r"routes up: rule 'gemini-to-claude' sends steps to sonnet \(claude-sonnet-4-6\), which "
        r"costs more than (gemini-[\w.-]+-pro[\w-]*) \(~\$[\d.]+ vs ~\$[\d.]+ for a 20000-token "
        r"prompt\); agentwrap keeps \1 there unless escalate = true: to allow it, add "
        r"escalate = true to rule 'gemini-to-claude'",
        result.output,
    )
    assert found, result.output
    (tmp_path / ".agentwrap.toml").write_text(sonnet + rule + "escalate = true\n")
    result = runner.invoke(app, ["profile", "check"])
    assert result.exit_code == 0 and "routes up" not in result.output, result.output


def test_profile_check_flags_a_profile_that_routes_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    # The bundled table: Claude Code asks for claude-opus-5-5, which costs less than 4-8.
    (tmp_path / ".agentwrap.toml").write_text(PINNED)
    app = build_app()
    result = runner.invoke(app, ["profile", "check", "--requested", "claude-opus-5-5"])
    assert result.exit_code == 0, result.output
    assert (
        "routes up: routing.plan sends steps to opus (claude-opus-4-8), which costs more than "
        "claude-opus-5-5 (~$0.1250 vs ~$0.1000 for a 20000-token prompt); agentwrap keeps "
        "claude-opus-5-5 there unless escalate = true: to allow it, add a [[rules]] entry with "
        'step = "plan", use = "opus", escalate = true'
    ) in result.output
    (tmp_path / ".agentwrap.toml").write_text(
        PINNED.replace('plan = "opus"', 'plan = "requested"')
        + '\n[[rules]]\nname = "hard"\nstep = "plan"\nuse = "opus"\nescalate = true\n'
    )
    result = runner.invoke(app, ["profile", "check", "--requested", "claude-opus-5-5"])
    assert result.exit_code == 0, result.output
    assert "routes up" not in result.output
