"""The prices the proxy has read from the price table, remembered between runs.

The first priced call of a session loaded genai-prices' whole table to price one or two
models: a few hundred milliseconds of the event loop, and 16 MB of the proxy's memory for
the rest of the session (bench/README.md). So the flat prices a session read are kept in a
small file in the data directory, under the same key as the table's model ids
(agentwrap.modellist.table_key: another genai-prices, another key), and given to the next
session's price book; the table loads only for a model it has not priced before.

A data directory's first session has nothing remembered. Its price book has the table read in
a short-lived child (`python -m agentwrap.knownprices`, `TableChild`) instead of in the
proxy's process: the prices of every model of the three vendors agents call, and those
vendors' model ids, which a profile's tiers resolve against (agentwrap.modellist), all read
by the same PriceBook the proxy would use. A model priced in tiers by the call's size comes
as a TieredPrice when that gives the table's own costs on both sides of every tier (the
child checks). A model none of these price (a dated id such as Claude Code's
`claude-haiku-4-5-20251001`, another vendor's, one without a price) is asked of a child of its
own (`TableChild.ask`, up to ASKED_CHILDREN a session); what no child can answer (a model the
table charges for more than its tokens), or a child that fails, is looked up in the process
as before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from agentwrap import paths
from agentwrap.modellist import read_keyed, table_key, write_keyed
from agentwrap.pricing import Price, PriceBook, TieredPrice, Tiers

# The vendors whose models the child prices ahead, each under the provider names a profile
# gives it (a price is kept per model and provider name, as the book asks for it).
AHEAD: dict[str, tuple[str, ...]] = {
    "anthropic": ("anthropic",),
    "openai": ("openai",),
    "google": ("google", "gemini"),
}
# A child slower than this is given up on; the table is then read in the process. The proxy's
# event loop waits for the child (0.3-0.4 s here), so a hung one must not hold it for long.
CHILD_TIMEOUT = 10.0
# At most this many children per session asked for one model each (a dated id, a model of
# another vendor); past them the table is read in the process.
ASKED_CHILDREN = 2

Key = tuple[str, str | None]


def cache_file() -> Path:
    return paths.data_dir() / "known-prices.json"


def _price(value: object) -> Price | TieredPrice | None:
    """A price as `_row` wrote it: four flat parts, or {"tiered": four parts each flat or in
    tiers}; None when it is neither."""
    if isinstance(value, dict):
        return _tiered(value.get("tiered"))
    if not isinstance(value, list) or len(value) != 4:
        return None
    try:
        parts = [None if v is None else Decimal(str(v)) for v in value]
    except (InvalidOperation, ValueError):
        return None
    if parts[0] is None or parts[1] is None:
        return None
    return Price(parts[0], parts[1], parts[2], parts[3])


def _tiered(value: object) -> TieredPrice | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    try:
        parts = [_part(v) for v in value]
    except (InvalidOperation, ValueError, TypeError):
        return None
    first = parts[0]
    if first is None:
        return None
    return TieredPrice(first, parts[1], parts[2], parts[3])


def _part(value: object) -> Decimal | Tiers | None:
    """One part of a tiered price: None, a flat price, or [base, [[start, price], ...]]."""
    if value is None:
        return None
    if isinstance(value, str):
        return Decimal(value)
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], list):
        raise ValueError("not a price in tiers")
    tiers = tuple((int(start), Decimal(str(price))) for start, price in value[1])
    return Decimal(str(value[0])), tiers


def _read(key: str) -> dict[Key, Price | TieredPrice]:
    return _prices(read_keyed(cache_file(), key, "prices"))


def _text(value: Decimal | Tiers | None) -> object:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    base, tiers = value
    return [str(base), [[start, str(price)] for start, price in tiers]]


def _row(p: Price | TieredPrice) -> object:
    parts = [_text(p.input), _text(p.output), _text(p.cache_write), _text(p.cache_read)]
    return parts if isinstance(p, Price) else {"tiered": parts}


def _write(key: str, prices: dict[Key, Price | TieredPrice]) -> None:
    rows: list[list[object]] = [
        [model, provider, _row(p)]
        for (model, provider), p in sorted(
            prices.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        )
    ]
    write_keyed(cache_file(), key, "prices", rows)


def _add(key: str, prices: dict[Key, Price | TieredPrice]) -> None:
    """Keep `prices` with those already kept for the table `key` names; the file is left as
    it is when it holds them all already."""
    kept = _read(key)
    if all(kept.get(k) == v for k, v in prices.items()):
        return
    _write(key, {**kept, **prices})


def _prices(rows: object) -> dict[Key, Price | TieredPrice]:
    if not isinstance(rows, list):
        return {}
    out: dict[Key, Price | TieredPrice] = {}
    for row in rows:
        if not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], str):
            continue
        provider = row[1] if isinstance(row[1], str) else None
        price = _price(row[2])
        if price is not None:
            out[(row[0], provider)] = price
    return out


def recall(book: PriceBook) -> None:
    """Give `book` the flat prices earlier runs read from the installed table, and a child to
    read the table in when it meets a model they do not price."""
    key = table_key()
    if key is not None:
        book.know(_read(key))
        book.read_elsewhere(TableChild(key))


# What a child read in this process, by table key: the vendors' model ids and the flat prices.
# A later session of the same process (a test suite's) is given them without another child.
_READ: dict[str, tuple[dict[str, object], dict[Key, Price | TieredPrice]]] = {}
# What children asked for one model answered in this process, by table key and model.
_ASKED: dict[tuple[str, Key], Price | TieredPrice | str] = {}


class TableChild:
    """The installed table (`key` names it) read in a child process: the flat prices of every
    model of the vendors in AHEAD, and those vendors' model ids, kept for the next run.

    The child starts with a session's first call and is read when its price book first meets
    a model it does not know (a call to a real provider has taken longer than the child by
    then); it reads nothing when this process has loaded the table already (that would save
    nothing), and a child that fails leaves the table to the process, as before.
    """

    def __init__(self, key: str) -> None:
        self._key = key
        self._child: subprocess.Popen[str] | None = None
        self._done = False
        self._asked = 0  # children asked for one model each

    def start(self) -> None:
        """Start the child, once, unless this process has what it would read."""
        if self._child is not None or self._done or self._key in _READ:
            return
        if "genai_prices" in sys.modules:
            return
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "agentwrap.knownprices"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            self._done = True

    def read(self) -> dict[Key, Price | TieredPrice]:
        """The flat prices the child read (starting it if need be), kept; {} if it failed."""
        if self._child is None and self._key in _READ:
            self._done = True
            vendors, prices = _READ[self._key]
            self._keep(vendors, prices)
            return prices
        self.start()
        return self._answer(CHILD_TIMEOUT)

    def ask(self, model: str, provider: str | None) -> Price | TieredPrice | str | None:
        """One model's price or the reason it has none, from a child asked for it alone (its
        price kept for the next run); None when no child can answer (priced in a way
        TieredPrice cannot hold, a child failed, ASKED_CHILDREN asked already)."""
        key = (model, provider)
        if (self._key, key) in _ASKED:
            return self._kept(key, _ASKED[(self._key, key)])
        if self._asked >= ASKED_CHILDREN or "genai_prices" in sys.modules:
            return None
        self._asked += 1
        try:
            done = subprocess.run(
                [sys.executable, "-m", "agentwrap.knownprices", json.dumps([model, provider])],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT,
                check=True,
            )
            doc = json.loads(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("key") != self._key:
            return None
        reason = doc.get("reason")
        found = _prices(doc.get("prices")).get(key) or (reason if isinstance(reason, str) else None)
        if found is None:
            return None
        _ASKED[(self._key, key)] = found
        return self._kept(key, found)

    def _kept(self, key: Key, found: Price | TieredPrice | str) -> Price | TieredPrice | str:
        if not isinstance(found, str):
            _add(self._key, {key: found})
        return found

    def close(self) -> None:
        """Keep what a finished child read; stop one still reading (a session ending)."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
        self._answer(CHILD_TIMEOUT)

    def _answer(self, timeout: float) -> dict[Key, Price | TieredPrice]:
        """The flat prices the child read, waited for up to `timeout` seconds, kept with its
        ids; {} when there are none (never started, failed, stopped) or another table's."""
        child, self._child, self._done = self._child, None, True
        if child is None:
            return {}
        try:
            out, _ = child.communicate(timeout=timeout)
            doc = json.loads(out)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return {}
        except (OSError, ValueError):
            return {}
        if child.returncode != 0 or not isinstance(doc, dict) or doc.get("key") != self._key:
            return {}
        vendors = doc.get("vendors")
        read = (vendors if isinstance(vendors, dict) else {}, _prices(doc.get("prices")))
        _READ[self._key] = read
        self._keep(*read)
        return read[1]

    def _keep(self, vendors: dict[str, object], prices: dict[Key, Price | TieredPrice]) -> None:
        from agentwrap import modellist

        modellist.keep(self._key, vendors)
        _add(self._key, prices)


