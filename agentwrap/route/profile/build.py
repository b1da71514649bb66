"""From parsed TOML to a validated Profile: the builder and every check on a profile's values.

Pure: it takes the documents the loader (`agentwrap.route.profile.load`) read, base first,
and an environment mapping, and reads nothing else. Every error names the file, the line
(`agentwrap.route.tomlpos`), the key and what was expected, so a person can fix the file
without the docs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentwrap.pricing import PriceBook, PriceTable, parse_price
from agentwrap.route.learn import AUTO, MAX_EXPLORE, NO_EXPLORE, AutoPolicy, Prior
from agentwrap.route.profile.data import (
    CAPABILITIES,
    ON_EXCEED,
    REQUESTED,
    ROUTING_KEYS,
    Budget,
    Model,
    Origin,
    Profile,
    ProfileError,
    Provider,
    Rule,
)
from agentwrap.route.step import STEP_KINDS
from agentwrap.route.tiers import VENDOR_OF_API, TierError, resolve_tier
from agentwrap.route.tomlpos import LineIndex
from agentwrap.wire.call import ANTHROPIC, APIS, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.surface import AUTH_SCHEMES, SURFACES

# The keys each table of a profile may hold, and what each expects (quoted in errors).
TOP_KEYS = {
    "extends": "a preset name or a path to another profile",
    "description": "a one-line description",
    "providers": "a table of providers",
    "models": "a table of model aliases",
    "routing": f"a table: step kind → model alias (or '{AUTO}', or a table with use = '{AUTO}')",
    "rules": "an array of [[rules]] tables",
    "fallbacks": "a table: model alias → list of aliases",
    "baseline": f"'{REQUESTED}' or a model alias",
    "budget": "a table with session_usd and on_exceed",
    "main_loop": "a table with sticky, sticky_calls and free_switch_below_tokens",
    AUTO: f"a table of defaults for use = '{AUTO}': candidates, max_failure_rate, explore, prior",
    "export": "a table such as [export.otlp] (read by agentwrap.export.config)",
}
_PROVIDER_KEYS = {
    "api": f"one of {', '.join(APIS)}",
    "base_url": "a URL",
    "key_env": "the name of an environment variable holding the API key",
    "auth": f"one of {', '.join(AUTH_SCHEMES)}",
    "headers": "a table of extra HTTP headers",
    "forward_agent_key": "true or false: whether the agent's own credentials go to this host",
}
_MODEL_KEYS = {
    "provider": "a provider name",
    "model": "the provider's model id",
    "tier": "a class of the provider's models instead of an id (opus, sonnet, haiku; gpt, "
    "mini, nano; pro, flash, flash-lite): the newest the price table knows",
    "price": "a table {input, output, cache_write, cache_read} in USD per million tokens",
    "context_window": "a positive integer (tokens)",
    "capabilities": f"a list drawn from {', '.join(CAPABILITIES)}",
}
# Learned routing (`use = "auto"`): in [auto] as defaults, in a routing table, or in a rule.
_AUTO_KEYS = {
    "candidates": "a list of model aliases, the trusted one last",
    "max_failure_rate": "a number between 0 and 1 (the failure rate to stay credibly under)",
    "explore": f"a number from 0 to {MAX_EXPLORE} (how often another candidate is tried)",
    "prior": "a table {failures, successes} of pseudo-counts (how much to expect unseen)",
}
_ROUTE_TABLE_KEYS = {"use": f"'{AUTO}'", **_AUTO_KEYS}
# An auto setting as written: its value, the document and the key path (for located errors).
_AutoSpec = dict[str, tuple[Any, "Layer", tuple[str | int, ...]]]
_RULE_KEYS = {
    "name": "a short name",
    "use": "a model alias",
    "step": f"a step kind or a list of them ({', '.join(STEP_KINDS)})",
    "requested_model": "a glob or a list of globs on the requested model",
    "tokens_above": "an integer (estimated prompt tokens)",
    "tokens_below": "an integer (estimated prompt tokens)",
    "thinking": "true or false",
    "images": "true or false",
    "tools": "true or false",
    "subagent": "a subagent type or a list of them (Explore, Plan, general-purpose, ...)",
    "last_failed": "true or false",
    "agent": "an agent name or a list of them (claude, codex, gemini, ...)",
    "escalate": "true or false: the rule may send a step to a model dearer than the requested one",
    **_AUTO_KEYS,
}
_BUDGET_KEYS = {
    "session_usd": "a positive number (USD per session)",
    "on_exceed": f"one of {', '.join(ON_EXCEED)}",
    "downgrade_to": "a model alias (used by on_exceed = 'downgrade')",
}
_MAIN_LOOP_KEYS = {
    "sticky": "true or false",
    "sticky_calls": "a positive integer (main-loop calls a model is kept before it may change)",
    "free_switch_below_tokens": "a non-negative integer (estimated prompt tokens)",
}


@dataclass
class Layer:
    """One profile document: its label (a path, or "preset <name>"), text and parsed TOML."""

    label: str
    text: str
    data: dict[str, Any]
    base_dir: Path | None  # for a relative `extends`
    name: str = ""

    def __post_init__(self) -> None:
        self.index = LineIndex(self.text)
        if not self.name:
            self.name = Path(self.label).name if self.base_dir else self.label

    def origin(self, *path: str | int) -> Origin:
        """Where a key path of this document sits: its label and line."""
        return Origin(self.label, self.index.line(path))

    def error(self, path: tuple[str | int, ...], message: str) -> ProfileError:
        """A ProfileError that starts with the file and line of a key path."""
        return ProfileError(f"{self.origin(*path)}: {message}")


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def parse_toml(text: str, label: str) -> dict[str, Any]:
    """The TOML of a profile document; a syntax error becomes a ProfileError naming the file
    and line, as every other profile error does. A leading UTF-8 byte order mark is ignored."""
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        if at is None:
            raise ProfileError(f"{label}: not valid TOML: {message}") from None
        reason = message[: at.start()]
        raise ProfileError(
            f"{label}:{at.group(1)}: not valid TOML: {reason} (column {at.group(2)})"
        ) from None


def decode_profile(data: bytes, label: str) -> str:
    """A profile file's bytes as text: UTF-8, with or without a byte order mark; anything else
    is a ProfileError naming the file, line and column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise ProfileError(
            f"{label}:{line}: not UTF-8 text (byte 0x{data[start]:02x} at column {column}); "
            "save the profile as UTF-8"
        ) from None


