"""`agentwrap profile init|show|check`: write, inspect and validate routing profiles.

The profile machinery (and with it the price book and the API surfaces) loads inside the
functions that use it: the CLI imports this module for `--help`, and `route` for its options.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentwrap import fmt

if TYPE_CHECKING:
    from agentwrap.route.profile import Model, Origin, Profile, Provider, Rule

app = typer.Typer(
    help="Routing profiles: which model handles each step (.agentwrap.toml).",
    no_args_is_help=True,
)

ProfileOpt = typer.Option(
    None, "--profile", "-p", help="A preset name or a profile path (default: discovery)."
)
RouteOpt = typer.Option(
    None,
    "--route",
    metavar="STEP=MODEL",
    help="Override a step's model, as on launch (repeatable).",
)
RequestedOpt = typer.Option(
    None,
    "--requested",
    metavar="MODEL",
    help="A model the agent asks for, to check that no step is routed to a dearer one "
    "without escalate = true (repeatable; default: the newest top-class model of the "
    "agent's API in the price table, e.g. the newest Opus; a rule that names an agent is "
    "also checked against that agent's).",
)


def fail(message: str) -> typer.Exit:
    """Print an error the way every agentwrap command does, and give the exit to raise."""
    typer.echo(f"agentwrap: {message}", err=True)
    return typer.Exit(2)


def parse_routes(items: list[str] | None) -> dict[str, str]:
    """`--route STEP=MODEL` items as a mapping (a malformed item is an error)."""
    out: dict[str, str] = {}
    for item in items or []:
        step, sep, model = item.partition("=")
        if not sep or not step.strip() or not model.strip():
            raise fail(f"--route expects STEP=MODEL, got '{item}'")
        out[step.strip()] = model.strip()
    return out


def load_or_exit(profile: str | None, routes: list[str] | None = None) -> Profile:
    """The effective profile for this directory, or a clean error and exit 2."""
    from agentwrap.route.profile import ProfileError, load_profile

    try:
        return load_profile(Path.cwd(), profile, os.environ, routes=parse_routes(routes) or None)
    except ProfileError as exc:
        raise fail(str(exc)) from None


# ---------------------------------------------------------------- init


def init_text(preset: str) -> str:
    """A commented .agentwrap.toml that extends `preset` and shows every section."""
    from agentwrap.route.profile import REQUESTED, ROUTING_KEYS, load_profile, preset_names

    base = load_profile(explicit=preset, env={}, translation=True)
    aliases = list(base.models) or ["my-model"]
    strong = base.routing.get("plan", aliases[0])
    strong = strong if strong != REQUESTED else aliases[0]
    cheap = base.routing.get("background", aliases[-1])
    cheap = cheap if cheap != REQUESTED else aliases[-1]
    routing = "\n".join(
        f'# {kind} = "{base.routing[kind]}"' for kind in ROUTING_KEYS if kind in base.routing
    )
    known = ", ".join([REQUESTED, *base.models])
    return f"""\
# agentwrap routing profile for this repository.
# `agentwrap claude` (and every launch command) finds it from anywhere inside the repository.
# Validate it with `agentwrap profile check`; see the effective values, and where each one
# comes from, with `agentwrap profile show`. Unknown keys are errors.

# Start from a built-in preset ({", ".join(preset_names())}) or another file.
extends = "{preset}"

# Savings are reported against this model: "requested" (what the agent asked for) or an alias.
# Top-level keys like this one go before the first [table].
# baseline = "requested"

# Which model handles each step kind. The preset routes them like this; uncomment a line
# to change it. Model aliases known here: {known}.
# [routing]
{routing or '# default = "requested"'}

# Providers: where calls go. api = anthropic | openai-chat | openai-responses | gemini.
# A provider with key_env gets that key and none of the agent's own credentials; without one,
# only the API's own host (or a provider with forward_agent_key = true) gets the agent's.
# [providers.deepseek]
# api = "anthropic"
# base_url = "https://api.deepseek.com/anthropic"
# key_env = "DEEPSEEK_API_KEY"
# auth = "bearer"                        # x-api-key | bearer | x-goog-api-key
# headers = {{ "x-team" = "core" }}

