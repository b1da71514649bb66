"""The ledger: what the proxy records about each call, priced, and the outcome labels.

One `CallLedger` per call fills a `CallRecord` and reports it to the recorder as the call goes
(started, trying a fallback, routed, first byte, finished or failed); each report carries the
columns that changed since the call's previous one, so the live panel and the store see the
same row. Routed and first byte are one report when the first byte follows at once (a stream's
first chunk, a whole body): the first byte carries the routed columns. `Ledger` is the
session's side: prices, the routing state's memory of answers, and labelling a step with the
outcome the next request reveals, which also counts it in learned routing's evidence (in memory
for this session's decisions, and in the store).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentwrap.agents.base import ConversationIds
from agentwrap.pricing import Cost, PriceBook
from agentwrap.route.decide import Decision, SessionState, Step, Target, learning_agent
from agentwrap.route.learn import ArmKey, Evidence
from agentwrap.route.outcome import UNKNOWN, read_outcome
from agentwrap.route.replay import stored_features
from agentwrap.trace import recorder as ev
from agentwrap.trace.record import BLANK_ROW, Attempt, CallRecord
from agentwrap.trace.recorder import Recorder
from agentwrap.wire.call import Call
from agentwrap.wire.common import Usage

log = logging.getLogger(__name__)

# The most of an answer kept for content capture.
MAX_ANSWER = 4 * 1024 * 1024
# Side requests share a conversation's ids but are not its steps (titles, searches...).
SIDE_STEPS = frozenset({"background", "search"})
# A conversation and, inside it, the subagent a call belongs to (either may be unknown).
Conversation = ConversationIds
# The columns `CallLedger.answering` sets: what a routed report says on its own.
ROUTED_COLUMNS = ("model", "provider", "provider_api", "model_alias")


@dataclass
class CallResult:
    """What became of a call so far: filled in place, so a cancellation keeps what was seen."""

    status: str = "ok"
    http_status: int | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    ttfb_ms: float | None = None
    response_bytes: int = 0
    stop_reason: str | None = None
    target: Target | None = None  # the model that answered (or was trying to)
    usage_read: bool = True  # False: the answer was too large to read its usage
    complete: bool = False  # the agent has the whole answer (its end event went out)
    notes: list[str] = field(default_factory=list)  # what translation left out, for the reason
    # The bytes the agent got, kept only when an exporter captures content (capped).
    answer: bytearray | None = None


class CallLedger:
    """One call's record, and its reports to the recorder."""

    def __init__(self, recorder: Recorder, record: CallRecord, t0: float) -> None:
        self.record = record
        self.result = CallResult(answer=bytearray() if recorder.wants_content else None)
        self.attempts: list[Attempt] = []
        self.t0 = t0  # perf_counter at arrival
        self._recorder = recorder
        self._reported: dict[str, Any] = BLANK_ROW
        self.inserted = False  # the row exists (its first report went out)
        self.closed = False  # the row is final (finished, failed or refused)
        self._routed = False  # answering() was called; its report waits for the first byte
        self._later: list[Callable[[], None]] | None = None  # bookkeeping not yet done

    def later(self, work: Callable[[], None]) -> None:
        """Do `work` once the request is on its way to the provider (the event loop's next
        turn), or before this call's next report, whichever comes first: bookkeeping the
        request need not wait for."""
        if self._later is None:
            self._later = [work]
            asyncio.get_running_loop().call_soon(self.settle)
        else:
            self._later.append(work)

    def settle(self) -> None:
        """Do the work `later` put off, now."""
        work, self._later = self._later, None
        for step in work or ():
            try:
                step()
            except Exception:  # the record must not take the call (maybe mid-answer) down
                log.exception("recording call %s failed", self.record.id)

    def elapsed_ms(self) -> float:
        """Milliseconds since the request arrived."""
        return (time.perf_counter() - self.t0) * 1000.0

    def report(self, kind: str, **event: Any) -> None:
        """Report the record's changes since the previous report (`event`: event-only fields).

        The first report inserts the row, whatever its kind: a call that failed before it was
        started still gets its row. A routed report still waiting goes first on its own, unless
        this is the first byte, which carries its columns.
        """
        if self._later:
            self.settle()
        if self._routed and kind != ev.FIRST_BYTE:
            self.routed()
        self._routed = False
        if kind in (ev.FINISHED, ev.FAILED):
            self.closed = True
        if not self.inserted:
            self._insert()
        if kind != ev.STARTED:
            self._recorder.call_event(kind, self.record.id, **self._changes(), **event)

    def _insert(self) -> None:
        self.inserted = True
        self._recorder.call_started(self.record.id, **self._changes())

    def _changes(self) -> dict[str, Any]:
        """The record's columns changed since the previous report."""
        changes = self.record.changes(self._reported)
        self._reported = self.record.snapshot()
        changes.pop("id", None)
        changes.pop("session_id", None)
        return changes

    def fail(self, status: str, message: str, http_status: int | None) -> None:
        """End a call that never reached the point where the ledger prices it."""
        rec = self.record
        rec.status, rec.http_status, rec.error = status, http_status, message
        rec.attempts = list(self.attempts)
        rec.total_ms = self.elapsed_ms()
        self.report(ev.FAILED)

    def started(
        self,
        call: Call,
        step: Step | None,
        decision: Decision,
        conversation: Conversation,
    ) -> None:
        """The call has a step and a decision: its row is inserted once the request is on its
        way (`later`)."""
        rec, target = self.record, decision.target
        would = decision.observed
        rec.requested_model, rec.streamed = call.model, call.stream
        rec.step = step.kind if step else None
        rec.evidence = step.evidence if step else None
        rec.rule, rec.reason = decision.rule, decision.reason
        rec.model, rec.model_alias = target.model or call.model, target.alias
        rec.provider, rec.provider_api = target.provider.name, target.provider.api
        rec.baseline_model = decision.baseline_model or call.model
        rec.would_model = would.target.model_for(call) if would else None
        rec.thread_id, rec.agent_id = conversation
        rec.propensity = decision.propensity
        # What the decision looked at, so another profile can re-decide it (report --compare).
        rec.features = stored_features(step, decision)
        rec.user_agent = (call.headers.get("user-agent") or "")[:200] or None
        self.later(self._report_started)

    def _report_started(self) -> None:
        if not self.inserted:
            self.report(ev.STARTED)

    def refused_unread(self, status: int, message: str, size: int) -> None:
        """A request refused before it was understood (too large, not JSON): one failed row."""
        self.record.request_bytes = size
        self.report(ev.STARTED)
        self.refused(status, message)

    def refused(self, status: int, message: str) -> None:
        """The call ends here, unsent: the agent gets `status` and `message`."""
        rec = self.record
        rec.status, rec.http_status, rec.error = "refused", status, message
        rec.total_ms = self.elapsed_ms()
        self.report(ev.FAILED)

    def trying(self, attempt: int, target: Target, model: str | None) -> None:
        """A fallback: attempt number `attempt` (1 for the first fallback) is being sent."""
        rec = self.record
        rec.model, rec.provider = model, target.provider.name
        rec.attempts = list(self.attempts)
        self.report(ev.FALLBACK, attempt=attempt)

    def answering(self, target: Target, model: str | None) -> None:
        """This target's answer goes to the agent (after a fallback, not the first choice)."""
        rec = self.record
        rec.model, rec.provider = model, target.provider.name
        rec.provider_api, rec.model_alias = target.provider.api, target.alias
        self.result.target = target
        # Reported with the first byte, which follows at once on an answer that has begun
        # soundly: one event fewer per call (and one row write, after a fallback).
        self._routed = True

    def routed(self) -> None:
        """Report the routed columns on their own, if `answering` left them waiting: the first
        byte is not going out with them (a translated stream's first chunk said nothing yet)."""
        if not self._routed:
            return
        self._routed = False
        if self._later:
            self.settle()  # the row is inserted before anything is said of it
        rec = self.record
        changes = {k: getattr(rec, k) for k in ROUTED_COLUMNS}
        changes = {k: v for k, v in changes.items() if self._reported.get(k) != v}
        self._reported = {**self._reported, **changes}
        self._recorder.call_event(ev.ROUTED, rec.id, **changes)

    def first_byte(self) -> None:
        """The answer's first byte reached the agent at `result.ttfb_ms` (routed with it)."""
        self.record.ttfb_ms = self.result.ttfb_ms
        self.report(ev.FIRST_BYTE)


