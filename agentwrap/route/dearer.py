"""The never-dearer rule's note: how a decision says it kept the requested model, and how the
views read that back. Pure and small, so a summary can read it without loading the router.

A step never goes to a model dearer than the one the agent asked for unless a rule says
`escalate = true` (see route/decide.py). When that rule keeps the requested model, the reason
says so in one note, naming the entry of the profile that asked for the dearer model and the
change that would allow it:

    never dearer: kept the requested model claude-haiku-4-5: routing.implement sends this
    step to sonnet (claude-sonnet-4-6 on anthropic), which costs more (~$0.0750 vs ~$0.0250
    for this call); to allow it, add a [[rules]] entry with step = "implement",
    use = "sonnet", escalate = true

The session's summary counts these notes (`held_back`), so a profile's route that never
happens is said once per session instead of only in each call's reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "never dearer: kept the requested model"
# Where the note's route ends; the costs after it differ from call to call.
ROUTE_END = ", which costs more"
_NOTE = re.compile(
    re.escape(PREFIX) + r" (?P<requested>\S+): (?P<where>.+?) sends this step to "
    r"(?P<alias>\S+) \((?P<model>\S+) on [^)]*\)" + re.escape(ROUTE_END)
)


@dataclass(frozen=True)
class HeldBack:
    """A route the never-dearer rule did not take: where the profile asked for it, the
    alias and model it named, and the requested model the call stayed on."""

    where: str  # routing.implement, rule 'long-prompts', budget.downgrade, auto candidates
    alias: str
    model: str
    requested: str


def remedy(where: str, alias: str) -> str:
    """What would allow the route: the change to the profile, in its own words."""
    if where.startswith("rule '"):
        return f"to allow it, add escalate = true to {where}"
    if where in ("budget.downgrade", "budget.downgrade_to"):
        return "to allow it, set budget.downgrade_to to a model that costs no more"
    if where.startswith("fallbacks."):
        return "a fallback dearer than the requested model is taken only behind an escalation"
    if where.startswith("routing.") and where != "routing.default":
        kind = where.removeprefix("routing.")
        return (
            f'to allow it, add a [[rules]] entry with step = "{kind}", use = "{alias}", '
            "escalate = true"
        )
    return f'to allow it, add a [[rules]] entry with use = "{alias}", escalate = true'


def note(requested: str, where: str, label: str, cost: str) -> str:
    """The reason's note for a call kept on the requested model. `label` is the target's
    "sonnet (claude-sonnet-4-6 on anthropic)", `cost` "~$0.0750 vs ~$0.0250"."""
    alias = label.split(" ", 1)[0]
    return (
        f"{PREFIX} {requested}: {where} sends this step to {label}{ROUTE_END} "
        f"({cost} for this call); {remedy(where, alias)}"
    )


def held_back(reason: str | None) -> HeldBack | None:
    """The route a call's reason says the never-dearer rule did not take, or None."""
    if not reason or PREFIX not in reason:
        return None
    found = _NOTE.search(reason)
    if found is None:
        return None
    return HeldBack(found["where"], found["alias"], found["model"], found["requested"])