# ---------------------------------------------------------------- building


def build_profile(
    layers: Sequence[Layer],
    *,
    env: Mapping[str, str],
    routes: Mapping[str, str] | None = None,
    agent_api: str = ANTHROPIC,
    translation: bool,
    user: Layer | None = None,
    price_table: PriceTable | None = None,
    model_ids: Callable[[str], list[str]] | None = None,
) -> Profile:
    """Merge documents, base first (the one `extends` reached last) and the profile itself
    last, into a validated Profile.

    `env` decides which providers have their keys and holds the AGENTWRAP_*_UPSTREAM moves;
    `routes` are the run's `--route STEP=MODEL` overrides; `agent_api` is the API the agent
    speaks, and without `translation` nothing may route to another API. `user` is the user's
    own config.toml: its providers stand beneath every profile and preset (see
    `_user_providers`). A model's `tier` resolves against `price_table` (None: genai-prices'
    table, see agentwrap.route.tiers), whose model ids per vendor `model_ids` may give
    (without a price_table: genai-prices' ids, remembered by the caller)."""
    profile = _new_profile(layers, agent_api)
    profile.price_table = price_table
    merge = _Merge(user=user, users=_user_providers(user))
    for layer in layers:
        _merge_layer(profile, layer, merge)
    _order_rules(profile, merge)
    _build_auto(profile, merge.auto_defaults, merge.auto_kinds, merge.own_rules, merge.refs)
    _warn_forwarded_credentials(profile, merge)
    _apply_user_providers(profile, user, merge.users, merge.shadowed)
    _apply_upstream_env(profile, env)
    _apply_openai_upstream_env(profile, env)
    _apply_gemini_upstream_env(profile, env)
    _check_references(profile, merge.refs)
    _resolve_tiers(profile, merge.refs, None if price_table is not None else model_ids)
    _apply_routes(profile, routes or {})
    _check_path_model_names(profile, merge.refs)
    _check_keys_present(profile, env)
    _check_translation(profile, merge.refs, translation)
    return profile


@dataclass
class _Merge:
    """What merging the documents gathers besides the Profile itself."""

    user: Layer | None
    users: dict[str, Provider]  # the providers of the user's own config.toml
    # Where each merged value was written, to name the right file in reference errors.
    refs: dict[str, tuple[Layer, tuple[str | int, ...]]] = field(default_factory=dict)
    own_rules: list[list[tuple[Rule, Layer, int]]] = field(default_factory=list)
    # Learned routing's settings, each with where it was written: [auto] defaults, per kind.
    auto_defaults: _AutoSpec = field(default_factory=dict)
    auto_kinds: dict[str, _AutoSpec] = field(default_factory=dict)
    # Definitions of the user's providers in profile files, ignored: (file, name, definition).
    shadowed: list[tuple[Layer, str, Provider]] = field(default_factory=list)
    defined_in: dict[str, Layer] = field(default_factory=dict)


def _new_profile(layers: Sequence[Layer], agent_api: str) -> Profile:
    """An empty profile named after the top document, with the built-in anthropic provider."""
    top = layers[-1]
    profile = Profile(name=top.name, source=top.label, agent_api=agent_api)
    profile.chain = [layer.label for layer in layers]
    profile.providers["anthropic"] = Provider("anthropic", ANTHROPIC, SURFACES[ANTHROPIC].base_url)
    profile.origins["providers.anthropic"] = Origin("built-in")
    return profile


def _merge_layer(profile: Profile, layer: Layer, merge: _Merge) -> None:
    """One document's values over those merged so far (its rules are kept apart, see
    `_order_rules`)."""
    data = layer.data
    _check_keys(layer, (), data, TOP_KEYS)
    if "description" in data:
        profile.description = _string(layer, ("description",), data["description"])
    _merge_providers(profile, layer, merge)
    _merge_models(profile, layer, merge)
    _merge_auto_defaults(profile, layer, merge)
    _merge_routing(profile, layer, merge)
    merge.own_rules.append(_layer_rules(layer))
    _merge_fallbacks(profile, layer, merge)
    _merge_baseline(profile, layer, merge)
    _merge_budget(profile, layer, merge)
    _merge_main_loop(profile, layer)


def _merge_providers(profile: Profile, layer: Layer, merge: _Merge) -> None:
    for name, raw in _table(layer, ("providers",), layer.data.get("providers", {})).items():
        provider = _provider(layer, name, raw)
        if name in merge.users and not _is_user(layer, merge.user):
            if layer.base_dir is not None:  # a file; presets give way silently
                merge.shadowed.append((layer, name, provider))
            continue
        profile.providers[name] = provider
        profile.origins[f"providers.{name}"] = layer.origin("providers", name)
        merge.defined_in[name] = layer


