"""The rig the fault cases run on: a faulty provider, a sound backup, the real proxy between
them and the agent's own client, all over real sockets on 127.0.0.1.

One rig per API surface and fallback setting serves every case of a module: each case
rescripts the primary fake, asks once through the official client and reads the call back
from the real trace store. The clients are the official SDKs for Anthropic Messages, OpenAI
Chat and OpenAI Responses; Gemini's official SDK is not installed here, so its client is httpx
speaking the REST API (generateContent, and streamGenerateContent with alt=sse).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

from agentwrap.fakes.provider import FakeProvider, Script
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.proxy.options import ProxyOptions
from agentwrap.proxy.runner import ProxyThread
from agentwrap.route.profile import load_profile
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES

SURFACES = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI)
# Short enough to keep the suite quick, long enough for a loaded machine's honest answers.
OPTIONS = {"first_byte_timeout": 1.0, "stall_timeout": 1.0, "answer_buffer": 1 << 20}
BACKUP_TEXT = "from backup"
CLIENT_TIMEOUT = 30.0

PROFILE = """
[providers.primary]
api = "{api}"
base_url = "{primary}"

[providers.backup]
api = "{api}"
base_url = "{backup}"

[models.main]
provider = "primary"
model = "main-model"

[models.spare]
provider = "backup"
model = "spare-model"

[routing]
default = "main"
"""
FALLBACKS = """
[fallbacks]
main = ["spare"]
"""


@dataclass
class Seen:
    """What the agent's client saw: the answer's text, or the error it raised."""

    text: str | None = None
    error: str | None = None
    status: int | None = None


class Rig:
    """Primary and backup fakes of one API, and a proxy routing to the primary (with the
    backup as its fallback when `fallback`)."""

    def __init__(
        self,
        api: str,
        fallback: bool,
        home: Path,
        primary_url: str | None = None,
        profile_extra: str = "",
        **options: Any,
    ) -> None:
        """`primary_url`: where the primary is, when it is not the fake (a closed port);
        `profile_extra`: more TOML for the profile; `options`: ProxyOptions beyond OPTIONS."""
        self.api, self.fallback, self.home = api, fallback, home
        self.profile_extra = profile_extra
        self.options = {**OPTIONS, **options}
        self.primary = FakeProvider(api, [])
        self.backup = FakeProvider(api, [], default=BACKUP_TEXT)
        self.primary_url = primary_url

    def __enter__(self) -> Rig:
        self.primary.__enter__()
        self.backup.__enter__()
        profile_path = self.home / f"{self.api}-{self.fallback}.toml"
        primary = self.primary_url or self.primary.base_url
        text = PROFILE.format(api=self.api, primary=primary, backup=self.backup.base_url)
        profile_path.write_text(text + (FALLBACKS if self.fallback else "") + self.profile_extra)
        self.store = TraceStore(self.home / f"{self.api}-{self.fallback}.db")
        self.session = f"faults-{self.api}-{self.fallback}"
        self.store.insert_session(id=self.session, agent="test", started_at=time.time())
        self.recorder = Recorder(self.store, self.session)
        profile = load_profile(None, str(profile_path), {}, agent_api=self.api)
        self.proxy = Proxy(profile, self.recorder, options=ProxyOptions(**self.options))
        self.runner = ProxyThread(self.proxy)
        self.url = self.runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop(grace=1.0)
        self.recorder.close()
        self.primary.__exit__(None, None, None)
        self.backup.__exit__(None, None, None)

    # -- one case -------------------------------------------------------------------------

    def ask(self, script: Script, stream: bool) -> tuple[Seen, dict[str, Any]]:
        """Play `script` on the primary, ask once; what the client saw and the call's record."""
        self.primary.rescript(script)
        self._backup_before = len(self.backup.generating())
        before = len(self.store.calls(self.session))
        seen = ask(self.api, self.url, stream)
        return seen, self.record(before + 1)

    def record(self, count: int, timeout: float = 10.0) -> dict[str, Any]:
        """The newest call once `count` calls are recorded and it is finished."""
        deadline = time.monotonic() + timeout
        calls: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self.recorder.flush()
            calls = self.store.calls(self.session)
            if len(calls) >= count and calls[-1]["status"] != "streaming":
                return calls[-1]
            time.sleep(0.02)
        raise AssertionError(f"no finished call #{count}: {calls[-1:]}")

    def backup_asked(self) -> int:
        """How many calls the backup received during the last case."""
        return len(self.backup.generating()) - self._backup_before

    def alive(self) -> bool:
        """The proxy still answers (its health path), and a sound call still goes through."""
        health = httpx.get(self.url + "/_agentwrap/health", timeout=5)
        return health.status_code == 200 and health.json()["ok"] is True