# Models: an alias for a provider's model id, with what it can do. Instead of an id, a tier
# names a class of the provider's models (opus, sonnet, haiku; gpt, mini, nano; pro, flash,
# flash-lite): the newest the price table knows (`agentwrap prices`).
# [models.fast]
# provider = "anthropic"
# tier = "haiku"
# [models.flash]
# provider = "deepseek"
# model = "deepseek-v4-flash"
# context_window = 1000000
# capabilities = ["tools", "thinking"]   # tools, vision, thinking, server_tools
# price = {{ input = 0.3, output = 0.45 }}  # USD per million tokens; overrides the price table

# Rules are tried in order, before [routing]; the first whose conditions all hold wins.
# Conditions: step, requested_model (glob), tokens_above, tokens_below, thinking, images,
# tools, subagent (Explore, Plan, general-purpose...), last_failed, agent. No step goes to a
# model dearer than the one the agent asked for unless its rule says escalate = true.
# [[rules]]
# name = "escalate-after-failure"
# step = "implement"
# last_failed = true
# use = "{strong}"
# escalate = true                        # may cost more than the model the agent asked for

# Learned routing: "auto" sends a step to the cheapest candidate whose failure rate at that
# step kind, from the outcomes agentwrap has seen, is credibly within max_failure_rate; until
# one is, to the last candidate. `agentwrap learn status` shows what each kind would get.
# [auto]
# candidates = ["{cheap}", "{strong}"]  # cheapest wins when good enough; the trusted one last
# max_failure_rate = 0.10
# explore = 0.05  # how often another candidate is tried (never on plan steps)
# prior = {{ failures = 1, successes = 1 }}  # what to expect before any outcome
# ... and in [routing]: implement = "auto"

# Tried in order when a model fails before its first byte (connection error, timeout,
# 429, 5xx, 529), or cannot take the call (missing key, images, context window).
# [fallbacks]
# {strong} = ["{cheap}"]

# [budget]
# session_usd = 5.0
# on_exceed = "warn"                     # warn | downgrade | stop
# downgrade_to = "{cheap}"

# Switching the main loop's model throws away the provider's prompt cache, so within one
# phase (plan, implement) the main loop keeps its model unless a rule, the budget or a
# missing capability moves it, or the prompt is still small.
# [main_loop]
# sticky = true
# sticky_calls = 8                       # then the step's own model may return
# free_switch_below_tokens = 4096
"""


@app.command("init")
def init_cmd(
    preset: str = typer.Option("balanced", "--preset", help="The preset to extend."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented .agentwrap.toml in the current directory."""
    from agentwrap.route.profile import PROFILE_FILE, preset_names

    if preset not in preset_names():
        raise fail(f"unknown preset '{preset}'; known: {', '.join(preset_names())}")
    target = Path.cwd() / PROFILE_FILE
    if target.exists() and not force:
        raise fail(f"{target} already exists; use --force to overwrite it")
    target.write_text(init_text(preset), encoding="utf-8")
    typer.echo(f"wrote {target} (extends preset {preset}); check it with: agentwrap profile check")


# ---------------------------------------------------------------- show


def credentials(profile: Profile, name: str) -> str:
    """What a provider receives to authenticate: its own key (named, present or missing, and
    the header it goes in), the agent's own credentials and why, or none."""
    from agentwrap.wire.surface import auth_scheme

    provider = profile.providers[name]
    if provider.key_env:
        present = "present" if provider.available(os.environ) else "MISSING"
        scheme = auth_scheme(provider.api, provider.auth).name
        return f"key {provider.key_env} {present} (as {scheme})"
    if provider.takes_agent_credentials():
        origin = profile.origin(f"providers.{name}")
        if provider.forward_agent_key is None:
            why = "the API's own host"
        elif origin is not None and origin.source.startswith("env "):
            why = "the agent's own base URL"
        else:
            why = "forward_agent_key"
        return f"the agent's own credentials ({why})"
    if provider.forward_agent_key is False:
        return "no credentials (forward_agent_key = false)"
    return (
        "no credentials (another host than the API's: forward_agent_key = true sends the agent's)"
    )