def _merge_models(profile: Profile, layer: Layer, merge: _Merge) -> None:
    for alias, raw in _table(layer, ("models",), layer.data.get("models", {})).items():
        if alias in (REQUESTED, AUTO):
            raise layer.error(("models", alias), f"models.{alias}: '{alias}' is reserved")
        model = profile.models[alias] = _model(layer, alias, raw)
        profile.origins[f"models.{alias}"] = layer.origin("models", alias)
        merge.refs[f"models.{alias}.provider"] = (layer, ("models", alias, "provider"))
        key = "tier" if model.tier else "model"
        merge.refs[f"models.{alias}.model"] = (layer, ("models", alias, key))


def _merge_auto_defaults(profile: Profile, layer: Layer, merge: _Merge) -> None:
    if AUTO not in layer.data:
        return
    raw = _table(layer, (AUTO,), layer.data[AUTO])
    _check_keys(layer, (AUTO,), raw, _AUTO_KEYS)
    merge.auto_defaults.update({k: (v, layer, (AUTO, k)) for k, v in raw.items()})
    profile.origins[AUTO] = layer.origin(AUTO)


def _merge_routing(profile: Profile, layer: Layer, merge: _Merge) -> None:
    routing = _table(layer, ("routing",), layer.data.get("routing", {}))
    _check_keys(layer, ("routing",), routing, dict.fromkeys(ROUTING_KEYS, "a model alias"))
    for kind, alias in routing.items():
        path = ("routing", kind)
        merge.auto_kinds.pop(kind, None)
        if isinstance(alias, dict):
            _check_keys(layer, path, alias, _ROUTE_TABLE_KEYS)
            if alias.get("use") != AUTO:
                raise layer.error(
                    (*path, "use"),
                    f"routing.{kind}: a table is for learned routing and needs "
                    f"use = '{AUTO}'; a fixed route is written {kind} = \"ALIAS\"",
                )
            merge.auto_kinds[kind] = {
                k: (v, layer, (*path, k)) for k, v in alias.items() if k != "use"
            }
            alias = AUTO
        elif alias == AUTO:
            merge.auto_kinds[kind] = {}
        profile.routing[kind] = _string(layer, path, alias)
        profile.origins[f"routing.{kind}"] = layer.origin(*path)
        merge.refs[f"routing.{kind}"] = (layer, path)


def _layer_rules(layer: Layer) -> list[tuple[Rule, Layer, int]]:
    """The document's own [[rules]], each with where it was written."""
    raw_rules = layer.data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise layer.error(("rules",), f"rules: expected {TOP_KEYS['rules']}")
    return [(_rule(layer, i, raw), layer, i) for i, raw in enumerate(raw_rules)]


def _merge_fallbacks(profile: Profile, layer: Layer, merge: _Merge) -> None:
    for alias, chain in _table(layer, ("fallbacks",), layer.data.get("fallbacks", {})).items():
        path = ("fallbacks", alias)
        if not isinstance(chain, list) or not all(isinstance(a, str) for a in chain):
            raise layer.error(
                path, f"fallbacks.{alias}: expected a list of model aliases{_scope_hint(alias)}"
            )
        profile.fallbacks[alias] = list(chain)
        profile.origins[f"fallbacks.{alias}"] = layer.origin(*path)
        merge.refs[f"fallbacks.{alias}"] = (layer, path)


def _merge_baseline(profile: Profile, layer: Layer, merge: _Merge) -> None:
    if "baseline" not in layer.data:
        return
    profile.baseline = _string(layer, ("baseline",), layer.data["baseline"])
    profile.origins["baseline"] = layer.origin("baseline")
    merge.refs["baseline"] = (layer, ("baseline",))


def _merge_budget(profile: Profile, layer: Layer, merge: _Merge) -> None:
    if "budget" not in layer.data:
        return
    profile.budget = _budget(layer, layer.data["budget"], profile.budget)
    profile.origins["budget"] = layer.origin("budget")
    merge.refs["budget.downgrade_to"] = (layer, ("budget", "downgrade_to"))


def _merge_main_loop(profile: Profile, layer: Layer) -> None:
    if "main_loop" not in layer.data:
        return
    raw = _table(layer, ("main_loop",), layer.data["main_loop"])
    _check_keys(layer, ("main_loop",), raw, _MAIN_LOOP_KEYS)
    if "sticky" in raw:
        profile.sticky_main_loop = _bool(layer, ("main_loop", "sticky"), raw["sticky"])
    if "sticky_calls" in raw:
        path = ("main_loop", "sticky_calls")
        profile.sticky_calls = _int(layer, path, raw["sticky_calls"])
    if "free_switch_below_tokens" in raw:
        path = ("main_loop", "free_switch_below_tokens")
        profile.free_switch_below_tokens = _int(layer, path, raw[path[1]], minimum=0)
    profile.origins["main_loop"] = layer.origin("main_loop")


def _order_rules(profile: Profile, merge: _Merge) -> None:
    """The child's rules are tried first: a repo profile refines the preset it extends."""
    for layer_rules in reversed(merge.own_rules):
        for rule, layer, i in layer_rules:
            profile.origins[f"rules.{len(profile.rules)}"] = layer.origin("rules", i)
            merge.refs[f"rules.{len(profile.rules)}"] = (layer, ("rules", i, "use"))
            profile.rules.append(rule)