# -- the official clients, one per API surface ----------------------------------------------


def ask(api: str, url: str, stream: bool) -> Seen:
    """One question through the agent's own client for `api`."""
    try:
        return Seen(text=_ASK[api](url, stream))
    except (anthropic.APIError, openai.APIError, GeminiError, StreamError) as exc:
        return Seen(error=str(exc), status=getattr(exc, "status_code", None))


def _anthropic(url: str, stream: bool) -> str:
    client = anthropic.Anthropic(
        base_url=url, api_key="sk-ant-test", max_retries=0, timeout=CLIENT_TIMEOUT
    )
    kw: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if stream:
        with client.messages.stream(**kw) as s:
            return s.get_final_text()
    return "".join(b.text for b in client.messages.create(**kw).content if b.type == "text")


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=CLIENT_TIMEOUT
    )


def _chat(url: str, stream: bool) -> str:
    kw: dict[str, Any] = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}
    client = _openai(url)
    if not stream:
        return client.chat.completions.create(**kw).choices[0].message.content or ""
    out = []
    for chunk in client.chat.completions.create(**kw, stream=True):
        for choice in chunk.choices:
            out.append(choice.delta.content or "")
    return "".join(out)


def _responses(url: str, stream: bool) -> str:
    client = _openai(url)
    if not stream:
        return client.responses.create(model="gpt-5", input="hi").output_text
    # The SDK hands error events over as events (as Codex reads them): they are the error.
    text = []
    for event in client.responses.create(model="gpt-5", input="hi", stream=True):
        if event.type == "error":
            raise StreamError(f"error event: {event.code}: {event.message}")
        if event.type == "response.failed":
            raise StreamError(f"response.failed: {event.response.error}")
        if event.type == "response.output_text.delta":
            text.append(event.delta)
        if event.type == "response.completed":
            return "".join(text)
    raise StreamError("the stream ended without response.completed")


class StreamError(Exception):
    """An error event inside an answer, as the agent's client reports it."""

    status_code = None


class GeminiError(Exception):
    """An error answer or error event from the Gemini API, as a client reports it."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _gemini(url: str, stream: bool) -> str:
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    target = f"{url}/v1beta/models/gemini-2.5-pro:{action}"
    headers = {"x-goog-api-key": "test-key"}
    try:
        r = httpx.post(target, json=body, headers=headers, timeout=CLIENT_TIMEOUT)
    except httpx.HTTPError as exc:
        raise GeminiError(f"{type(exc).__name__}: {exc}") from exc
    if r.status_code >= 400:
        raise GeminiError(f"HTTP {r.status_code}: {r.text}", r.status_code)
    docs = [json.loads(r.text)] if not stream else _sse_docs(r.text)
    texts = []
    for doc in docs:
        if "error" in doc:
            raise GeminiError(f"error event: {json.dumps(doc['error'])}")
        for cand in doc.get("candidates") or []:
            for part in (cand.get("content") or {}).get("parts") or []:
                texts.append(part.get("text", ""))
    return "".join(texts)


def _sse_docs(text: str) -> list[dict[str, Any]]:
    docs = []
    for line in text.splitlines():
        if line.startswith("data:"):
            try:
                docs.append(json.loads(line[5:]))
            except ValueError as exc:
                raise GeminiError(f"a data line that is not JSON: {line[:80]}") from exc
    return docs


_ASK = {ANTHROPIC: _anthropic, OPENAI_CHAT: _chat, OPENAI_RESPONSES: _responses, GEMINI: _gemini}
