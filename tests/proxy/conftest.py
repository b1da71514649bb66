"""Fixtures for driving `agentwrap serve` as a real subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.serve import serve, wait_for

ANTHROPIC_UPSTREAM = "AGENTWRAP_ANTHROPIC_UPSTREAM"


@contextmanager
def running_serve(
    agentwrap_bin: str, upstream: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `agentwrap serve` against `upstream`; yield its base URL; stop it with SIGTERM."""
    with serve(agentwrap_bin, *args, env={ANTHROPIC_UPSTREAM: upstream, **(env or {})}) as served:
        yield served.base_url


def wait_calls(count: int, *, done: bool = True, timeout: float = 10.0) -> list[dict]:
    """The calls of the newest session, once `count` exist (and are finished, if `done`)."""

    def arrived(calls: list[dict]) -> bool:
        return len(calls) >= count and (not done or all(c["status"] != "streaming" for c in calls))

    return wait_for(arrived, timeout)