def _warn_forwarded_credentials(profile: Profile, merge: _Merge) -> None:
    """Said once at every launch: a profile file sends the agent's credentials elsewhere."""
    for name, layer in merge.defined_in.items():
        provider = profile.providers[name]
        if (
            provider.forward_agent_key
            and layer.base_dir is not None
            and not _is_user(layer, merge.user)
        ):
            profile.warnings.append(
                f"{layer.origin('providers', name, 'forward_agent_key')}: provider '{name}' "
                f"receives the agent's own credentials at {provider.base_url} "
                "(forward_agent_key = true)"
            )


def _is_user(layer: Layer, user: Layer | None) -> bool:
    return user is not None and layer.label == user.label


def _user_providers(user: Layer | None) -> dict[str, Provider]:
    """The providers the user defined in their own config.toml, checked.

    They stand beneath every profile and preset: a preset's definition of the same provider
    gives way to the user's (a company gateway stays where calls go under `--profile
    balanced`), and a profile file cannot redirect them (its definition is ignored, with a
    warning). Only the `providers` table is read here; the rest of config.toml counts only
    when it is the profile in use.
    """
    if user is None:
        return {}
    tables = _table(user, ("providers",), user.data.get("providers", {}))
    return {name: _provider(user, name, raw) for name, raw in tables.items()}


def _apply_user_providers(
    profile: Profile,
    user: Layer | None,
    users: dict[str, Provider],
    shadowed: list[tuple[Layer, str, Provider]],
) -> None:
    if user is None:
        return
    for name, provider in users.items():
        profile.providers[name] = provider
        profile.origins[f"providers.{name}"] = user.origin("providers", name)
    for layer, name, theirs in shadowed:
        ours = users[name]
        if theirs == ours:
            continue  # the same definition, written twice
        profile.warnings.append(
            f"{layer.origin('providers', name)}: providers.{name} is ignored: you configured "
            f"that provider in {user.origin('providers', name)} ({ours.api} {ours.base_url}), "
            "and a profile cannot redirect a provider of your own config.toml"
        )


def _build_auto(
    profile: Profile,
    defaults: _AutoSpec,
    kinds: dict[str, _AutoSpec],
    own_rules: list[list[tuple[Rule, Layer, int]]],
    refs: dict[str, tuple[Layer, tuple[str | int, ...]]],
) -> None:
    """Every use = "auto" becomes an AutoPolicy: its own keys over the [auto] defaults."""
    for kind, own in kinds.items():
        profile.auto[kind] = _auto_policy(
            profile,
            f"routing.{kind}",
            refs[f"routing.{kind}"],
            {**defaults, **own},
            own,
            kind == "plan",
        )
    for layer_rules in own_rules:
        for rule, layer, i in layer_rules:
            if rule.use != AUTO:
                continue
            raw = layer.data["rules"][i]
            own = {k: (raw[k], layer, ("rules", i, k)) for k in _AUTO_KEYS if k in raw}
            rule.auto = _auto_policy(
                profile,
                f"rules[{i + 1}]",
                (layer, ("rules", i, "use")),
                {**defaults, **own},
                own,
                rule.step == ("plan",),
            )


def _auto_policy(
    profile: Profile,
    where: str,
    site: tuple[Layer, tuple[str | int, ...]],
    merged: _AutoSpec,
    own: _AutoSpec,
    plan_only: bool,
) -> AutoPolicy:
    for required in ("candidates", "max_failure_rate"):
        if required not in merged:
            raise site[0].error(
                site[1],
                f"{where}: use = '{AUTO}' needs {required} ({_AUTO_KEYS[required]}), "
                f"set here or in [{AUTO}]",
            )
    value, layer, path = merged["candidates"]
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise layer.error(path, f"{_dotted(path)}: expected {_AUTO_KEYS['candidates']}")
    candidates: list[str] = value
    for alias in candidates:
        if alias not in profile.models:
            hint = " (name the model: the requested one has no price of its own)"
            raise layer.error(
                path,
                f"unknown model alias '{alias}' in {_dotted(path)}; known: "
                f"{_known(profile.models)}{hint if alias == REQUESTED else ''}",
            )
    twice = next((a for a in candidates if candidates.count(a) > 1), None)
    if twice is not None:
        raise layer.error(path, f"{_dotted(path)}: '{twice}' is listed twice")
    rate = _fraction(merged["max_failure_rate"], low=0.0, high=1.0, open_low=True)
    explore = 0.0
    if "explore" in merged:
        explore = _fraction(merged["explore"], low=0.0, high=MAX_EXPLORE)
        if plan_only and explore > 0 and "explore" in own:
            _, layer, path = own["explore"]
            raise layer.error(
                path,
                f"{_dotted(path)}: {', '.join(NO_EXPLORE)} steps never explore (a plan decides "
                "every later step); leave explore out or set it to 0",
            )
    prior = Prior()
    if "prior" in merged:
        raw_prior, layer, path = merged["prior"]
        raw = _table(layer, path, raw_prior)
        known = {"failures": "pseudo-count", "successes": "pseudo-count"}
        _check_keys(layer, path, raw, known)
        counts = {}
        for key in known:
            count = raw.get(key, 1)
            if isinstance(count, bool) or not isinstance(count, int | float) or count <= 0:
                raise layer.error(
                    (*path, key), f"{_dotted((*path, key))}: expected a number > 0, got {count!r}"
                )
            counts[key] = float(count)
        prior = Prior(counts["failures"], counts["successes"])
    return AutoPolicy(tuple(candidates), rate, explore, prior)


