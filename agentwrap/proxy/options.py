"""The proxy's settings, shared by its steps (read at each call, so they may change until then)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_BODY = 32 * 1024 * 1024


@dataclass
class ProxyOptions:
    max_body: int = DEFAULT_MAX_BODY
    first_byte_timeout: float = 120.0
    stall_timeout: float = 300.0  # longest silence inside a stream before it counts as broken
    max_retry_after: float = 5.0
    agent: str | None = None
    observe: bool = False
    env: Mapping[str, str] | None = None
    # Transparent mode: calls name the endpoint the agent meant (ENDPOINT_HEADER), which
    # decides their passthrough provider; elsewhere that header is ignored.
    transparent: bool = False