class Ledger:
    """The session's ledger: opens one CallLedger per call, prices and closes it."""

    def __init__(
        self,
        recorder: Recorder,
        pricebook: PriceBook,
        state: SessionState,
        evidence: Evidence | None = None,
    ) -> None:
        self.recorder = recorder
        self.pricebook = pricebook
        self.state = state
        self.evidence = evidence if evidence is not None else Evidence()
        # Per conversation (thread, subagent): the call whose tool calls await their results,
        # and what its label is evidence about.
        self._awaiting: dict[Conversation, tuple[str, ArmKey | None]] = {}
        # Per conversation: the step that answered without tool calls, which only the user's
        # next words can say more about (a corrective message).
        self._answered: dict[Conversation, str] = {}

    def open(
        self, call_id: str, seq: int, surface: str, endpoint: str, started_at: float, t0: float
    ) -> CallLedger:
        """A call's ledger; nothing is recorded until it is started or refused."""
        self.pricebook.expect_calls()  # a price table read in a child starts with the first call
        record = CallRecord(
            id=call_id,
            session_id=self.recorder.session_id,
            seq=seq,
            started_at=started_at,
            surface=surface,
            endpoint=endpoint,
        )
        return CallLedger(self.recorder, record, t0)

    def label_previous_step(self, call: Call, conversation: Conversation) -> None:
        """The request for step t+1 carries the tool results of step t: label step t.

        The label (succeeded | failed | interrupted | unknown) goes on step t's row with the
        struggle signals and the evidence read; a step that answered without tool calls gets
        no label, only the signals the user's next message shows (a correction).
        """
        awaiting = self._awaiting.pop(conversation, None)
        answered = self._answered.pop(conversation, None)
        if awaiting is None and answered is None:
            return
        seen = read_outcome(call)
        if awaiting is None:
            if answered is not None and seen.signals:
                self.recorder.call_event(
                    ev.OUTCOME,
                    answered,
                    signals=list(seen.signals),
                    outcome_evidence=seen.evidence or None,
                )
            return
        previous, key = awaiting
        outcome = seen.label or UNKNOWN
        self.recorder.call_event(
            ev.OUTCOME,
            previous,
            outcome=outcome,
            signals=list(seen.signals),
            outcome_evidence=seen.evidence or None,
        )
        if key is not None:
            self.evidence.record(key.agent, key.step, key.model, outcome)
            self.recorder.learned(key, outcome)

    def finish(
        self,
        entry: CallLedger,
        call: Call,
        step: Step | None,
        decision: Decision,
        conversation: Conversation,
        used: Target,
    ) -> None:
        """Price the call, remember what routing needs, and record how it ended."""
        entry.settle()  # the previous step is labelled before this one may await its label
        rec, result = entry.record, entry.result
        self._fill(rec, entry, call, decision, used)
        if rec.cost_usd:
            self.state.cost_usd += rec.cost_usd
        awaits = conversation != (None, None) and len(self._awaiting) + len(self._answered) < 10_000
        if awaits and _awaits_tool_results(call, step, result):
            model = used.model_for(call)
            key = (
                ArmKey(learning_agent(self.state, call), step.kind, model)
                if step is not None and model
                else None
            )
            self._awaiting[conversation] = (rec.id, key)
        elif awaits and _answered(call, step, result):
            self._answered[conversation] = rec.id
        if step is not None and result.status == "ok":
            # After the answer, so a fallback's model is the one whose prompt cache is warm.
            self.state.record(call, step, decision, used)
        if result.answer is not None:
            self.recorder.call_content(
                rec.id,
                body=call.body,
                surface=call.surface,
                path_model=call.path_model,
                answer=bytes(result.answer),
                streamed=call.stream,
            )
        entry.report(ev.FINISHED if result.status == "ok" else ev.FAILED)

    def _fill(
        self, rec: CallRecord, entry: CallLedger, call: Call, decision: Decision, used: Target
    ) -> None:
        result, usage = entry.result, entry.result.usage
        model = used.model or call.model
        cost = self.pricebook.cost(model, usage, used.provider.name)
        baseline_model = decision.baseline_model or call.model
        if (baseline_model, decision.baseline_provider) == (model, used.provider.name):
            baseline: Cost | None = cost  # passed through: the baseline is the call itself
        elif baseline_model:
            baseline = self.pricebook.cost(baseline_model, usage, decision.baseline_provider)
        else:
            baseline = None
        rec.status, rec.http_status, rec.error = result.status, result.http_status, result.error
        rec.model, rec.model_alias = model, used.alias
        rec.provider, rec.provider_api = used.provider.name, used.provider.api
        rec.input_tokens, rec.output_tokens = usage.input_tokens, usage.output_tokens
        rec.cache_creation_tokens = usage.cache_creation_tokens
        rec.cache_read_tokens = usage.cache_read_tokens
        rec.cost_usd, rec.unpriced_reason = cost.usd, cost.unpriced_reason
        if not result.usage_read:
            rec.input_tokens = rec.output_tokens = None
            rec.cost_usd, rec.unpriced_reason = None, "the answer was too large to read its usage"
        rec.baseline_model = baseline_model
        rec.baseline_cost_usd = baseline.usd if baseline else None
        rec.ttfb_ms, rec.total_ms = result.ttfb_ms, entry.elapsed_ms()
        rec.response_bytes, rec.stop_reason = result.response_bytes, result.stop_reason
        rec.reason = "; ".join([decision.reason, *result.notes])
        rec.attempts = list(entry.attempts)
        would = decision.observed
        if would is not None:
            rec.would_model = would.target.model_for(call)
            rec.would_cost_usd = self.pricebook.cost(
                rec.would_model, usage, would.target.provider.name
            ).usd


def _answered(call: Call, step: Step | None, result: CallResult) -> bool:
    """Whether a finished call's step answered the user (its turn ended without tool calls)."""
    return (
        result.status == "ok"
        and result.stop_reason == "end_turn"
        and call.endpoint != "count_tokens"
        and (step is None or step.kind not in SIDE_STEPS)
    )


def _awaits_tool_results(call: Call, step: Step | None, result: CallResult) -> bool:
    """Whether a finished call's step ended in tool calls, which the next request answers."""
    return (
        result.status == "ok"
        and result.stop_reason == "tool_use"
        and call.endpoint != "count_tokens"
        and (step is None or step.kind not in SIDE_STEPS)
    )
