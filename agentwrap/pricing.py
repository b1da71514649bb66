"""The price book: what a call cost, from tokens, offline.

Prices come from genai-prices' table (the one bundled with the package, or a newer one
`agentwrap prices --refresh` fetched for its own run); a profile may override any model.
A model without a price is *unpriced* (cost None plus a reason), never $0. A `PriceTable`
given whole stands in for genai-prices' (tests build synthetic ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

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


# A price in tiers: the base price, and (start, price) from the lowest tier up; a call whose
# prompt (input and cache tokens together) is above a tier's start pays that tier's price for
# all its tokens.
Tiers = tuple[Decimal, tuple[tuple[int, Decimal], ...]]


@dataclass(frozen=True)
class TieredPrice:
    """USD per million tokens, each a flat price or one in tiers by the prompt's size, as
    genai-prices' table gives a model priced by the call's size (read outside this process:
    agentwrap.knownprices); the cost is worked out as the table works it out."""

    input: Decimal | Tiers
    output: Decimal | Tiers | None = None
    cache_write: Decimal | Tiers | None = None
    cache_read: Decimal | Tiers | None = None

    def cost(self, usage: Usage) -> Decimal:
        prompt = usage.input_tokens + usage.cache_creation_tokens + usage.cache_read_tokens
        total = Decimal(0)
        # Cache tokens without a price of their own are input tokens, as in Price.
        cache_write = self.cache_write if self.cache_write is not None else self.input
        cache_read = self.cache_read if self.cache_read is not None else self.input
        for price, count in (
            (self.input, usage.input_tokens),
            (self.output, usage.output_tokens),
            (cache_write, usage.cache_creation_tokens),
            (cache_read, usage.cache_read_tokens),
        ):
            if price is not None:
                total += _at(price, prompt) * count / PER_MTOK
        return total


def _at(price: Decimal | Tiers, prompt: int) -> Decimal:
    """The price per million tokens for a prompt of this size."""
    if isinstance(price, Decimal):
        return price
    base, tiers = price
    for start, tier_price in reversed(tiers):
        if prompt > start:
            return tier_price
    return base


@dataclass(frozen=True)
class Cost:
    """A priced amount, or the reason there is none."""

    usd: float | None
    unpriced_reason: str | None = None

    @property
    def priced(self) -> bool:
        return self.usd is not None


@dataclass(frozen=True)
class PriceTable:
    """A price table given whole: flat prices by vendor ("anthropic", "openai", "google")
    and model id, in place of genai-prices' own."""

    prices: Mapping[str, Mapping[str, Price]]
    version: str = "a given table"


@dataclass(frozen=True)
class TableInfo:
    """Which price table is in use: its version, whether it was fetched, and its dates."""

    version: str  # "genai-prices 0.2.3" or a given table's version
    fetched_at: datetime | None = None  # None: the table bundled with the package
    newest_price_date: date | None = None  # the latest date a price in it took effect
    vendors: int = 0  # providers the table prices
    models: int = 0

    def describe(self) -> str:
        """One line: "genai-prices 0.2.3, bundled (prices up to 2026-10-14; 47 providers)"."""
        where = f"fetched {self.fetched_at:%Y-%m-%d %H:%M}" if self.fetched_at else "bundled"
        dated = f"prices up to {self.newest_price_date}; " if self.newest_price_date else ""
        return f"{self.version}, {where} ({dated}{self.vendors} providers, {self.models} models)"


# A tiered table entry, priced per call: (provider id, calc_price, usage adapter).
_Tiered = tuple[str | None, Callable[..., Any], Callable[[Usage], Any]]


class TableReader(Protocol):
    """genai-prices' table read elsewhere than in this process (agentwrap.knownprices)."""

    def start(self) -> None:
        """Begin reading: a call that will be priced has started."""

    def read(self) -> Mapping[tuple[str, str | None], Price | TieredPrice]:
        """The prices read, flat or in tiers, by (model, provider hint); waits for them."""

    def ask(self, model: str, provider: str | None) -> Price | TieredPrice | str | None:
        """One model `read` did not price: its price, or the reason it has none; None when
        it must be looked up here. Waits for it."""

    def close(self) -> None:
        """Nothing will be asked: stop reading, or keep what was read."""


