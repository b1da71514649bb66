"""Runs a Proxy on its own event loop in a background thread, for the launcher.

The main thread stays free to wait on the agent and forward signals to it.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from agentwrap.proxy.frontdoor import Proxy

# Loggers whose records could reach the terminal: the proxy's own and the libraries under it.
_QUIET = ("agentwrap", "aiohttp", "asyncio")


def keep_logs_off_the_terminal() -> None:
    """Let no log record print on the terminal the agent shares with agentwrap.

    Without a handler of its own a logger falls back to printing on stderr (a traceback in
    the middle of the agent's screen, aiohttp's request line with the session secret in it).
    A NullHandler on each keeps that from happening; whatever handler the session adds (the
    log file) still receives every record.
    """
    for name in _QUIET:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


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
        keep_logs_off_the_terminal()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the proxy did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the proxy could not start: {self._error}") from self._error
        return self.proxy.base_url

    def stop(self, grace: float | None = None) -> None:
        """Stop after in-flight calls finish (up to `grace` seconds, by default the proxy's
        shutdown grace), then end the thread."""
        if not self._thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.proxy.stop(grace), self.loop)
        wait = self.proxy.options.shutdown_grace if grace is None else grace
        try:
            fut.result(timeout=wait + 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
