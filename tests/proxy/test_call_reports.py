"""What the ledger reports of one call, as each reader sees it: the events a panel inside the
session merges (RecorderFeed), the events table a panel in another terminal tails
(StoreFollower), and the stored row.

Routed and first byte are one report when the first byte follows at once (a stream's first
chunk, a whole body): three events per call instead of four, with nothing a reader sees
lost. A call cut between the two still reports routed on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from agentwrap.fakes.provider import FakeProvider, Played, Reply
from agentwrap.fakes.server import Delivery
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.proxy.ledger import ROUTED_COLUMNS, Ledger
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.runner import ProxyThread
from agentwrap.route.profile import load_profile
from agentwrap.trace.live import RecorderFeed, StoreFollower
from agentwrap.trace.recorder import CallEvent, Recorder
from agentwrap.trace.store import TraceStore
from agentwrap.wire.call import ANTHROPIC
from tests.faults.rig import Rig

# What the panel shows of a call's answer: the routed columns, its first byte, how it ended.
SHOWN = (*ROUTED_COLUMNS, "ttfb_ms", "status", "error", "http_status")


class Readers:
    """A session's readers: what was published, and the two feeds a panel follows."""

    def __init__(self, recorder: Recorder, store: TraceStore, session: str) -> None:
        self.published: list[CallEvent] = []
        recorder.subscribe(self.published.append)
        self.inside = RecorderFeed(recorder)
        self.outside = StoreFollower(store, session)
        self.outside.snapshot()
        self.store, self.session = store, session

    def kinds(self, call_id: str) -> tuple[list[str], list[str]]:
        """The call's event kinds as published, and as stored."""
        published = [e.kind for e in self.published if e.call_id == call_id]
        stored = [
            e["kind"]
            for e in self.store.events_after(0, self.session, limit=10_000)
            if e["call_id"] == call_id
        ]
        return published, stored

    def event(self, call_id: str, kind: str) -> dict[str, Any]:
        """The fields of the call's one published event of `kind`."""
        (fields,) = [e.fields for e in self.published if e.call_id == call_id and e.kind == kind]
        return fields

    def assert_rows_agree(self, row: dict[str, Any]) -> None:
        """Both feeds show the stored row's columns."""
        inside = self.inside.call(row["id"])
        (outside,) = [c for c in self.outside.poll().calls if c["id"] == row["id"]]
        for column in SHOWN:
            assert inside is not None and inside.get(column) == row[column], column
            assert outside[column] == row[column], column


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(ANTHROPIC, True, tmp_path) as rig:
        yield rig


def _readers(rig: Rig) -> Readers:
    return Readers(rig.recorder, rig.store, rig.session)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_an_answer_reports_routed_with_its_first_byte(rig: Rig, stream: bool) -> None:
    readers = _readers(rig)
    seen, row = rig.ask([Reply(text="hello there")], stream=stream)
    assert seen.text == "hello there"
    published, stored = readers.kinds(row["id"])
    assert published == stored == ["started", "first_byte", "finished"]
    assert row["model"] == "main-model" and row["provider"] == "primary"
    assert row["provider_api"] == ANTHROPIC and row["model_alias"] == "main"
    assert row["ttfb_ms"] is not None and readers.event(row["id"], "first_byte")["ttfb_ms"] > 0
    readers.assert_rows_agree(row)


def test_a_fallback_answer_carries_its_target_in_the_first_byte(rig: Rig) -> None:
    readers = _readers(rig)
    overloaded = Played(Reply(), Delivery(status=529, error="Overloaded"))
    seen, row = rig.ask([overloaded], stream=True)
    assert seen.text == "from backup"
    published, stored = readers.kinds(row["id"])
    assert published == stored == ["started", "fallback", "first_byte", "finished"]
    # The routed columns the fallback's own report did not carry arrive with the first byte.
    first_byte = readers.event(row["id"], "first_byte")
    assert first_byte["model_alias"] == "spare" and "ttfb_ms" in first_byte
    assert row["model"] == "spare-model" and row["provider"] == "backup"
    assert row["model_alias"] == "spare"
    readers.assert_rows_agree(row)


CROSS_API = """
[providers.chat]
api = "openai-chat"
base_url = "{url}"

[models.cheap]
provider = "chat"
model = "cheap-1"

[routing]
default = "cheap"
"""
# A stream's first bytes that translate into nothing yet: half an event, then the end.
HALF_EVENT = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":'


def test_a_call_cut_between_routed_and_its_first_byte_reports_routed_alone(
    tmp_path: Path,
) -> None:
    cut = Played(Reply(), Delivery(raw_body=HALF_EVENT, content_type="text/event-stream"))
    with FakeProvider("openai-chat", [cut]) as chat:
        (tmp_path / "p.toml").write_text(CROSS_API.format(url=chat.base_url))
        store = TraceStore(tmp_path / "t.db")
        store.insert_session(id="s", agent="test", started_at=time.time())
        recorder = Recorder(store, "s")
        readers = Readers(recorder, store, "s")
        profile = load_profile(None, str(tmp_path / "p.toml"), {}, agent_api=ANTHROPIC)
        runner = ProxyThread(Proxy(profile, recorder, options=ProxyOptions(stall_timeout=5.0)))
        client = anthropic.Anthropic(base_url=runner.start(), api_key="k", max_retries=0)
        try:
            question = [{"role": "user", "content": "hi"}]
            with (
                pytest.raises(anthropic.APIStatusError, match="ended before the answer"),
                client.messages.stream(
                    model="claude-sonnet-4-6", max_tokens=5, messages=question
                ) as s,
            ):
                s.get_final_text()
        finally:
            runner.stop(grace=1.0)
            recorder.close()
    (row,) = store.calls("s")
    published, stored = readers.kinds(row["id"])
    assert published == stored == ["started", "routed", "failed"]
    assert row["status"] == "error" and row["ttfb_ms"] is None
    assert row["provider"] == "chat" and row["provider_api"] == "openai-chat"
    readers.assert_rows_agree(row)


def test_call_ids_begin_with_the_time_they_arrived(rig: Rig) -> None:
    # Time-ordered ids put a session's new rows at the end of the store's index of ids.
    rows = []
    for _ in range(3):
        before = time.time_ns() // 1_000_000
        _, row = rig.ask([Reply(text="hi")], stream=True)
        after = time.time_ns() // 1_000_000
        assert len(row["id"]) == 32 and int(row["id"], 16) >= 0
        assert before <= int(row["id"][:12], 16) <= after
        rows.append(row)
        time.sleep(0.002)
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_bookkeeping_that_fails_does_not_fail_the_call(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Labelling the step before runs while the provider works, or mid-answer: a bug there is
    # logged, and the agent still gets its answer and the call its row.
    labelled: list[str] = []

    def broken(self: Ledger, call: object, conversation: object) -> None:
        labelled.append("tried")
        raise RuntimeError("labelling broke")

    monkeypatch.setattr(Ledger, "label_previous_step", broken)
    readers = _readers(rig)
    seen, row = rig.ask([Reply(text="still here")], stream=True)
    assert labelled == ["tried"]
    assert seen.text == "still here" and row["status"] == "ok"
    published, stored = readers.kinds(row["id"])
    assert published == stored == ["started", "first_byte", "finished"]
    assert "labelling broke" in caplog.text
