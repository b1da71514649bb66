"""Unexpected errors go to a log file in the data directory, never to the agent's terminal.

While a session runs, every log record at WARNING or above — agentwrap's own, aiohttp's
server and client (parse errors included), asyncio's — and every exception that escapes a
thread goes to one size-capped, rotating file, `agentwrap.log` (1 MiB, three older files
kept), which is the user's alone (0600). The session secret is replaced by `***` in what is
written. Nothing reaches stderr: the agent owns the terminal. At the end the session records
how many records it wrote, and the summary says so in one line, with the file's path.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path

from agentwrap import paths
from agentwrap.trace.store import TraceStore

MAX_BYTES = 1024 * 1024
BACKUPS = 3
LOGGED_EVENT = "errors_logged"  # the session's count, kept in the store's events table
FORMAT = "%(asctime)s %(levelname)s %(name)s [session %(session)s]: %(message)s"
HIDDEN = "***"


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are created readable by the user alone."""

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, paths.PRIVATE_FILE)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115


class _Scrub(logging.Filter):
    """Hides the session's secrets in a record (message, traceback and stack) and tags it."""

    def __init__(self, session_id: str, secrets: Iterable[str]) -> None:
        super().__init__()
        self.session_id = session_id
        self.secrets = [s for s in secrets if s]
        self._formatter = logging.Formatter()

    def _hide(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self._hide(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._hide(record.exc_text)
        if record.stack_info:
            record.stack_info = self._hide(record.stack_info)
        record.session = self.session_id
        return True


class _Counting(PrivateRotatingFileHandler):
    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, delay=True)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        super().emit(record)


class ErrorLog:
    """The session's error log: `install()` at the start, `uninstall()` at the end."""

    def __init__(self, session_id: str, secrets: Iterable[str], path: Path | None = None) -> None:
        self.path = path or paths.log_file()
        self.session_id = session_id
        self._handler = _Counting(self.path)
        self._handler.setLevel(logging.WARNING)
        self._handler.setFormatter(logging.Formatter(FORMAT))
        self._handler.addFilter(_Scrub(session_id, secrets))
        self._previous_hook = threading.excepthook
        self._previous_level: int | None = None

    @property
    def count(self) -> int:
        """How many records this session wrote."""
        return self._handler.count

    def install(self) -> None:
        """Send every logger's warnings and errors, and threads' exceptions, to the file."""
        paths.private_dir(self.path.parent)
        root = logging.getLogger()
        root.addHandler(self._handler)
        if root.level > logging.WARNING:
            self._previous_level = root.level
            root.setLevel(logging.WARNING)
        threading.excepthook = self._thread_exception

    def uninstall(self) -> None:
        """Stop logging to the file (records already written stay)."""
        root = logging.getLogger()
        root.removeHandler(self._handler)
        if self._previous_level is not None:
            root.setLevel(self._previous_level)
        if threading.excepthook == self._thread_exception:
            threading.excepthook = self._previous_hook
        self._handler.close()

    def _thread_exception(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        logging.getLogger("agentwrap").error("uncaught in %s", name, exc_info=exc_info)

    def record(self, store: TraceStore) -> None:
        """Keep the session's count in the store, for the summary printed after it."""
        if self.count:
            data = {"count": self.count, "path": str(self.path)}
            store.insert_event(self.session_id, LOGGED_EVENT, None, data, time.time())


def logged(store: TraceStore, session_id: str) -> tuple[int, str] | None:
    """(how many records, the file) a session wrote to the error log, or None."""
    row = store.conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (session_id, LOGGED_EVENT),
    ).fetchone()
    if row is None:
        return None
    try:
        data = json.loads(row[0] or "{}")
        return int(data["count"]), str(data["path"])
    except (KeyError, TypeError, ValueError):
        return None


def logged_line(count: int, path: str) -> str:
    """One line for the summary: `2 unexpected errors were logged to PATH`."""
    what = "1 unexpected error was" if count == 1 else f"{count} unexpected errors were"
    return f"{what} logged to {path}"
