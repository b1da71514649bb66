"""Routing profiles: the TOML format, discovery, presets and validation.

A profile says which model handles each kind of step. Three modules, one job each:

- `data`: what a profile holds (Profile, Provider, Model, Rule, Budget, Origin) and the
  constants of the format, including each API's default base URL and auth header;
- `load`: the only part of agentwrap.route that reads the disk: presets, `.agentwrap.toml`
  up to the repository root, the user's config.toml, and the files `extends` names;
- `build`: from parsed TOML to a validated Profile, every error naming file, line and key.

The names below are the public surface; import them from here.
"""

from agentwrap.route.profile.build import Layer, build_profile, parse_toml
from agentwrap.route.profile.data import (
    CAPABILITIES,
    DEFAULT_PRESET,
    ON_EXCEED,
    PASSTHROUGH_NAMES,
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
from agentwrap.route.profile.load import (
    PROFILE_FILE,
    find_profile_file,
    load_profile,
    parse_profile_text,
    preset_names,
    preset_text,
    translation_available,
)

__all__ = [
    "CAPABILITIES",
    "DEFAULT_PRESET",
    "ON_EXCEED",
    "PASSTHROUGH_NAMES",
    "PROFILE_FILE",
    "REQUESTED",
    "ROUTING_KEYS",
    "Budget",
    "Layer",
    "Model",
    "Origin",
    "Profile",
    "ProfileError",
    "Provider",
    "Rule",
    "build_profile",
    "find_profile_file",
    "load_profile",
    "parse_profile_text",
    "parse_toml",
    "preset_names",
    "preset_text",
    "translation_available",
]