def show_document(profile: Profile) -> dict[str, Any]:
    """The effective profile as a profile document: every value merged, tiers resolved,
    this run's --route applied; loading it gives the same effective profile."""
    from agentwrap.route.profile import ROUTING_KEYS

    doc: dict[str, Any] = {}
    if profile.description:
        doc["description"] = profile.description
    doc["baseline"] = profile.baseline
    doc["providers"] = {name: _provider_doc(p) for name, p in profile.providers.items()}
    doc["models"] = {alias: _model_doc(m) for alias, m in profile.models.items()}
    routing: dict[str, Any] = {}
    for kind in ROUTING_KEYS:
        if kind in profile.overrides:
            routing[kind] = profile.overrides[kind]
        elif kind in profile.auto:
            routing[kind] = {"use": profile.routing[kind], **profile.auto[kind].as_dict()}
        elif kind in profile.routing:
            routing[kind] = profile.routing[kind]
    doc["routing"] = routing
    doc["rules"] = [_rule_doc(rule) for rule in profile.rules]
    doc["fallbacks"] = {alias: list(chain) for alias, chain in profile.fallbacks.items()}
    if profile.budget:
        b = profile.budget
        budget: dict[str, Any] = {"session_usd": b.session_usd, "on_exceed": b.on_exceed}
        if b.downgrade_to:
            budget["downgrade_to"] = b.downgrade_to
        doc["budget"] = budget
    doc["main_loop"] = {
        "sticky": profile.sticky_main_loop,
        "sticky_calls": profile.sticky_calls,
        "free_switch_below_tokens": profile.free_switch_below_tokens,
    }
    return {k: v for k, v in doc.items() if v not in ({}, [])}


def _provider_doc(p: Provider) -> dict[str, Any]:
    out: dict[str, Any] = {"api": p.api, "base_url": p.base_url}
    if p.key_env:
        out["key_env"] = p.key_env
    if p.auth:
        out["auth"] = p.auth
    if p.headers:
        out["headers"] = dict(p.headers)
    if p.forward_agent_key is not None:
        out["forward_agent_key"] = p.forward_agent_key
    return out


def _model_doc(m: Model) -> dict[str, Any]:
    out: dict[str, Any] = {"provider": m.provider, "model": m.model}
    if m.price:
        price = {"input": m.price.input, "output": m.price.output}
        if m.price.cache_write is not None:
            price["cache_write"] = m.price.cache_write
        if m.price.cache_read is not None:
            price["cache_read"] = m.price.cache_read
        out["price"] = {k: float(v) for k, v in price.items()}
    if m.context_window:
        out["context_window"] = m.context_window
    if m.capabilities is not None:
        out["capabilities"] = sorted(m.capabilities)
    return out


def _rule_doc(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rule.name, "use": rule.use}
    for key in ("step", "requested_model", "subagent", "agent"):
        if getattr(rule, key):
            out[key] = list(getattr(rule, key))
    for key in ("tokens_above", "tokens_below", "thinking", "images", "tools", "last_failed"):
        if getattr(rule, key) is not None:
            out[key] = getattr(rule, key)
    if rule.escalate:
        out["escalate"] = True
    if rule.auto:
        out.update(rule.auto.as_dict())
    return out


