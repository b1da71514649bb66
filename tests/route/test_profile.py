"""Profiles: discovery, extends, presets, and one test per kind of mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.pricing import PriceBook
from agentwrap.route.profile import (
    Layer,
    Origin,
    ProfileError,
    build_profile,
    load_profile,
    parse_profile_text,
    parse_toml,
    preset_names,
)
from agentwrap.wire.common import Usage

GOOD = """\
[providers.fast]
api = "anthropic"
base_url = "http://127.0.0.1:9/fast"
key_env = "FAST_KEY"

[models.opus]
provider = "anthropic"
model = "claude-opus-4-8"

[models.flash]
provider = "fast"
model = "glm-5.1"
context_window = 128000
capabilities = ["tools"]
price = { input = 1.0, output = 3.0 }

[models.coder]
provider = "anthropic"
model = "claude-sonnet-4-6"

[routing]
plan = "opus"
explore = "flash"
implement = "coder"

[[rules]]
name = "escalate"
step = "implement"
last_failed = true
use = "opus"

[fallbacks]
flash = ["coder"]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def parse(text: str, **kw) -> object:
    return parse_profile_text(
        textwrap.dedent(text),
        "p.toml",
        env=kw.pop("env", {"FAST_KEY": "k"}),
        translation=kw.pop("translation", False),
        **kw,
    )


def error_of(text: str, **kw) -> str:
    with pytest.raises(ProfileError) as info:
        parse(text, **kw)
    return str(info.value)


# ---------------------------------------------------------------- a good profile


def test_good_profile_parses() -> None:
    profile = parse(GOOD)
    assert profile.routing["explore"] == "flash"
    assert profile.models["flash"].context_window == 128000
    assert profile.rules[0].name == "escalate" and profile.rules[0].last_failed is True
    assert profile.fallbacks["flash"] == ["coder"]
    assert profile.warnings == []
    assert profile.origin("routing.explore").line == 23


def test_price_override_reaches_the_price_book() -> None:
    book = parse(GOOD).price_book()
    cost = book.cost("glm-5.1", Usage(1_000_000, 1_000_000))
    assert cost.usd == pytest.approx(4.0)
    assert isinstance(book, PriceBook)


# ---------------------------------------------------------------- one test per kind of mistake


def test_unknown_alias_names_file_line_key_and_known_aliases() -> None:
    text = GOOD.replace('implement = "coder"', 'implement = "glm"')
    assert error_of(text) == (
        "p.toml:24: unknown model alias 'glm' in routing.implement; "
        "known: requested, opus, flash, coder"
    )


def test_unknown_top_level_key() -> None:
    message = error_of('routes = "x"\n' + GOOD)
    assert message.startswith("p.toml:1: unknown key 'routes'; expected one of: extends,")


def test_unknown_key_in_a_model() -> None:
    message = error_of(GOOD.replace("context_window = 128000", "context = 128000"))
    assert message.startswith("p.toml:13: unknown key 'models.flash.context'; expected one of:")
    assert "context_window" in message


def test_unknown_step_kind_in_routing() -> None:
    message = error_of(GOOD.replace('plan = "opus"', 'planning = "opus"'))
    assert message.startswith("p.toml:22: unknown key 'routing.planning'")
    assert "plan, explore, implement" in message


def test_unknown_key_in_a_rule_is_located_in_the_right_rule() -> None:
    text = GOOD + '\n[[rules]]\nuse = "opus"\nimages = true\nvision = true\n'
    assert error_of(text).startswith("p.toml:38: unknown key 'rules[2].vision'")


def test_unknown_provider_in_a_model() -> None:
    message = error_of(GOOD.replace('provider = "fast"', 'provider = "fastest"'))
    assert message == (
        "p.toml:11: unknown provider 'fastest' in models.flash.provider; known: anthropic, fast"
    )


def test_bad_api() -> None:
    message = error_of(GOOD.replace('api = "anthropic"', 'api = "claude"', 1))
    assert message == (
        "p.toml:2: providers.fast.api: 'claude' is not one of "
        "anthropic, openai-chat, openai-responses, gemini"
    )


def test_wrong_type() -> None:
    message = error_of(GOOD.replace("context_window = 128000", 'context_window = "big"'))
    assert message == "p.toml:13: models.flash.context_window: expected an integer >= 1, got 'big'"


