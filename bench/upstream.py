"""A fake Anthropic upstream for the benchmark: answers every call with a short SSE stream.

Run as a process of its own so its CPU is not charged to the proxy or the client:
    python bench/upstream.py PORT
"""

from __future__ import annotations

import json
import sys

from aiohttp import web

EVENTS = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-6",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 25000,
                    "output_tokens": 1,
                    "cache_read_input_tokens": 20000,
                },
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    *[
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": f"token{i} "},
            },
        )
        for i in range(20)
    ],
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 20},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]
PAYLOAD = [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in EVENTS]


async def messages(request: web.Request) -> web.StreamResponse:
    await request.read()
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(PAYLOAD[0])  # the first event on its own, like a real provider
    await resp.write(b"".join(PAYLOAD[1:]))
    await resp.write_eof()
    return resp


def main() -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/messages", messages)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
