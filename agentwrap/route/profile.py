"""Routing profiles: the TOML format, discovery, presets and validation.

A profile says which model handles each kind of step. It is found, in order: the one named
on the command line (a preset name or a path); `.agentwrap.toml` walking up from the working
directory to the repository root; the user's `config.toml`; the built-in `passthrough` preset.
A profile may `extends` a preset or another file; tables merge key by key, the child wins,
and the child's rules are tried before the parent's.

Parsing and validation are pure (text in, Profile out); discovery reads the few files it
finds and nothing else. Every error names the file, the line, the key and what was expected.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentwrap import paths
from agentwrap.pricing import Price, PriceBook, parse_price
from agentwrap.route.step import STEP_KINDS
from agentwrap.route.tomlpos import LineIndex
from agentwrap.wire.call import ANTHROPIC, APIS, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES

ROUTING_KEYS = (*STEP_KINDS, "default")
REQUESTED = "requested"  # the reserved alias: the model the agent asked for, unchanged
CAPABILITIES = ("tools", "vision", "thinking", "server_tools")
ON_EXCEED = ("warn", "downgrade", "stop")
AUTH_SCHEMES = ("x-api-key", "bearer", "x-goog-api-key")
PROFILE_FILE = ".agentwrap.toml"
DEFAULT_PRESET = "passthrough"

DEFAULT_BASE_URLS = {
    ANTHROPIC: "https://api.anthropic.com",
    OPENAI_CHAT: "https://api.openai.com/v1",
    OPENAI_RESPONSES: "https://api.openai.com/v1",
    GEMINI: "https://generativelanguage.googleapis.com",
}
DEFAULT_AUTH = {
    ANTHROPIC: "x-api-key",
    OPENAI_CHAT: "bearer",
    OPENAI_RESPONSES: "bearer",
    GEMINI: "x-goog-api-key",
}
# The provider that carries an API's passthrough calls, by name.
PASSTHROUGH_NAMES = {
    ANTHROPIC: "anthropic",
    OPENAI_CHAT: "openai",
    OPENAI_RESPONSES: "openai",
    GEMINI: "gemini",
}

_TOP_KEYS = {
    "extends": "a preset name or a path to another profile",
    "description": "a one-line description",
    "providers": "a table of providers",
    "models": "a table of model aliases",
    "routing": "a table: step kind → model alias",
    "rules": "an array of [[rules]] tables",
    "fallbacks": "a table: model alias → list of aliases",
    "baseline": f"'{REQUESTED}' or a model alias",
    "budget": "a table with session_usd and on_exceed",
    "main_loop": "a table with sticky, sticky_calls and free_switch_below_tokens",
}
_PROVIDER_KEYS = {
    "api": f"one of {', '.join(APIS)}",
    "base_url": "a URL",
    "key_env": "the name of an environment variable holding the API key",
    "auth": f"one of {', '.join(AUTH_SCHEMES)}",
    "headers": "a table of extra HTTP headers",
}
_MODEL_KEYS = {
    "provider": "a provider name",
    "model": "the provider's model id",
    "price": "a table {input, output, cache_write, cache_read} in USD per million tokens",
    "context_window": "a positive integer (tokens)",
    "capabilities": f"a list drawn from {', '.join(CAPABILITIES)}",
}
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


class ProfileError(ValueError):
    """A profile or config file is wrong; the message names file, line and key."""


@dataclass
class Provider:
    """Where calls go: an API, a base URL, and how to authenticate."""

    name: str
    api: str
    base_url: str
    key_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: str | None = None  # header scheme for key_env; None: the API's usual one

    def key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The API key from `key_env`, or None (then the agent's own credentials pass through)."""
        env = os.environ if env is None else env
        return env.get(self.key_env) or None if self.key_env else None

    def available(self, env: Mapping[str, str] | None = None) -> bool:
        """False when the provider needs a key from the environment and it is unset."""
        return self.key_env is None or self.key(env) is not None

    def auth_headers(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers that carry this provider's key (empty when it has no `key_env`)."""
        key = self.key(env)
        if key is None:
            return {}
        scheme = self.auth or DEFAULT_AUTH.get(self.api, "bearer")
        if scheme == "bearer":
            return {"authorization": f"Bearer {key}"}
        return {scheme: key}


@dataclass
class Model:
    """A model alias: a provider, the provider's model id, and what it can do."""

    alias: str
    provider: str
    model: str
    price: Price | None = None
    context_window: int | None = None
    capabilities: frozenset[str] | None = None  # None: not stated (see `can`)

    def can(self, capability: str, api: str) -> bool:
        """Whether the model has a capability; unstated lists assume the API's usual ones."""
        if self.capabilities is not None:
            return capability in self.capabilities
        if api == ANTHROPIC and self.provider == "anthropic":
            return True
        return capability in ("tools", "thinking")


@dataclass
class Rule:
    """One ordered routing rule: when every condition holds, `use` the alias."""

    name: str
    use: str
    step: tuple[str, ...] = ()
    requested_model: tuple[str, ...] = ()
    tokens_above: int | None = None
    tokens_below: int | None = None
    thinking: bool | None = None
    images: bool | None = None
    tools: bool | None = None
    subagent: tuple[str, ...] = ()
    last_failed: bool | None = None
    agent: tuple[str, ...] = ()

    def conditions(self) -> str:
        """The rule's conditions as people read them: "step implement, last step failed"."""
        out: list[str] = []
        if self.step:
            out.append(f"step {' | '.join(self.step)}")
        if self.subagent:
            out.append(f"subagent {' | '.join(self.subagent)}")
        if self.requested_model:
            out.append(f"requested {' | '.join(self.requested_model)}")
        if self.tokens_above is not None:
            out.append(f"tokens > {self.tokens_above}")
        if self.tokens_below is not None:
            out.append(f"tokens < {self.tokens_below}")
        for name, value in (
            ("thinking", self.thinking),
            ("images", self.images),
            ("tools", self.tools),
        ):
            if value is not None:
                out.append(name if value else f"no {name}")
        if self.last_failed is not None:
            out.append("last step failed" if self.last_failed else "last step did not fail")
        if self.agent:
            out.append(f"agent {' | '.join(self.agent)}")
        return ", ".join(out) or "always"


@dataclass
class Budget:
    """A per-session spending limit and what to do past it."""

    session_usd: float
    on_exceed: str = "warn"
    downgrade_to: str | None = None


@dataclass(frozen=True)
class Origin:
    """Where a value came from: a file (or preset, or the command line) and a line."""

    source: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass
class Profile:
    """The effective routing profile of one run."""

    name: str = DEFAULT_PRESET
    source: str = "built-in"
    description: str = ""
    providers: dict[str, Provider] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    routing: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    baseline: str = REQUESTED
    budget: Budget | None = None
    sticky_main_loop: bool = True
    sticky_calls: int = 8
    free_switch_below_tokens: int = 4096
    overrides: dict[str, str] = field(default_factory=dict)  # --route STEP=ALIAS of this run
    agent_api: str = ANTHROPIC
    translation: bool = False  # requests can be translated to another API
    unavailable: dict[str, str] = field(default_factory=dict)  # provider → why it is skipped
    warnings: list[str] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)  # "routing.plan" → where set
    chain: list[str] = field(default_factory=list)  # files and presets, base first

    def provider_for_api(self, api: str) -> Provider:
        """The provider that serves passthrough calls of this API."""
        name = PASSTHROUGH_NAMES.get(api, api)
        found = self.providers.get(name)
        if found is not None and found.api == api:
            return found
        if found is not None and {found.api, api} <= {OPENAI_CHAT, OPENAI_RESPONSES}:
            # One OpenAI provider serves both of its APIs at the same base URL.
            return Provider(
                name, api, found.base_url, found.key_env, dict(found.headers), found.auth
            )
        return Provider(name=name, api=api, base_url=DEFAULT_BASE_URLS[api])

    def provider_of(self, alias: str) -> Provider:
        """The provider of a model alias (aliases are validated at load time)."""
        return self.providers[self.models[alias].provider]

    def routed_aliases(self) -> list[str]:
        """Every alias a call can be sent to: routing, rules, fallbacks, budget, overrides."""
        seen: dict[str, None] = {}
        for alias in self.routing.values():
            seen[alias] = None
        for rule in self.rules:
            seen[rule.use] = None
        for alias, chain in self.fallbacks.items():
            seen[alias] = None
            for item in chain:
                seen[item] = None
        if self.budget and self.budget.downgrade_to:
            seen[self.budget.downgrade_to] = None
        for alias in self.overrides.values():
            seen[alias] = None
        seen.pop(REQUESTED, None)
        return [a for a in seen if a in self.models]

    def price_overrides(self) -> dict[str, Price]:
        """Price overrides by model id, for the price book."""
        return {m.model: m.price for m in self.models.values() if m.price is not None}

    def price_book(self) -> PriceBook:
        """A price book that knows this profile's price overrides."""
        return PriceBook(self.price_overrides())

    def origin(self, key: str) -> Origin | None:
        """Where a value such as "routing.plan" or "models.opus" was set."""
        return self.origins.get(key)


