"""Real Claude Code request bodies (captured from the CLI) translated to every other API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentwrap.wire import translate as t

CAPTURES = sorted((Path(__file__).parent.parent / "fixtures" / "claude").glob("*.json"))
NAME_OK = {
    "openai-chat": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    "openai-responses": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    "gemini": re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"),
}
GEMINI_BANNED = (
    "$schema",
    "additionalProperties",
    "$ref",
    "exclusiveMinimum",
    "propertyNames",
    '"const"',
    '"oneOf"',
    '"allOf"',
)


def _body(path: Path) -> dict:
    return json.loads(path.read_text())["body"]


@pytest.mark.skipif(not CAPTURES, reason="no Claude Code captures in tests/fixtures/claude")
@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
@pytest.mark.parametrize("dst", ["openai-chat", "openai-responses", "gemini"])
def test_claude_code_requests_translate(path: Path, dst: str) -> None:
    body = _body(path)
    server_tools = [tool for tool in body.get("tools") or [] if "input_schema" not in tool]
    if server_tools:
        with pytest.raises(t.TranslationError, match="server tools"):
            t.translate_request(body, "anthropic", dst, "m")
        return
    out = t.translate_request(body, "anthropic", dst, "target-model")
    text = json.dumps(out)
    tools = body.get("tools") or []
    if dst == "openai-chat":
        names = [tool["function"]["name"] for tool in out.get("tools", [])]
        roles = {m["role"] for m in out["messages"]}
        assert roles <= {"system", "user", "assistant", "tool"}
        assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    elif dst == "openai-responses":
        names = [tool["name"] for tool in out.get("tools", [])]
        assert out["store"] is False
    else:
        decls = out["tools"][0]["functionDeclarations"] if out.get("tools") else []
        names = [d["name"] for d in decls]
        for banned in GEMINI_BANNED:
            assert banned not in json.dumps(out.get("tools", [])), banned
    assert len(names) == len(tools)
    assert all(NAME_OK[dst].match(n) for n in names)
    assert "cache_control" not in text
    # Every user-visible word of the last user turn survives.
    last = body["messages"][-1]["content"]
    words = (
        last
        if isinstance(last, str)
        else " ".join(b.get("text", "") for b in last if isinstance(b, dict))
    )
    for word in re.findall(r"[A-Za-z]{6,}", words)[:20]:
        assert word in text
    # The middle-of-conversation system messages Claude Code sends are not lost.
    for msg in body["messages"]:
        if msg["role"] == "system":
            content = msg["content"]
            snippet = content if isinstance(content, str) else content[0]["text"]
            assert json.dumps(snippet[:80])[1:-1] in text


@pytest.mark.skipif(not CAPTURES, reason="no Claude Code captures")
def test_count_tokens_estimate_on_real_requests() -> None:
    for path in CAPTURES:
        body = _body(path)
        estimate = t.count_tokens_estimate(body, "anthropic")
        size = len(json.dumps(body))
        assert estimate < size / 2, path.stem
        if size > 5000:  # JSON punctuation dominates tiny bodies
            assert estimate > size / 8, path.stem
