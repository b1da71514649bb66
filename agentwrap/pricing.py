"""The price book: what a call cost, from tokens, offline.

Prices come from genai-prices' bundled table; a profile may override any model.
A model without a price is *unpriced* (cost None plus a reason), never $0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agentwrap.wire.common import Usage

PER_MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write: Decimal | None = None
    cache_read: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal:
        cache_write = self.cache_write if self.cache_write is not None else self.input
        cache_read = self.cache_read if self.cache_read is not None else self.input
        total = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_tokens * cache_write
            + usage.cache_read_tokens * cache_read
        )
        return total / PER_MTOK


@dataclass(frozen=True)
class Cost:
    """A priced amount, or the reason there is none."""

    usd: float | None
    unpriced_reason: str | None = None

    @property
    def priced(self) -> bool:
        return self.usd is not None


# A tiered table entry, priced per call: (provider id, calc_price, usage adapter).
_Tiered = tuple[str | None, Callable[..., Any], Callable[[Usage], Any]]


class PriceBook:
    """Looks up prices: profile overrides first, then the bundled table."""

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._cache: dict[tuple[str, str | None], Price | str | _Tiered] = {}

    def cost(self, model: str | None, usage: Usage, provider: str | None = None) -> Cost:
        if not model:
            return Cost(None, "no model recorded")
        override = self._overrides.get(model)
        if override is not None:
            return Cost(float(override.cost(usage)))
        return self._bundled(model, usage, provider)

    def _bundled(self, model: str, usage: Usage, provider: str | None) -> Cost:
        key = (model, provider)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = self._lookup(model, provider)
        if isinstance(entry, Price):
            return Cost(float(entry.cost(usage)))
        if isinstance(entry, str):
            return Cost(None, entry)
        # Tiered prices depend on the call's size: ask the table for this usage.
        provider_id, calc_price, g_usage = entry
        result = calc_price(g_usage(usage), model_ref=model, provider_id=provider_id)
        return Cost(float(result.total_price))

    def _lookup(self, model: str, provider: str | None) -> Price | str | _Tiered:
        """What the table says of a model, once: a flat Price, a tiered entry, or why none."""
        from genai_prices import calc_price

        last_error = "not in the price table"
        for provider_id in _provider_candidates(provider):
            try:
                result = calc_price(
                    _genai_usage(Usage(1, 1)), model_ref=model, provider_id=provider_id
                )
            except LookupError as exc:
                last_error = str(exc)
                continue
            except Exception as exc:  # a broken table entry must not break a call
                last_error = f"price lookup failed: {exc}"
                continue
            mp = result.model_price
            flat = [
                _flat(p)
                for p in (mp.input_mtok, mp.output_mtok, mp.cache_write_mtok, mp.cache_read_mtok)
            ]
            if all(f is not False for f in flat) and isinstance(flat[0], Decimal):
                out, cw, cr = flat[1], flat[2], flat[3]
                return Price(
                    flat[0],
                    out if isinstance(out, Decimal) else Decimal(0),
                    cw if isinstance(cw, Decimal) else None,
                    cr if isinstance(cr, Decimal) else None,
                )
            return (provider_id, calc_price, _genai_usage)
        return f"no price for model '{model}' ({last_error})"

    def has_price(self, model: str, provider: str | None = None) -> bool:
        return self.cost(model, Usage(1, 1), provider).priced


def _flat(price: object) -> Decimal | None | bool:
    """A flat per-MTok price, None when absent, False when tiered (depends on call size)."""
    if price is None or isinstance(price, Decimal):
        return price
    return False


def _genai_usage(usage: Usage):  # type: ignore[no-untyped-def]
    from genai_prices import Usage as GUsage

    # genai-prices counts cache tokens inside input_tokens; Anthropic-style usage does not.
    return GUsage(
        input_tokens=usage.input_tokens + usage.cache_creation_tokens + usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
        cache_write_tokens=usage.cache_creation_tokens,
        cache_read_tokens=usage.cache_read_tokens,
    )


def _provider_candidates(provider: str | None) -> list[str | None]:
    # Our provider names are the user's; the table knows vendors. Try the hint, then any.
    hints = {
        "anthropic": "anthropic",
        "openai": "openai",
        "deepseek": "deepseek",
        "google": "google",
        "gemini": "google",
        "zai": "zai",
        "moonshot": "moonshotai",
        "openrouter": "openrouter",
    }
    out: list[str | None] = []
    if provider and provider in hints:
        out.append(hints[provider])
    out.append(None)
    return out


def parse_price(value: dict[str, Any]) -> Price:
    """A price override from a profile: {input=, output=, cache_write=, cache_read=} USD/MTok."""

    def dec(key: str) -> Decimal | None:
        v = value.get(key)
        return None if v is None else Decimal(str(v))

    input_price = dec("input")
    output_price = dec("output")
    if input_price is None or output_price is None:
        raise ValueError("a price needs both 'input' and 'output' (USD per million tokens)")
    return Price(input_price, output_price, dec("cache_write"), dec("cache_read"))
