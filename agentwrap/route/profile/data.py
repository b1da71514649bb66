"""What a routing profile holds: providers, model aliases, rules, budget, and where each was set.

Plain dataclasses and the constants of the profile format; no parsing and no I/O (the loader,
`agentwrap.route.profile.load`, reads files; the builder, `agentwrap.route.profile.build`,
turns their TOML into these). A provider reads its API key from the environment mapping it
is given (the process environment by default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from agentwrap.pricing import Price, PriceBook, PriceTable
from agentwrap.route.learn import AutoPolicy
from agentwrap.route.step import STEP_KINDS
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.surface import SURFACES, auth_scheme

ROUTING_KEYS = (*STEP_KINDS, "default")
REQUESTED = "requested"  # the reserved alias: the model the agent asked for, unchanged
CAPABILITIES = ("tools", "vision", "thinking", "server_tools")
ON_EXCEED = ("warn", "downgrade", "stop")
DEFAULT_PRESET = "passthrough"

# The provider that carries an API's passthrough calls, by name.
PASSTHROUGH_NAMES = {
    ANTHROPIC: "anthropic",
    OPENAI_CHAT: "openai",
    OPENAI_RESPONSES: "openai",
    GEMINI: "gemini",
}


def is_api_home(api: str, base_url: str) -> bool:
    """Whether `base_url` is on the API's own host (scheme, host and port as the vendor's)."""
    surface = SURFACES.get(api)
    if surface is None:
        return False
    home, here = urlsplit(surface.base_url), urlsplit(base_url)
    try:
        return (here.scheme, here.hostname, here.port) == (home.scheme, home.hostname, home.port)
    except ValueError:  # a port that is not a number
        return False


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
    # Whether the agent's own credentials may come here; None: only to its API's own host.
    forward_agent_key: bool | None = None

    def takes_agent_credentials(self) -> bool:
        """Whether the agent's own credentials (its key or token, cookies, every credential
        header) may reach this provider, for an agent that speaks its API.

        Never to a provider with a key of its own; otherwise as `forward_agent_key` says, and
        when it says nothing only to the API's own host (api.anthropic.com for Anthropic).
        """
        if self.key_env:
            return False
        if self.forward_agent_key is not None:
            return self.forward_agent_key
        return is_api_home(self.api, self.base_url)

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
        return auth_scheme(self.api, self.auth or None).headers(key)


@dataclass
class Model:
    """A model alias: a provider, the provider's model id, and what it can do."""

    alias: str
    provider: str
    model: str
    price: Price | None = None
    context_window: int | None = None
    capabilities: frozenset[str] | None = None  # None: not stated (see `can`)
    tier: str | None = None  # `tier = "sonnet"`: `model` was resolved from the price table
    resolved: str = ""  # how the tier was resolved, as people read it

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
    auto: AutoPolicy | None = None  # use = "auto": learned routing among candidates
    escalate: bool = False  # may send a step to a model dearer than the requested one

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

    def summary(self) -> str:
        """What the rule does: "opus", "opus (escalates)", or its learned routing."""
        use = self.auto.summary() if self.auto else self.use
        return f"{use} (escalates)" if self.escalate else use


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
    routing: dict[str, str] = field(default_factory=dict)  # an alias, or "auto" (see `auto`)
    auto: dict[str, AutoPolicy] = field(default_factory=dict)  # routing kind → learned routing
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
    # API → its passthrough provider when the agent named another endpoint (route/endpoint.py)
    passthrough: dict[str, Provider] = field(default_factory=dict)
    price_table: PriceTable | None = None  # None: genai-prices' table (see agentwrap.pricing)

    def provider_for_api(self, api: str) -> Provider:
        """The provider that serves passthrough calls of this API."""
        if api in self.passthrough:
            return self.passthrough[api]
        name = PASSTHROUGH_NAMES.get(api, api)
        found = self.providers.get(name)
        if found is not None and found.api == api:
            return found
        if found is not None and {found.api, api} <= {OPENAI_CHAT, OPENAI_RESPONSES}:
            # One OpenAI provider serves both of its APIs at the same base URL.
            return replace(found, api=api, headers=dict(found.headers))
        return Provider(name=name, api=api, base_url=SURFACES[api].base_url)

    def provider_of(self, alias: str) -> Provider:
        """The provider of a model alias (aliases are validated at load time)."""
        return self.providers[self.models[alias].provider]

    def routed_aliases(self) -> list[str]:
        """Every alias a call can be sent to: routing, rules, fallbacks, budget, overrides."""
        seen: dict[str, None] = {}
        for alias in self.routing.values():
            seen[alias] = None
        for policy in self.auto.values():
            seen.update(dict.fromkeys(policy.candidates))
        for rule in self.rules:
            seen[rule.use] = None
            if rule.auto:
                seen.update(dict.fromkeys(rule.auto.candidates))
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

    def learns(self) -> bool:
        """Whether any routing entry or rule uses learned routing (use = "auto")."""
        return bool(self.auto) or any(rule.auto is not None for rule in self.rules)

    def price_overrides(self) -> dict[str, Price]:
        """Price overrides by model id, for the price book."""
        return {m.model: m.price for m in self.models.values() if m.price is not None}

    def price_book(self) -> PriceBook:
        """A price book that knows this profile's price overrides (one per profile: it caches
        its lookups, and learned routing asks it on every call)."""
        book = self.__dict__.get("_price_book")
        if book is None:
            book = self.__dict__["_price_book"] = PriceBook(
                self.price_overrides(), self.price_table
            )
        return book

    def origin(self, key: str) -> Origin | None:
        """Where a value such as "routing.plan" or "models.opus" was set."""
        return self.origins.get(key)