def _fraction(
    entry: tuple[Any, Layer, tuple[str | int, ...]],
    *,
    low: float,
    high: float,
    open_low: bool = False,
) -> float:
    """A number in [low, high] (or (low, high) when open_low), with a located error."""
    value, layer, path = entry
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or value > high or value < low or (open_low and value in (low, high)):
        bounds = f"between {low:g} and {high:g}" if open_low else f"from {low:g} to {high:g}"
        raise layer.error(path, f"{_dotted(path)}: expected a number {bounds}, got {value!r}")
    return float(value)


def _apply_upstream_env(profile: Profile, env: Mapping[str, str]) -> None:
    # The launcher moves a pre-existing ANTHROPIC_BASE_URL here: it is the anthropic upstream.
    upstream = _upstream_from_env(env, "AGENTWRAP_ANTHROPIC_UPSTREAM")
    if not upstream:
        return
    anth = profile.providers.get("anthropic")
    if anth is None or anth.api != ANTHROPIC:
        profile.providers["anthropic"] = Provider("anthropic", ANTHROPIC, upstream.rstrip("/"))
    else:
        anth.base_url = upstream.rstrip("/")
    # Where the agent itself sent its calls: its credentials belong there.
    profile.providers["anthropic"].forward_agent_key = True
    profile.origins["providers.anthropic"] = Origin("env AGENTWRAP_ANTHROPIC_UPSTREAM")


def _apply_openai_upstream_env(profile: Profile, env: Mapping[str, str]) -> None:
    # Where the agent's own OpenAI credentials work (a ChatGPT sign-in is not valid at the API).
    # A provider with a key of its own keeps its URL: that key belongs there.
    upstream = _upstream_from_env(env, "AGENTWRAP_OPENAI_UPSTREAM")
    if not upstream:
        return
    found = profile.providers.get("openai")
    if found is None or found.api not in (OPENAI_CHAT, OPENAI_RESPONSES):
        profile.providers["openai"] = Provider("openai", OPENAI_RESPONSES, upstream.rstrip("/"))
    elif found.key_env:
        return
    else:
        found.base_url = upstream.rstrip("/")
    profile.providers["openai"].forward_agent_key = True
    profile.origins["providers.openai"] = Origin("env AGENTWRAP_OPENAI_UPSTREAM")


def _apply_gemini_upstream_env(profile: Profile, env: Mapping[str, str]) -> None:
    # The launcher moves a pre-existing GOOGLE_GEMINI_BASE_URL here: it is the gemini upstream.
    upstream = _upstream_from_env(env, "AGENTWRAP_GEMINI_UPSTREAM")
    if not upstream:
        return
    found = profile.providers.get("gemini")
    if found is None or found.api != GEMINI:
        profile.providers["gemini"] = Provider("gemini", GEMINI, upstream.rstrip("/"))
    else:
        found.base_url = upstream.rstrip("/")
    profile.providers["gemini"].forward_agent_key = True
    profile.origins["providers.gemini"] = Origin("env AGENTWRAP_GEMINI_UPSTREAM")