def test_unknown_capability() -> None:
    message = error_of(GOOD.replace('["tools"]', '["tools", "web"]'))
    assert "p.toml:14:" in message and "unknown capability 'web'" in message


def test_rule_without_use() -> None:
    message = error_of(GOOD.replace('use = "opus"\n', ""))
    assert message == "p.toml:26: rules[1].use: missing; expected a model alias"


def test_rule_with_unknown_alias() -> None:
    message = error_of(GOOD.replace('use = "opus"', 'use = "gpt"'))
    assert message.startswith("p.toml:30: unknown model alias 'gpt' in rule 'escalate' (use)")


def test_rule_with_unknown_step_kind() -> None:
    message = error_of(GOOD.replace('step = "implement"', 'step = ["implement", "code"]'))
    assert message.startswith("p.toml:28: rules[1].step: unknown step kind 'code'")


def test_fallback_to_unknown_alias() -> None:
    message = error_of(GOOD.replace('flash = ["coder"]', 'flash = ["coder", "haiku"]'))
    assert message.startswith("p.toml:33: unknown model alias 'haiku' in fallbacks.flash")


def test_budget_downgrade_needs_a_target() -> None:
    message = error_of(GOOD + '\n[budget]\nsession_usd = 2\non_exceed = "downgrade"\n')
    assert (
        message
        == "p.toml:37: budget.on_exceed = 'downgrade' needs budget.downgrade_to (a model alias)"
    )


def test_budget_bad_on_exceed() -> None:
    message = error_of(GOOD + '\n[budget]\nsession_usd = 2\non_exceed = "panic"\n')
    assert message == "p.toml:37: budget.on_exceed: 'panic' is not one of warn, downgrade, stop"


def test_reserved_alias() -> None:
    message = error_of('[models.requested]\nprovider = "anthropic"\nmodel = "x"\n')
    assert message == "p.toml:1: models.requested: 'requested' is reserved"


def test_invalid_toml() -> None:
    # The same file:line: form as every other profile error.
    assert error_of("[routing\n").startswith("p.toml:1: not valid TOML:")


def test_bad_base_url() -> None:
    message = error_of(GOOD.replace('"http://127.0.0.1:9/fast"', '"127.0.0.1:9"'))
    assert message.startswith(
        "p.toml:3: providers.fast.base_url: expected an http:// or https:// URL"
    )


def test_cross_api_route_without_translation_is_a_load_error() -> None:
    text = GOOD.replace('api = "anthropic"', 'api = "openai-chat"', 1)
    message = error_of(text, translation=False)
    assert message.startswith(
        "p.toml:23: routing.explore routes to 'flash' on provider 'fast', which speaks openai-chat"
    )
    assert "translation between APIs is not available" in message
    # With translation present the same profile loads.
    assert parse(text, translation=True).routing["explore"] == "flash"


def test_cross_api_model_that_is_not_routed_is_fine() -> None:
    text = (
        GOOD
        + '\n[providers.oa]\napi = "openai-chat"\n\n[models.gpt]\nprovider = "oa"\nmodel = "gpt-5"\n'
    )
    assert "gpt" in parse(text, translation=False).models


# ---------------------------------------------------------------- keys, env, --route


def test_missing_key_is_one_warning_and_provider_unavailable() -> None:
    profile = parse(GOOD, env={})
    assert profile.unavailable == {"fast": "FAST_KEY is not set"}
    assert profile.warnings == [
        "provider 'fast' is skipped: FAST_KEY is not set; steps routed to flash fall back along their chains"
    ]


def test_auth_headers_from_key_env() -> None:
    profile = parse(GOOD.replace('key_env = "FAST_KEY"', 'key_env = "FAST_KEY"\nauth = "bearer"'))
    assert profile.providers["fast"].auth_headers({"FAST_KEY": "s3"}) == {
        "authorization": "Bearer s3"
    }
    assert parse(GOOD).providers["fast"].auth_headers({"FAST_KEY": "s3"}) == {"x-api-key": "s3"}
    assert profile.providers["anthropic"].auth_headers({}) == {}


def test_anthropic_upstream_env_moves_the_passthrough_provider(tmp_path: Path) -> None:
    profile = load_profile(tmp_path, env={"AGENTWRAP_ANTHROPIC_UPSTREAM": "http://127.0.0.1:5/up/"})
    provider = profile.provider_for_api("anthropic")
    assert (provider.name, provider.base_url) == ("anthropic", "http://127.0.0.1:5/up")