def read_ids_in_child() -> bool:
    """Have a child read the table's model ids of the vendors in AHEAD (and their flat
    prices) and keep them for agentwrap.modellist; whether it did."""
    key = table_key()
    if key is None:
        return False
    return bool(TableChild(key).read())


def remember(book: PriceBook) -> None:
    """Keep the flat prices `book` read, with those already kept, for the next run."""
    book.stop_reading()
    key = table_key()
    if key is not None:
        _add(key, book.known_prices())


def _read_table() -> dict[str, object]:
    """The child's work: the prices (flat, or in tiers where that gives the table's costs)
    and model ids `TableChild` keeps, read with a PriceBook of its own (the same lookups the
    proxy's book would make)."""
    book = PriceBook()
    vendors = {vendor: book.model_ids(vendor) for vendor in AHEAD}
    prices: list[list[object]] = []
    for vendor, names in AHEAD.items():
        for name in names:
            for model in vendors[vendor]:
                found = book.entry(model, name) or book.in_tiers(model, name)
                if isinstance(found, Price | TieredPrice):
                    prices.append([model, name, _row(found)])
    return {"key": table_key(), "vendors": vendors, "prices": prices}


def _read_one(model: str, provider: str | None) -> dict[str, object]:
    """A child's work when asked for one model: its price as TableChild keeps it, or the
    reason it has none; neither when it is priced in a way TieredPrice cannot hold."""
    book = PriceBook()
    found = book.entry(model, provider) or book.in_tiers(model, provider)
    prices = [[model, provider, _row(found)]] if isinstance(found, Price | TieredPrice) else []
    reason = found if isinstance(found, str) else None
    return {"key": table_key(), "prices": prices, "reason": reason}


if __name__ == "__main__":
    # `python -m agentwrap.knownprices ['["model", "provider"]']`: the table's answers for
    # TableChild, as JSON (every vendor's in AHEAD, or the one model asked for).
    if len(sys.argv) > 1:
        asked = json.loads(sys.argv[1])
        json.dump(_read_one(asked[0], asked[1]), sys.stdout)
    else:
        json.dump(_read_table(), sys.stdout)
