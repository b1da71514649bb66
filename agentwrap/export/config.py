"""Where live export is switched on, and how it reaches the collector.

Sources, later ones winning key by key:

1. an `[export.otlp]` table in the user's config.toml;
2. the same table in the profile files of the run (`.agentwrap.toml` and what it extends),
   which is how a team shares its collector through the repository;
3. the standard OpenTelemetry variables: `OTEL_EXPORTER_OTLP_ENDPOINT` and
   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._PROTOCOL`, `..._HEADERS`, `..._TIMEOUT` (ms),
   `..._COMPRESSION`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`.

`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` switch export off whatever the files
say. A file never holds a secret: `headers_env` maps a header to the NAME of an environment
variable that holds its value. Prompt and completion text is exported only when
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` asks for it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from agentwrap.route.tomlpos import LineIndex

HTTP = "http/protobuf"
GRPC = "grpc"
PROTOCOLS = (HTTP, GRPC)
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# Values of the content switch that put message content on spans.
_CAPTURE_ON = {"true", "1", "yes", "span_only", "span_and_event"}

_KEYS = {
    "endpoint": "the collector's base URL (http/protobuf: /v1/traces is appended)",
    "protocol": f"one of {', '.join(PROTOCOLS)}",
    "headers_env": "a table: header name → the NAME of an environment variable holding its value",
    "timeout": "seconds per export request (a positive number)",
    "compression": "gzip or none",
    "metrics": "true or false (cost and token metrics per model and step kind)",
    "service_name": "the service.name of the spans (default: agentwrap)",
    "enabled": "true or false",
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExportConfigError(ValueError):
    """An [export.otlp] table is wrong; the message names file, line and key."""


@dataclass
class OtlpConfig:
    """Everything the exporter needs. `headers` hold resolved values: never print them."""

    protocol: str = HTTP
    traces_endpoint: str = DEFAULT_HTTP_ENDPOINT + "/v1/traces"
    metrics_endpoint: str = DEFAULT_HTTP_ENDPOINT + "/v1/metrics"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 10.0
    compression: str | None = None
    metrics: bool = False
    capture_content: bool = False
    service_name: str = "agentwrap"
    resource: dict[str, str] = field(default_factory=dict)
    max_queue_size: int = 2048
    max_batch_size: int = 512
    schedule_delay_s: float = 5.0
    source: str = ""  # where the endpoint was set, for messages
    warnings: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The traces endpoint without credentials or query, for the summary line."""
        parts = urlsplit(self.traces_endpoint)
        if not parts.scheme or not parts.hostname:
            return self.traces_endpoint.rsplit("@", 1)[-1]
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}{parts.path}"


def capture_content(env: Mapping[str, str]) -> bool:
    """Whether the user opted in to prompt and completion text on spans."""
    return env.get(CAPTURE_ENV, "").strip().lower() in _CAPTURE_ON


def resolve(
    env: Mapping[str, str], files: Iterable[Path] = (), *, endpoint: str | None = None
) -> OtlpConfig | None:
    """The export settings of a run, or None when export is off.

    `files` are read in order (config.toml first, then the profile chain, base first);
    `endpoint` (a command-line option) beats every other source."""
    if _true(env.get("OTEL_SDK_DISABLED")) or env.get("OTEL_TRACES_EXPORTER", "") == "none":
        return None
    table: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in files:
        for key, (value, origin) in _file_table(path).items():
            table[key] = value
            origins[key] = origin
    from_env = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if table.get("enabled") is False and not (endpoint or from_env):
        return None
    cfg = OtlpConfig()
    cfg.protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or table.get("protocol")
        or HTTP
    )
    if cfg.protocol not in PROTOCOLS:
        # http/json is part of the standard, but its exporter is not: say so, send nothing.
        cfg.warnings.append(
            f"OTLP protocol '{cfg.protocol}' is not supported; use {' or '.join(PROTOCOLS)}"
        )
        return None
    if not _set_endpoints(cfg, env, table, origins, endpoint):
        return None
    _set_headers(cfg, env, table, origins)
    timeout_ms = env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or env.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    if timeout_ms and _number(timeout_ms):
        cfg.timeout_s = float(timeout_ms) / 1000.0  # the standard variables are milliseconds
    elif "timeout" in table:
        cfg.timeout_s = float(table["timeout"])
    compression = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
        or env.get("OTEL_EXPORTER_OTLP_COMPRESSION")
        or table.get("compression")
    )
    cfg.compression = compression if compression in ("gzip",) else None
    cfg.metrics = bool(table.get("metrics", False)) or env.get("OTEL_METRICS_EXPORTER") == "otlp"
    cfg.capture_content = capture_content(env)
    cfg.resource = parse_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    cfg.service_name = (
        env.get("OTEL_SERVICE_NAME")
        or cfg.resource.pop("service.name", None)
        or str(table.get("service_name") or "agentwrap")
    )
    for name, attr, cast in (
        ("OTEL_BSP_MAX_QUEUE_SIZE", "max_queue_size", int),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "max_batch_size", int),
        ("OTEL_BSP_SCHEDULE_DELAY", "schedule_delay_s", lambda v: float(v) / 1000.0),
    ):
        raw = env.get(name)
        if raw and _number(raw) and float(raw) > 0:
            setattr(cfg, attr, cast(raw))
    cfg.max_batch_size = min(cfg.max_batch_size, cfg.max_queue_size)
    return cfg


