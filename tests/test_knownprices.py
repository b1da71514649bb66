"""Flat prices remembered between sessions: the same costs as the table, a session that
prices a remembered model without loading the table, tiered prices never remembered, and a
new table's prices read again. A first session reads the table in a child: the same costs as
genai-prices' own for every model the presets route to, tiered ones included, and the
proxy's process does not load the table for a flat-priced model."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import astuple
from pathlib import Path

import pytest

from agentwrap import knownprices, modellist
from agentwrap.pricing import Price, PriceBook, PriceTable, TieredPrice, parse_price
from agentwrap.proxy.frontdoor import Proxy
from agentwrap.route.profile import load_profile, preset_names
from agentwrap.trace.recorder import Recorder
from agentwrap.trace.store import TraceStore
from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
from agentwrap.wire.common import Usage
from tests.conftest import subprocess_env

FLAT = [("claude-sonnet-4-6", "anthropic"), ("claude-haiku-4-5", "anthropic"), ("gpt-5", None)]
TIERED = ("claude-sonnet-4-5", "anthropic")  # priced by the call's size
USAGES = [Usage(25_000, 20, 0, 20_000), Usage(1, 1), Usage(300_000, 4_000, 5_000, 90_000)]


def python_prints(code: str) -> str:
    """What a fresh interpreter running `code` prints (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(),
        timeout=120,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


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


def test_no_session_loads_the_table_to_price_a_flat_model(
    agentwrap_home: Path, tmp_path: Path
) -> None:
    # The proxy recalls at its start and remembers at its stop; the first session's price
    # book has a child read the table, the second answers from what the first kept, and
    # genai-prices is imported by neither.
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
        seen.append(json.loads(python_prints(script).strip().splitlines()[-1]))
    (first_cost, first_loaded), (second_cost, second_loaded) = seen
    assert not first_loaded and not second_loaded
    assert (
        first_cost
        == second_cost
        == PriceBook().cost("claude-sonnet-4-6", Usage(25000, 20), "anthropic").usd
    )


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


# Every model a preset routes to (for each API an agent speaks), and models agents request.
APIS = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI)
REQUESTED = [
    ("claude-sonnet-4-6", "anthropic"),
    ("claude-haiku-4-5-20251001", "anthropic"),
    ("claude-opus-4-1-20250805", "anthropic"),
    ("gpt-5-mini", "openai"),
    ("gemini-2.5-flash", "gemini"),
    ("gemini-2.5-pro", "gemini"),
    ("no-such-model", "anthropic"),
]


def routed_models() -> list[tuple[str, str | None]]:
    seen = dict.fromkeys(REQUESTED)
    for name in preset_names():
        for api in APIS:
            for model in load_profile(explicit=name, env={}, agent_api=api).models.values():
                seen.setdefault((model.model, model.provider))
    return list(seen)


# Calls on both sides of the tiers' starts (a prompt of 100k and 200k tokens, cache included).
AROUND_TIERS = [
    Usage(100_000, 10),
    Usage(100_001, 10),
    Usage(50_000, 2_000, 50_000, 100_001),
    Usage(200_000, 10),
    Usage(1, 10, 100_000, 100_000),
    Usage(200_001, 3_000),
]