def provenance(profile: Profile) -> list[str]:
    """Where each value of `show_document` came from, and what it means, one comment a line
    (tomli-w writes no comments, so this is the document's header)."""
    from agentwrap.route.profile import ROUTING_KEYS

    def line(key: str, origin: Origin | str | None, detail: str = "") -> str:
        where = origin if isinstance(origin, str) else str(origin or "built-in default")
        return f"# {key} from {where}" + (f" — {detail}" if detail else "")

    out = [
        f"# The effective profile {profile.name} from {profile.source}, written as TOML.",
        "# Where each value came from is this header (tomli-w writes no comments).",
    ]
    if len(profile.chain) > 1:
        out.append(f"# extends: {' → '.join(profile.chain)}")
    for name in profile.providers:
        receives = f"receives {credentials(profile, name)}"
        out.append(line(f"providers.{name}", profile.origin(f"providers.{name}"), receives))
    for alias, m in profile.models.items():
        detail = f"tier {m.tier}: {m.model}, {m.resolved}" if m.tier else ""
        out.append(line(f"models.{alias}", profile.origin(f"models.{alias}"), detail))
    for kind in ROUTING_KEYS:
        if kind in profile.overrides:
            out.append(line(f"routing.{kind}", "--route (this run)"))
        elif kind in profile.routing:
            policy = profile.auto.get(kind)
            detail = policy.summary(kind) if policy else ""
            out.append(line(f"routing.{kind}", profile.origin(f"routing.{kind}"), detail))
    for i, rule in enumerate(profile.rules):
        detail = f"{rule.name}: when {rule.conditions()} → {rule.summary()} (tried in order)"
        out.append(line(f"rules[{i + 1}]", profile.origin(f"rules.{i}"), detail))
    for alias in profile.fallbacks:
        out.append(line(f"fallbacks.{alias}", profile.origin(f"fallbacks.{alias}")))
    out.append(line("baseline", profile.origin("baseline")))
    if profile.budget:
        out.append(line("budget", profile.origin("budget")))
    out.append(line("main_loop", profile.origin("main_loop")))
    out += [f"# warning: {warning}" for warning in profile.warnings]
    return out


def show_toml(profile: Profile) -> str:
    """The effective profile as TOML (tomli-w), under its provenance header."""
    import tomli_w

    return "\n".join(provenance(profile)) + "\n\n" + tomli_w.dumps(show_document(profile))


def show_json(profile: Profile) -> dict[str, Any]:
    """The effective profile as JSON-ready data, with origins."""
    from agentwrap.route.profile import ROUTING_KEYS

    def origin(key: str) -> str | None:
        found = profile.origin(key)
        return str(found) if found else None

    return {
        "name": profile.name,
        "source": profile.source,
        "chain": profile.chain,
        "providers": {
            n: {
                "api": p.api,
                "base_url": p.base_url,
                "key_env": p.key_env,
                "key_present": p.available(os.environ),
                "receives": credentials(profile, n),
                "from": origin(f"providers.{n}"),
            }
            for n, p in profile.providers.items()
        },
        "models": {
            a: {
                "provider": m.provider,
                "model": m.model,
                "tier": m.tier,
                "resolved": m.resolved or None,
                "context_window": m.context_window,
                "capabilities": sorted(m.capabilities) if m.capabilities is not None else None,
                "price": fmt.price(m.price) if m.price else None,
                "from": origin(f"models.{a}"),
            }
            for a, m in profile.models.items()
        },
        "routing": {
            k: {
                "use": profile.overrides.get(k, profile.routing.get(k)),
                "from": "--route" if k in profile.overrides else origin(f"routing.{k}"),
                **(
                    {"auto": profile.auto[k].as_dict()}
                    if k in profile.auto and k not in profile.overrides
                    else {}
                ),
            }
            for k in ROUTING_KEYS
            if k in profile.routing or k in profile.overrides
        },
        "rules": [
            {
                "name": r.name,
                "when": r.conditions(),
                "use": r.use,
                "escalate": r.escalate,
                "from": origin(f"rules.{i}"),
                **({"auto": r.auto.as_dict()} if r.auto else {}),
            }
            for i, r in enumerate(profile.rules)
        ],
        "fallbacks": profile.fallbacks,
        "baseline": profile.baseline,
        "budget": None
        if profile.budget is None
        else {
            "session_usd": profile.budget.session_usd,
            "on_exceed": profile.budget.on_exceed,
            "downgrade_to": profile.budget.downgrade_to,
        },
        "main_loop": {
            "sticky": profile.sticky_main_loop,
            "sticky_calls": profile.sticky_calls,
            "free_switch_below_tokens": profile.free_switch_below_tokens,
        },
        "warnings": profile.warnings,
    }


