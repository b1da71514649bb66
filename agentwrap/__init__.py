"""agentwrap: a local-first model router for coding agents."""

__version__ = "0.1.0"
