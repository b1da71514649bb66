"""Spans to an OTLP collector: a bounded queue, one background thread, batches, counts.

`SpanPipe` works like the SDK's BatchSpanProcessor (a bounded queue, batches of up to
`max_batch_size` every `schedule_delay_s`, the OTEL_BSP_* variables) with three differences a
proxy needs: what goes in is a cheap recipe (the call row), so the spans are built on the
export thread and never on the proxy's event loop; every span is counted as sent or dropped
(queue full, export refused, still waiting when the session ends), which the SDK's processor
only logs; and closing waits a bounded time, so a collector that stalls never holds up the
end of a session.

The OpenTelemetry SDK and the OTLP exporter are imported on the export thread the first
time they are needed, never by a command that does not export.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentwrap import __version__
from agentwrap.export.config import GRPC, OtlpConfig
from agentwrap.export.spans import SpanRecord

log = logging.getLogger(__name__)

# How long closing waits for the last batches before counting them as dropped.
CLOSE_WAIT_S = 2.0


@dataclass
class Pending:
    """Spans waiting to be built: how many there will be, how to build them, and the call's
    row when they are a call's (for the metrics)."""

    count: int
    build: Callable[[], list[SpanRecord]]
    row: Mapping[str, Any] | None = None


@dataclass
class PipeCounts:
    """What happened to the spans handed to a pipe."""

    sent: int = 0
    dropped: int = 0
    error: str | None = None  # the last export failure, for the summary


def span_exporter(cfg: OtlpConfig) -> Any:
    """The SDK's OTLP span exporter for these settings (imports the SDK)."""
    if cfg.protocol == GRPC:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                Compression as GrpcCompression,
            )
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise RuntimeError(
                "OTLP over gRPC needs the grpc exporter: pip install 'agentwrap[grpc]'"
            ) from exc
        return GrpcExporter(
            endpoint=cfg.traces_endpoint,
            insecure=cfg.traces_endpoint.startswith("http://"),
            headers=tuple(cfg.headers.items()),
            timeout=cfg.timeout_s,
            compression=GrpcCompression.Gzip if cfg.compression == "gzip" else None,
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=cfg.traces_endpoint,
        headers=dict(cfg.headers),
        timeout=cfg.timeout_s,
        compression=Compression.Gzip if cfg.compression == "gzip" else Compression.NoCompression,
    )