def test_passthrough_provider_is_not_another_anthropic_api_provider() -> None:
    provider = parse(GOOD).provider_for_api("anthropic")
    assert provider.name == "anthropic" and provider.base_url == "https://api.anthropic.com"
    assert parse(GOOD).provider_for_api("openai-chat").base_url == "https://api.openai.com/v1"


def test_routes_override_with_alias_provider_model_and_bare_model() -> None:
    profile = parse(
        GOOD, routes={"explore": "opus", "plan": "fast:glm-5.1", "background": "claude-haiku-4-5"}
    )
    assert profile.overrides["explore"] == "opus"
    assert profile.models[profile.overrides["plan"]].provider == "fast"
    assert profile.models[profile.overrides["plan"]].model == "glm-5.1"
    bare = profile.models[profile.overrides["background"]]
    assert (bare.provider, bare.model) == ("anthropic", "claude-haiku-4-5")


def test_routes_with_unknown_step_kind() -> None:
    message = error_of(GOOD, routes={"exploring": "opus"})
    assert message.startswith("--route exploring=opus: unknown step kind 'exploring'; known: plan,")


# ---------------------------------------------------------------- discovery and extends


def test_discovery_walks_up_to_the_repo_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / ".agentwrap.toml", 'extends = "balanced"\n')
    deep = repo / "src" / "pkg"
    deep.mkdir(parents=True)
    profile = load_profile(deep, env={}, translation=False)
    assert profile.source == str((repo / ".agentwrap.toml").resolve())
    assert profile.routing["plan"] == "requested"


