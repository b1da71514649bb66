"""Optional metrics beside the spans: tokens and cost per model and step kind.

`gen_ai.client.token.usage` is the GenAI conventions' histogram (one record per call and
token type, input counting cache tokens as the spans do); `agentwrap.cost` adds each priced
call's cost in USD and `agentwrap.calls` counts calls. All three carry the operation, the
provider, the requested and response models and `agentwrap.step`, so a dashboard splits cost
by model and step kind. They are recorded on the export thread and pushed by the SDK's
periodic reader (every 60 s, and once at the end of the session).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentwrap import __version__
from agentwrap.export.config import GRPC, OtlpConfig
from agentwrap.export.spans import OPERATIONS, PROVIDER_NAMES

EXPORT_INTERVAL_MS = 60_000


def metric_attributes(row: Mapping[str, Any]) -> dict[str, str]:
    """The dimensions every metric of a call carries (low-cardinality: no ids)."""
    attrs = {
        "gen_ai.operation.name": OPERATIONS.get(str(row.get("endpoint")), "chat"),
        "gen_ai.provider.name": PROVIDER_NAMES.get(
            str(row.get("provider_api") or row.get("surface")), ""
        ),
        "gen_ai.request.model": str(row.get("requested_model") or ""),
        "gen_ai.response.model": str(row.get("model") or row.get("requested_model") or ""),
        "agentwrap.step": str(row.get("step") or "unknown"),
    }
    return {k: v for k, v in attrs.items() if v}


class CallMetrics:
    """The SDK's meter provider with an OTLP metric exporter (imports the SDK)."""

    def __init__(self, cfg: OtlpConfig) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        if cfg.protocol == GRPC:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as GrpcMetricExporter,
            )

            exporter: Any = GrpcMetricExporter(
                endpoint=cfg.metrics_endpoint,
                insecure=cfg.metrics_endpoint.startswith("http://"),
                headers=tuple(cfg.headers.items()),
                timeout=cfg.timeout_s,
            )
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )

            exporter = OTLPMetricExporter(
                endpoint=cfg.metrics_endpoint, headers=dict(cfg.headers), timeout=cfg.timeout_s
            )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=EXPORT_INTERVAL_MS)
        resource = Resource.create(
            {**cfg.resource, "service.name": cfg.service_name, "service.version": __version__}
        )
        # No exit hook: a collector that is down must not hold up agentwrap's exit.
        self.provider = MeterProvider(
            metric_readers=[reader], resource=resource, shutdown_on_exit=False
        )
        meter = self.provider.get_meter("agentwrap", __version__)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens per call"
        )
        self.cost = meter.create_counter(
            "agentwrap.cost", unit="USD", description="Cost of priced calls"
        )
        self.calls = meter.create_counter("agentwrap.calls", unit="{call}", description="Calls")

    def record(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count finished calls."""
        for row in rows:
            attrs = metric_attributes(row)
            self.calls.add(1, attrs)
            cached = int(row.get("cache_read_tokens") or 0) + int(
                row.get("cache_creation_tokens") or 0
            )
            if row.get("input_tokens") is not None:
                self.tokens.record(
                    int(row["input_tokens"]) + cached, {**attrs, "gen_ai.token.type": "input"}
                )
            if row.get("output_tokens") is not None:
                self.tokens.record(
                    int(row["output_tokens"]), {**attrs, "gen_ai.token.type": "output"}
                )
            if row.get("cost_usd") is not None:
                self.cost.add(float(row["cost_usd"]), attrs)

    def close(self, timeout_s: float) -> None:
        """Push what was recorded and stop (bounded by `timeout_s`)."""
        self.provider.shutdown(timeout_millis=timeout_s * 1000)