def readable_spans(records: Iterable[SpanRecord], cfg: OtlpConfig) -> list[Any]:
    """SpanRecords as the SDK's ReadableSpans, with the run's resource (imports the SDK)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    resource = Resource.create(
        {**cfg.resource, "service.name": cfg.service_name, "service.version": __version__}
    )
    scope = InstrumentationScope("agentwrap", __version__)
    flags = TraceFlags(TraceFlags.SAMPLED)
    kinds = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
    out = []
    for r in records:
        context = SpanContext(r.trace_id, r.span_id, is_remote=False, trace_flags=flags)
        parent = (
            SpanContext(r.trace_id, r.parent_id, is_remote=False, trace_flags=flags)
            if r.parent_id
            else None
        )
        status = Status(StatusCode.ERROR, r.error) if r.error else Status(StatusCode.UNSET)
        out.append(
            ReadableSpan(
                name=r.name,
                context=context,
                parent=parent,
                resource=resource,
                attributes=dict(r.attributes),
                kind=kinds.get(r.kind, SpanKind.INTERNAL),
                status=status,
                start_time=r.start_ns,
                end_time=r.end_ns,
                instrumentation_scope=scope,
            )
        )
    return out


def export_now(records: Sequence[SpanRecord], cfg: OtlpConfig, exporter: Any = None) -> PipeCounts:
    """Send spans in batches and wait for each (for `agentwrap export`); counts what went out."""
    from opentelemetry.sdk.trace.export import SpanExportResult

    own = exporter is None
    exporter = exporter or span_exporter(cfg)
    counts = PipeCounts()
    try:
        for i in range(0, len(records), cfg.max_batch_size):
            batch = readable_spans(records[i : i + cfg.max_batch_size], cfg)
            if exporter.export(batch) == SpanExportResult.SUCCESS:
                counts.sent += len(batch)
            else:
                counts.dropped += len(batch)
                counts.error = "the collector did not accept a batch"
    finally:
        if own:
            exporter.shutdown()
    return counts


_STOP = object()


class SpanPipe:
    """A bounded queue of pending spans and the thread that exports them in batches.

    `offer` never blocks and never raises: when the queue is full the spans are dropped and
    counted. `close` flushes for at most `wait` seconds; what is not out by then is dropped."""

    def __init__(
        self, cfg: OtlpConfig, exporter_factory: Callable[[OtlpConfig], Any] = span_exporter
    ) -> None:
        self.cfg = cfg
        self._factory = exporter_factory
        self._metrics: Any = None  # CallMetrics when cfg.metrics, made on the export thread
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, cfg.max_queue_size))
        self._lock = threading.Lock()
        self._counts = PipeCounts()
        self._offered = 0
        self._full = False  # some spans found the queue full
        self._failed = False  # the collector refused, or did not answer, some batch
        self._exporting = False  # a batch is on its way (or stuck) right now
        self._exporter: Any = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="agentwrap-otlp", daemon=True)
        self._thread.start()

    # -- any thread -----------------------------------------------------------
    def offer(self, pending: Pending) -> bool:
        """Queue spans for export; False (and counted as dropped) when the queue is full."""
        with self._lock:
            if self._closed:
                self._counts.dropped += pending.count
                return False
            self._offered += pending.count
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            with self._lock:
                self._counts.dropped += pending.count
                self._full = True
            return False
        return True

    def backlog(self) -> int:
        """About how many items wait for the export thread."""
        return self._queue.qsize()

    def counts(self) -> PipeCounts:
        """Spans sent and dropped so far (a copy)."""
        with self._lock:
            return PipeCounts(self._counts.sent, self._counts.dropped, self._counts.error)

    def close(self, wait: float = CLOSE_WAIT_S) -> PipeCounts:
        """Flush what is queued for at most `wait` seconds; the rest counts as dropped."""
        with self._lock:
            if self._closed:
                return PipeCounts(self._counts.sent, self._counts.dropped, self._counts.error)
            self._closed = True
        deadline = time.monotonic() + wait
        while True:
            try:
                self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
                break
            except queue.Full:
                break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        exporter = self._exporter
        if exporter is not None and self._thread.is_alive():
            # Stop the exporter's retries: a stalled collector must not outlive the session.
            try:
                exporter.shutdown()
            except Exception:
                log.debug("exporter shutdown failed", exc_info=True)
        with self._lock:
            counts = self._counts
            counts.dropped = self._offered - counts.sent
            if counts.error is None and counts.dropped:
                reasons = []
                if self._failed or self._exporting:
                    reasons.append("the collector refused them or did not answer in time")
                if self._full:
                    reasons.append("the export queue was full")
                counts.error = "; ".join(reasons) or "still queued when the session ended"
            return PipeCounts(counts.sent, counts.dropped, counts.error)

    # -- the export thread ----------------------------------------------------
    def _run(self) -> None:
        # The SDK logs each failed export; on the agent's terminal that would be noise, and
        # the summary reports the same failure once.
        logging.getLogger("opentelemetry").addHandler(logging.NullHandler())
        try:
            self._exporter = self._factory(self.cfg)
        except Exception as exc:
            log.debug("OTLP export is off: %s", exc)
            with self._lock:
                self._counts.error = str(exc)
            self._drain_dropped()
            return
        if self.cfg.metrics:
            try:
                from agentwrap.export.metrics import CallMetrics

                self._metrics = CallMetrics(self.cfg)
            except Exception:
                log.debug("OTLP metrics are off", exc_info=True)
        stop = False
        while not stop:
            batch, stop = self._gather()
            if batch:
                self._export(batch)
        try:
            self._exporter.shutdown()
            if self._metrics is not None:
                self._metrics.close(CLOSE_WAIT_S)
        except Exception:
            log.debug("exporter shutdown failed", exc_info=True)

    def _gather(self) -> tuple[list[Pending], bool]:
        """Up to one batch: what arrives before the schedule delay ends, or a full batch."""
        batch: list[Pending] = []
        size = 0
        deadline = time.monotonic() + self.cfg.schedule_delay_s
        while size < self.cfg.max_batch_size:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                if batch or left <= 0:
                    return batch, False
                continue
            if item is _STOP:
                return batch + self._drain(), True
            batch.append(item)
            size += item.count
        return batch, False

    def _drain(self) -> list[Pending]:
        rest: list[Pending] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return rest
            if item is not _STOP:
                rest.append(item)

    def _drain_dropped(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return

    def _export(self, batch: list[Pending]) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        records: list[SpanRecord] = []
        for item in batch:
            try:
                records.extend(item.build())
            except Exception:
                log.exception("building a span failed")
        for i in range(0, len(records), self.cfg.max_batch_size):
            chunk = records[i : i + self.cfg.max_batch_size]
            self._exporting = True
            try:
                result = self._exporter.export(readable_spans(chunk, self.cfg))
                ok = result == SpanExportResult.SUCCESS
            except Exception:
                log.debug("span export failed", exc_info=True)
                ok = False
            with self._lock:
                self._exporting = False
                if ok:
                    self._counts.sent += len(chunk)
                else:
                    self._failed = True
        if self._metrics is not None:
            try:
                self._metrics.record(p.row for p in batch if p.row is not None)
            except Exception:
                log.debug("recording metrics failed", exc_info=True)
