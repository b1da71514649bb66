"""Every fault a provider can play, on every API surface, with and without a fallback.

A case names a fault the primary provider plays (agentwrap.fakes, over a real socket), the
request the agent makes (streamed or not) and what should follow. A fault that strikes
before anything reached the agent falls back to the backup when there is one; without one
the agent gets an error in its own API that names the provider and what it did. A fault
after the answer began reaches the agent as an error inside its answer, fallback or not.
Each case also reads the call's record and checks that the proxy still serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agentwrap.fakes.provider import Played, Reply
from agentwrap.fakes.server import Delivery
from tests.faults.rig import BACKUP_TEXT, SURFACES, Rig

LONG = "primary answer " * 20
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
BIG = 50 * 1024 * 1024
PAST_THE_BUFFER = 3 * 1024 * 1024  # the rig's answer buffer holds 1 MB
# The timeouts a case that waits one out runs with: each such case waits it out on every rig.
WAIT, WAIT_TEXT = 0.5, "0.5s"


def played(text: str = LONG, **delivery: Any) -> Played:
    return Played(Reply(text=text), Delivery(**delivery))


@dataclass(frozen=True)
class Case:
    """A fault, and what the agent and the record should show.

    `outcome`: the primary's attempt outcome when the fault strikes before the agent got a
    byte (so it falls back when it can); None when the answer reaches the agent regardless.
    `status` and `says`: the error the agent gets with no fallback (`says` is in its message).
    `records`: in the record's error (the call's, or the failed attempt's). `wait`: the
    first-byte and stall timeouts when the case waits one out (shorter than the rig's)."""

    name: str
    script: Callable[[], list[Any]]
    stream: bool
    outcome: str | None
    status: int | None
    says: str
    records: str
    wait: float | None = None


CASES = [
    Case(
        "reset before any byte",
        lambda: [played(reset=True)],
        True,
        "connection error",
        502,
        "cannot reach primary",
        "cannot reach primary",
    ),
    Case(
        "stall before headers",
        lambda: [played(first_byte_delay=5)],
        True,
        "timeout before first byte",
        504,
        f"primary (main-model) sent nothing within {WAIT_TEXT}",
        f"sent nothing within {WAIT_TEXT}",
        WAIT,
    ),
    Case(
        "headers then stall, stream",
        lambda: [played(stall_after_headers=5)],
        True,
        "timeout before first byte",
        504,
        f"sent HTTP 200 headers but no body within {WAIT_TEXT}",
        "headers but no body",
        WAIT,
    ),
    Case(
        "headers then stall, whole body",
        lambda: [played(stall_after_headers=5)],
        False,
        "timeout before first byte",
        504,
        f"sent HTTP 200 headers but no body within {WAIT_TEXT}",
        "headers but no body",
        WAIT,
    ),
    Case(
        "cut mid-stream",
        lambda: [played(drop_after=3, event_delay=0.05)],
        True,
        None,
        None,
        "stream ended early",
        "upstream stream broke",
    ),
    Case(
        "cut mid-body",
        lambda: [played(cut_body_after=20)],
        False,
        "broke off before the answer reached the agent",
        502,
        "primary (main-model)'s answer broke off",
        "answer broke off",
    ),
    Case(
        "malformed SSE",
        lambda: [
            played(raw_body=b"this is not\nan event stream\n\n", content_type="text/event-stream")
        ],
        True,
        "http 200, unsound: sent a malformed stream",
        502,
        "sent a malformed stream",
        "not an event field",
    ),
    Case(
        "in-band error event",
        lambda: [
            played("primary answer", stream_error="the model is overloaded now", event_delay=0.02)
        ],
        True,
        None,
        None,
        "overloaded now",
        "overloaded now",
    ),
    Case(
        "HTML error page",
        lambda: [played(status=502, error_body=HTML, content_type="text/html")],
        True,
        "http 502",
        502,
        "HTML page: 502 Bad Gateway",
        "HTML page: 502 Bad Gateway",
    ),
    Case(
        "529 overloaded",
        lambda: [played(status=529, error="overloaded, try later")],
        True,
        "http 529",
        529,
        "overloaded, try later",
        "overloaded, try later",
    ),
    Case(
        "non-JSON 200",
        lambda: [played(raw_body=b"<html>maintenance</html>", content_type="text/html")],
        False,
        "http 200, unsound: answered with a body that is not JSON",
        502,
        "answered with a body that is not JSON",
        "not JSON",
    ),
    Case(
        "empty stream",
        lambda: [played(cut_after=0)],
        True,
        "http 200, unsound: sent an empty stream",
        502,
        "sent an empty stream",
        "empty stream",
    ),
    Case(
        "bad content-encoding",
        lambda: [played(false_encoding="gzip")],
        False,
        "broke off before the answer reached the agent",
        502,
        "answer broke off",
        "Can not decode content-encoding",
    ),
]


RIGS = [(api, fallback) for api in SURFACES for fallback in (True, False)]


@pytest.fixture(
    scope="module",
    params=RIGS,
    ids=[f"{api}-{'fallback' if fb else 'alone'}" for api, fb in RIGS],
)
def rig(request, tmp_path_factory) -> Iterator[Rig]:
    api, fallback = request.param
    with Rig(api, fallback, tmp_path_factory.mktemp("faults")) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(rig: Rig, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.wait is not None:
        monkeypatch.setattr(rig.proxy.options, "first_byte_timeout", case.wait)
        monkeypatch.setattr(rig.proxy.options, "stall_timeout", case.wait)
    seen, call = rig.ask(case.script(), case.stream)
    attempts = call["attempts"]
    if case.outcome is None:
        # The answer had begun: the agent hears of the fault inside it, and nothing falls back.
        assert seen.error is not None and case.says in seen.error, seen
        assert call["status"] == "error" and case.records in call["error"]
        assert [a["provider"] for a in attempts] == ["primary"]
        assert call["ttfb_ms"] is not None and call["response_bytes"] > 0
        assert rig.backup_asked() == 0
    elif rig.fallback:
        assert seen.text == BACKUP_TEXT, seen
        assert rig.backup_asked() == 1
        assert call["status"] == "ok" and call["provider"] == "backup"
        assert call["model"] == "spare-model" and call["http_status"] == 200
        assert [a["provider"] for a in attempts] == ["primary", "backup"]
        assert attempts[0]["outcome"].startswith(case.outcome), attempts
        assert case.records in attempts[0]["error"], attempts
        assert attempts[1]["outcome"] == "http 200"
    else:
        assert seen.error is not None and case.says in seen.error, seen
        assert seen.status == case.status
        assert call["status"] == "error" and call["http_status"] == case.status
        assert case.records in call["error"], call["error"]
        assert [a["outcome"][: len(case.outcome)] for a in attempts] == [case.outcome]
    assert rig.alive()


def test_refused(rig: Rig, tmp_path, refused_url: str) -> None:
    closed = refused_url
    if rig.api in ("openai-chat", "openai-responses"):
        closed += "/v1"
    with Rig(rig.api, rig.fallback, tmp_path, primary_url=closed) as dead:
        seen, call = dead.ask([], stream=True)
        assert dead.alive()
    assert call["attempts"][0]["outcome"].startswith("connection error")
    if rig.fallback:
        assert seen.text == BACKUP_TEXT and call["status"] == "ok"
    else:
        assert seen.status == 502 and "cannot reach primary" in (seen.error or "")
        assert call["status"] == "error" and call["http_status"] == 502


def test_429_with_retry_after(rig: Rig) -> None:
    busy = played(status=429, error="slow down", headers={"retry-after": "0.2"})
    seen, call = rig.ask([busy, Reply(text="after waiting")], stream=True)
    outcomes = [(a["provider"], a["outcome"]) for a in call["attempts"]]
    if rig.fallback:
        # Another model now beats the same one later.
        assert seen.text == BACKUP_TEXT
        assert outcomes == [("primary", "http 429"), ("backup", "http 200")]
    else:
        # The last target is asked once more, after the pause it asked for.
        assert seen.text == "after waiting"
        assert outcomes == [("primary", "http 429"), ("primary", "http 200")]
        first, second = rig.primary.generating()[-2:]
        assert second.received_at - first.received_at >= 0.2
    assert call["attempts"][0]["error"] == "slow down"
    assert call["status"] == "ok"


# The 50 MB answer is the slow lane's; the fast lane's answer is past the buffer all the same.
@pytest.mark.parametrize(
    "size",
    [pytest.param(PAST_THE_BUFFER, id="3MB"), pytest.param(BIG, id="50MB", marks=pytest.mark.slow)],
)
def test_an_answer_past_the_buffer(rig: Rig, monkeypatch, size: int) -> None:
    # The fake takes its time to write a large JSON answer before its headers: not a fault.
    monkeypatch.setattr(rig.proxy.options, "first_byte_timeout", 60.0)
    seen, call = rig.ask([Reply(text="x" * size, usage={"input": 5, "output": 9})], stream=False)
    assert seen.text is not None and len(seen.text) == size
    assert call["status"] == "ok" and call["response_bytes"] > size
    assert [a["outcome"] for a in call["attempts"]] == ["http 200"]
    # Past the answer buffer it streamed through: its usage was not held to be read.
    assert call["unpriced_reason"] == "the answer was too large to read its usage"
    assert rig.alive()