def test_a_first_sessions_prices_read_in_a_child_are_the_tables(agentwrap_home: Path) -> None:
    # A fresh interpreter (one that has not loaded the table) prices each model through a
    # book given what a child read, as the proxy's is; the costs are genai-prices' own, also
    # for the models priced in tiers, on both sides of each tier.
    models = routed_models()
    kinds = {m: PriceBook().entry(*m) for m in models}
    assert any(isinstance(k, Price) for k in kinds.values())
    assert any(k is None for k in kinds.values())  # priced in tiers
    assert any(isinstance(k, str) for k in kinds.values())  # no price
    ahead = {
        (m, name)
        for vendor, names in knownprices.AHEAD.items()
        for name in names
        for m in PriceBook().model_ids(vendor)
    }
    read_ahead = [m for m in models if m in ahead and not isinstance(kinds[m], str)]
    assert len(read_ahead) >= 5
    assert ("claude-haiku-5-5", "anthropic") in read_ahead  # the presets' Haiku: in tiers
    assert any(kinds[m] is None for m in read_ahead)
    # Then models it did not read, each asked of a child of its own (up to ASKED_CHILDREN).
    asked = [("claude-haiku-4-5-20251001", "anthropic"), ("no-such-model", "anthropic")]
    flat_first = read_ahead + asked + [m for m in models if m not in [*read_ahead, *asked]]
    usages = [*USAGES, *AROUND_TIERS]
    code = (
        "import json, sys\n"
        "from agentwrap import knownprices\n"
        "from agentwrap.pricing import PriceBook\n"
        "from agentwrap.wire.common import Usage\n"
        f"models, usages = {flat_first!r}, {[astuple(u) for u in usages]!r}\n"
        "book = PriceBook()\n"
        "knownprices.recall(book)\n"
        "out = []\n"
        "for model, provider in models:\n"
        "    for usage in usages:\n"
        "        c = book.cost(model, Usage(*usage), provider)\n"
        "        out.append([c.usd, c.unpriced_reason, 'genai_prices' in sys.modules])\n"
        "print(json.dumps(out))\n"
    )
    seen = iter(json.loads(python_prints(code)))
    in_process = PriceBook()
    for model, provider in flat_first:
        for usage in usages:
            usd, reason, loaded = next(seen)
            expected = in_process.cost(model, usage, provider)
            assert (usd, reason) == (expected.usd, expected.unpriced_reason), (model, usage)
            if (model, provider) in [*read_ahead, *asked]:
                assert not loaded, model  # read by a child
    kept = json.loads(knownprices.cache_file().read_text())
    assert kept["key"] == modellist.table_key()
    assert json.loads(modellist.cache_file().read_text())["vendors"] == {
        vendor: PriceBook().model_ids(vendor) for vendor in knownprices.AHEAD
    }


