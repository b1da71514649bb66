"""One session's lifetime: trace, proxy, the agent as a child process, signals, summary.

The agent starts as early as it can: the session binds the proxy's listening socket first
(so the base URL, port and secret included, is known), the launcher starts the agent, and
only then does the proxy stack (aiohttp and the rest, a few hundred milliseconds to load)
load and start serving on that socket. A call the agent makes meanwhile waits in the
socket's backlog; none finds the proxy absent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentwrap import paths
from agentwrap.agents.base import LaunchPlan
from agentwrap.errorlog import ErrorLog
from agentwrap.processes import process_started
from agentwrap.proxy.options import ProxyOptions
from agentwrap.trace import recorder as ev
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore

if TYPE_CHECKING:
    from agentwrap.proxy.frontdoor import Proxy
    from agentwrap.proxy.runner import ProxyThread
    from agentwrap.proxy.transparent import Interceptor
    from agentwrap.route.profile import Profile

HOST = "127.0.0.1"

log = logging.getLogger(__name__)

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_SECRET_FLAG = re.compile(r"(?i)(key|token|secret|password|auth)")
_SECRET_VALUE = re.compile(r"(?i)\b(sk-[a-z0-9_\-]{8,}|[a-z0-9_\-]*key[=:][^\s]+)")


def new_session_id() -> str:
    """Sortable by time, unique enough to type a prefix of."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def scrub_argv(argv: list[str]) -> list[str]:
    """argv with secrets removed: values of key/token flags and key-looking strings."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        if arg.startswith("-") and _SECRET_FLAG.search(arg):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(_SECRET_VALUE.sub("***", arg))
    return out


def _warn(message: str) -> None:
    print(f"agentwrap: {message}", file=sys.stderr)


def repo_root(cwd: Path) -> Path | None:
    for d in (cwd, *cwd.parents):
        if (d / ".git").exists():
            return d
    return None


@dataclass
class SessionOptions:
    agent: str
    profile: Profile
    observe: bool = False
    quiet: bool = False
    is_demo: bool = False
    max_body: int | None = None
    step_hints: str | None = None  # whose step markers apply; None: detect from each call
    transparent: bool = False  # the agent keeps its own hosts; LLM API hosts are intercepted
    port: int = 0  # the proxy's port on 127.0.0.1; 0: a free one
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Session:
    """Opens the trace, runs the proxy, and closes both whatever happens."""

    def __init__(self, options: SessionOptions, argv_for_record: list[str]) -> None:
        self.options = options
        self.id = new_session_id()
        paths.secure_dirs()
        # Opened before the agent starts: a long one-time migration is said on the terminal.
        self.store = TraceStore(paths.trace_db(), notice=_warn)
        self.store.prune_events()
        cwd = Path.cwd()
        root = repo_root(cwd)
        self.store.insert_session(
            id=self.id,
            agent=options.agent,
            argv=scrub_argv(argv_for_record),
            cwd=str(cwd),
            repo_root=str(root) if root else None,
            started_at=time.time(),
            profile=f"{options.profile.name} ({options.profile.source})",
            mode="observe" if options.observe else "route",
            is_demo=int(options.is_demo),
            pid=os.getpid(),
            pid_started=process_started(os.getpid()),
        )
        self.recorder = Recorder(self.store, self.id)
        self.discarded = False  # the proxy could not start: the session was taken back
        # Held while the proxy is built and started, and by close: a session closed before
        # the proxy has loaded never serves (see start_in_background).
        self._lock = threading.Lock()
        self._closing = False
        self._exporting = False
        self.start_failure: BaseException | None = None
        self._loading: threading.Thread | None = None  # start_in_background's thread
        self.proxy_options = ProxyOptions(
            agent=options.step_hints,
            observe=options.observe,
            env=options.env,
            transparent=options.transparent,
        )
        self.proxy_options.set_from_env(options.env)  # checked by the CLI before the session
        if options.max_body:
            self.proxy_options.max_body = options.max_body
        self.secret = secrets.token_urlsafe(18)
        # From here on, unexpected errors go to the log file, not to the agent's terminal.
        self.errorlog = ErrorLog(self.id, [self.secret])
        self.errorlog.install()
        try:
            # Bound now, served from start(): the base URL is final before the proxy loads.
            self.listener = socket.create_server((HOST, options.port), backlog=512)
        except OSError as exc:
            self._discard()
            raise RuntimeError(f"the proxy could not start: {exc}") from exc
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://{HOST}:{self.port}/s/{self.secret}"
        self.proxy: Proxy | None = None
        self.runner: ProxyThread | None = None
        self.interceptor: Interceptor | None = None
        self._handlers: dict[int, Any] = {}  # signal handlers spawn_child replaced

    def _export(self) -> None:
        """Start the live export once, before the proxy serves or the session ends."""
        if self._exporting or self.options.is_demo:
            return
        self._exporting = True
        from agentwrap.export.live import start_live_export

        # Subscribes itself; sends each finished call as spans when OTLP export is set up.
        start_live_export(self.recorder, self.options.profile.chain, self.options.env, _warn)

    def start(self) -> str:
        """Start the front door on the bound socket (and in transparent mode the interceptor);
        its base URL. A session already closed is left closed."""
        # Loading the proxy stack is the slow part: it happens before taking the lock that
        # close waits for.
        from agentwrap.proxy.frontdoor import Proxy
        from agentwrap.proxy.runner import ProxyThread

        with self._lock:
            if self._closing:
                return self.base_url
            self._export()
            try:
                self.proxy = Proxy(
                    self.options.profile,
                    self.recorder,
                    secret=self.secret,
                    port=self.port,
                    options=self.proxy_options,
                    sock=self.listener,
                )
                self.runner = ProxyThread(self.proxy)
                self.runner.start()
            except RuntimeError:
                self.listener.close()
                self._discard()
                raise
            if self.options.transparent:
                try:
                    self.interceptor = self._intercept()
                except RuntimeError:
                    self.runner.stop()
                    self._discard()
                    raise
        return self.base_url

    def start_in_background(self, on_failure: Callable[[], None]) -> threading.Thread:
        """`start` on a thread of its own, so that the agent's exit is seen at once even while
        the proxy loads; a session closed before the proxy has loaded never serves. When the
        proxy cannot start, `start_failure` holds why and `on_failure()` runs on that thread."""

        def load() -> None:
            try:
                self.start()
            except BaseException as exc:
                self.start_failure = exc
                on_failure()

        self._loading = threading.Thread(target=load, name="agentwrap-proxy-start", daemon=True)
        self._loading.start()
        return self._loading

    def _discard(self) -> None:
        # Nothing ran: leave no session behind that looks as if it had.
        self.discarded = True
        self.recorder.close()
        self.errorlog.uninstall()
        self.store.conn.execute("DELETE FROM sessions WHERE id = ?", (self.id,))

    def _intercept(self) -> Interceptor:
        try:
            from agentwrap.proxy.transparent import Interceptor

            interceptor = Interceptor(
                self.base_url, self.options.profile, self.id, self.options.env
            )
        except (ImportError, OSError, ValueError) as exc:
            raise RuntimeError(f"transparent mode could not start: {exc}") from exc
        interceptor.start()  # removes the session CA itself if it cannot start
        return interceptor

    def child_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The agent's environment: in transparent mode, with the proxy and the session CA."""
        if self.interceptor is None:
            return dict(env)
        return self.interceptor.child_env(env)

    def close(self, exit_code: int | None) -> None:
        """Stop the proxy (letting in-flight calls finish), flush the trace, end the session."""
        with self._lock:  # waits for a proxy being started; stops one still loading
            self._closing = True
            if self.discarded:
                return
        # While the proxy still loads on its thread, that thread takes the interpreter back
        # each time this one waits for SQLite or git, and this one waits the switch interval
        # (5 ms) to run again: a shorter interval while closing.
        interval = sys.getswitchinterval()
        if self._loading is not None and self._loading.is_alive():
            sys.setswitchinterval(min(interval, 1e-4))
        try:
            self._close(exit_code)
        finally:
            sys.setswitchinterval(interval)

    def _close(self, exit_code: int | None) -> None:
        self._export()  # an agent gone before the proxy loaded: its session is exported
        try:
            if self.interceptor is not None:
                self.interceptor.stop()  # the session CA goes with it
            if self.runner is not None:
                self.runner.stop()
            self.listener.close()  # never served, if the proxy did not start
        finally:
            self.recorder.session_event(ev.SESSION_ENDED, exit_code=exit_code)
            self.recorder.close()
            self._record_commits()  # while its errors still go to the log file
            self.errorlog.uninstall()
            self.errorlog.record(self.store)
            self.store.update_session(self.id, ended_at=time.time(), exit_code=exit_code)

    def _record_commits(self) -> None:
        """The commits the session made in its repository, stored with it (see agentwrap.repo)."""
        try:
            from agentwrap.repo import record_session_commits

            record_session_commits(self.store, self.id)
        except Exception:  # a repository git cannot read must not spoil the session's end
            log.exception("recording the session's commits failed")

    def spawn_child(self, plan: LaunchPlan) -> subprocess.Popen[bytes] | int:
        """Start the agent with the terminal inherited, signals forwarded to it from now on
        (wait_child ends that); or the exit code to give when it could not start (127: not
        found, 126: not runnable)."""
        env = dict(plan.env)
        env["AGENTWRAP_SESSION_ID"] = self.id
        try:
            proc = subprocess.Popen(plan.argv, env=env)
        except OSError as exc:
            print(f"agentwrap: cannot start {plan.argv[0]}: {exc}", file=sys.stderr)
            return 127 if isinstance(exc, FileNotFoundError) else 126

        # Ctrl-C in a terminal reaches the whole foreground process group, the agent included;
        # re-sending it would make the agent see it twice. Without a terminal, SIGINT was meant
        # for us alone, so it is passed on like the others.
        terminal = sys.stdin.isatty()

        def forward(signum: int, _frame: object) -> None:
            if signum == signal.SIGINT and terminal:
                return
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

        for sig in FORWARDED_SIGNALS:
            self._handlers[sig] = signal.signal(sig, forward)
        return proc

    def wait_child(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait for the agent spawn_child started, signals forwarded; return its exit code."""
        try:
            while True:
                try:
                    code = proc.wait()
                    break
                except KeyboardInterrupt:
                    continue
        finally:
            for sig, handler in self._handlers.items():
                signal.signal(sig, handler)
            self._handlers.clear()
        return 128 - code if code < 0 else code
