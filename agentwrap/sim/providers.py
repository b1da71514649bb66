"""Simulated model providers: one fake server that plays every API at once, for the demo.

Each provider lives under its own path prefix (`/anthropic`, `/openai`, `/gemini`, or any
name) and answers in its API's own wire format, streamed or whole (the formats are
agentwrap.fakes'). What this module adds is the simulated world: what the model answers comes
from the demo's script (agentwrap.sim.scenario), chosen from the request's own content, so it
works on translated requests too. Token counts are estimated from the request and the reply
(about four characters a token); repeated prefixes are cache reads (Anthropic at its
cache_control breakpoints, the others implicitly). Latencies follow the model's class — time
to first token, then per-token pacing — divided by `speed`.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentwrap.fakes.content import Answer, Block, RawBlock, Text, Thinking, Tokens, ToolUse
from agentwrap.fakes.formats import (
    ANTHROPIC,
    APIS,
    GEMINI,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    Event,
    Format,
)
from agentwrap.fakes.formats.base import dump
from agentwrap.fakes.server import Delivery, FakeServer, Outcome, Received
from agentwrap.sim import scenario
from agentwrap.sim.scenario import Exchange, Reply

__all__ = [
    "ANTHROPIC",
    "GEMINI",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "Latency",
    "PrefixCache",
    "SimProviders",
    "estimate_tokens",
    "latency_for",
]

CHARS_PER_TOKEN = 4
CACHE_MIN_TOKENS = 1024  # shorter prefixes are never cached (as with the real providers)
PREFILL_TOKENS_PER_S = 40_000  # reading the prompt adds to the time to first token
CHUNK = 3 * CHARS_PER_TOKEN  # characters per streamed delta (about three tokens)
OVERLOADED_WAIT_S = 0.3  # how long an overloaded provider takes to say so
DEFAULT_REPLY = Reply(text="(simulated provider: no scripted reply matches this request) OK.")


def estimate_tokens(text: str) -> int:
    """Tokens of a text, estimated from its length (about four characters a token)."""
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN) if text else 0


@dataclass(frozen=True)
class Latency:
    """How fast a class of model answers: time to first token and output tokens per second."""

    ttft_s: float
    tokens_per_s: float


def latency_for(model: str) -> Latency:
    """Typical latencies by model class (frontier models are slower than small ones)."""
    name = model.lower()
    if "opus" in name or "pro" in name:
        return Latency(1.6, 45.0)
    if "sonnet" in name or name.startswith("gpt-5.") and "mini" not in name:
        return Latency(1.0, 70.0)
    if any(small in name for small in ("haiku", "flash", "mini", "nano", "lite")):
        return Latency(0.45, 150.0)
    return Latency(0.8, 80.0)


# ---------------------------------------------------------------- reading requests


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (keys excluded), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def trailing_text(fmt: Format, body: dict[str, Any]) -> str:
    """The text of the last user-side turns (prompt, tool results), after the model's last turn."""
    tail: list[Any] = []
    for item in reversed(fmt.turns(body)):
        if fmt.is_model_turn(item):
            break
        tail.append(item)
    return "\n".join(_strings(list(reversed(tail))))


