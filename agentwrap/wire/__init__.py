"""agentwrap.wire: the four API surfaces, their canonical form, and translation between them.

Pure code: no I/O. `SURFACES` describes each API (paths, upstream URLs, auth, parsers and
emitters); the proxy uses it with `translate_*`, `StreamTranslator`, `error_body` and `UsageTap`;
the router uses `Call`.
"""

from agentwrap.wire.call import ANTHROPIC, APIS, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES, Call
from agentwrap.wire.canonical import TranslationError
from agentwrap.wire.surface import SURFACES, Route, Surface, match_route, surface_for
from agentwrap.wire.translate import (
    StreamTranslator,
    count_tokens_estimate,
    error_body,
    needs_scrub,
    parse_request,
    scrub_foreign_reasoning,
    translate_error,
    translate_request,
    translate_response,
    upstream_path,
)
from agentwrap.wire.usage import UsageTap

__all__ = [
    "ANTHROPIC",
    "APIS",
    "GEMINI",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "SURFACES",
    "Call",
    "Route",
    "StreamTranslator",
    "Surface",
    "TranslationError",
    "UsageTap",
    "count_tokens_estimate",
    "error_body",
    "match_route",
    "needs_scrub",
    "parse_request",
    "scrub_foreign_reasoning",
    "surface_for",
    "translate_error",
    "translate_request",
    "translate_response",
    "upstream_path",
]