def _set_endpoints(
    cfg: OtlpConfig,
    env: Mapping[str, str],
    table: dict[str, Any],
    origins: dict[str, str],
    endpoint: str | None,
) -> bool:
    """The traces and metrics endpoints and where they came from; False when none is set."""
    base: str | None = None
    traces: str | None = None
    if endpoint:
        base, cfg.source = endpoint, "--endpoint"
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        traces = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        cfg.source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        base, cfg.source = env["OTEL_EXPORTER_OTLP_ENDPOINT"], "OTEL_EXPORTER_OTLP_ENDPOINT"
    elif table.get("endpoint"):
        base, cfg.source = str(table["endpoint"]), origins["endpoint"]
    else:
        return False
    default = DEFAULT_GRPC_ENDPOINT if cfg.protocol == GRPC else DEFAULT_HTTP_ENDPOINT
    base = (base or default).rstrip("/")
    if cfg.protocol == GRPC:
        cfg.traces_endpoint = traces or base
        cfg.metrics_endpoint = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or base
    else:
        cfg.traces_endpoint = traces or f"{base}/v1/traces"
        cfg.metrics_endpoint = (
            env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or f"{base}/v1/metrics"
        )
    return True


def _set_headers(
    cfg: OtlpConfig, env: Mapping[str, str], table: dict[str, Any], origins: dict[str, str]
) -> None:
    """Headers from the files' headers_env (values from the environment) and OTEL_*_HEADERS."""
    for header, var in (table.get("headers_env") or {}).items():
        value = env.get(var)
        if value:
            cfg.headers[header.lower()] = value
        else:
            cfg.warnings.append(
                f"{origins.get('headers_env', 'export.otlp')}: headers_env.{header}: "
                f"${var} is not set; the header is not sent"
            )
    for source in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        cfg.headers.update(parse_pairs(env.get(source, ""), lower_keys=True))


def parse_pairs(text: str, *, lower_keys: bool = False) -> dict[str, str]:
    """`key1=value1,key2=value2` as the OTEL_* variables write it (values percent-encoded)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            continue
        out[key.lower() if lower_keys else key] = unquote(value.strip())
    return out


def _file_table(path: Path) -> dict[str, tuple[Any, str]]:
    """The [export.otlp] table of one TOML file: key → (value, "file:line")."""
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # the profile loader has already reported a file it cannot read
    export = data.get("export")
    if export is None:
        return {}
    index = LineIndex(text)

    def where(*keys: str) -> str:
        line = index.line(("export", *keys))
        return f"{path}:{line}" if line else str(path)

    if not isinstance(export, dict):
        raise ExportConfigError(f"{where()}: export: expected a table such as [export.otlp]")
    unknown = sorted(set(export) - {"otlp"})
    if unknown:
        raise ExportConfigError(
            f"{where(unknown[0])}: unknown key 'export.{unknown[0]}'; expected one of: otlp"
        )
    table = export.get("otlp", {})
    if not isinstance(table, dict):
        raise ExportConfigError(f"{where('otlp')}: export.otlp: expected a table")
    out: dict[str, tuple[Any, str]] = {}
    for key, value in table.items():
        origin = where("otlp", key)
        if key not in _KEYS:
            raise ExportConfigError(
                f"{origin}: unknown key 'export.otlp.{key}'; expected one of: {', '.join(_KEYS)}"
            )
        _check(key, value, origin)
        out[key] = (value, origin)
    return out


def _positive_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 0


# Which values each key accepts (the headers_env names are checked on their own).
_VALID = {
    "endpoint": lambda v: isinstance(v, str) and bool(v),
    "service_name": lambda v: isinstance(v, str) and bool(v),
    "protocol": lambda v: v in PROTOCOLS,
    "metrics": lambda v: isinstance(v, bool),
    "enabled": lambda v: isinstance(v, bool),
    "timeout": _positive_number,
    "compression": lambda v: v in ("gzip", "none"),
    "headers_env": lambda v: isinstance(v, dict),
}


def _check(key: str, value: Any, origin: str) -> None:
    if not _VALID[key](value):
        raise ExportConfigError(f"{origin}: export.otlp.{key}: expected {_KEYS[key]}")
    if key == "endpoint" and urlsplit(value).password:
        raise ExportConfigError(
            f"{origin}: export.otlp.endpoint: a password in the URL would be a secret in "
            "the file; put it in a header with headers_env"
        )
    if key == "headers_env":
        for header, var in value.items():
            if not isinstance(var, str) or not _ENV_NAME.match(var):
                raise ExportConfigError(
                    f"{origin}: export.otlp.headers_env.{header}: expected the NAME of an "
                    "environment variable (the file never holds the value itself)"
                )


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
