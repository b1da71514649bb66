"""Fake model providers, served for real by aiohttp on 127.0.0.1, for tests, the benchmark and
`agentwrap demo`'s simulated providers.

They play the four API surfaces (Anthropic Messages with streams and count_tokens, OpenAI
Chat Completions, OpenAI Responses, Gemini generate and stream), answer scripted replies, play
faults (error statuses, cut or dropped streams, error events, delays, held streams, gzip) and
record what they received. The wire formats are written out by hand in `formats/`,
independently of agentwrap.wire, so that tests check agentwrap against an honest counterpart
rather than against itself.

- `FakeProvider(api, script)` (provider.py): one API, replies written the same way for every
  API (`Reply(text=..., tool_calls=[Call(...)], usage={...})`); `stream_bytes`/`whole_body`
  give the bytes without a server.
- `FakeAnthropic(script)` (anthropic.py): the Messages API scripted in its own words (blocks,
  `input_tokens`...), token counts estimated when not given.
- `FakeServer` (server.py): the server itself, for fakes that decide their answers otherwise
  (agentwrap.sim.providers answers from the demo's scenario, with simulated latency).
"""
