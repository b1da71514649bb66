"""`agentwrap prices [MODEL...]`: the price table in use, its date, and the profile's overrides.

Without MODEL it lists every member of the model classes presets name by tier (route/tiers.py),
newest first, marking the one each tier resolves to, and the profile's own models. `--refresh`
asks genai-prices for a newer table through its own update mechanism (`UpdatePrices.fetch`,
from `AGENTWRAP_PRICES_URL` when set, else the library's URL) and uses it for this command;
when that fails (offline, an error), it says so and keeps the bundled table. Sessions always
price with the bundled table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # loaded by the command itself: the CLI imports this module for every command
    from decimal import Decimal

    from agentwrap.pricing import Price, PriceBook
    from agentwrap.route.profile import Profile

PRICES_URL_ENV = "AGENTWRAP_PRICES_URL"  # where --refresh fetches from (a mirror, a test server)

app = typer.Typer()


@dataclass(frozen=True)
class Row:
    """One model's price as the book holds it, and where the price comes from."""

    model: str
    vendor: str
    price: Price | None
    note: str  # "tier sonnet", "tiered by call size", or why it has no price
    source: str  # "table", or the profile that overrides it

    def as_dict(self) -> dict[str, Any]:
        """The row for --json (prices in USD per million tokens, as strings: exact)."""

        def money(value: Decimal | None) -> str | None:
            return None if value is None else f"{value.normalize():f}"

        p = self.price
        return {
            "model": self.model,
            "vendor": self.vendor,
            "input": money(p.input) if p else None,
            "output": money(p.output) if p else None,
            "cache_write": money(p.cache_write) if p else None,
            "cache_read": money(p.cache_read) if p else None,
            "note": self.note,
            "source": self.source,
        }


def refresh(url: str | None) -> str:
    """Fetch a newer table with genai-prices' own updater and use it in this process; the
    line to print. Raises what the fetch raised (the caller falls back)."""
    from genai_prices import UpdatePrices, data_snapshot

    updater = UpdatePrices(url=url) if url else UpdatePrices()
    snapshot = updater.fetch()
    if snapshot is None:
        raise ValueError("the update answered with no table")
    data_snapshot.set_custom_snapshot(snapshot)
    return f"refreshed from {updater.url} (for this command; sessions use the bundled table)"


def rows(profile: Profile, book: PriceBook, wanted: list[str]) -> list[Row]:
    """The rows to show: the `wanted` models, or every class member and the profile's models."""
    from agentwrap.route.tiers import MODEL_CLASSES, members

    tiers = {m.model: f"tier {m.tier}" for m in profile.models.values() if m.tier}
    out: list[Row] = []
    if wanted:
        for model in wanted:
            out.append(_row(profile, book, model, _vendor_of(model, profile), tiers))
        return out
    seen: set[str] = set()
    for vendor, model_classes in MODEL_CLASSES.items():
        listed = book.model_ids(vendor)
        for model_class in model_classes:
            found = members(vendor, model_class.name, listed)
            for i, model in enumerate(found):
                note = f"newest {model_class.name}" if i == 0 else model_class.name
                out.append(_row(profile, book, model, vendor, tiers, note))
                seen.add(model)
    for m in profile.models.values():
        if m.model not in seen:
            seen.add(m.model)
            out.append(_row(profile, book, m.model, m.provider, tiers, f"alias {m.alias}"))
    return out


def _vendor_of(model: str, profile: Profile) -> str:
    from agentwrap.route.tiers import MODEL_CLASSES

    for m in profile.models.values():
        if m.model == model:
            return m.provider
    for vendor, model_classes in MODEL_CLASSES.items():
        if any(c.version(model) is not None for c in model_classes):
            return vendor
    return ""


def _row(
    profile: Profile,
    book: PriceBook,
    model: str,
    vendor: str,
    tiers: dict[str, str],
    note: str = "",
) -> Row:
    from agentwrap.pricing import Price

    found = book.entry(model, vendor or None)
    notes = [n for n in (note, tiers.get(model, "")) if n]
    price = found if isinstance(found, Price) else None
    if found is None:
        price = book.small_call_price(model, vendor or None)
        notes.append("tiered by the call's size: a small call's price")
    elif isinstance(found, str):
        notes.append(found)
    source = f"profile {profile.name}" if book.is_override(model) else "table"
    return Row(model, vendor, price, "; ".join(notes), source)


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"${value.normalize():f}"


def _table_text(found: list[Row]) -> list[str]:
    head = ("model", "vendor", "input", "output", "cache write", "cache read", "source", "")
    body = [
        (
            r.model,
            r.vendor,
            _money(r.price.input) if r.price else "—",
            _money(r.price.output) if r.price else "—",
            _money(r.price.cache_write) if r.price else "—",
            _money(r.price.cache_read) if r.price else "—",
            r.source,
            r.note,
        )
        for r in found
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head) - 1)]
    return [
        (
            "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
            + f"  {row[-1]}"
        ).rstrip()
        for row in [head, *body]
    ]


ModelsArg = typer.Argument(
    None, help="Models to show (default: every model of a tier class, and the profile's)."
)


@app.command("prices")
def prices_cmd(
    models: list[str] | None = ModelsArg,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of text."),
    refresh_table: bool = typer.Option(
        False,
        "--refresh",
        help="Fetch a newer price table with genai-prices' updater and use it for this command "
        f"(from ${PRICES_URL_ENV} when set); offline, keep the bundled table and say so.",
    ),
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="A preset name or a profile path (default: discovery)."
    ),
) -> None:
    """The price table in use, its version and date, and the profile's price overrides.

    USD per million tokens; without MODEL, every model of a tier class and the profile's."""
    from agentwrap.pricing import PriceBook
    from agentwrap.route.profile import ProfileError, load_profile

    try:
        loaded = load_profile(Path.cwd(), profile, os.environ)
    except ProfileError as exc:
        typer.echo(f"agentwrap: {exc}", err=True)
        raise typer.Exit(2) from None
    refreshed = None
    if refresh_table:
        url = os.environ.get(PRICES_URL_ENV) or None
        try:
            refreshed = refresh(url)
        except Exception as exc:  # offline, refused, not JSON: the bundled table stays
            typer.echo(
                f"agentwrap: could not refresh the price table ({type(exc).__name__}: {exc}); "
                "using the bundled table",
                err=True,
            )
    book = PriceBook(loaded.price_overrides(), loaded.price_table)
    info = book.table_info()
    found = rows(loaded, book, list(models or []))
    overrides = loaded.price_overrides()
    if as_json:
        data = {
            "table": {
                "version": info.version,
                "fetched_at": info.fetched_at.isoformat() if info.fetched_at else None,
                "newest_price_date": str(info.newest_price_date)
                if info.newest_price_date
                else None,
                "providers": info.vendors,
                "models": info.models,
                "refreshed": refreshed is not None,
            },
            "profile": loaded.name,
            "overrides": sorted(overrides),
            "models": [r.as_dict() for r in found],
        }
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"price table: {info.describe()}")
    if refreshed:
        typer.echo(refreshed)
    typer.echo(
        f"profile {loaded.name}: "
        + (
            f"overrides the price of {', '.join(sorted(overrides))}"
            if overrides
            else "no price overrides"
        )
    )
    typer.echo("")
    typer.echo("\n".join(_table_text(found)))
