"""The demo's routing profile: the `balanced` preset, its providers pointed at the simulators.

When this build can translate between APIs, the demo adds three cross-API routes on top of
`balanced` so translation is part of what it shows: explore subagents on Gemini Flash
(Gemini API), background calls on GPT-5 mini (OpenAI Chat Completions) and compaction on
GPT-5.1 (OpenAI Responses). Keys are placeholders the simulators accept; nothing leaves
127.0.0.1.
"""

from __future__ import annotations

from agentwrap.route.profile import Profile, parse_profile_text, translation_available

DEMO_KEY_ENV = "AGENTWRAP_DEMO_KEY"
DEMO_KEY = "demo-key-for-simulated-providers"
PRESET = "balanced"

_BASE = """\
extends = "{preset}"
description = "The {preset} preset with simulated providers (agentwrap demo)."

# The agent's own (placeholder) credentials pass through, as with the real preset: the
# simulator stands in for the API's own host.
[providers.anthropic]
api = "anthropic"
base_url = "{anthropic}"
forward_agent_key = true
"""

_CROSS_API = """
[providers.gemini]
api = "gemini"
base_url = "{gemini}"
key_env = "{key_env}"

[providers.openai]
api = "openai-chat"
base_url = "{openai}"
key_env = "{key_env}"

[providers.openai-responses]
api = "openai-responses"
base_url = "{openai}"
key_env = "{key_env}"

[models.gemini-flash]
provider = "gemini"
model = "gemini-3-flash-preview"
context_window = 1000000
capabilities = ["tools", "vision"]

[models.gpt-mini]
provider = "openai"
model = "gpt-5-mini"
context_window = 400000
capabilities = ["tools", "vision"]

[models.gpt]
provider = "openai-responses"
model = "gpt-5.1"
context_window = 400000
capabilities = ["tools", "vision", "thinking"]

[routing]
explore = "gemini-flash"
background = "gpt-mini"
compact = "gpt"

[fallbacks]
gemini-flash = ["haiku"]
gpt-mini = ["haiku"]
gpt = ["sonnet"]
"""


def demo_profile_text(root: str, *, cross_api: bool) -> str:
    """The demo profile's TOML for simulators at `root` (their server's URL)."""
    root = root.rstrip("/")
    urls = {
        "anthropic": f"{root}/anthropic",
        "gemini": f"{root}/gemini",
        "openai": f"{root}/openai/v1",
        "key_env": DEMO_KEY_ENV,
        "preset": PRESET,
    }
    text = _BASE.format(**urls)
    if cross_api:
        text += _CROSS_API.format(**urls)
    return text


def demo_env() -> dict[str, str]:
    """The environment the demo's proxy reads provider keys from (placeholders only)."""
    return {DEMO_KEY_ENV: DEMO_KEY}


def demo_profile(root: str, *, cross_api: bool | None = None) -> Profile:
    """The demo's profile for simulators at `root`; cross-API routes when translation exists."""
    if cross_api is None:
        cross_api = translation_available()
    profile = parse_profile_text(
        demo_profile_text(root, cross_api=cross_api),
        "demo profile",
        env=demo_env(),
        translation=cross_api,
    )
    # Shown as "balanced (simulated providers)" in the trace, the panel and the summary.
    profile.name, profile.source = PRESET, "simulated providers"
    return profile
