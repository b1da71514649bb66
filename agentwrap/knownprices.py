"""The flat prices the proxy has read from the price table, remembered between runs.

The first priced call of a session loaded genai-prices' whole table to price one or two
models: a few hundred milliseconds of the event loop, and 16 MB of the proxy's memory for
the rest of the session (bench/README.md). So the flat prices a session read are kept in a
small file in the data directory, under the same key as the table's model ids
(agentwrap.modellist.table_key: another genai-prices, another key), and given to the next
session's price book; the table loads only for a model it has not priced before, or one
priced in tiers by the call's size.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

from agentwrap import paths
from agentwrap.modellist import read_keyed, table_key, write_keyed
from agentwrap.pricing import Price, PriceBook


def cache_file() -> Path:
    return paths.data_dir() / "known-prices.json"


def _price(value: object) -> Price | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    try:
        parts = [None if v is None else Decimal(str(v)) for v in value]
    except (InvalidOperation, ValueError):
        return None
    if parts[0] is None or parts[1] is None:
        return None
    return Price(parts[0], parts[1], parts[2], parts[3])


def _read(key: str) -> dict[tuple[str, str | None], Price]:
    rows = read_keyed(cache_file(), key, "prices")
    if not isinstance(rows, list):
        return {}
    out: dict[tuple[str, str | None], Price] = {}
    for row in rows:
        if not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], str):
            continue
        provider = row[1] if isinstance(row[1], str) else None
        price = _price(row[2])
        if price is not None:
            out[(row[0], provider)] = price
    return out


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _write(key: str, prices: dict[tuple[str, str | None], Price]) -> None:
    rows: list[list[object]] = [
        [
            model,
            provider,
            [_text(p.input), _text(p.output), _text(p.cache_write), _text(p.cache_read)],
        ]
        for (model, provider), p in sorted(
            prices.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        )
    ]
    write_keyed(cache_file(), key, "prices", rows)


def recall(book: PriceBook) -> None:
    """Give `book` the flat prices earlier runs read from the installed table."""
    key = table_key()
    if key is not None:
        book.know(_read(key))


def remember(book: PriceBook) -> None:
    """Keep the flat prices `book` read, with those already kept, for the next run."""
    key = table_key()
    learned = book.known_prices()
    if key is None or not learned:
        return
    kept = _read(key)
    if all(kept.get(k) == v for k, v in learned.items()):
        return
    _write(key, {**kept, **learned})
