"""Runs a Proxy on its own event loop in a background thread, for the launcher.

The main thread stays free to wait on the agent and forward signals to it.
"""

from __future__ import annotations

import asyncio
import threading

from agentwrap.proxy.frontdoor import Proxy


class ProxyThread:
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="agentwrap-proxy", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.proxy.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self, timeout: float = 15.0) -> str:
        """Start serving; returns the proxy's base URL."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the proxy did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the proxy could not start: {self._error}") from self._error
        return self.proxy.base_url

    def stop(self, grace: float = 5.0) -> None:
        """Stop after in-flight calls finish (up to `grace` seconds), then end the thread."""
        if not self._thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.proxy.stop(grace), self.loop)
        try:
            fut.result(timeout=grace + 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