@pytest.mark.parametrize(
    "child",
    [
        "exit 3",
        "echo not json",
        # Another table's answer (another genai-prices): not this table's prices.
        """echo '{"key": "another", "prices": [["claude-sonnet-4-6", "anthropic", ["9", "9", null, null]]]}'""",
    ],
)
@pytest.mark.usefixtures("agentwrap_home")
def test_a_child_that_fails_leaves_the_table_to_the_process(
    child: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = PriceBook().cost("claude-sonnet-4-6", USAGES[0], "anthropic")
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\n{child}\n")
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    # As in a proxy that has not loaded the table, nor had it read by a child.
    monkeypatch.delitem(sys.modules, "genai_prices", raising=False)
    monkeypatch.setattr(knownprices, "_READ", {})
    monkeypatch.setattr(knownprices, "_ASKED", {})
    key = modellist.table_key()
    assert key is not None
    book = PriceBook()
    book.read_elsewhere(knownprices.TableChild(key))
    book.expect_calls()
    assert book.cost("claude-sonnet-4-6", USAGES[0], "anthropic") == expected
    book.stop_reading()
    assert not knownprices.cache_file().exists()
    assert not modellist.cache_file().exists()


@pytest.mark.usefixtures("agentwrap_home")
def test_a_child_that_hangs_is_given_up_on_and_the_table_read_in_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = PriceBook().cost("claude-sonnet-4-6", USAGES[0], "anthropic")
    key = modellist.table_key()
    assert key is not None
    # Were it waited for, its answer would price the model at $9 a million tokens.
    answer = json.dumps(
        {"key": key, "prices": [["claude-sonnet-4-6", "anthropic", ["9", "9", None, None]]]}
    )
    python = tmp_path / "python"
    python.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\nprint({answer!r})\n")
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(knownprices, "CHILD_TIMEOUT", 0.5)
    monkeypatch.delitem(sys.modules, "genai_prices", raising=False)
    monkeypatch.setattr(knownprices, "_READ", {})
    monkeypatch.setattr(knownprices, "_ASKED", {})
    book = PriceBook()
    book.read_elsewhere(knownprices.TableChild(key))
    book.expect_calls()
    assert book.cost("claude-sonnet-4-6", USAGES[0], "anthropic") == expected
    book.stop_reading()
    assert not knownprices.cache_file().exists()


@pytest.mark.usefixtures("agentwrap_home")
def test_a_session_ending_keeps_a_finished_childs_prices_and_stops_one_still_reading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    price = PriceBook().entry("claude-sonnet-4-6", "anthropic")
    assert isinstance(price, Price)
    vendors = {vendor: PriceBook().model_ids(vendor) for vendor in knownprices.AHEAD}
    # As in a proxy that has not loaded the table, nor had it read by a child.
    monkeypatch.delitem(sys.modules, "genai_prices", raising=False)
    monkeypatch.setattr(knownprices, "_READ", {})
    monkeypatch.setattr(knownprices, "_ASKED", {})
    key = modellist.table_key()
    assert key is not None
    finished = knownprices.TableChild(key)
    finished.start()
    deadline = time.monotonic() + 60
    while finished._child is not None and finished._child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    knownprices.remember(_book_with(finished))  # no call was priced: what it read is kept
    kept = json.loads(knownprices.cache_file().read_text())
    row = [str(p) if p is not None else None for p in vars(price).values()]
    assert ["claude-sonnet-4-6", "anthropic", row] in kept["prices"]
    assert json.loads(modellist.cache_file().read_text())["vendors"] == vendors

    # Another session of this process is given what the child read, without a child.
    knownprices.cache_file().unlink()
    modellist.cache_file().unlink()
    again = knownprices.TableChild(key)
    again.start()
    assert again._child is None
    given = again.read()
    assert given[("claude-sonnet-4-6", "anthropic")] == price and len(given) > 200
    assert ["claude-sonnet-4-6", "anthropic", row] in json.loads(
        knownprices.cache_file().read_text()
    )["prices"]
    assert json.loads(modellist.cache_file().read_text())["vendors"] == vendors
    later = PriceBook()
    knownprices.recall(later)
    assert later.known_prices() == given  # kept and read back whole, tiers included
    assert any(isinstance(p, TieredPrice) for p in given.values())

    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexec sleep 60\n")
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(knownprices, "_READ", {})
    monkeypatch.setattr(knownprices, "_ASKED", {})
    knownprices.cache_file().unlink()
    slow = knownprices.TableChild(key)
    slow.start()
    child = slow._child
    assert child is not None
    # Waited for instead of stopped, it would end by itself after its minute (exit 0).
    monkeypatch.setattr(knownprices, "CHILD_TIMEOUT", 120.0)
    knownprices.remember(_book_with(slow))
    assert child.returncode == -signal.SIGKILL
    assert not knownprices.cache_file().exists()


def _book_with(reader: knownprices.TableChild) -> PriceBook:
    book = PriceBook()
    book.read_elsewhere(reader)
    return book


@pytest.mark.usefixtures("agentwrap_home")
def test_a_model_not_read_ahead_is_asked_of_a_child_alone_up_to_a_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dated, other = "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"
    expected = PriceBook().cost(dated, USAGES[0], "anthropic").usd
    key = modellist.table_key()
    assert key is not None
    # As in a proxy that has not loaded the table, nor had it read by a child.
    monkeypatch.delitem(sys.modules, "genai_prices", raising=False)
    monkeypatch.setattr(knownprices, "_READ", {})
    monkeypatch.setattr(knownprices, "_ASKED", {})
    monkeypatch.setattr(knownprices, "ASKED_CHILDREN", 1)
    reader = knownprices.TableChild(key)
    found = reader.ask(dated, "anthropic")
    assert isinstance(found, Price) and float(found.cost(USAGES[0])) == expected
    assert reader.ask(other, "anthropic") is None  # past the limit: the process reads it
    kept = json.loads(knownprices.cache_file().read_text())["prices"]
    assert [row[:2] for row in kept] == [[dated, "anthropic"]]
    # Another session of this process is answered without a child.
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert knownprices.TableChild(key).ask(dated, "anthropic") == found