def url_credentials_problem(url: str) -> str | None:
    """Why a base URL that carries a user name or password is refused (None if it does not).

    The message shows the URL with its credentials hidden: it is printed to the terminal.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return None
    shown = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
    return (
        f"'{shown}' carries a user name or password ('user:pass@'); agentwrap does not send "
        "credentials from a URL"
    )


def _upstream_from_env(env: Mapping[str, str], var: str) -> str | None:
    """A base URL the launcher handed over in `var`, refused if it carries credentials."""
    upstream = env.get(var)
    if not upstream:
        return None
    problem = url_credentials_problem(upstream)
    if problem:
        raise ProfileError(
            f"{var} (the agent's own base URL, kept as its upstream): {problem}: define that "
            "gateway as a provider in config.toml, its key in key_env"
        )
    return upstream


def _known(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"


def _check_references(
    profile: Profile, refs: dict[str, tuple[Layer, tuple[str | int, ...]]]
) -> None:
    aliases = [REQUESTED, *profile.models]

    def alias_ok(alias: str, where: str, key: str) -> None:
        if alias not in aliases:
            layer, path = refs[key]
            raise layer.error(
                path, f"unknown model alias '{alias}' in {where}; known: {_known(aliases)}"
            )

    for alias, model in profile.models.items():
        if model.provider not in profile.providers:
            layer, path = refs[f"models.{alias}.provider"]
            raise layer.error(
                path,
                f"unknown provider '{model.provider}' in models.{alias}.provider; "
                f"known: {_known(profile.providers)}",
            )
    for kind, alias in profile.routing.items():
        if alias != AUTO:
            alias_ok(alias, f"routing.{kind}", f"routing.{kind}")
    for i, rule in enumerate(profile.rules):
        if rule.use != AUTO:
            alias_ok(rule.use, f"rule '{rule.name}' (use)", f"rules.{i}")
    for alias, chain in profile.fallbacks.items():
        if alias not in aliases:
            layer, path = refs[f"fallbacks.{alias}"]
            raise layer.error(
                path, f"unknown model alias '{alias}' in fallbacks; known: {_known(aliases)}"
            )
        for item in chain:
            alias_ok(item, f"fallbacks.{alias}", f"fallbacks.{alias}")
    if profile.baseline != REQUESTED:
        alias_ok(profile.baseline, "baseline", "baseline")
    _check_budget(profile, refs, alias_ok)


def _check_budget(
    profile: Profile,
    refs: dict[str, tuple[Layer, tuple[str | int, ...]]],
    alias_ok: Callable[[str, str, str], None],
) -> None:
    """A budget that downgrades names the model it downgrades to, and that model exists."""
    if not profile.budget:
        return
    if profile.budget.on_exceed == "downgrade" and not profile.budget.downgrade_to:
        layer, path = refs["budget.downgrade_to"]
        raise layer.error(
            ("budget", "on_exceed"),
            "budget.on_exceed = 'downgrade' needs budget.downgrade_to (a model alias)",
        )
    if profile.budget.downgrade_to:
        alias_ok(profile.budget.downgrade_to, "budget.downgrade_to", "budget.downgrade_to")


def _resolve_tiers(
    profile: Profile,
    refs: dict[str, tuple[Layer, tuple[str | int, ...]]],
    model_ids: Callable[[str], list[str]] | None,
) -> None:
    """Each `tier = "..."` becomes the newest model of that class the price table knows, of
    the vendor whose API the provider speaks (agentwrap.route.tiers)."""
    for alias, model in profile.models.items():
        if model.tier is None:
            continue
        model_ids = model_ids or PriceBook(table=profile.price_table).model_ids
        vendor = VENDOR_OF_API[profile.providers[model.provider].api]
        try:
            found = resolve_tier(vendor, model.tier, model_ids(vendor))
        except TierError as exc:
            layer, path = refs[f"models.{alias}.model"]
            raise layer.error(path, f"models.{alias}.tier: {exc}") from None
        model.model = found.model
        model.resolved = found.why()


def _apply_routes(profile: Profile, routes: Mapping[str, str]) -> None:
    """`--route STEP=MODEL`: MODEL is an alias, 'requested', 'PROVIDER:MODEL_ID' or a model id."""
    for step, target in routes.items():
        where = f"--route {step}={target}"
        if step not in ROUTING_KEYS:
            raise ProfileError(
                f"{where}: unknown step kind '{step}'; known: {_known(ROUTING_KEYS)}"
            )
        if not target:
            raise ProfileError(f"{where}: expected a model alias or a model id after '='")
        alias = target
        if target not in profile.models and target != REQUESTED:
            provider_name, sep, model_id = target.partition(":")
            if sep and provider_name in profile.providers and model_id:
                provider = profile.providers[provider_name]
            elif _looks_like_model_id(target):
                provider, model_id = profile.provider_for_api(profile.agent_api), target
                profile.providers.setdefault(provider.name, provider)
            else:
                known = _known([REQUESTED, *profile.models])
                raise ProfileError(
                    f"{where}: unknown model alias '{target}'; known: {known} "
                    "(or a model id such as claude-opus-4-8, or PROVIDER:MODEL_ID)"
                )
            alias = target
            profile.models[alias] = Model(alias, provider.name, model_id)
            profile.origins[f"models.{alias}"] = Origin("--route")
        profile.overrides[step] = alias
        profile.origins[f"route.{step}"] = Origin("--route")


# A model id that an API puts in the URL path (Gemini's /models/<id>:generateContent) must stay
# one plain segment: a '/', '..', '?', '#' or '%' in it would change where the call goes.
_PATH_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def path_model_problem(model_id: str) -> str | None:
    """Why a model id cannot go into a Gemini URL path (None when it can)."""
    if _PATH_MODEL_ID.fullmatch(model_id) and ".." not in model_id:
        return None
    return (
        f"'{model_id}' cannot be a Gemini model name: the name goes into the request's URL "
        "path, where '/', '..' and other path characters would change where the call goes "
        "(letters, digits, '.', '-' and '_' only, e.g. gemini-2.5-pro)"
    )


def _check_path_model_names(
    profile: Profile, refs: dict[str, tuple[Layer, tuple[str | int, ...]]]
) -> None:
    for alias, model in profile.models.items():
        provider = profile.providers.get(model.provider)
        if provider is None or provider.api != GEMINI:
            continue
        problem = path_model_problem(model.model)
        if problem is None:
            continue
        where = refs.get(f"models.{alias}.model")
        if where is None:  # made by --route
            raise ProfileError(f"--route: models.{alias}: {problem}")
        layer, path = where
        raise layer.error(path, f"models.{alias}.model: {problem}")


def _looks_like_model_id(text: str) -> bool:
    # Model ids carry a version ("gpt-5", "claude-haiku-4-5"); a bare word is a mistyped alias.
    return any(c.isdigit() for c in text) and any(c in "-/." for c in text)


def _check_keys_present(profile: Profile, env: Mapping[str, str]) -> None:
    for alias in profile.routed_aliases():
        provider = profile.provider_of(alias)
        if provider.name in profile.unavailable or provider.available(env):
            continue
        profile.unavailable[provider.name] = f"{provider.key_env} is not set"
        users = sorted(
            a for a in profile.routed_aliases() if profile.models[a].provider == provider.name
        )
        profile.warnings.append(
            f"provider '{provider.name}' is skipped: {provider.key_env} is not set; "
            f"steps routed to {', '.join(users)} fall back along their chains"
        )


def _check_translation(
    profile: Profile,
    refs: dict[str, tuple[Layer, tuple[str | int, ...]]],
    translation: bool,
) -> None:
    profile.translation = translation
    if translation:
        return
    foreign = {
        alias
        for alias in profile.routed_aliases()
        if profile.provider_of(alias).api != profile.agent_api
    }
    if not foreign:
        return
    # Name the first place that routes to another API.
    for key, (layer, path) in refs.items():
        alias = _alias_at(profile, key)
        hit = alias if alias in foreign else None
        policy = _auto_at(profile, key)
        if policy is not None:
            hit = next((a for a in policy.candidates if a in foreign), None)
        if key.startswith("fallbacks."):
            chain = [key.split(".", 1)[1], *profile.fallbacks.get(key.split(".", 1)[1], [])]
            hit = next((a for a in chain if a in foreign), None)
        if hit:
            provider = profile.provider_of(hit)
            raise layer.error(
                path,
                f"{_key_label(key, profile)} routes to '{hit}' on provider '{provider.name}', "
                f"which speaks {provider.api}; the agent speaks {profile.agent_api} and "
                "translation between APIs is not available in this version",
            )
    alias = sorted(foreign)[0]
    provider = profile.provider_of(alias)
    raise ProfileError(
        f"--route: '{alias}' is on provider '{provider.name}' ({provider.api}); the agent speaks "
        f"{profile.agent_api} and translation between APIs is not available in this version"
    )


def _auto_at(profile: Profile, key: str) -> AutoPolicy | None:
    if key.startswith("routing."):
        return profile.auto.get(key.split(".", 1)[1])
    if key.startswith("rules."):
        return profile.rules[int(key.split(".", 1)[1])].auto
    return None


def _alias_at(profile: Profile, key: str) -> str | None:
    if key.startswith("routing."):
        return profile.routing.get(key.split(".", 1)[1])
    if key.startswith("rules."):
        return profile.rules[int(key.split(".", 1)[1])].use
    if key == "budget.downgrade_to" and profile.budget:
        return profile.budget.downgrade_to
    return None


def _key_label(key: str, profile: Profile) -> str:
    if key.startswith("rules."):
        return f"rule '{profile.rules[int(key.split('.', 1)[1])].name}'"
    return key


# ---------------------------------------------------------------- value checks


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _check_keys(
    layer: Layer, path: tuple[str | int, ...], raw: Mapping[str, Any], known: Mapping[str, str]
) -> None:
    for key in raw:
        if key not in known:
            where = _dotted((*path, key))
            hint = _scope_hint(key) if path else ""
            raise layer.error(
                (*path, key), f"unknown key '{where}'; expected one of: {', '.join(known)}{hint}"
            )


def _scope_hint(key: str) -> str:
    # In TOML a key belongs to the table above it: a common slip with top-level keys.
    if key in TOP_KEYS:
        return f" (a top-level '{key}' must come before the first [table])"
    return ""


def _table(layer: Layer, path: tuple[str | int, ...], raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise layer.error(path, f"{_dotted(path)}: expected a table, got {_kind(raw)}")
    return raw


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _string(layer: Layer, path: tuple[str | int, ...], value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise layer.error(path, f"{_dotted(path)}: expected a non-empty string, got {_kind(value)}")
    return value


def _bool(layer: Layer, path: tuple[str | int, ...], value: Any) -> bool:
    if not isinstance(value, bool):
        raise layer.error(path, f"{_dotted(path)}: expected true or false, got {_kind(value)}")
    return value


def _int(layer: Layer, path: tuple[str | int, ...], value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise layer.error(path, f"{_dotted(path)}: expected an integer >= {minimum}, got {value!r}")
    return value


def _strings(layer: Layer, path: tuple[str | int, ...], value: Any) -> tuple[str, ...]:
    """A string or a list of strings."""
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise layer.error(
        path, f"{_dotted(path)}: expected a string or a list of strings, got {_kind(value)}"
    )


def _provider(layer: Layer, name: str, raw: Any) -> Provider:
    path: tuple[str | int, ...] = ("providers", name)
    raw = _table(layer, path, raw)
    _check_keys(layer, path, raw, _PROVIDER_KEYS)
    if "api" not in raw:
        raise layer.error(path, f"providers.{name}.api: missing; expected {_PROVIDER_KEYS['api']}")
    api = raw["api"]
    if api not in APIS:
        raise layer.error(
            (*path, "api"), f"providers.{name}.api: '{api}' is not one of {', '.join(APIS)}"
        )
    base_url = raw.get("base_url", SURFACES[api].base_url)
    base_url = _string(layer, (*path, "base_url"), base_url)
    if not base_url.startswith(("http://", "https://")):
        raise layer.error(
            (*path, "base_url"),
            f"providers.{name}.base_url: expected an http:// or https:// URL, got '{base_url}'",
        )
    problem = url_credentials_problem(base_url)
    if problem:
        raise layer.error(
            (*path, "base_url"),
            f"providers.{name}.base_url: {problem}: name the variable holding the key in "
            "key_env (and its header in auth), or put a fixed header in headers",
        )
    key_env = raw.get("key_env")
    if key_env is not None:
        key_env = _string(layer, (*path, "key_env"), key_env)
    auth = raw.get("auth")
    if auth is not None and auth not in AUTH_SCHEMES:
        raise layer.error(
            (*path, "auth"),
            f"providers.{name}.auth: '{auth}' is not one of {', '.join(AUTH_SCHEMES)}",
        )
    headers = _table(layer, (*path, "headers"), raw.get("headers", {}))
    for hname, hvalue in headers.items():
        if not isinstance(hvalue, str):
            raise layer.error(
                (*path, "headers", hname),
                f"providers.{name}.headers.{hname}: expected a string, got {_kind(hvalue)}",
            )
    forward = raw.get("forward_agent_key")
    if forward is not None:
        forward = _bool(layer, (*path, "forward_agent_key"), forward)
    return Provider(name, api, base_url.rstrip("/"), key_env, dict(headers), auth, forward)


def _model(layer: Layer, alias: str, raw: Any) -> Model:
    path: tuple[str | int, ...] = ("models", alias)
    raw = _table(layer, path, raw)
    _check_keys(layer, path, raw, _MODEL_KEYS)
    if "provider" not in raw:
        raise layer.error(
            path, f"models.{alias}.provider: missing; expected {_MODEL_KEYS['provider']}"
        )
    if ("model" in raw) == ("tier" in raw):
        said = "both" if "model" in raw else "neither"
        raise layer.error(
            path,
            f"models.{alias}: give model ({_MODEL_KEYS['model']}) or tier ({_MODEL_KEYS['tier']})"
            f", not {said}",
        )
    provider = _string(layer, (*path, "provider"), raw["provider"])
    tier = _string(layer, (*path, "tier"), raw["tier"]) if "tier" in raw else None
    model_id = _string(layer, (*path, "model"), raw["model"]) if tier is None else ""
    price = None
    if "price" in raw:
        price_raw = _table(layer, (*path, "price"), raw["price"])
        known = ("input", "output", "cache_write", "cache_read")
        _check_keys(layer, (*path, "price"), price_raw, dict.fromkeys(known, "USD per MTok"))
        for key, value in price_raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise layer.error(
                    (*path, "price", key),
                    f"models.{alias}.price.{key}: expected a non-negative number, got {value!r}",
                )
        try:
            price = parse_price(price_raw)
        except ValueError as exc:
            raise layer.error((*path, "price"), f"models.{alias}.price: {exc}") from None
    context_window = None
    if "context_window" in raw:
        context_window = _int(layer, (*path, "context_window"), raw["context_window"])
    capabilities = None
    if "capabilities" in raw:
        caps = raw["capabilities"]
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise layer.error(
                (*path, "capabilities"),
                f"models.{alias}.capabilities: expected {_MODEL_KEYS['capabilities']}",
            )
        for cap in caps:
            if cap not in CAPABILITIES:
                raise layer.error(
                    (*path, "capabilities"),
                    f"models.{alias}.capabilities: unknown capability '{cap}'; "
                    f"known: {', '.join(CAPABILITIES)}",
                )
        capabilities = frozenset(caps)
    return Model(alias, provider, model_id, price, context_window, capabilities, tier)


def _rule(layer: Layer, index: int, raw: Any) -> Rule:
    path: tuple[str | int, ...] = ("rules", index)
    raw = _table(layer, path, raw)
    _check_keys(layer, path, raw, _RULE_KEYS)
    if "use" not in raw:
        raise layer.error(path, f"rules[{index + 1}].use: missing; expected a model alias")
    name = _string(layer, (*path, "name"), raw.get("name", f"rules[{index + 1}]"))
    rule = Rule(name=name, use=_string(layer, (*path, "use"), raw["use"]))
    if rule.use != AUTO:
        for key in _AUTO_KEYS:
            if key in raw:
                raise layer.error(
                    (*path, key),
                    f"rules[{index + 1}].{key}: only for use = '{AUTO}' (learned routing)",
                )
    for key in ("step", "requested_model", "subagent", "agent"):
        if key in raw:
            setattr(rule, key, _strings(layer, (*path, key), raw[key]))
    for kind in rule.step:
        if kind not in STEP_KINDS:
            raise layer.error(
                (*path, "step"),
                f"rules[{index + 1}].step: unknown step kind '{kind}'; known: {', '.join(STEP_KINDS)}",
            )
    for key in ("tokens_above", "tokens_below"):
        if key in raw:
            setattr(rule, key, _int(layer, (*path, key), raw[key], minimum=0))
    for key in ("thinking", "images", "tools", "last_failed", "escalate"):
        if key in raw:
            setattr(rule, key, _bool(layer, (*path, key), raw[key]))
    return rule


def _budget(layer: Layer, raw: Any, inherited: Budget | None) -> Budget:
    path: tuple[str | int, ...] = ("budget",)
    raw = _table(layer, path, raw)
    _check_keys(layer, path, raw, _BUDGET_KEYS)
    budget = (
        Budget(inherited.session_usd, inherited.on_exceed, inherited.downgrade_to)
        if inherited
        else None
    )
    if "session_usd" in raw:
        value = raw["session_usd"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise layer.error(
                (*path, "session_usd"),
                f"budget.session_usd: expected {_BUDGET_KEYS['session_usd']}, got {value!r}",
            )
        budget = Budget(
            float(value),
            budget.on_exceed if budget else "warn",
            budget.downgrade_to if budget else None,
        )
    if budget is None:
        raise layer.error(path, "budget.session_usd: missing; expected a positive number (USD)")
    if "on_exceed" in raw:
        if raw["on_exceed"] not in ON_EXCEED:
            raise layer.error(
                (*path, "on_exceed"),
                f"budget.on_exceed: '{raw['on_exceed']}' is not one of {', '.join(ON_EXCEED)}",
            )
        budget.on_exceed = raw["on_exceed"]
    if "downgrade_to" in raw:
        budget.downgrade_to = _string(layer, (*path, "downgrade_to"), raw["downgrade_to"])
    return budget
