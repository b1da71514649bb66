"""Live export: a recorder subscriber that turns a running session's calls into spans.

The subscriber runs on the proxy's event loop thread, so it only merges each event into the
call's row and, when the call finishes, hands the row to the `SpanPipe` (a non-blocking put
into a bounded queue). Building the spans, the OpenTelemetry import and every network wait
happen on the pipe's thread. A call whose answer asked for tools is held back until the next
request reveals how those tools went (its outcome), or until the session ends. When the
session ends, the session span is sent, the pipe is flushed for a bounded time, and what was
sent and dropped is stored for the summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentwrap import paths
from agentwrap.export import spans
from agentwrap.export.config import ExportConfigError, OtlpConfig, resolve
from agentwrap.export.otlp import Pending, PipeCounts, SpanPipe
from agentwrap.export.repository import origin_url
from agentwrap.export.stats import ExportStats, record_stats
from agentwrap.trace.recorder import FAILED, FINISHED, OUTCOME, SESSION_ENDED, STARTED, CallEvent

log = logging.getLogger(__name__)

# Side requests share a conversation's ids but are not its steps: no outcome follows them.
_SIDE_STEPS = frozenset({"background", "search"})
_MAX_HELD = 10_000
# Content is held by reference until its spans are built: at most this many calls' worth
# waiting for their end, and none added while this many spans wait for the collector.
_MAX_CONTENT_KEPT = 256
_MAX_CONTENT_QUEUED = 64


def config_files(profile_chain: list[str]) -> list[Path]:
    """The files whose [export.otlp] tables apply: config.toml, then the profile's own files."""
    files = [paths.config_file()] if paths.config_file().is_file() else []
    for label in profile_chain:
        path = Path(label)
        if path.is_file() and path not in files:
            files.append(path)
    return files


def start_live_export(
    recorder: Any, profile_chain: list[str], env: Mapping[str, str], warn: Any = None
) -> LiveExport | None:
    """Subscribe a live export to a session's recorder when export is configured; else None.

    A broken export setting is reported through `warn` and leaves export off: telemetry never
    stops an agent from running."""
    try:
        cfg = resolve(env, config_files(profile_chain))
    except ExportConfigError as exc:
        if warn is not None:
            warn(f"{exc}; OTLP export is off")
        return None
    if cfg is None:
        return None
    for warning in cfg.warnings:
        if warn is not None:
            warn(warning)
    session = recorder.store.session(recorder.session_id) or {"id": recorder.session_id}
    return LiveExport(recorder, session, cfg)


class LiveExport:
    """Follows one session's recorder and exports each finished call as spans."""

    def __init__(
        self, recorder: Any, session: Mapping[str, Any], cfg: OtlpConfig, pipe: Any = None
    ) -> None:
        self.cfg = cfg
        self.session = dict(session)
        self.store_path: Path = recorder.store.path
        self.repository_url = origin_url(self.session.get("repo_root"))
        self.pipe = pipe or SpanPipe(cfg)
        self.counts: PipeCounts | None = None
        self._rows: dict[str, dict[str, Any]] = {}  # calls in flight
        self._held: dict[str, dict[str, Any]] = {}  # finished calls awaiting their outcome
        self._finished: list[dict[str, Any]] = []  # small rows for the session span's sums
        self._content: dict[str, dict[str, Any]] = {}  # opted in: request and answer per call
        self._unsubscribe = recorder.subscribe(self._on_event)
        self._unsubscribe_content = (
            recorder.subscribe_content(self._on_content) if cfg.capture_content else _nothing
        )

    # -- on the proxy's event loop: cheap ------------------------------------------
    def _on_event(self, ev: CallEvent) -> None:
        if ev.call_id is None:
            if ev.kind == SESSION_ENDED:
                self.close(ended_at=ev.ts, exit_code=ev.fields.get("exit_code"))
            return
        if ev.kind == STARTED:
            self._rows[ev.call_id] = {"id": ev.call_id, **ev.fields}
            return
        if ev.kind == OUTCOME:
            held = self._held.pop(ev.call_id, None)
            if held is not None:
                held["outcome"] = ev.fields.get("outcome")
                held["signals"] = ev.fields.get("signals") or []
                self._send(held)
            return
        row = self._rows.get(ev.call_id)
        if row is None:
            return
        row.update(ev.fields)
        row["updated_at"] = ev.ts
        if ev.kind not in (FINISHED, FAILED):
            return
        del self._rows[ev.call_id]
        self._finished.append(
            {k: row.get(k) for k in ("input_tokens", "output_tokens", "cost_usd")}
        )
        if _awaits_outcome(row) and len(self._held) < _MAX_HELD:
            self._held[ev.call_id] = row
        else:
            self._send(row)

    def _on_content(self, ev: CallEvent) -> None:
        if ev.call_id is not None and len(self._content) < _MAX_CONTENT_KEPT:
            self._content[ev.call_id] = ev.fields

    def _send(self, row: dict[str, Any]) -> None:
        session, url = self.session, self.repository_url
        raw = self._content.pop(row["id"], None)
        if raw is not None and self.pipe.backlog() > _MAX_CONTENT_QUEUED:
            raw = None  # the collector is behind: the span goes without its content

        def build() -> list[spans.SpanRecord]:
            content = _content_attributes(raw) if raw is not None else None
            return spans.call_spans(session, row, repository_url=url, content=content)

        attempts = row.get("attempts") or []
        count = 1 + (len(attempts) if len(attempts) > 1 else 0)
        self.pipe.offer(Pending(count, build, row))

    # -- at the end of the session ---------------------------------------------------
    def close(self, ended_at: float | None = None, exit_code: int | None = None) -> PipeCounts:
        """Send what is held and the session span, flush (bounded), store the counts."""
        if self.counts is not None:
            return self.counts
        self._unsubscribe()
        self._unsubscribe_content()
        for row in self._held.values():
            self._send(row)
        self._held.clear()
        for row in self._rows.values():
            self._send(row)  # a call the proxy never finished: sent as unfinished
        self._rows.clear()
        session = dict(self.session)
        session["ended_at"] = ended_at or time.time()
        if exit_code is not None:
            session["exit_code"] = exit_code
        totals = spans.session_totals(self._finished)
        url = self.repository_url
        self.pipe.offer(
            Pending(1, lambda: [spans.session_span(session, totals=totals, repository_url=url)])
        )
        self.counts = self.pipe.close()
        try:
            record_stats(
                self.store_path,
                str(session["id"]),
                ExportStats(
                    sent=self.counts.sent,
                    dropped=self.counts.dropped,
                    endpoint=self.cfg.where,
                    error=self.counts.error if self.counts.dropped else None,
                ),
            )
        except Exception:
            log.exception("could not store the export counts")
        return self.counts


def _nothing() -> None:
    return None


def _content_attributes(raw: Mapping[str, Any]) -> dict[str, str]:
    """The conventions' content attributes from a CONTENT event (on the export thread)."""
    from agentwrap.export.content import request_content, response_content

    surface = str(raw.get("surface"))
    out = request_content(raw.get("body") or {}, surface, raw.get("path_model"))
    out.update(response_content(raw.get("answer") or b"", surface, bool(raw.get("streamed"))))
    return out


def _awaits_outcome(row: Mapping[str, Any]) -> bool:
    """Whether the proxy will label this call's outcome from the conversation's next request."""
    return (
        row.get("status") == "ok"
        and row.get("stop_reason") == "tool_use"
        and row.get("endpoint") != "count_tokens"
        and row.get("step") not in _SIDE_STEPS
        and bool(row.get("thread_id") or row.get("agent_id"))
    )
