"""The price book: Anthropic-style usage priced from the bundled table, overrides, unpriced."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentwrap.pricing import Price, PriceBook, parse_price
from agentwrap.wire.common import Usage


def test_cache_tokens_are_priced_at_their_own_rates_not_as_input():
    book = PriceBook()
    base = book.cost("claude-sonnet-4-6", Usage(1000, 0), "anthropic").usd
    with_reads = book.cost("claude-sonnet-4-6", Usage(1000, 0, 0, 1_000_000), "anthropic").usd
    with_writes = book.cost("claude-sonnet-4-6", Usage(1000, 0, 1_000_000, 0), "anthropic").usd
    # Sonnet: $3/MTok input, $0.30 cache read, $3.75 cache write.
    assert base == pytest.approx(0.003)
    assert with_reads - base == pytest.approx(0.30)
    assert with_writes - base == pytest.approx(3.75)
    assert book.cost("claude-sonnet-4-6", Usage(0, 1_000_000), "anthropic").usd == pytest.approx(
        15.0
    )


def test_tiered_prices_follow_the_call_size():
    book = PriceBook()
    small = book.cost("claude-sonnet-4-5", Usage(100_000, 0), "anthropic").usd
    large = book.cost("claude-sonnet-4-5", Usage(300_000, 0), "anthropic").usd
    assert small == pytest.approx(0.3)
    assert large > 3 * small  # past 200k tokens the whole prompt is billed at the higher tier


def test_unknown_model_is_unpriced_with_a_reason_never_zero():
    cost = PriceBook().cost("my-local-llama", Usage(1000, 100))
    assert cost.usd is None and not cost.priced
    assert "my-local-llama" in cost.unpriced_reason
    assert PriceBook().cost(None, Usage(1, 1)).unpriced_reason == "no model recorded"


def test_overrides_win_over_the_table():
    book = PriceBook({"claude-sonnet-4-6": Price(Decimal(1), Decimal(2), None, Decimal("0.1"))})
    cost = book.cost("claude-sonnet-4-6", Usage(1_000_000, 1_000_000, 1_000_000, 1_000_000))
    # Cache writes without their own price are charged as input.
    assert cost.usd == pytest.approx(1 + 2 + 1 + 0.1)


def test_parse_price_needs_input_and_output():
    assert parse_price({"input": 0.3, "output": 0.45}).output == Decimal("0.45")
    with pytest.raises(ValueError, match="both 'input' and 'output'"):
        parse_price({"input": 1})
