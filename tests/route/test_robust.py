"""classify and decide never raise, whatever JSON an agent sends (the proxy relies on it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.route.decide import SessionState, classify, decide
from agentwrap.route.profile import load_profile
from agentwrap.wire.call import APIS, Call

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "max_tokens",
        "thinking",
        "output_config",
        "context_management",
        "input",
        "contents",
        "reasoning",
    ]
)
block_types = st.sampled_from(["text", "image", "tool_result", "tool_use", "input_image", None])
blocks = st.fixed_dictionaries(
    {"type": block_types},
    optional={
        "text": json_values,
        "content": json_values,
        "is_error": json_values,
        "inline_data": json_values,
    },
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", 3]),
            "content": st.one_of(st.text(max_size=40), st.lists(blocks | json_values, max_size=4)),
        }
    ),
    max_size=5,
)
tools = st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["web_search_20250305", "custom", 1])})
    | json_values,
    max_size=3,
)
bodies = st.dictionaries(keys, json_values, max_size=8) | st.fixed_dictionaries(
    {"messages": messages, "tools": tools, "max_tokens": json_values},
    optional={
        "system": json_values,
        "output_config": json_values,
        "thinking": json_values,
        "tool_choice": json_values,
        "context_management": json_values,
    },
)
headers = st.dictionaries(
    st.sampled_from(["x-claude-code-agent-id", "user-agent", "x-claude-code-parent-agent-id"]),
    st.text(max_size=20),
    max_size=3,
)
PROFILES = [
    load_profile(explicit=name, env={}, translation=True)
    for name in ("balanced", "frugal", "frontier")
]


@settings(max_examples=300, deadline=None)
@given(
    surface=st.sampled_from(APIS),
    body=bodies,
    hdrs=headers,
    cost=st.floats(0, 100),
    which=st.integers(0, 2),
)
def test_never_raises(surface: str, body: dict, hdrs: dict, cost: float, which: int) -> None:
    call = Call(surface, "messages", body, hdrs)
    step = classify(call)
    state = SessionState(cost_usd=cost)
    decision = decide(PROFILES[which], call, step, state)
    state.record(call, step, decision)
    assert decision.reason and decision.target.provider.base_url.startswith("http")
