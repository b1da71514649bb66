"""Exports: every call as an OpenTelemetry span for the collector a team runs, and files.

config  where export is switched on: the standard OTEL_EXPORTER_OTLP_* variables, or an
        [export.otlp] table in config.toml or the profile (headers from named variables)
spans   a recorded call (and its session) as spans following the GenAI semantic conventions,
        agentwrap's own attributes under `agentwrap.*`; pure, no OpenTelemetry import
otlp    the OTLP exporter behind a bounded queue and one background thread (imports the
        OpenTelemetry SDK, lazily, only when export is configured)
live    the recorder subscriber that turns a running session's calls into spans
stats   what a session's live export sent and dropped, for the summary
files   call rows as CSV or JSON Lines for a spreadsheet or a notebook

Nothing here is imported by a command unless it exports: `--version`, `sessions` and `log`
load no OpenTelemetry module.
"""
