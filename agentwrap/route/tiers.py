"""Model classes per provider: a preset names a tier, the price table says which model it is.

A preset that pins `claude-sonnet-4-6` goes stale the day a newer Sonnet ships, and may end up
dearer than the model the agent asks for. So a model alias may name a *tier* instead
(`tier = "sonnet"`), and the profile resolves it when it loads: to the newest member of that
class, among the vendor's models the price table knows. The classes, dearest first:

| vendor    | classes                 | members look like                          |
|-----------|-------------------------|--------------------------------------------|
| anthropic | opus, sonnet, haiku     | claude-sonnet-5-5, claude-haiku-4-5        |
| openai    | gpt, mini, nano         | gpt-5.5, gpt-5.4-mini, gpt-5-nano          |
| google    | pro, flash, flash-lite  | gemini-3.1-pro-preview, gemini-3.5-flash   |

"Newest" is the highest version in the id, compared as numbers (5-5 over 4-8, 3.10 over 3.8);
at the same version a generally available id wins over a `-preview`. Ids with a date, a speed or another suffix (`-fast`, `-tts`,
`-image`) are not members. The vendor is the one of the provider's API: an Anthropic provider
resolves Anthropic's ids. Pure: the model list comes in (from the price book).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES

# The price table's vendor of each API's own models.
VENDOR_OF_API = {
    ANTHROPIC: "anthropic",
    OPENAI_CHAT: "openai",
    OPENAI_RESPONSES: "openai",
    GEMINI: "google",
}

_VERSION = r"(?P<major>\d+)(?:[.-](?P<minor>\d{1,2}))?"  # not a date: 4-20250514


@dataclass(frozen=True)
class ModelClass:
    """One class of a vendor's models: its name and the ids that belong to it."""

    name: str
    patterns: tuple[re.Pattern[str], ...]  # full matches with groups major, minor

    def version(self, model_id: str) -> tuple[int, int, int] | None:
        """(major, minor, 1 when generally available) of a member; None for a non-member."""
        for pattern in self.patterns:
            found = pattern.fullmatch(model_id)
            if found:
                minor = int(found["minor"]) if found["minor"] else 0
                return int(found["major"]), minor, 0 if model_id.endswith("-preview") else 1
        return None


def _class(name: str, *patterns: str) -> ModelClass:
    return ModelClass(name, tuple(re.compile(p) for p in patterns))


# Dearest first: a tier further down the list is a cheaper class.
MODEL_CLASSES: dict[str, tuple[ModelClass, ...]] = {
    "anthropic": (
        _class("opus", rf"claude-opus-{_VERSION}", rf"claude-{_VERSION}-opus"),
        _class("sonnet", rf"claude-sonnet-{_VERSION}", rf"claude-{_VERSION}-sonnet"),
        _class("haiku", rf"claude-haiku-{_VERSION}", rf"claude-{_VERSION}-haiku"),
    ),
    "openai": (
        _class("gpt", r"gpt-(?P<major>\d+)(?:\.(?P<minor>\d+))?"),
        _class("mini", r"gpt-(?P<major>\d+)(?:\.(?P<minor>\d+))?-mini"),
        _class("nano", r"gpt-(?P<major>\d+)(?:\.(?P<minor>\d+))?-nano"),
    ),
    "google": (
        _class("pro", r"gemini-(?P<major>\d+)(?:\.(?P<minor>\d+))?-pro(?:-preview)?"),
        _class("flash", r"gemini-(?P<major>\d+)(?:\.(?P<minor>\d+))?-flash(?:-preview)?"),
        _class("flash-lite", r"gemini-(?P<major>\d+)(?:\.(?P<minor>\d+))?-flash-lite(?:-preview)?"),
    ),
}


class TierError(ValueError):
    """A tier that is not a class of the vendor, or that has no member in the price table."""


@dataclass(frozen=True)
class Resolution:
    """A tier resolved: the model it names now, and the members it was chosen from."""

    vendor: str
    tier: str
    model: str
    members: tuple[str, ...]  # the class's members in the table, newest first

    def why(self) -> str:
        """ "newest sonnet of anthropic in the price table (also: claude-sonnet-4-6, ...)"."""
        others = [m for m in self.members if m != self.model]
        also = f"; older: {', '.join(others[:3])}{', ...' if len(others) > 3 else ''}"
        return f"the newest {self.tier} of {self.vendor} in the price table{also if others else ''}"


def classes(vendor: str) -> tuple[str, ...]:
    """The class names of a vendor, dearest first (empty for a vendor without a table)."""
    return tuple(c.name for c in MODEL_CLASSES.get(vendor, ()))


def class_of(vendor: str, model_id: str) -> str | None:
    """The class a model id belongs to, or None."""
    for model_class in MODEL_CLASSES.get(vendor, ()):
        if model_class.version(model_id) is not None:
            return model_class.name
    return None


def members(vendor: str, tier: str, model_ids: Iterable[str]) -> list[str]:
    """The ids of a class among `model_ids`, newest first."""
    model_class = next((c for c in MODEL_CLASSES.get(vendor, ()) if c.name == tier), None)
    if model_class is None:
        return []
    versions = {m: v for m in set(model_ids) if (v := model_class.version(m)) is not None}
    # Same version written two ways (4-6, 4.6): the dashed id, the vendor's own, comes first.
    return sorted(versions, key=lambda m: (versions[m], "." not in m, m), reverse=True)


def resolve_tier(vendor: str, tier: str, model_ids: Iterable[str]) -> Resolution:
    """The newest member of `tier` among `model_ids` (the price table's ids of `vendor`)."""
    known = classes(vendor)
    if not known:
        raise TierError(f"no model classes are known for {vendor}; name the model instead")
    if tier not in known:
        raise TierError(f"'{tier}' is not a class of {vendor} models; known: {', '.join(known)}")
    found = members(vendor, tier, model_ids)
    if not found:
        raise TierError(f"the price table knows no {tier} model of {vendor}; name the model")
    return Resolution(vendor, tier, found[0], tuple(found))
