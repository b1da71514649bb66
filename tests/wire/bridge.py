"""agentwrap's real proxy, in-process, routing every call to one fake provider.

The official SDKs judge translation through the same front door agents use: the proxy
classifies, decides (a one-model profile pointing at the fake provider), translates the
request, relays the answer and records the call. `calls()` reads back what it recorded.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from agentwrap import paths
from agentwrap.fakes.provider import FakeProvider
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.route.profile import load_profile
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore

PROFILE = """
[providers.fake]
api = "{api}"
base_url = "{base_url}"

[models.routed]
provider = "fake"
model = "{model}"
capabilities = ["tools", "vision", "thinking"]

[routing]
default = "routed"
plan = "routed"
explore = "routed"
implement = "routed"
subagent = "routed"
background = "routed"
compact = "routed"
"""


class Bridge:
    """Serves every API surface at `root` and routes every call to `provider`."""

    def __init__(
        self,
        agent_api: str,
        provider: FakeProvider,
        model: str = "routed-model",
        anthropic_upstream: str | None = None,
    ):
        self.env = (
            {"AGENTWRAP_ANTHROPIC_UPSTREAM": anthropic_upstream} if anthropic_upstream else {}
        )
        self.agent_api = agent_api
        self.provider = provider
        self.model = model
        self.root = ""
        self._proxy: Proxy | None = None
        self._recorder: Recorder | None = None
        self._store: TraceStore | None = None
        self._session = f"bridge-{time.time_ns()}"
        self._tmp = tempfile.TemporaryDirectory(prefix="agentwrap-bridge-")

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The translated request bodies the provider received."""
        return [r.body for r in self.provider.requests if r.method == "POST"]

    def calls(self) -> list[dict[str, Any]]:
        """The calls the proxy recorded, oldest first."""
        assert self._recorder is not None and self._store is not None
        self._recorder.flush()
        return self._store.calls(self._session)

    async def __aenter__(self) -> Bridge:
        profile_path = Path(self._tmp.name) / "profile.toml"
        profile_path.write_text(
            PROFILE.format(api=self.provider.api, base_url=self.provider.base_url, model=self.model)
        )
        profile = load_profile(None, str(profile_path), self.env, agent_api=self.agent_api)
        self._store = TraceStore(paths.trace_db())
        self._store.insert_session(id=self._session, agent="test", started_at=time.time())
        self._recorder = Recorder(self._store, self._session)
        self._proxy = Proxy(profile, self._recorder)
        self.root = await self._proxy.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proxy is not None:
            await self._proxy.stop()
        if self._recorder is not None:
            self._recorder.close()
        self._tmp.cleanup()