class PrefixCache:
    """Which prompt prefixes a model has seen: repeated prefixes are read from cache."""

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def account(
        self, key: str, segments: list[tuple[str, bool]], *, explicit: bool
    ) -> tuple[int, int, int]:
        """(uncached input, cache write, cache read) tokens for a prompt, remembering it.

        `explicit`: only breakpoints are written and writes are reported (Anthropic);
        otherwise every prefix is remembered and nothing is reported as written.
        """
        seen = self._seen.setdefault(key, set())
        digest = hashlib.sha256()
        positions: list[tuple[str, int, bool]] = []  # (prefix hash, tokens so far, breakpoint)
        tokens = 0
        for text, mark in segments:
            digest.update(text.encode())
            tokens += estimate_tokens(text)
            positions.append((digest.copy().hexdigest(), tokens, mark))
        total = tokens
        read = max((n for h, n, _ in positions if h in seen), default=0)
        last_mark = max((n for _, n, m in positions if m), default=0)
        write = 0
        if explicit and last_mark >= CACHE_MIN_TOKENS and last_mark > read:
            write = last_mark - read
        for h, n, mark in positions:
            if n >= CACHE_MIN_TOKENS and mark:
                seen.add(h)
        if not explicit:
            # Implicit caches report whole blocks of 128 tokens.
            read = (read // 128) * 128 if read >= CACHE_MIN_TOKENS else 0
        return total - read - write, write, read


# ---------------------------------------------------------------- answers


def _rand_id(n: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _signature(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def answer_blocks(fmt: Format, body: dict[str, Any], reply: Reply) -> list[Block]:
    """The blocks of a reply as this request can receive them."""
    blocks: list[Block] = []
    if reply.thinking and fmt.asks_for_thinking(body):
        blocks.append(Thinking(reply.thinking, _signature(reply.thinking), CHUNK))
    if reply.search_results and fmt.offers_web_search(body):
        search_id = "srvtoolu_" + _rand_id()
        query = {"query": scenario.SEARCH_QUERY}
        blocks.append(ToolUse("web_search", query, search_id, CHUNK, server=True))
        results = [
            {
                "type": "web_search_result",
                "title": title,
                "url": url,
                "encrypted_content": _signature(url),
                "page_age": None,
            }
            for title, url in reply.search_results
        ]
        blocks.append(
            RawBlock(
                {"type": "web_search_tool_result", "tool_use_id": search_id, "content": results}
            )
        )
    elif reply.search_results:
        listing = "\n".join(f"- {title}: {url}" for title, url in reply.search_results)
        blocks.append(Text(f"Sources:\n{listing}\n\n", CHUNK))
    if reply.text:
        blocks.append(Text(reply.text, CHUNK))
    offered = fmt.offered_tools(body)
    for call in reply.tool_calls:
        if call.name in offered:
            blocks.append(ToolUse(call.name, call.input, chunk=CHUNK))
        else:
            blocks.append(
                Text(
                    f"\n(simulated provider: the script calls the tool {call.name}, which this "
                    "request does not offer)",
                    CHUNK,
                )
            )
    return blocks or [Text("OK.", CHUNK)]


def _output_tokens(blocks: list[Block]) -> int:
    total = 0
    for block in blocks:
        match block:
            case ToolUse(server=True):
                total += 20  # a web search and its results
            case ToolUse():
                total += estimate_tokens(block.name + dump(dict(block.input))) + 8
            case Text():
                total += estimate_tokens(block.text)
            case Thinking():
                total += estimate_tokens(block.thinking)
    return max(1, total)


# ---------------------------------------------------------------- the server


class SimProviders(FakeServer):
    """The simulated providers' server. `await start()` returns its root URL."""

    def __init__(
        self,
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record_requests: bool = False,
    ) -> None:
        """`record_requests`: keep each request's headers and body (tests read them)."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        super().__init__(APIS, host=host, port=port, require_key=True, keep_bodies=record_requests)
        self.speed = speed
        self.record_requests = record_requests
        self.cache = PrefixCache()
        self._failed: Counter[str] = Counter()

    @property
    def received(self) -> list[Received]:
        """Every request received, and how it was answered."""
        return self.requests

    def base_url(self, provider: str, api: str) -> str:
        """The base URL a profile gives a provider of this API (the way the proxy joins paths)."""
        if api in (OPENAI_CHAT, OPENAI_RESPONSES):
            return f"{self.root}/{provider}/v1"
        return f"{self.root}/{provider}"

    def counts(self, by: str = "model") -> Counter[str]:
        """How many calls were answered successfully, by 'model', 'provider', 'api' or 'exchange'."""
        return Counter(str(getattr(r, by)) for r in self.generating() if r.status == 200)

    async def respond(
        self, request: Received, body: dict[str, Any], fmt: Format, number: int
    ) -> Outcome:
        """The scripted exchange the request asks for, or a plain answer; failed once if the
        script says so."""
        if not request.model:
            return Outcome(None, Delivery(status=400, error="model is required"))
        whole = "\n".join(_strings(body))
        exchange = scenario.match(trailing_text(fmt, body), whole)
        request.exchange = exchange.name if exchange is not None else None
        if exchange is not None and exchange.fail_first and not self._failed[exchange.name]:
            self._failed[exchange.name] += 1
            # Only Anthropic says 529; the others are unavailable.
            status = (
                503 if exchange.fail_first == 529 and fmt.api != ANTHROPIC else exchange.fail_first
            )
            delay = OVERLOADED_WAIT_S / self.speed
            return Outcome(
                None,
                Delivery(status=status, error="Overloaded (simulated)", first_byte_delay=delay),
            )
        answer = self._answer(request, body, fmt, exchange)
        return Outcome(answer, self._timing(answer, request.stream))

    def _answer(
        self, request: Received, body: dict[str, Any], fmt: Format, exchange: Exchange | None
    ) -> Answer:
        reply = exchange.reply if exchange is not None else DEFAULT_REPLY
        blocks = answer_blocks(fmt, body, reply)
        uncached, write, read = self.cache.account(
            f"{request.provider}/{request.model}",
            fmt.cache_segments(body),
            explicit=fmt.explicit_cache,
        )
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] <= 16:
            blocks = [Text("ok", CHUNK)]  # a probe
        searches = sum(1 for b in blocks if isinstance(b, ToolUse) and b.server)
        tokens = Tokens(uncached, _output_tokens(blocks), read, write, searches)
        return Answer(request.model, tuple(blocks), tokens, _rand_id(), created=int(time.time()))

    def _timing(self, answer: Answer, stream: bool) -> Delivery:
        """Time to first token (prefill included), then per-token pacing; a whole answer waits
        for all of it before it starts."""
        latency = latency_for(answer.model)
        prefill = (answer.tokens.input + answer.tokens.cache_write) / PREFILL_TOKENS_PER_S
        first = (latency.ttft_s + prefill) / self.speed
        if not stream:
            first += answer.tokens.output / latency.tokens_per_s / self.speed
            return Delivery(first_byte_delay=first)

        def pace(event: Event) -> float:
            return estimate_tokens(event.text) / latency.tokens_per_s / self.speed

        return Delivery(first_byte_delay=first, pace=pace)
