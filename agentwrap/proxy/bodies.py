"""JSON bodies the proxy writes itself: compact JSON, error answers in an API's own shape."""

from __future__ import annotations

import json
from typing import Any

from agentwrap.proxy import http1
from agentwrap.wire import translate


def dumps(doc: Any) -> bytes:
    """Compact JSON, UTF-8, as providers and agents send it."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def json_error(api: str, status: int, message: str) -> http1.Response:
    """An error answer shaped as the agent's API shapes its errors."""
    return http1.Response(
        status=status,
        body=translate.error_body(api, status, message),
        content_type="application/json",
    )


def error_text(body: bytes, limit: int = 500) -> str:
    """The message of an error answer (its `error.message`, else the start of the body)."""
    try:
        doc = json.loads(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:limit]
    except (ValueError, UnicodeDecodeError):
        pass
    return body[:limit].decode("utf-8", "replace")