def test_discovery_stops_at_the_repo_root(tmp_path: Path) -> None:
    write(tmp_path / ".agentwrap.toml", 'extends = "frontier"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert load_profile(repo, env={}).name == "passthrough"


def test_user_config_then_builtin_passthrough(tmp_path: Path) -> None:
    assert load_profile(tmp_path, env={}).name == "passthrough"
    write(paths.config_file(), 'extends = "balanced"\n[routing]\nexplore = "sonnet"\n')
    profile = load_profile(tmp_path, env={}, translation=False)
    assert profile.source == str(paths.config_file())
    assert profile.routing["explore"] == "sonnet" and profile.routing["plan"] == "requested"


def test_explicit_preset_and_path(tmp_path: Path) -> None:
    assert load_profile(tmp_path, explicit="frugal", env={}, translation=False).name == "frugal"
    write(tmp_path / "mine.toml", GOOD)
    profile = load_profile(tmp_path, explicit="mine.toml", env={"FAST_KEY": "k"}, translation=False)
    assert profile.routing["explore"] == "flash"
    with pytest.raises(
        ProfileError, match="unknown preset 'cheap'; known: balanced, frontier, frugal, passthrough"
    ):
        load_profile(tmp_path, explicit="cheap", env={})


def test_extends_merges_and_child_rules_come_first(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", GOOD)
    child = write(
        tmp_path / "child.toml",
        """\
        extends = "base.toml"
        [routing]
        explore = "opus"
        [[rules]]
        name = "child-rule"
        images = true
        use = "coder"
        """,
    )
    profile = load_profile(tmp_path, explicit=str(child), env={"FAST_KEY": "k"}, translation=False)
    assert profile.routing["explore"] == "opus" and profile.routing["plan"] == "opus"
    assert [r.name for r in profile.rules] == ["child-rule", "escalate"]
    assert profile.origin("routing.explore").source == str(child)
    assert profile.origin("routing.plan").source == str(tmp_path / "base.toml")
    assert profile.chain == [str(tmp_path / "base.toml"), str(child)]


def test_error_in_a_parent_names_the_parent_file(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", GOOD.replace('plan = "opus"', 'plan = "glm"'))
    write(tmp_path / "child.toml", 'extends = "base.toml"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(tmp_path, explicit="child.toml", env={}, translation=False)
    assert str(info.value).startswith(
        f"{tmp_path / 'base.toml'}:22: unknown model alias 'glm' in routing.plan"
    )


def test_the_builder_merges_documents_it_is_given_and_reads_nothing() -> None:
    # No file behind these labels: the builder works on the documents the loader hands it.
    base_text = GOOD
    child_text = '[routing]\nexplore = "opus"\n[[rules]]\nname = "child-rule"\nuse = "nope"\n'
    base = Layer("/nowhere/base.toml", base_text, parse_toml(base_text, "base"), Path("/nowhere"))
    child = Layer("/nowhere/child.toml", child_text, parse_toml(child_text, "child"), None)
    with pytest.raises(ProfileError) as info:
        build_profile([base, child], env={}, translation=False)
    assert str(info.value).startswith(
        "/nowhere/child.toml:5: unknown model alias 'nope' in rule 'child-rule' (use)"
    )
    fixed = child_text.replace('"nope"', '"coder"')
    child = Layer("/nowhere/child.toml", fixed, parse_toml(fixed, "child"), None)
    profile = build_profile([base, child], env={"FAST_KEY": "k"}, translation=False)
    assert profile.source == "/nowhere/child.toml" and profile.routing["explore"] == "opus"
    assert [r.name for r in profile.rules] == ["child-rule", "escalate"]
    assert profile.origin("routing.plan") == Origin("/nowhere/base.toml", 22)


def test_extends_cycle_and_missing_file(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ProfileError, match="makes a cycle"):
        load_profile(tmp_path, explicit="a.toml", env={})
    write(tmp_path / "c.toml", 'extends = "nope.toml"\n')
    with pytest.raises(
        ProfileError, match=r"c.toml:1: extends = 'nope.toml': profile file not found"
    ):
        load_profile(tmp_path, explicit="c.toml", env={})


# ---------------------------------------------------------------- presets


def test_presets_all_load_and_use_priced_models() -> None:
    assert preset_names() == ["balanced", "frontier", "frugal", "passthrough"]
    book = PriceBook()
    for name in preset_names():
        profile = load_profile(explicit=name, env={}, translation=False)
        for alias in profile.routed_aliases():
            model = profile.models[alias]
            assert (
                book.cost(model.model, Usage(1000, 1000), model.provider).priced or model.price
            ), f"{name}: {alias} = {model.model} has no price"


def test_frugal_without_keys_warns_once_per_provider() -> None:
    profile = load_profile(explicit="frugal", env={}, translation=False)
    assert sorted(profile.unavailable) == ["deepseek", "moonshot", "zai"]
    assert len(profile.warnings) == 3
    keys = {"DEEPSEEK_API_KEY": "1", "ZAI_API_KEY": "2", "MOONSHOT_API_KEY": "3"}
    assert load_profile(explicit="frugal", env=keys, translation=False).warnings == []


def test_routes_with_a_mistyped_alias() -> None:
    message = error_of(GOOD, routes={"plan": "opsu"})
    assert message.startswith(
        "--route plan=opsu: unknown model alias 'opsu'; known: requested, opus,"
    )


def test_the_documented_example_is_a_valid_profile() -> None:
    doc = Path(__file__).parents[2] / "docs" / "profiles.md"
    if not doc.exists():
        pytest.skip("docs/profiles.md moved")
    example = doc.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    profile = parse_profile_text(
        example, "example", env={"DEEPSEEK_API_KEY": "k"}, translation=False
    )
    assert profile.routing["explore"] == "flash"
    assert [r.name for r in profile.rules][:2] == ["escalate-after-failure", "long-prompts"]
    assert profile.budget is not None and profile.budget.downgrade_to == "flash"


def test_a_top_level_key_written_inside_a_table_gets_a_hint() -> None:
    message = error_of(GOOD + 'baseline = "opus"\n')
    assert message == (
        "p.toml:34: fallbacks.baseline: expected a list of model aliases "
        "(a top-level 'baseline' must come before the first [table])"
    )
    message = error_of('[routing]\nplan = "opus"\nextends = "balanced"\n')
    assert message.startswith("p.toml:3: unknown key 'routing.extends'")
    assert message.endswith("(a top-level 'extends' must come before the first [table])")


def test_explicit_bare_name_of_an_existing_file(tmp_path: Path) -> None:
    write(tmp_path / "team", GOOD)
    profile = load_profile(tmp_path, explicit="team", env={"FAST_KEY": "k"}, translation=False)
    assert profile.source == str(tmp_path / "team")
    write(tmp_path / "balanced", GOOD)  # a preset name still means the preset
    assert load_profile(tmp_path, explicit="balanced", env={}).source == "preset balanced"
