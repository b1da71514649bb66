"""`agentwrap demo`'s engine: simulators, a demo session, the scripted agent, in one place.

The simulated providers and the scripted agent share one event loop in a background thread;
the session's proxy runs on its own (agentwrap.proxy.runner), exactly as under
`agentwrap claude`. The caller's thread stays free for the live panel or for printing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentwrap.session import Session, SessionOptions
from agentwrap.sim.agent import AgentReport, ScriptedAgent, SentCall
from agentwrap.sim.profile import demo_env, demo_profile
from agentwrap.sim.providers import SimProviders
from agentwrap.trace import recorder as ev

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str = "agentwrap-demo") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """Stop the loop and end the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


@dataclass
class CallLine:
    """One finished call as the proxy recorded it, merged from its events."""

    fields: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


class Demo:
    """One demo run: `start()`, then wait on `result`, then `close()`."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        on_finished: Callable[[CallLine], None] | None = None,
        argv: list[str] | None = None,
    ) -> None:
        self.speed = speed
        self.on_finished = on_finished
        self.argv = argv or ["demo"]
        self.loop = LoopThread()
        self.sim = SimProviders(speed=speed)
        self.session: Session | None = None
        self.agent: ScriptedAgent | None = None
        self.result: concurrent.futures.Future[AgentReport] | None = None
        self.base_url = ""
        self.started = time.monotonic()
        self._rows: dict[str, dict[str, Any]] = {}

    @property
    def session_id(self) -> str:
        assert self.session is not None
        return self.session.id

    def start(self, *, agent: bool = True) -> str:
        """Start the simulators, the session and its proxy, then (unless told not to) the agent.

        Returns the proxy's base URL. With `agent=False`, call `start_agent()` once whatever
        follows the session (a panel) is subscribed, so it sees the first calls too.
        """
        root = self.loop.run(self.sim.start())
        profile = demo_profile(root)
        options = SessionOptions(agent="claude", profile=profile, is_demo=True, env=demo_env())
        self.session = Session(options, self.argv)
        self.session.recorder.subscribe(self._on_event)
        self.base_url = self.session.start()
        if agent:
            self.start_agent()
        return self.base_url

    def start_agent(self) -> None:
        """Start replaying the scripted session against the proxy."""
        self.started = time.monotonic()
        self.agent = ScriptedAgent(self.base_url, speed=self.speed)
        self.result = self.loop.submit(self.agent.run())

    def _on_event(self, event: ev.CallEvent) -> None:
        if event.call_id is None:
            return
        row = self._rows.setdefault(event.call_id, {})
        row.update(event.fields)
        if event.kind in (ev.FINISHED, ev.FAILED) and self.on_finished is not None:
            self.on_finished(CallLine(dict(row), time.monotonic() - self.started))

    def wait(self, poll: float = 0.2) -> AgentReport:
        """Wait for the agent (interruptible by Ctrl-C between polls); re-raises its error."""
        assert self.result is not None
        while True:
            try:
                return self.result.result(timeout=poll)
            except concurrent.futures.TimeoutError:
                continue

    def cancel(self) -> None:
        """Stop the agent mid-session."""
        if self.result is not None:
            self.result.cancel()

    def close(self, exit_code: int | None) -> None:
        """End the session (flushing the trace), stop the simulators and the loop."""
        try:
            if self.session is not None:
                self.session.close(exit_code)
        finally:
            try:
                self.loop.run(self.sim.stop(), timeout=10)
            finally:
                self.loop.stop()

    @property
    def report(self) -> AgentReport | None:
        return self.agent.report if self.agent is not None else None


def tally_line(report: AgentReport) -> str:
    """The agent's own count of its calls, per step kind: 'plan 2 · explore 8 · …'."""
    order = ["plan", "explore", "implement", "subagent", "background", "compact", "search"]
    counts = report.by_kind()
    parts = [f"{kind} {counts[kind]}" for kind in order if counts.get(kind)]
    parts += [f"{k} {n}" for k, n in counts.items() if k not in order]
    return " · ".join(parts)


__all__ = ["CallLine", "Demo", "LoopThread", "SentCall", "tally_line"]
