"""Flat prices remembered between sessions: the same costs as the table, a session that
prices a remembered model without loading the table, tiered prices never remembered, and a
new table's prices read again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentwrap import knownprices, modellist
from agentwrap.pricing import PriceBook, PriceTable, parse_price
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.route.profile import load_profile
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore
from agentwrap.wire.common import Usage
from tests.conftest import subprocess_env

FLAT = [("claude-sonnet-4-6", "anthropic"), ("claude-haiku-4-5", "anthropic"), ("gpt-5", None)]
TIERED = ("claude-sonnet-4-5", "anthropic")  # priced by the call's size
USAGES = [Usage(25_000, 20, 0, 20_000), Usage(1, 1), Usage(300_000, 4_000, 5_000, 90_000)]


def costs(book: PriceBook) -> list[float | None]:
    return [book.cost(m, u, p).usd for m, p in [*FLAT, TIERED] for u in USAGES]


@pytest.mark.usefixtures("agentwrap_home")
def test_remembered_prices_give_the_tables_costs() -> None:
    read = PriceBook()
    table_costs = costs(read)
    assert all(c is not None for c in table_costs)
    assert not knownprices.cache_file().exists()
    knownprices.remember(read)
    assert knownprices.cache_file().stat().st_mode & 0o077 == 0  # the user's alone
    kept = json.loads(knownprices.cache_file().read_text())
    assert kept["key"] == modellist.table_key()
    assert {(m, p) for m, p, _ in kept["prices"]} == set(FLAT)  # the tiered one is not kept

    given = PriceBook()
    knownprices.recall(given)
    assert given.known_prices() == read.known_prices()
    assert costs(given) == table_costs


@pytest.mark.usefixtures("agentwrap_home")
def test_prices_kept_for_another_table_are_not_given() -> None:
    book = PriceBook()
    book.cost(*FLAT[0][:1], USAGES[0], FLAT[0][1])
    knownprices.remember(book)
    kept = json.loads(knownprices.cache_file().read_text())
    kept["key"] = "another genai-prices"
    kept["prices"][0][2] = ["999", "999", None, None]
    knownprices.cache_file().write_text(json.dumps(kept))
    later = PriceBook()
    knownprices.recall(later)
    assert later.known_prices() == {}
    assert later.cost(FLAT[0][0], USAGES[0], FLAT[0][1]) == book.cost(
        FLAT[0][0], USAGES[0], FLAT[0][1]
    )


@pytest.mark.usefixtures("agentwrap_home")
def test_an_unreadable_file_gives_nothing_and_is_replaced() -> None:
    knownprices.cache_file().parent.mkdir(parents=True, exist_ok=True)
    knownprices.cache_file().write_text("{not json")
    book = PriceBook()
    knownprices.recall(book)
    assert book.known_prices() == {}
    book.cost("claude-haiku-4-5", USAGES[0], "anthropic")
    knownprices.remember(book)
    assert json.loads(knownprices.cache_file().read_text())["key"] == modellist.table_key()


def test_a_given_table_neither_takes_nor_gives_prices() -> None:
    book = PriceBook(table=PriceTable({"anthropic": {}}))
    book.know({("m", None): parse_price({"input": 1, "output": 2})})
    assert book.known_prices() == {}
    assert book.cost("m", USAGES[0]).usd is None


def test_a_later_session_prices_a_remembered_model_without_loading_the_table(
    agentwrap_home: Path, tmp_path: Path
) -> None:
    # The proxy recalls at its start and remembers at its stop; the second session's price
    # book answers from what the first kept, and genai-prices is never imported.
    code = (
        "import asyncio, json, sys, time\n"
        "from pathlib import Path\n"
        "from agentwrap.proxy.frontdoor import Proxy\n"
        "from agentwrap.route.profile import load_profile\n"
        "from agentwrap.trace.recorder import Recorder\n"
        "from agentwrap.trace.store import TraceStore\n"
        "from agentwrap.wire.common import Usage\n"
        "store = TraceStore(Path(DB))\n"
        "store.insert_session(id=SID, agent='test', started_at=time.time())\n"
        "proxy = Proxy(load_profile(explicit='passthrough', env={}), Recorder(store, SID))\n"
        "cost = proxy.ledger.pricebook.cost('claude-sonnet-4-6', Usage(25000, 20), 'anthropic')\n"
        "asyncio.run(proxy.stop())\n"
        "print(json.dumps([cost.usd, 'genai_prices' in sys.modules]))\n"
    )
    seen = []
    for sid in ("first", "second"):
        script = code.replace("DB", repr(str(tmp_path / "t.db"))).replace("SID", repr(sid))
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=subprocess_env(),
            timeout=120,
            check=True,
            capture_output=True,
            text=True,
        )
        seen.append(json.loads(out.stdout.strip().splitlines()[-1]))
    (first_cost, first_loaded), (second_cost, second_loaded) = seen
    assert first_loaded and not second_loaded
    assert first_cost == second_cost and first_cost is not None


@pytest.mark.usefixtures("agentwrap_home")
def test_a_proxy_given_a_price_book_leaves_the_file_alone(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.db")
    store.insert_session(id="s", agent="test", started_at=time.time())
    book = PriceBook()
    proxy = Proxy(
        load_profile(explicit="passthrough", env={}), Recorder(store, "s"), pricebook=book
    )
    book.cost("claude-haiku-4-5", USAGES[0], "anthropic")
    asyncio.run(proxy.stop())
    assert not knownprices.cache_file().exists()