# ---------------------------------------------------------------- presets and discovery


def preset_names() -> list[str]:
    """The built-in presets shipped with the package."""
    root = importlib.resources.files("agentwrap.presets")
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    """The TOML text of a built-in preset."""
    if name not in preset_names():
        raise ProfileError(f"unknown preset '{name}'; known: {', '.join(preset_names())}")
    return (importlib.resources.files("agentwrap.presets") / f"{name}.toml").read_text("utf-8")


def find_profile_file(cwd: Path) -> Path | None:
    """`.agentwrap.toml` in `cwd` or a parent, up to the repository root (the dir with .git)."""
    cwd = cwd.resolve()
    chain = [cwd, *cwd.parents]
    root = next((d for d in chain if (d / ".git").exists()), None)
    # Outside a repository only the working directory itself counts.
    search = chain[: chain.index(root) + 1] if root is not None else [cwd]
    for directory in search:
        candidate = directory / PROFILE_FILE
        if candidate.is_file():
            return candidate
    return None


def translation_available() -> bool:
    """Whether requests can be translated across APIs (agentwrap.wire.translate exists)."""
    try:
        return importlib.util.find_spec("agentwrap.wire.translate") is not None
    except (ImportError, ValueError):
        return False


def load_profile(
    cwd: Path | None = None,
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    routes: Mapping[str, str] | None = None,
    *,
    agent_api: str = ANTHROPIC,
    translation: bool | None = None,
) -> Profile:
    """The effective profile of a run.

    `explicit` is a preset name or a path; otherwise `.agentwrap.toml` (walking up to the
    repository root), the user's config.toml, then the `passthrough` preset. `routes` are the
    run's `--route STEP=MODEL` overrides. `agent_api` is the API the agent speaks: routes to
    another API need translation (`translation`: None detects it). The environment decides
    which providers have their keys; `AGENTWRAP_ANTHROPIC_UPSTREAM` moves the anthropic
    provider's base URL, `AGENTWRAP_OPENAI_UPSTREAM` the openai one (unless it has a key_env),
    `AGENTWRAP_GEMINI_UPSTREAM` the gemini one.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if explicit:
        layer = _explicit_layer(explicit, cwd)
    else:
        found = find_profile_file(cwd)
        if found is None and paths.config_file().is_file():
            found = paths.config_file()
        layer = _file_layer(found) if found is not None else _preset_layer(DEFAULT_PRESET)
    return build_profile(
        layer, env=env, routes=routes, agent_api=agent_api, translation=translation
    )


def parse_profile_text(
    text: str,
    source: str = "<profile>",
    *,
    env: Mapping[str, str] | None = None,
    routes: Mapping[str, str] | None = None,
    agent_api: str = ANTHROPIC,
    translation: bool | None = None,
    base_dir: Path | None = None,
) -> Profile:
    """A profile from TOML text (its `extends` may name presets, or files under `base_dir`)."""
    layer = _Layer(source, text, _parse_toml(text, source), base_dir)
    return build_profile(
        layer, env=env or {}, routes=routes, agent_api=agent_api, translation=translation
    )


# ---------------------------------------------------------------- layers


@dataclass
class _Layer:
    label: str  # a path, or "preset <name>"
    text: str
    data: dict[str, Any]
    base_dir: Path | None  # for a relative `extends`
    name: str = ""

    def __post_init__(self) -> None:
        self.index = LineIndex(self.text)
        if not self.name:
            self.name = Path(self.label).name if self.base_dir else self.label

    def origin(self, *path: str | int) -> Origin:
        return Origin(self.label, self.index.line(path))

    def error(self, path: tuple[str | int, ...], message: str) -> ProfileError:
        return ProfileError(f"{self.origin(*path)}: {message}")


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{label}: not valid TOML: {exc}") from exc


def _file_layer(path: Path) -> _Layer:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror or exc}") from exc
    return _Layer(str(path), text, _parse_toml(text, str(path)), path.parent)


def _preset_layer(name: str) -> _Layer:
    label = f"preset {name}"
    text = preset_text(name)
    return _Layer(label, text, _parse_toml(text, label), None, name=name)


def _explicit_layer(ref: str, base: Path) -> _Layer:
    looks_like_path = "/" in ref or ref.endswith(".toml") or ref.startswith((".", "~"))
    if not looks_like_path and (ref in preset_names() or not (base / ref).is_file()):
        return _preset_layer(ref)
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise ProfileError(f"profile file not found: {path}")
    return _file_layer(path)


def _layer_chain(top: _Layer) -> list[_Layer]:
    """The layers from the base preset up to `top`, following `extends`."""
    chain = [top]
    seen = {top.label}
    current = top
    while "extends" in current.data:
        ref = current.data["extends"]
        if not isinstance(ref, str) or not ref:
            raise current.error(("extends",), f"extends: expected {_TOP_KEYS['extends']}")
        try:
            if current.base_dir is None and ("/" in ref or ref.endswith(".toml")):
                raise ProfileError(f"only presets can be extended from here, not '{ref}'")
            parent = _explicit_layer(ref, current.base_dir or Path.cwd())
        except ProfileError as exc:
            raise current.error(("extends",), f"extends = '{ref}': {exc}") from None
        if parent.label in seen:
            raise current.error(("extends",), f"extends = '{ref}' makes a cycle")
        seen.add(parent.label)
        chain.append(parent)
        current = parent
    return list(reversed(chain))


# ---------------------------------------------------------------- building


def build_profile(
    top: _Layer,
    *,
    env: Mapping[str, str],
    routes: Mapping[str, str] | None = None,
    agent_api: str = ANTHROPIC,
    translation: bool | None = None,
) -> Profile:
    """Merge a layer chain into a validated Profile (see load_profile)."""
    layers = _layer_chain(top)
    profile = Profile(name=top.name, source=top.label, agent_api=agent_api)
    profile.chain = [layer.label for layer in layers]
    profile.providers["anthropic"] = Provider("anthropic", ANTHROPIC, DEFAULT_BASE_URLS[ANTHROPIC])
    profile.origins["providers.anthropic"] = Origin("built-in")
    # Where each merged value was written, to name the right file in reference errors.
    refs: dict[str, tuple[_Layer, tuple[str | int, ...]]] = {}
    own_rules: list[list[tuple[Rule, _Layer, int]]] = []

    for layer in layers:
        data = layer.data
        _check_keys(layer, (), data, _TOP_KEYS)
        if "description" in data:
            profile.description = _string(layer, ("description",), data["description"])
        for name, raw in _table(layer, ("providers",), data.get("providers", {})).items():
            profile.providers[name] = _provider(layer, name, raw)
            profile.origins[f"providers.{name}"] = layer.origin("providers", name)
        for alias, raw in _table(layer, ("models",), data.get("models", {})).items():
            if alias == REQUESTED:
                raise layer.error(("models", alias), f"models.{alias}: '{REQUESTED}' is reserved")
            profile.models[alias] = _model(layer, alias, raw)
            profile.origins[f"models.{alias}"] = layer.origin("models", alias)
            refs[f"models.{alias}.provider"] = (layer, ("models", alias, "provider"))
        routing = _table(layer, ("routing",), data.get("routing", {}))
        _check_keys(layer, ("routing",), routing, dict.fromkeys(ROUTING_KEYS, "a model alias"))
        for kind, alias in routing.items():
            profile.routing[kind] = _string(layer, ("routing", kind), alias)
            profile.origins[f"routing.{kind}"] = layer.origin("routing", kind)
            refs[f"routing.{kind}"] = (layer, ("routing", kind))
        layer_rules: list[tuple[Rule, _Layer, int]] = []
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            raise layer.error(("rules",), f"rules: expected {_TOP_KEYS['rules']}")
        for i, raw in enumerate(raw_rules):
            layer_rules.append((_rule(layer, i, raw), layer, i))
        own_rules.append(layer_rules)
        for alias, chain in _table(layer, ("fallbacks",), data.get("fallbacks", {})).items():
            path = ("fallbacks", alias)
            if not isinstance(chain, list) or not all(isinstance(a, str) for a in chain):
                raise layer.error(
                    path, f"fallbacks.{alias}: expected a list of model aliases{_scope_hint(alias)}"
                )
            profile.fallbacks[alias] = list(chain)
            profile.origins[f"fallbacks.{alias}"] = layer.origin(*path)
            refs[f"fallbacks.{alias}"] = (layer, path)
        if "baseline" in data:
            profile.baseline = _string(layer, ("baseline",), data["baseline"])
            profile.origins["baseline"] = layer.origin("baseline")
            refs["baseline"] = (layer, ("baseline",))
        if "budget" in data:
            profile.budget = _budget(layer, data["budget"], profile.budget)
            profile.origins["budget"] = layer.origin("budget")
            refs["budget.downgrade_to"] = (layer, ("budget", "downgrade_to"))
        if "main_loop" in data:
            raw = _table(layer, ("main_loop",), data["main_loop"])
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

    # The child's rules are tried first: a repo profile refines the preset it extends.
    for layer_rules in reversed(own_rules):
        for rule, layer, i in layer_rules:
            profile.origins[f"rules.{len(profile.rules)}"] = layer.origin("rules", i)
            refs[f"rules.{len(profile.rules)}"] = (layer, ("rules", i, "use"))
            profile.rules.append(rule)

    _apply_upstream_env(profile, env)
    _apply_openai_upstream_env(profile, env)
    _apply_gemini_upstream_env(profile, env)
    _check_references(profile, refs)
    _apply_routes(profile, routes or {})
    _check_keys_present(profile, env)
    _check_translation(profile, refs, translation)
    return profile


def _apply_upstream_env(profile: Profile, env: Mapping[str, str]) -> None:
    # The launcher moves a pre-existing ANTHROPIC_BASE_URL here: it is the anthropic upstream.
    upstream = env.get("AGENTWRAP_ANTHROPIC_UPSTREAM")
    if not upstream:
        return
    anth = profile.providers.get("anthropic")
    if anth is None or anth.api != ANTHROPIC:
        profile.providers["anthropic"] = Provider("anthropic", ANTHROPIC, upstream.rstrip("/"))
    else:
        anth.base_url = upstream.rstrip("/")
    profile.origins["providers.anthropic"] = Origin("env AGENTWRAP_ANTHROPIC_UPSTREAM")


def _apply_openai_upstream_env(profile: Profile, env: Mapping[str, str]) -> None:
    # Where the agent's own OpenAI credentials work (a ChatGPT sign-in is not valid at the API).
    # A provider with a key of its own keeps its URL: that key belongs there.
    upstream = env.get("AGENTWRAP_OPENAI_UPSTREAM")
    if not upstream:
        return
    found = profile.providers.get("openai")
    if found is None or found.api not in (OPENAI_CHAT, OPENAI_RESPONSES):
        profile.providers["openai"] = Provider("openai", OPENAI_RESPONSES, upstream.rstrip("/"))
    elif found.key_env:
        return
    else:
        found.base_url = upstream.rstrip("/")
    profile.origins["providers.openai"] = Origin("env AGENTWRAP_OPENAI_UPSTREAM")


def _apply_gemini_upstream_env(profile: Profile, env: Mapping[str, str]) -> None:
    # The launcher moves a pre-existing GOOGLE_GEMINI_BASE_URL here: it is the gemini upstream.
    upstream = env.get("AGENTWRAP_GEMINI_UPSTREAM")
    if not upstream:
        return
    found = profile.providers.get("gemini")
    if found is None or found.api != GEMINI:
        profile.providers["gemini"] = Provider("gemini", GEMINI, upstream.rstrip("/"))
    else:
        found.base_url = upstream.rstrip("/")
    profile.origins["providers.gemini"] = Origin("env AGENTWRAP_GEMINI_UPSTREAM")


def _known(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"


def _check_references(
    profile: Profile, refs: dict[str, tuple[_Layer, tuple[str | int, ...]]]
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
        alias_ok(alias, f"routing.{kind}", f"routing.{kind}")
    for i, rule in enumerate(profile.rules):
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
    if profile.budget:
        if profile.budget.on_exceed == "downgrade" and not profile.budget.downgrade_to:
            layer, path = refs["budget.downgrade_to"]
            raise layer.error(
                ("budget", "on_exceed"),
                "budget.on_exceed = 'downgrade' needs budget.downgrade_to (a model alias)",
            )
        if profile.budget.downgrade_to:
            alias_ok(profile.budget.downgrade_to, "budget.downgrade_to", "budget.downgrade_to")


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
    refs: dict[str, tuple[_Layer, tuple[str | int, ...]]],
    translation: bool | None,
) -> None:
    if translation is None:
        translation = translation_available()
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
    layer: _Layer, path: tuple[str | int, ...], raw: Mapping[str, Any], known: Mapping[str, str]
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
    if key in _TOP_KEYS:
        return f" (a top-level '{key}' must come before the first [table])"
    return ""


def _table(layer: _Layer, path: tuple[str | int, ...], raw: Any) -> dict[str, Any]:
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


def _string(layer: _Layer, path: tuple[str | int, ...], value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise layer.error(path, f"{_dotted(path)}: expected a non-empty string, got {_kind(value)}")
    return value


def _bool(layer: _Layer, path: tuple[str | int, ...], value: Any) -> bool:
    if not isinstance(value, bool):
        raise layer.error(path, f"{_dotted(path)}: expected true or false, got {_kind(value)}")
    return value


def _int(layer: _Layer, path: tuple[str | int, ...], value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise layer.error(path, f"{_dotted(path)}: expected an integer >= {minimum}, got {value!r}")
    return value


def _strings(layer: _Layer, path: tuple[str | int, ...], value: Any) -> tuple[str, ...]:
    """A string or a list of strings."""
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise layer.error(
        path, f"{_dotted(path)}: expected a string or a list of strings, got {_kind(value)}"
    )


def _provider(layer: _Layer, name: str, raw: Any) -> Provider:
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
    base_url = raw.get("base_url", DEFAULT_BASE_URLS[api])
    base_url = _string(layer, (*path, "base_url"), base_url)
    if not base_url.startswith(("http://", "https://")):
        raise layer.error(
            (*path, "base_url"),
            f"providers.{name}.base_url: expected an http:// or https:// URL, got '{base_url}'",
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
    return Provider(name, api, base_url.rstrip("/"), key_env, dict(headers), auth)


def _model(layer: _Layer, alias: str, raw: Any) -> Model:
    path: tuple[str | int, ...] = ("models", alias)
    raw = _table(layer, path, raw)
    _check_keys(layer, path, raw, _MODEL_KEYS)
    for required in ("provider", "model"):
        if required not in raw:
            raise layer.error(
                path, f"models.{alias}.{required}: missing; expected {_MODEL_KEYS[required]}"
            )
    provider = _string(layer, (*path, "provider"), raw["provider"])
    model_id = _string(layer, (*path, "model"), raw["model"])
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
    return Model(alias, provider, model_id, price, context_window, capabilities)


def _rule(layer: _Layer, index: int, raw: Any) -> Rule:
    path: tuple[str | int, ...] = ("rules", index)
    raw = _table(layer, path, raw)
    _check_keys(layer, path, raw, _RULE_KEYS)
    if "use" not in raw:
        raise layer.error(path, f"rules[{index + 1}].use: missing; expected a model alias")
    name = _string(layer, (*path, "name"), raw.get("name", f"rules[{index + 1}]"))
    rule = Rule(name=name, use=_string(layer, (*path, "use"), raw["use"]))
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
    for key in ("thinking", "images", "tools", "last_failed"):
        if key in raw:
            setattr(rule, key, _bool(layer, (*path, key), raw[key]))
    return rule


def _budget(layer: _Layer, raw: Any, inherited: Budget | None) -> Budget:
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


def price_text(price: Price) -> str:
    """A price override as people write it: "input $3/MTok, output $15/MTok"."""

    def money(value: Decimal) -> str:
        return f"${value.normalize():f}"

    out = f"input {money(price.input)}/MTok, output {money(price.output)}/MTok"
    if price.cache_write is not None:
        out += f", cache write {money(price.cache_write)}/MTok"
    if price.cache_read is not None:
        out += f", cache read {money(price.cache_read)}/MTok"
    return out
