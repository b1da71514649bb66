"""Finding and reading profiles: the only part of agentwrap.route that touches the disk.

A profile is found, in order: the one named on the command line (a preset name or a path);
`.agentwrap.toml` walking up from the working directory to the repository root; the user's
`config.toml`; the built-in `passthrough` preset. A profile may `extends` a preset or another
file, which this module reads too, base first; `agentwrap.route.profile.build` then merges
and checks them (tables merge key by key, the child wins, the child's rules come first).
Whichever profile is used, the providers of the user's `config.toml` stand beneath it.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from agentwrap import paths
from agentwrap.pricing import PriceTable
from agentwrap.route.profile.build import (
    TOP_KEYS,
    Layer,
    build_profile,
    decode_profile,
    parse_toml,
)
from agentwrap.route.profile.data import DEFAULT_PRESET, Profile, ProfileError
from agentwrap.wire.call import ANTHROPIC

PROFILE_FILE = ".agentwrap.toml"


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
    price_table: PriceTable | None = None,
    model_ids: Callable[[str], list[str]] | None = None,
) -> Profile:
    """The effective profile of a run.

    `explicit` is a preset name or a path; otherwise `.agentwrap.toml` (walking up to the
    repository root), the user's config.toml, then the `passthrough` preset. `routes` are the
    run's `--route STEP=MODEL` overrides. `agent_api` is the API the agent speaks: routes to
    another API need translation (`translation`: None detects it). The environment decides
    which providers have their keys; `AGENTWRAP_ANTHROPIC_UPSTREAM` moves the anthropic
    provider's base URL, `AGENTWRAP_OPENAI_UPSTREAM` the openai one (unless it has a key_env),
    `AGENTWRAP_GEMINI_UPSTREAM` the gemini one. The providers the user's config.toml defines
    apply under every profile and preset, and a profile file cannot redirect them. Model
    tiers resolve against `price_table` (None: genai-prices' table, whose model ids per
    vendor `model_ids` may give, as agentwrap.modellist remembers them).
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    config = paths.config_file()
    user = _file_layer(config) if config.is_file() else None
    if explicit:
        layer = _explicit_layer(explicit, cwd)
    else:
        found = find_profile_file(cwd)
        if found is not None:
            layer = _file_layer(found)
        else:
            layer = user if user is not None else _preset_layer(DEFAULT_PRESET)
    return build_profile(
        _layer_chain(layer),
        env=env,
        routes=routes,
        agent_api=agent_api,
        translation=translation_available() if translation is None else translation,
        user=user,
        price_table=price_table,
        model_ids=model_ids,
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
    price_table: PriceTable | None = None,
) -> Profile:
    """A profile from TOML text (its `extends` may name presets, or files under `base_dir`)."""
    text = text.removeprefix("\ufeff")
    layer = Layer(source, text, parse_toml(text, source), base_dir)
    return build_profile(
        _layer_chain(layer),
        env=env or {},
        routes=routes,
        agent_api=agent_api,
        translation=translation_available() if translation is None else translation,
        price_table=price_table,
    )


def _file_layer(path: Path) -> Layer:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror or exc}") from exc
    text = decode_profile(data, str(path))
    return Layer(str(path), text, parse_toml(text, str(path)), path.parent)


def _preset_layer(name: str) -> Layer:
    label = f"preset {name}"
    text = preset_text(name)
    return Layer(label, text, parse_toml(text, label), None, name=name)


def _explicit_layer(ref: str, base: Path) -> Layer:
    looks_like_path = "/" in ref or ref.endswith(".toml") or ref.startswith((".", "~"))
    if not looks_like_path and (ref in preset_names() or not (base / ref).is_file()):
        return _preset_layer(ref)
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise ProfileError(f"profile file not found: {path}")
    return _file_layer(path)


def _layer_chain(top: Layer) -> list[Layer]:
    """The layers from the base preset up to `top`, following `extends`."""
    chain = [top]
    seen = {top.label}
    current = top
    while "extends" in current.data:
        ref = current.data["extends"]
        if not isinstance(ref, str) or not ref:
            raise current.error(("extends",), f"extends: expected {TOP_KEYS['extends']}")
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
