"""Routing profiles and provider config.

This module owns the TOML format of `config.toml` and `.agentwrap.toml`.
(Minimal for now: providers only; the routing sections grow here.)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agentwrap import paths
from agentwrap.wire.call import ANTHROPIC, APIS, OPENAI_CHAT, OPENAI_RESPONSES

DEFAULT_BASE_URLS = {
    ANTHROPIC: "https://api.anthropic.com",
    OPENAI_CHAT: "https://api.openai.com/v1",
    OPENAI_RESPONSES: "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}


class ProfileError(ValueError):
    """A profile or config file is wrong; the message names file, line and key."""


@dataclass
class Provider:
    name: str
    api: str
    base_url: str
    key_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def key(self, env: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if env is None else env
        return env.get(self.key_env) if self.key_env else None


@dataclass
class Profile:
    name: str = "passthrough"
    source: str = "built-in"
    providers: dict[str, Provider] = field(default_factory=dict)

    def provider_for_api(self, api: str) -> Provider:
        """The provider that serves passthrough calls of this API."""
        for p in self.providers.values():
            if p.api == api:
                return p
        return Provider(name=api, api=api, base_url=DEFAULT_BASE_URLS[api])


def load_profile(
    cwd: Path | None = None,
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """The effective profile (for now: providers from the user's config.toml)."""
    env = os.environ if env is None else env
    profile = Profile()
    cfg = paths.config_file()
    if cfg.exists():
        data = _read_toml(cfg)
        for name, raw in (data.get("providers") or {}).items():
            profile.providers[name] = _provider(cfg, name, raw)
    upstream = env.get("AGENTWRAP_ANTHROPIC_UPSTREAM")
    if upstream:
        anth = profile.providers.get("anthropic")
        if anth is None or anth.api != ANTHROPIC:
            profile.providers["anthropic"] = Provider("anthropic", ANTHROPIC, upstream)
        else:
            anth.base_url = upstream
    return profile


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from exc


def _provider(path: Path, name: str, raw: object) -> Provider:
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: providers.{name}: expected a table")
    known = {"api", "base_url", "key_env", "headers"}
    unknown = set(raw) - known
    if unknown:
        raise ProfileError(
            f"{path}: providers.{name}: unknown key '{sorted(unknown)[0]}'; known: {', '.join(sorted(known))}"
        )
    api = raw.get("api", ANTHROPIC)
    if api not in APIS:
        raise ProfileError(f"{path}: providers.{name}.api: '{api}' is not one of {', '.join(APIS)}")
    return Provider(
        name=name,
        api=api,
        base_url=str(raw.get("base_url") or DEFAULT_BASE_URLS[api]).rstrip("/"),
        key_env=raw.get("key_env"),
        headers=dict(raw.get("headers") or {}),
    )
