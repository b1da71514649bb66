"""A fake provider for one API, answering a script, and the API-neutral way to write replies.

    async with FakeProvider("openai-chat", [Reply(text="Hi"), Reply(tool_calls=[...])]) as fake:
        ... point something at fake.base_url ...
        assert fake.requests[0].body["messages"][0]["role"] == "system"

    with FakeProvider("gemini", [...]) as fake:   # server in its own thread, for sync clients
        ...

`base_url` follows the provider convention: Anthropic and Gemini at the root, OpenAI at /v1.
Every request is recorded (`fake.requests`: method, path with query, lower-cased headers,
parsed JSON body, raw bytes). Each generating call consumes the next script item; see
`Script`. `stream_bytes(api, reply)` and `whole_body(api, reply)` give the same wire bytes
without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentwrap.fakes.content import Answer, Block, Text, Thinking, Tokens, ToolUse
from agentwrap.fakes.formats import OPENAI_CHAT, OPENAI_RESPONSES, Format, format_for
from agentwrap.fakes.server import Delivery, FakeServer, Outcome, Received, Scripted, stream_events


@dataclass
class Call:
    """A tool call the scripted model makes."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass
class Reply:
    """One scripted answer, the same for every API.

    usage: input (uncached), output, cache_read, cache_write — written in each API's own
    convention (OpenAI and Gemini count cached tokens inside the prompt total).
    signature: the opaque reasoning token (Anthropic signature, Responses encrypted_content,
    Gemini thoughtSignature). `stop` is the API's own stop or finish reason. status >= 400
    answers an error with `error` as its message, or `error_body` verbatim with `content_type`
    (an HTML page, say). `cut_after` ends a stream after that many events without its
    terminal event; `stream_error` sends an error event after the content instead of the
    normal end. `delay` waits between stream events, `first_byte_delay` before the response
    starts (to test timeouts and fallbacks).
    """

    text: str = ""
    tool_calls: list[Call] = field(default_factory=list)
    reasoning: str = ""
    signature: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input": 10, "output": 5})
    stop: str | None = None
    status: int = 200
    error: str | None = None
    error_body: bytes | None = None
    content_type: str | None = None
    stream: bool | None = None
    delay: float = 0.0
    first_byte_delay: float = 0.0
    cut_after: int | None = None
    stream_error: str | None = None
    model: str = "fake-model-1"

    def answer(self, number: int = 1) -> Answer:
        """The reply as an answer, its ids numbered `number`."""
        blocks: list[Block] = []
        if self.reasoning:
            blocks.append(Thinking(self.reasoning, self.signature))
        if self.text:
            blocks.append(Text(self.text))
        blocks += [ToolUse(c.name, c.arguments, c.id) for c in self.tool_calls]
        tokens = Tokens(
            input=self.usage.get("input", 0),
            output=self.usage.get("output", 0),
            cache_read=self.usage.get("cache_read", 0),
            cache_write=self.usage.get("cache_write", 0),
        )
        return Answer(self.model, tuple(blocks), tokens, id=f"fake{number}", stop=self.stop)

    def delivery(self) -> Delivery:
        """How the reply is delivered: its status and faults."""
        return Delivery(
            status=self.status,
            error=self.error or ("scripted error" if self.status >= 400 else None),
            error_body=self.error_body,
            content_type=self.content_type,
            stream=self.stream,
            event_delay=self.delay,
            first_byte_delay=self.first_byte_delay,
            cut_after=self.cut_after,
            stream_error=self.stream_error,
        )

    def outcome(self, request: Received, number: int) -> Outcome:
        """What the server answers (the request does not change an API-neutral reply)."""
        return Outcome(self.answer(number), self.delivery())


@dataclass
class Played:
    """A reply delivered exactly as `delivery` says: any status and fault the server plays.

    Played(Reply(text="hi"), Delivery(stall_after_headers=5))
    """

    reply: Reply
    delivery: Delivery

    def outcome(self, request: Received, number: int) -> Outcome:
        """The reply's answer, delivered as scripted."""
        return Outcome(self.reply.answer(number), self.delivery)


