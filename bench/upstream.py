"""The benchmark's upstream: agentwrap's fake Anthropic provider answering every call with the
same short SSE stream, its first event on its own and the rest in one write.

Run as a process of its own so its CPU is not charged to the proxy or the client:
    python bench/upstream.py PORT
"""

from __future__ import annotations

import sys
import threading

from agentwrap.fakes.anthropic import FakeAnthropic
from agentwrap.fakes.content import Answer, Text, Tokens
from agentwrap.fakes.server import Delivery, Outcome, Received

WORDS = "".join(f"token{i} " for i in range(20))
ANSWER = Answer(
    model="claude-sonnet-4-6",
    blocks=(Text(WORDS, chunk=8),),
    tokens=Tokens(input=25_000, output=20, cache_read=20_000),
    id="bench",
)


class SameAnswer:
    """Every call gets ANSWER; nothing is estimated from the request."""

    def outcome(self, request: Received, number: int) -> Outcome:
        """ANSWER, streamed as a provider with the whole answer ready would send it."""
        return Outcome(ANSWER, Delivery(burst_after=1))


def main() -> None:
    """Serve on the port given until interrupted, keeping no request bodies."""
    with FakeAnthropic(default=SameAnswer(), port=int(sys.argv[1]), keep_bodies=False):
        threading.Event().wait()


if __name__ == "__main__":
    main()
