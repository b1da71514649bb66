"""Property: canonical -> surface -> canonical keeps a conversation's content, for every surface.

What a surface cannot carry is normalised away explicitly (and only that): Chat and Responses
have no is_error flag (the text says "Error: "), Gemini has no tool-call ids (calls and results
are matched by position and name), only an API's own reasoning signatures survive it, Gemini
folds mid-conversation system text into the system instruction.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.wire import anthropic, gemini, openai_chat, openai_responses
from agentwrap.wire import canonical as c

SURFACES = {
    "anthropic": anthropic,
    "openai-chat": openai_chat,
    "openai-responses": openai_responses,
    "gemini": gemini,
}
TOOL_NAMES = ["Bash", "Read", "Edit", "Grep"]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="

text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s != "")
ident = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=12)
json_scalar = st.one_of(st.integers(-1000, 1000), st.booleans(), text, st.none())
args = st.dictionaries(
    st.sampled_from(["path", "command", "limit", "flag"]), json_scalar, max_size=3
)


@st.composite
def conversations(draw: st.DrawFn, surface: str) -> c.Request:
    req = c.Request(model="m")
    req.system = [c.Text(t) for t in draw(st.lists(text, max_size=2))]
    req.tools = [
        c.Tool(
            name,
            draw(text),
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "where"},
                    "limit": {"type": "integer"},
                },
                "required": ["path"],
            },
        )
        for name in TOOL_NAMES
    ]
    pending: list[c.ToolCall] = []
    turns = draw(st.integers(1, 6))
    for turn in range(turns):
        user: list[c.Part] = []
        for call in pending:
            user.append(c.ToolResult(call.id, [c.Text(draw(text))], is_error=draw(st.booleans())))
        if draw(st.booleans()) or not user:
            user.append(c.Text(draw(text)))
        if draw(st.integers(0, 4)) == 0:
            user.append(c.Image("image/png", PNG))
        req.messages.append(c.Message("user", user))
        if turn > 0 and draw(st.integers(0, 5)) == 0:
            req.messages.append(c.Message("system", [c.Text(draw(text))]))
        if turn == turns - 1 and draw(st.booleans()):
            break
        assistant: list[c.Part] = []
        if draw(st.booleans()):
            assistant.append(_thinking(draw, surface))
        if draw(st.booleans()):
            assistant.append(c.Text(draw(text)))
        pending = [
            c.ToolCall(
                f"call_{draw(ident)}_{turn}_{i}", draw(st.sampled_from(TOOL_NAMES)), draw(args)
            )
            for i in range(draw(st.integers(0 if assistant else 1, 3)))
        ]
        assistant.extend(pending)
        req.messages.append(c.Message("assistant", assistant))
    return req


def _thinking(draw: st.DrawFn, surface: str) -> c.Thinking:
    words = draw(text)
    sig = "sig" + draw(ident)
    if surface == "openai-responses":
        return c.Thinking(words, sig, surface, item_id="rs_" + draw(ident))
    return c.Thinking(words, sig, surface)


def normalise(req: c.Request, surface: str) -> dict[str, Any]:
    system = [t.text for t in req.system]
    messages: list[tuple[str, list[Any]]] = []
    ids: dict[str, str] = {}

    def call_id(value: str) -> str:
        if surface != "gemini":
            return value
        return ids.setdefault(value, f"#{len(ids)}")

    for msg in req.messages:
        if msg.role == "system" and surface == "gemini":
            system.extend(p.text for p in msg.parts if isinstance(p, c.Text))
            continue
        parts: list[Any] = []
        for p in msg.parts:
            if isinstance(p, c.Text):
                parts.append(("text", p.text))
            elif isinstance(p, c.Image):
                parts.append(("image", p.media_type, p.data))
            elif isinstance(p, c.Thinking):
                if surface == "openai-chat":
                    parts.append(("thinking", p.text))
                else:
                    parts.append(("thinking", p.text, p.signature, p.origin, p.item_id))
            elif isinstance(p, c.ToolCall):
                parts.append(("call", call_id(p.id), p.name, p.input))
            elif isinstance(p, c.ToolResult):
                body = p.text
                flag = p.is_error
                if surface in ("openai-chat", "openai-responses") and flag:
                    body, flag = f"Error: {body}", False
                parts.append(("result", call_id(p.call_id), body, flag))
        messages.append((msg.role, parts))
    tools = [(t.name, t.description, t.parameters) for t in req.tools]
    joined = "\n\n".join(system)
    return {"system": joined, "messages": messages, "tools": tools}


def round_trip(req: c.Request, surface: str) -> c.Request:
    module = SURFACES[surface]
    body = module.emit_request(req, "m")
    if surface == "gemini":
        return gemini.parse_request(body, "m")
    return module.parse_request(body)


def _check(surface: str, req: c.Request) -> None:
    back = round_trip(req, surface)
    assert normalise(back, surface) == normalise(req, surface)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_anthropic_round_trip(data: st.DataObject) -> None:
    _check("anthropic", data.draw(conversations("anthropic")))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_openai_chat_round_trip(data: st.DataObject) -> None:
    _check("openai-chat", data.draw(conversations("openai-chat")))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_openai_responses_round_trip(data: st.DataObject) -> None:
    _check("openai-responses", data.draw(conversations("openai-responses")))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_gemini_round_trip(data: st.DataObject) -> None:
    _check("gemini", data.draw(conversations("gemini")))


@st.composite
def answers(draw: st.DrawFn, surface: str) -> c.Response:
    content: list[c.Part] = []
    if draw(st.booleans()):
        content.append(_thinking(draw, surface))
    if draw(st.booleans()):
        content.append(c.Text(draw(text)))
    calls = [
        c.ToolCall(f"call_{draw(ident)}", draw(st.sampled_from(TOOL_NAMES)), draw(args))
        for _ in range(draw(st.integers(0, 3)))
    ]
    content.extend(calls)
    from agentwrap.wire.common import Usage

    usage = Usage(
        draw(st.integers(0, 10**6)), draw(st.integers(0, 10**5)), 0, draw(st.integers(0, 10**6))
    )
    stop = c.TOOL_USE if calls else draw(st.sampled_from([c.END_TURN, c.MAX_TOKENS]))
    return c.Response("r1", "m", content, stop, None, usage)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_whole_response_round_trip(data: st.DataObject) -> None:
    surface = data.draw(st.sampled_from(sorted(SURFACES)))
    resp = data.draw(answers(surface))
    module = SURFACES[surface]
    back = module.parse_response(module.emit_response(resp, "m"))
    assert back.usage == resp.usage
    assert back.stop_reason == resp.stop_reason
    want = normalise(c.Request(messages=[c.Message("assistant", resp.content)]), surface)
    got = normalise(c.Request(messages=[c.Message("assistant", back.content)]), surface)
    if surface == "gemini":  # answers carry ids; compare them as they are
        want_calls = [p.id for p in resp.content if isinstance(p, c.ToolCall)]
        assert want_calls == [p.id for p in back.content if isinstance(p, c.ToolCall)]
    assert got == want