Item = Scripted | str | Callable[[Any], Scripted | str]
Script = Sequence[Item] | Callable[[dict[str, Any], dict[str, str]], Scripted | str]


class FakeProvider(FakeServer):
    """A real HTTP server on 127.0.0.1 playing one API and answering a script.

    The script is a list consumed in order, one item per generating call: a reply (`Reply`
    here, or the Anthropic-flavoured `agentwrap.fakes.anthropic.Reply`), a string (a text
    reply), or a callable given the request body that returns one. Or the script is one
    callable `(body, headers) -> reply` asked for every call. When a list runs out, `default`
    answers; with no default the fake answers HTTP 400, because an unexpected extra call
    usually means the test is wrong, and a 400 is not retried by clients (a 5xx would be,
    slowly). A script that raises answers 400 too, and the exception is kept in
    `script_errors`.
    """

    def __init__(
        self,
        api: str,
        script: Script | None = None,
        *,
        default: Scripted | str | None = None,
        models: Sequence[str] | None = None,
        prefix: str = "",
        port: int = 0,
        keep_bodies: bool = True,
    ) -> None:
        """`prefix` only shapes `base_url`; every path prefix is accepted anyway."""
        format_for(api)  # refuses an unknown API before anything starts
        super().__init__([api], port=port, models=models, keep_bodies=keep_bodies)
        self.api = api
        self.script: Script = script if script is not None else []
        self.default = default
        self.prefix = prefix.rstrip("/")
        self.script_errors: list[Exception] = []  # raised by a callable script
        self._next_item = 0

    def rescript(self, script: Script, default: Scripted | str | None = None) -> None:
        """Answer from `script` from now on, from its first item (one server, many cases)."""
        self.script, self.default, self._next_item = script, default, 0

    @property
    def base_url(self) -> str:
        """What a client uses as its base URL (OpenAI's includes /v1)."""
        version = "/v1" if self.api in (OPENAI_CHAT, OPENAI_RESPONSES) else ""
        return f"{self.root}{self.prefix}{version}"

    def reply_for_text(self, text: str) -> Scripted:
        """The reply a plain string in the script stands for."""
        return Reply(text=text)

    async def respond(
        self, request: Received, body: dict[str, Any], fmt: Format, number: int
    ) -> Outcome:
        """The script's next reply."""
        try:
            item = self._scripted(request, body)
        except Exception as exc:
            # A 400 and not a 5xx: clients retry 5xx with backoff, hiding the bug for minutes.
            self.script_errors.append(exc)
            item = _refusal(f"fake upstream: the script raised {exc!r}")
        if isinstance(item, str):
            item = self.reply_for_text(item)
        return item.outcome(request, number)

    def _scripted(self, request: Received, body: dict[str, Any]) -> Scripted | str:
        if callable(self.script):
            return self.script(body, request.headers)
        index = self._next_item
        self._next_item += 1
        if index < len(self.script):
            item = self.script[index]
            return item(body) if callable(item) else item
        if self.default is not None:
            return self.default
        return _refusal(
            f"fake upstream: the script has no reply for {request.endpoint} call #{index + 1}"
        )


def _refusal(message: str) -> Scripted:
    return Reply(status=400, error=message)


def stream_bytes(api: str, reply: Reply, request: dict[str, Any] | None = None) -> bytes:
    """The SSE bytes the fake would stream for `reply` (for tests that need no server)."""
    body = request or {"stream_options": {"include_usage": True}}
    events = stream_events(format_for(api), reply.answer(), reply.delivery(), body)
    return b"".join(event.data for event in events)


def whole_body(api: str, reply: Reply) -> dict[str, Any]:
    """The JSON body the fake would answer for `reply` without streaming."""
    return format_for(api).whole(reply.answer(), {})