class PriceBook:
    """Looks up prices: profile overrides first, then the bundled table."""

    def __init__(
        self, overrides: dict[str, Price] | None = None, table: PriceTable | None = None
    ) -> None:
        self._overrides = dict(overrides or {})
        self._table = table
        self._cache: dict[tuple[str, str | None], Price | TieredPrice | str | _Tiered] = {}
        self._estimates: dict[tuple[str, str | None, int, int], float | None] = {}
        self._reader: TableReader | None = None
        self._read_ahead = False  # the reader's read() has been taken

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
        if isinstance(entry, Price | TieredPrice):
            return Cost(float(entry.cost(usage)))
        if isinstance(entry, str):
            return Cost(None, entry)
        # Tiered prices depend on the call's size: ask the table for this usage.
        provider_id, calc_price, g_usage = entry
        result = calc_price(g_usage(usage), model_ref=model, provider_id=provider_id)
        return Cost(float(result.total_price))

    def estimate(
        self, model: str, input_tokens: int, output_tokens: int, provider: str | None = None
    ) -> float | None:
        """A call's cost at about this size (the prompt to the nearest 1k tokens), remembered:
        routing compares costs on every call, and a tiered price asks the table each time."""
        key = (model, provider, input_tokens // 1024, output_tokens)
        if key not in self._estimates:
            size = (input_tokens // 1024) * 1024 + 512
            self._estimates[key] = self.cost(model, Usage(size, output_tokens), provider).usd
        return self._estimates[key]

    def entry(self, model: str, provider: str | None = None) -> Price | str | None:
        """A model's price as the book holds it: a flat Price, None when the table prices it
        in tiers by the call's size, or the reason it has no price."""
        override = self._overrides.get(model)
        if override is not None:
            return override
        key = (model, provider)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._lookup(model, provider)
        return found if isinstance(found, Price | str) else None

    def small_call_price(self, model: str, provider: str | None = None) -> Price | None:
        """A tiered model's price per million tokens for a small call (its first tier), from
        the table's own arithmetic; None when it has no price."""
        base = self.cost(model, Usage(1000, 0), provider).usd
        both = self.cost(model, Usage(1000, 1000), provider).usd
        if base is None or both is None:
            return None
        per_mtok = Decimal(1000)
        return Price(
            (Decimal(str(base)) * per_mtok).quantize(Decimal("0.0001")).normalize(),
            (Decimal(str(both - base)) * per_mtok).quantize(Decimal("0.0001")).normalize(),
        )

    def in_tiers(self, model: str, provider: str | None = None) -> TieredPrice | None:
        """A model the table prices in tiers by the call's size, as a TieredPrice, when that
        gives the table's own cost for calls on both sides of every tier (checked here); None
        for any other model, or when it does not (the table charges for more than the four
        token counts)."""
        found = self._cache.get((model, provider)) or self._lookup(model, provider)
        if not isinstance(found, tuple):
            return None
        provider_id, calc_price, g_usage = found
        mp = calc_price(g_usage(Usage(1, 1)), model_ref=model, provider_id=provider_id).model_price
        try:
            parts = [
                _tiers(p)
                for p in (mp.input_mtok, mp.output_mtok, mp.cache_write_mtok, mp.cache_read_mtok)
            ]
        except ValueError:
            return None
        first = parts[0]
        if first is None:
            return None
        tiered = TieredPrice(first, parts[1], parts[2], parts[3])
        starts = {start for p in parts if isinstance(p, tuple) for start, _ in p[1]}
        for prompt in sorted({1000, *starts, *(start + 1 for start in starts)}):
            for usage in (
                Usage(prompt, 1000),
                Usage(prompt // 4, 2000, prompt // 4, prompt - 2 * (prompt // 4)),
            ):
                table = calc_price(g_usage(usage), model_ref=model, provider_id=provider_id)
                if table.total_price != tiered.cost(usage):
                    return None
        return tiered

    def known_prices(self) -> dict[tuple[str, str | None], Price | TieredPrice]:
        """The flat prices this book has read from genai-prices' table, and the tiered ones a
        reader gave it, by (model, provider hint): what a later run may be given back through
        `know` instead of loading the table. Empty for a table given whole; tiered prices read
        in this process are never among them (they are asked of the table per call)."""
        if self._table is not None:
            return {}
        return {
            key: entry
            for key, entry in self._cache.items()
            if isinstance(entry, Price | TieredPrice)
        }

    def know(self, prices: Mapping[tuple[str, str | None], Price | TieredPrice]) -> None:
        """Take flat prices an earlier run read from the same table (see `known_prices`), so
        that looking them up again does not load it. Ignored for a table given whole."""
        if self._table is None:
            for key, price in prices.items():
                self._cache.setdefault(key, price)

    def read_elsewhere(self, reader: TableReader) -> None:
        """Take the prices `reader` reads when this book first meets a model it does not know,
        and ask it for each model they do not price, instead of loading genai-prices' table
        into this process; what it cannot answer is looked up here as before. Ignored for a
        table given whole."""
        if self._table is None:
            self._reader = reader

    def expect_calls(self) -> None:
        """A call has started: a reader given may begin reading."""
        if self._reader is not None:
            self._reader.start()

    def stop_reading(self) -> None:
        """No more calls: let a reader given go."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def is_override(self, model: str) -> bool:
        """Whether the profile sets this model's price."""
        return model in self._overrides

    def model_ids(self, vendor: str) -> list[str]:
        """The ids of every model the table prices for a vendor ("anthropic", "openai",
        "google"), in the table's order."""
        if self._table is not None:
            return list(self._table.prices.get(vendor, {}))
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        return [m.id for p in snapshot.providers if p.id == vendor for m in p.models]

    def table_info(self) -> TableInfo:
        """Which table is in use (the given one, genai-prices' bundled one, or a fetched one)."""
        if self._table is not None:
            models = sum(len(v) for v in self._table.prices.values())
            return TableInfo(self._table.version, None, None, len(self._table.prices), models)
        import genai_prices
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        fetched = snapshot.timestamp if snapshot.from_auto_update else None
        today = (fetched or datetime.now()).date()
        dates = [
            d
            for p in snapshot.providers
            for m in p.models
            if isinstance(m.prices, list)
            for c in m.prices
            if (d := getattr(c.constraint, "start_date", None)) is not None and d <= today
        ]
        return TableInfo(
            f"genai-prices {genai_prices.__version__}",
            fetched,
            max(dates, default=None),
            len(snapshot.providers),
            sum(len(p.models) for p in snapshot.providers),
        )

    def _lookup(self, model: str, provider: str | None) -> Price | TieredPrice | str | _Tiered:
        """What the table says of a model, once: a flat Price, a tiered entry, or why none."""
        if self._table is not None:
            return self._given(model, provider)
        reader = self._reader
        if reader is not None:
            if not self._read_ahead:
                self._read_ahead = True
                read = reader.read()
                self.know(read)
                if (model, provider) in read:
                    return read[(model, provider)]
            asked = reader.ask(model, provider)
            if asked is not None:
                return asked
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

    def _given(self, model: str, provider: str | None) -> Price | str:
        assert self._table is not None
        vendors = [v for v in _provider_candidates(provider) if v is not None]
        for vendor in [*vendors, *self._table.prices]:
            found = self._table.prices.get(vendor, {}).get(model)
            if found is not None:
                return found
        return f"no price for model '{model}' (not in {self._table.version})"

    def has_price(self, model: str, provider: str | None = None) -> bool:
        return self.cost(model, Usage(1, 1), provider).priced


def _flat(price: object) -> Decimal | None | bool:
    """A flat per-MTok price, None when absent, False when tiered (depends on call size)."""
    if price is None or isinstance(price, Decimal):
        return price
    return False


def _tiers(price: object) -> Decimal | Tiers | None:
    """A part of a table's price as TieredPrice holds it (ValueError: of another kind)."""
    if price is None or isinstance(price, Decimal):
        return price
    base, tiers = getattr(price, "base", None), getattr(price, "tiers", None)
    if not isinstance(base, Decimal) or not isinstance(tiers, list):
        raise ValueError(f"not a price in tiers: {price!r}")
    return base, tuple((tier.start, tier.price) for tier in tiers)


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
