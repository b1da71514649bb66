"""A step: what kind of move a call is, and the evidence for saying so."""

from __future__ import annotations

from dataclasses import dataclass

STEP_KINDS = ("plan", "explore", "implement", "subagent", "background", "compact", "search")
DEFAULT_KIND = "implement"


@dataclass
class Step:
    """The kind of one call (see STEP_KINDS) with short evidence a person can read."""

    kind: str  # plan | explore | implement | subagent | background | compact | search
    evidence: str
    subagent_type: str | None = None  # Explore, Plan, general-purpose, ... for subagent calls
    main_loop: bool = False  # the agent's main conversation (its prompt cache matters)
    matched: bool = True  # False: no marker matched and the default kind applied