@app.command("show")
def show_cmd(
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of text."),
) -> None:
    """Show the effective profile as TOML, with where each value came from in its header."""
    loaded = load_or_exit(profile, route)
    if as_json:
        typer.echo(json.dumps(show_json(loaded), indent=2))
        return
    typer.echo(show_toml(loaded), nl=False)


# ---------------------------------------------------------------- check


CHECK_HELP = (
    "Validate the profile, list its providers and the credentials each receives, and flag "
    "every place that would route a step to a model dearer than the requested one."
)


# One string, not the docstring: help shows a docstring's line breaks as they are written.
@app.command("check", help=CHECK_HELP)
def check_cmd(
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    requested: list[str] | None = RequestedOpt,
    probe: bool = typer.Option(
        False,
        "--probe",
        help="Also ask each provider for its model list with the key agentwrap would send; "
        "exit 1 when a routed provider does not answer ok.",
    ),
) -> None:
    """`agentwrap profile check` (its help is CHECK_HELP)."""
    loaded = load_or_exit(profile, route)
    typer.echo(f"ok: profile {loaded.name} from {loaded.source}")
    used = {loaded.models[a].provider for a in loaded.routed_aliases()}
    # Each agent's own API has a passthrough provider (Codex's calls go to openai, Gemini CLI's
    # to gemini): it receives that agent's calls whatever the profile routes.
    from agentwrap.agents import registry

    apis = {loaded.agent_api, *(agent.api for agent in registry.agents())}
    used |= {loaded.provider_for_api(api).name for api in apis}
    for name, provider in loaded.providers.items():
        role = "routed" if name in used else "defined, not routed"
        typer.echo(
            f"  provider {name:<12} {provider.api:<17} {role:<19} {provider.base_url} "
            f"receives {credentials(loaded, name)}"
        )
    typer.echo(
        "The agent's own credentials are its key or token, cookies and every credential "
        "header it sends; they reach only a provider of the agent's own API."
    )
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning}")
    from agentwrap.route.decide import routes_up  # the router, only for this check

    # A rule for one agent is checked against what that agent asks for, on its own API.
    named = [registry.get(a) for rule in loaded.rules for a in rule.agent]
    agents = {a.name: (a.api, frontier(loaded, a.api)) for a in named if a is not None}
    for found in routes_up(loaded, requested or frontier(loaded), agents):
        typer.echo(f"routes up: {found}")
    if probe:
        _probe(loaded, used)


def frontier(profile: Profile, api: str | None = None) -> list[str]:
    """The model an agent of this API (default: the profile's) asks for by default: the
    newest of its vendor's dearest class the price table knows (none when the table knows no
    class of it)."""
    from agentwrap.route.tiers import VENDOR_OF_API, TierError, classes, resolve_tier

    vendor = VENDOR_OF_API[api or profile.agent_api]
    try:
        top = classes(vendor)[0]
        return [resolve_tier(vendor, top, profile.price_book().model_ids(vendor)).model]
    except (IndexError, TierError):
        return []


def _probe(loaded: Profile, routed: set[str]) -> None:
    from agentwrap.probe import probe_profile

    failed = False
    for result in probe_profile(loaded, os.environ):
        typer.echo(f"  probe {result.provider:<15} {result.verdict:<13} {result.detail}")
        typer.echo(f"        {'':<15} {result.url}  key: {result.credentials}")
        failed |= not result.ok and result.provider in routed
    if failed:
        raise typer.Exit(1)
