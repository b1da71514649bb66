"""A local OTLP/HTTP collector for tests: receives trace (and metric) exports on 127.0.0.1 and
decodes them with the official protobuf definitions (`opentelemetry-proto`).

    with OtlpReceiver() as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url}
        ...
        spans = collector.wait_spans(3)

`stall=True` makes it accept the connection and then answer nothing until the test ends (a
collector that hangs); every request body it got is still kept in `bodies`, so a test can
check what would have gone out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass
class ReceivedSpan:
    """One decoded span: ids as hex, attributes as plain Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


def value_of(v: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value."""
    which = v.WhichOneof("value")
    if which == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


class OtlpReceiver:
    """An OTLP/HTTP receiver on a random port of 127.0.0.1, run in a thread."""

    def __init__(self, *, stall: bool = False) -> None:
        self.stall = stall
        self.bodies: list[tuple[str, dict[str, str], bytes]] = []  # path, headers, body
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.bodies.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                if receiver.stall:
                    receiver._release.wait(60)
                    return  # close without an answer
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def raw(self) -> bytes:
        """Every byte received so far, bodies and header values, for searching."""
        with self._lock:
            parts = [
                path.encode() + b"".join(f"{k}: {v}".encode() for k, v in headers.items()) + body
                for path, headers, body in self.bodies
            ]
        return b"\n".join(parts)

    def spans(self) -> list[ReceivedSpan]:
        """Every span of every trace export received so far, decoded."""
        with self._lock:
            bodies = [body for path, _, body in self.bodies if path.endswith("/v1/traces")]
        out: list[ReceivedSpan] = []
        for body in bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for rs in request.resource_spans:
                resource = {a.key: value_of(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(
                            ReceivedSpan(
                                name=s.name,
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_span_id=s.parent_span_id.hex(),
                                kind=s.kind,
                                start_ns=s.start_time_unix_nano,
                                end_ns=s.end_time_unix_nano,
                                status_code=s.status.code,
                                status_message=s.status.message,
                                attributes={a.key: value_of(a.value) for a in s.attributes},
                                resource=resource,
                                scope=ss.scope.name,
                            )
                        )
        return out

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        """Every metrics export received so far, decoded."""
        with self._lock:
            bodies = [body for path, _, body in self.bodies if path.endswith("/v1/metrics")]
        out = []
        for body in bodies:
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            out.append(request)
        return out

    def wait_spans(self, count: int, timeout: float = 20.0) -> list[ReceivedSpan]:
        """The spans once at least `count` have arrived (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        spans = self.spans()
        while len(spans) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            spans = self.spans()
        assert len(spans) >= count, f"expected {count} spans, got {[s.name for s in spans]}"
        return spans
