"""The call record: one inference call as the trace keeps it, one field per column of `calls`.

The store's column list is read from this dataclass, so a column is named once here (and
once in its migration). The proxy's ledger fills one record per call and reports what
changed at each step of the call; views read the stored rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass
class Attempt:
    """One try at one target of a call's chain: http <status>, connection error, ...

    `error` is what went wrong in the provider's or agentwrap's words; `wait_ms` how long the
    attempt waited for a connection (a full pool, a new handshake) before it was sent.
    """

    model: str | None
    provider: str
    outcome: str  # http <status> | connection error: ... | connect timeout | timeout before ...
    ms: float
    error: str | None = None
    wait_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The attempt as stored in the `attempts` column (error and wait only when known)."""
        out: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "outcome": self.outcome,
            "ms": round(self.ms, 1),
        }
        if self.error is not None:
            out["error"] = self.error
        if self.wait_ms is not None:
            out["wait_ms"] = round(self.wait_ms, 1)
        return out


@dataclass(kw_only=True)
class CallRecord:
    """One row of the `calls` table; the fields are the columns, in the schema's order."""

    id: str
    session_id: str
    seq: int
    started_at: float
    updated_at: float | None = None  # the store stamps it on every write
    surface: str  # the API the agent spoke (anthropic, openai_chat, ...)
    endpoint: str  # messages, count_tokens, chat, responses, generate, ...
    requested_model: str | None = None
    model: str | None = None  # the model that answered (or was being tried)
    model_alias: str | None = None
    provider: str | None = None
    provider_api: str | None = None
    status: str = "streaming"  # streaming | ok | error | aborted | refused | proxy_error
    http_status: int | None = None
    error: str | None = None
    streamed: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_read_tokens: int | None = None
    cost_usd: float | None = None
    unpriced_reason: str | None = None
    baseline_model: str | None = None
    baseline_cost_usd: float | None = None
    ttfb_ms: float | None = None
    total_ms: float | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    step: str | None = None
    evidence: str | None = None
    rule: str | None = None
    reason: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    would_model: str | None = None
    would_cost_usd: float | None = None
    thread_id: str | None = None
    agent_id: str | None = None
    outcome: str | None = None  # succeeded | failed | interrupted | unknown, learned later
    features: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None
    propensity: float | None = None  # the probability the routing decision was made with
    user_agent: str | None = None  # the agent's own, e.g. claude-cli/2.0.14 (external, cli)
    # Learned with the outcome: the struggle signals seen (route.outcome.SIGNALS) and a line
    # saying what was read ("exec_command failed: exit code 2; the same error as the step before").
    signals: list[str] = field(default_factory=list)
    outcome_evidence: str | None = None

    def row(self) -> dict[str, Any]:
        """The record as the store writes it: column name → value (attempts as dicts)."""
        return _stored(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """The values as they are now, to compare a later state with (see `changes`)."""
        out = dict(vars(self))
        out["attempts"] = list(self.attempts)
        out["features"] = dict(self.features)
        out["signals"] = list(self.signals)
        return out

    def changes(self, since: Mapping[str, Any]) -> dict[str, Any]:
        """The columns whose value differs from `since` (a snapshot, or BLANK_ROW), as stored."""
        now = vars(self)
        return _stored({k: v for k, v in now.items() if k not in since or since[k] != v})


CALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CallRecord))


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    if "attempts" in values:
        values["attempts"] = [a.as_dict() for a in values["attempts"]]
    return values


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(CallRecord):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


# A row before anything is written to it (the required columns have no entry): the
# snapshot a record's first report is compared with.
BLANK_ROW: dict[str, Any] = _defaults()
