"""Where export is switched on: standard variables, [export.otlp] tables, named secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.export.config import ExportConfigError, capture_content, resolve
from agentwrap.export.live import config_files
from agentwrap.route.profile import load_profile


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nothing_configured_means_no_export():
    assert resolve({}) is None
    assert resolve({"OTEL_SERVICE_NAME": "x"}) is None


def test_the_standard_variables_switch_export_on():
    cfg = resolve(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=payments,authorization=Basic%20abc",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=dev,service.name=from-resource",
            "OTEL_BSP_MAX_QUEUE_SIZE": "64",
        }
    )
    assert cfg is not None
    assert cfg.traces_endpoint == "http://collector:4318/v1/traces"
    assert cfg.metrics_endpoint == "http://collector:4318/v1/metrics"
    assert cfg.headers == {"x-team": "payments", "authorization": "Basic abc"}
    assert cfg.timeout_s == 2.5  # the variable is in milliseconds
    assert cfg.service_name == "from-resource"
    assert cfg.resource == {"deployment.environment": "dev"}
    assert cfg.max_queue_size == 64 and cfg.max_batch_size == 64
    assert cfg.source == "OTEL_EXPORTER_OTLP_ENDPOINT"
    assert "authorization" not in repr(cfg) and "abc" not in repr(cfg)


def test_a_traces_endpoint_is_used_as_given_and_grpc_takes_host_and_port():
    cfg = resolve({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/otlp/traces"})
    assert cfg is not None and cfg.traces_endpoint == "https://c.example/otlp/traces"
    grpc = resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert grpc is not None and grpc.protocol == "grpc" and grpc.traces_endpoint == "http://c:4317"


def test_switches_that_turn_it_off_win():
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert resolve({**on, "OTEL_SDK_DISABLED": "true"}) is None
    assert resolve({**on, "OTEL_TRACES_EXPORTER": "none"}) is None
    assert resolve({**on, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}) is None


def test_a_file_names_the_variables_that_hold_its_secrets(tmp_path):
    toml = write(
        tmp_path / "config.toml",
        """
[export.otlp]
endpoint = "https://otel.example.com:4318"
headers_env = { "x-honeycomb-team" = "HONEYCOMB_KEY", "x-other" = "NOT_SET_HERE" }
metrics = true
""",
    )
    cfg = resolve({"HONEYCOMB_KEY": "hc-secret"}, [toml])
    assert cfg is not None
    assert cfg.traces_endpoint == "https://otel.example.com:4318/v1/traces"
    assert cfg.headers == {"x-honeycomb-team": "hc-secret"}
    assert cfg.metrics is True
    (warning,) = cfg.warnings
    assert "NOT_SET_HERE is not set" in warning and f"{toml}:4" in warning


def test_the_profile_wins_over_config_toml_and_the_environment_over_both(tmp_path):
    user = write(tmp_path / "config.toml", '[export.otlp]\nendpoint = "http://user:4318"\n')
    team = write(
        tmp_path / "repo/.agentwrap.toml", '[export.otlp]\nendpoint = "http://team:4318"\n'
    )
    cfg = resolve({}, [user, team])
    assert cfg is not None and cfg.traces_endpoint == "http://team:4318/v1/traces"
    assert cfg.source == f"{team}:2"
    mine = resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://mine:4318"}, [user, team])
    assert mine is not None and mine.traces_endpoint == "http://mine:4318/v1/traces"
    off = write(tmp_path / "off.toml", "[export.otlp]\nenabled = false\n")
    assert resolve({}, [user, team, off]) is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('headers_env = { authorization = "Bearer abc123" }', "NAME of an environment variable"),
        ('endpoint = "https://me:hunter2@c.example"', "password in the URL"),
        ('protocol = "http/json"', "export.otlp.protocol: expected one of"),
        ("timeout = -1", "export.otlp.timeout"),
        ('colour = "blue"', "unknown key 'export.otlp.colour'"),
    ],
)
def test_a_wrong_table_is_named_by_file_and_line(tmp_path, table, message):
    path = write(tmp_path / ".agentwrap.toml", f"# the team's collector\n[export.otlp]\n{table}\n")
    with pytest.raises(ExportConfigError) as err:
        resolve({}, [path])
    assert message in str(err.value)
    assert f"{path}:3" in str(err.value)


def test_a_profile_with_an_export_table_still_loads(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(
        repo / ".agentwrap.toml",
        'extends = "balanced"\n\n[export.otlp]\nendpoint = "http://team:4318"\n',
    )
    profile = load_profile(repo, env={})
    files = config_files(profile.chain)
    assert files == [repo / ".agentwrap.toml"]
    write(paths.config_file(), '[export.otlp]\nendpoint = "http://user:4318"\n')
    assert config_files(profile.chain) == [paths.config_file(), repo / ".agentwrap.toml"]
    cfg = resolve({}, config_files(profile.chain))
    assert cfg is not None and cfg.traces_endpoint == "http://team:4318/v1/traces"


@pytest.mark.parametrize(
    ("value", "on"),
    [("true", True), ("SPAN_ONLY", True), ("false", False), ("NO_CONTENT", False), ("", False)],
)
def test_content_capture_is_the_conventions_switch(value, on):
    assert capture_content({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}) is on
