"""Error bodies in each API's own format, for errors agentwrap itself produces."""

from __future__ import annotations

import json

from agentwrap.wire.call import ANTHROPIC, GEMINI

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    501: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(api: str, status: int, message: str, kind: str | None = None) -> bytes:
    """A JSON error body as `api` would send it for HTTP `status`."""
    if api == ANTHROPIC:
        kind = kind or _ANTHROPIC_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        doc: dict = {"type": "error", "error": {"type": kind, "message": message}}
    elif api == GEMINI:
        doc = {
            "error": {
                "code": status,
                "message": message,
                "status": kind
                or _GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"),
            }
        }
    else:
        kind = kind or _OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        doc = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return json.dumps(doc).encode()


def error_event(api: str, message: str, kind: str = "api_error") -> bytes:
    """A mid-stream error as an SSE event in `api`'s streaming format."""
    if api == ANTHROPIC:
        data = {"type": "error", "error": {"type": kind, "message": message}}
        return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"
    if api == GEMINI:
        data = {"error": {"code": 500, "message": message, "status": "INTERNAL"}}
        return b"data: " + json.dumps(data).encode() + b"\n\n"
    if api == "openai-responses":
        data = {"type": "error", "code": kind, "message": message, "param": None}
        return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"
    data = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return b"data: " + json.dumps(data).encode() + b"\n\n"
