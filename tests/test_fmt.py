"""One way to write models, money, token counts and durations, for every view."""

from __future__ import annotations

import subprocess
import sys

from agentwrap import fmt
from agentwrap.trace.tally import Tally


def test_formatting_never_shows_unpriced_as_zero() -> None:
    assert fmt.usd(None) == "unpriced"
    assert fmt.usd(0.0004) == "$0.0004"
    # Below a hundredth of a cent: two significant digits, never a cost shown as $0.0000.
    assert fmt.usd(0.0000342) == "$0.000034"
    assert fmt.usd(0.00000123) == "$0.0000012"
    assert fmt.usd(-0.00005) == "-$0.000050"
    assert fmt.usd(1.5) == "$1.50"
    assert fmt.usd(12345) == "$12,345"
    assert fmt.usd(-0.25) == "-$0.25"
    assert fmt.tokens(950) == "950" and fmt.tokens(12_345) == "12.3k"
    assert fmt.tokens(1_234_567) == "1.2M"
    assert fmt.count(1_234_567) == "1,234,567" and fmt.count(None) == "—"
    assert fmt.ms(850) == "850ms" and fmt.ms(2400) == "2.4s" and fmt.ms(65_000) == "1m05s"
    assert fmt.duration(42) == "42s" and fmt.duration(3720) == "1h02m"
    assert fmt.mark(1) == "*" and fmt.mark(6) == "[6]"


def test_models_show_their_short_id() -> None:
    assert fmt.model("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert fmt.model("gpt-4o-2024-08-06") == "gpt-4o"
    assert fmt.model("kimi-k2-local") == "kimi-k2-local"
    assert fmt.model(None) == "?"
    assert fmt.route_names("claude-opus-4-1", "claude-haiku-4-5") == ("opus-4-1", "haiku-4-5")
    assert fmt.route_names("claude-opus-4-1", "gpt-5-mini") == ("claude-opus-4-1", "gpt-5-mini")
    assert fmt.route("claude-opus-4-1-20250805", "claude-haiku-4-5-20251001") == (
        "opus-4-1",
        "haiku-4-5",
    )


def test_a_sum_names_its_unpriced_calls() -> None:
    priced = Tally.of_call({"id": "a", "status": "ok", "cost_usd": 0.5, "baseline_cost_usd": 1.0})
    unpriced = Tally.of_call({"id": "b", "status": "ok", "unpriced_reason": "no price"})
    failed = Tally.of_call({"id": "c", "status": "error"})
    assert fmt.cost(priced) == ("$0.50", "")
    assert fmt.cost(unpriced) == ("unpriced", "")
    assert fmt.cost(failed) == ("—", "")
    both = Tally()
    both.add(priced)
    both.add(unpriced)
    assert fmt.cost(both) == ("$0.50", "+1 unpriced")
    assert fmt.baseline(both) == "$1.00" and fmt.baseline(unpriced) == "—"
    assert fmt.saved(both) == "$0.50 (50%)" and fmt.saved(unpriced) == "—"
    assert fmt.saving(both) == "saved 50% ($0.50)" and fmt.saving(unpriced) == "saving n/a"


def test_the_formatter_is_a_leaf() -> None:
    # The statusline imports it on every message: it must not pull in the rest of agentwrap.
    code = (
        "import sys, agentwrap.fmt\n"
        "print(sorted(m for m in sys.modules if m.startswith('agentwrap') or m in "
        "('rich', 'sqlite3', 'typer', 'textual', 'aiohttp')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['agentwrap', 'agentwrap.fmt']"


def test_tokens_by_kind_count_the_uncached_input_as_in() -> None:
    # A main-loop call read almost all of its prompt from the cache: "in" is what was not.
    assert fmt.token_split(0, 48, 97, 5_115) == "in 0 · out 48 · cache 97w/5.1kr"
    assert fmt.token_split(11_262, 1_703, 9_981, 38_541) == (
        "in 11.3k · out 1.7k · cache 10.0kw/38.5kr"
    )
    # No cache at all: nothing said of it; unknown counts read as none.
    assert fmt.token_split(543, 16, 0, 0) == "in 543 · out 16"
    assert fmt.token_split(None, None) == "in 0 · out 0"


def test_a_rate_reads_the_same_in_every_view() -> None:
    # The summary, report quality, report --compare and learned routing all write it so.
    assert [fmt.rate(r) for r in (0, 0.004, 0.031, 0.1, 2 / 7, 1 / 3, 0.25, 1)] == [
        "0%", "0.4%", "3.1%", "10%", "28.6%", "33.3%", "25%", "100%",
    ]  # fmt: skip
