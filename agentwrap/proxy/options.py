"""The proxy's settings, shared by its steps (read at each call, so they may change until then).

docs/reliability.md says what each limit protects and how to change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

DEFAULT_MAX_BODY = 32 * 1024 * 1024
# A whole (non-streamed) answer is held up to this size, so that a broken one can still fall
# back; past it, a same-API answer streams through and a translated one is refused.
DEFAULT_ANSWER_BUFFER = 8 * 1024 * 1024


# The settings a user may change (serve's flags, AGENTWRAP_<NAME> for every command).
LIMITS = (
    "max_body",
    "first_byte_timeout",
    "stall_timeout",
    "connect_timeout",
    "request_timeout",
    "idle_timeout",
    "max_retry_after",
    "answer_buffer",
    "pool_size",
    "shutdown_grace",
)


@dataclass
class ProxyOptions:
    max_body: int = DEFAULT_MAX_BODY  # largest request body accepted from the agent
    first_byte_timeout: float = 120.0  # request sent → status, headers and first body bytes
    stall_timeout: float = 300.0  # longest silence inside an answer, once it has begun
    connect_timeout: float = 15.0  # opening a new connection to a provider
    request_timeout: float = 60.0  # the agent sending its request body
    # A connection from the agent closes when its request head has not come this long, or when
    # it has been idle between requests this long (agents' own clients let go sooner).
    idle_timeout: float = 300.0
    max_retry_after: float = 5.0
    answer_buffer: int = DEFAULT_ANSWER_BUFFER
    pool_size: int = 128  # open connections per provider host (more calls wait their turn)
    shutdown_grace: float = 3.0  # in-flight answers may finish this long when agentwrap stops
    agent: str | None = None
    observe: bool = False
    env: Mapping[str, str] | None = None
    # Transparent mode: calls name the endpoint the agent meant (ENDPOINT_HEADER), which
    # decides their passthrough provider; elsewhere that header is ignored.
    transparent: bool = False
    # Learned routing's exploration draws from a generator seeded with AGENTWRAP_EXPLORE_SEED,
    # so a run's choices can be replayed; None: a fresh seed each session.
    explore_seed: int | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def set_from_env(self, env: Mapping[str, str]) -> None:
        """Take limits from AGENTWRAP_<NAME> variables (AGENTWRAP_FIRST_BYTE_TIMEOUT=30...).

        Raises ValueError naming the variable when a value is not a number or not usable.
        """
        for f in fields(self):
            if f.name not in LIMITS:
                continue
            name = "AGENTWRAP_" + f.name.upper()
            raw = env.get(name)
            if raw is None or not raw.strip():
                continue
            kind = int if isinstance(getattr(self, f.name), int) else float
            try:
                setattr(self, f.name, kind(raw))
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
        raw = env.get("AGENTWRAP_EXPLORE_SEED", "").strip()
        if raw:
            try:
                self.explore_seed = int(raw)
            except ValueError:
                raise ValueError(f"AGENTWRAP_EXPLORE_SEED={raw!r} is not a whole number") from None
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with these settings, one sentence each (empty when they are usable)."""
        out: list[str] = []
        for name in (
            "first_byte_timeout",
            "stall_timeout",
            "connect_timeout",
            "request_timeout",
            "idle_timeout",
        ):
            value = getattr(self, name)
            if not value > 0:
                out.append(
                    f"{name.replace('_', '-')} must be a number of seconds above 0, not {value:g}"
                )
        for name in ("max_body", "answer_buffer", "pool_size"):
            value = getattr(self, name)
            if value < 1:
                out.append(f"{name.replace('_', '-')} must be at least 1, not {value}")
        if self.max_retry_after < 0 or self.shutdown_grace < 0:
            out.append("max-retry-after and shutdown-grace cannot be negative")
        return out
