"""How every view writes numbers and names: models, money, token counts and durations.

One home for display formatting, shared by `agentwrap log`, `agentwrap report`, the
end-of-session summary, the panel and the statusline, so the same call reads the same
everywhere. A leaf module (only the standard library), cheap enough for the statusline.

Rules:
- a model is shown by its short id (`claude-sonnet-4-5`, no date suffix); the full id stays
  in a call's details and in every `--json`;
- unknown money is `unpriced` (a sum over some unpriced calls names them), never $0;
- a missing value is an em dash.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from decimal import Decimal

MISSING = "—"
UNPRICED = "unpriced"
UNKNOWN_MODEL = "?"

_DATE_SUFFIX = re.compile(r"-(20\d{6}|\d{4}-\d{2}-\d{2})$")


class Sums(Protocol):
    """The money sums of a set of calls (a `Tally`) that the formatters read."""

    cost_usd: float
    priced_calls: int
    unpriced_calls: int
    baseline_usd: float
    baseline_calls: int
    would_calls: int
    would_cost_usd: float
    would_actual_usd: float

    @property
    def saved_usd(self) -> float | None: ...

    @property
    def saved_pct(self) -> float | None: ...

    @property
    def would_save_pct(self) -> float | None: ...


class PerMillion(Protocol):
    """A price per million tokens (a `pricing.Price`), as the formatters read it."""

    @property
    def input(self) -> Decimal: ...

    @property
    def output(self) -> Decimal: ...

    @property
    def cache_write(self) -> Decimal | None: ...

    @property
    def cache_read(self) -> Decimal | None: ...


# -- models ----------------------------------------------------------------------------------


def model(name: str | None) -> str:
    """A model's display name: its id without a date suffix, so claude-x-4-5-20250929 reads
    claude-x-4-5; an unknown model is `?`."""
    if not name:
        return UNKNOWN_MODEL
    return _DATE_SUFFIX.sub("", name)


def route_names(requested: str, used: str) -> tuple[str, str]:
    """Drop a vendor prefix both names share (claude-opus-4-1, claude-haiku-4-5 → opus-4-1,
    haiku-4-5)."""
    head_r, _, tail_r = requested.partition("-")
    head_u, _, tail_u = used.partition("-")
    if head_r == head_u and tail_r and tail_u:
        return tail_r, tail_u
    return requested, used


def route(requested: str | None, used: str | None) -> tuple[str, str]:
    """A rerouted call's two models for an `a → b` display: short ids, shared prefix dropped."""
    return route_names(model(requested), model(used))


# -- money -----------------------------------------------------------------------------------


def usd(value: float | None, unpriced: str = UNPRICED) -> str:
    """Dollars with precision that suits the amount (two significant digits below a hundredth
    of a cent); None is `unpriced`, never $0.00."""
    if value is None:
        return unpriced
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v == 0:
        return "$0.00"
    if v < 0.0001:
        # Two significant digits: a tiny cost is never shown as $0.0000.
        digits = min(12, 1 - math.floor(math.log10(v)))
        return f"{sign}${v:.{digits}f}"
    if v < 0.01:
        return f"{sign}${v:.4f}"
    if v < 1000:
        return f"{sign}${v:.2f}"
    return f"{sign}${v:,.0f}"


def unpriced_note(calls: int) -> str:
    """What a priced sum leaves out: '+3 unpriced'."""
    return f"+{calls} {UNPRICED}"


def cost(sums: Sums) -> tuple[str, str]:
    """A sum of call costs as (amount, note): ('$1.20', ''), ('$1.20', '+2 unpriced') when
    some calls have no price, ('unpriced', '') when none has, ('—', '') with no finished call."""
    if sums.priced_calls:
        return usd(sums.cost_usd), unpriced_note(sums.unpriced_calls) if sums.unpriced_calls else ""
    return (UNPRICED if sums.unpriced_calls else MISSING), ""


def baseline(sums: Sums) -> str:
    """The baseline cost of a set of calls, or an em dash when no call's baseline is known."""
    return usd(sums.baseline_usd) if sums.baseline_calls else MISSING


def saved(sums: Sums) -> str:
    """'$1.20 (42%)', '-$0.10 (-5%)', or an em dash when no call can be compared."""
    amount, pct = sums.saved_usd, sums.saved_pct
    if amount is None:
        return MISSING
    return usd(amount) if pct is None else f"{usd(amount)} ({pct:.0f}%)"


def saving(sums: Sums) -> str:
    """'saved 42% ($1.20)', 'cost +5% ($0.10)' or 'saving n/a'."""
    amount, pct = sums.saved_usd, sums.saved_pct
    if amount is None or pct is None:
        return "saving n/a"
    if amount >= 0:
        return f"saved {pct:.0f}% ({usd(amount)})"
    return f"cost +{-pct:.0f}% ({usd(-amount)})"


def would(sums: Sums) -> str | None:
    """Observe mode: 'routing would cost $0.12 instead of $0.40 (-70%)', or None."""
    pct = sums.would_save_pct
    if pct is None:
        return None
    return (
        f"routing would cost {usd(sums.would_cost_usd)} instead of "
        f"{usd(sums.would_actual_usd)} ({-pct:+.0f}%)"
    )


def price(per_million: PerMillion) -> str:
    """A price as people write it: "input $3/MTok, output $15/MTok" (and cache prices if set)."""

    def money(value: Decimal) -> str:
        return f"${value.normalize():f}"

    out = f"input {money(per_million.input)}/MTok, output {money(per_million.output)}/MTok"
    if per_million.cache_write is not None:
        out += f", cache write {money(per_million.cache_write)}/MTok"
    if per_million.cache_read is not None:
        out += f", cache read {money(per_million.cache_read)}/MTok"
    return out


_MARKS = "*†‡§¶"


def mark(number: int) -> str:
    """The footnote mark for the n-th note (from 1): *, †, ‡, §, ¶, then [6], [7]..."""
    return _MARKS[number - 1] if number <= len(_MARKS) else f"[{number}]"


# -- counts and time -------------------------------------------------------------------------


def tokens(value: int | None) -> str:
    """Token counts, compact: 950, 12.3k, 1.2M; None as an em dash."""
    if value is None:
        return MISSING
    v = int(value)
    if v < 1000:
        return str(v)
    if v < 100_000:
        return f"{v / 1000:.1f}k"
    if v < 1_000_000:
        return f"{v // 1000}k"
    return f"{v / 1_000_000:.1f}M"


def token_split(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_write: int | None = None,
    cache_read: int | None = None,
) -> str:
    """Tokens by kind, as the panel and the demo write them: 'in 0 · out 48 · cache 97w/5.1kr'.
    `in` is the uncached input alone, as in log and report; the cache only when there is any."""
    out = f"in {tokens(input_tokens or 0)} · out {tokens(output_tokens or 0)}"
    if cache_write or cache_read:
        out += f" · cache {tokens(cache_write or 0)}w/{tokens(cache_read or 0)}r"
    return out


def count(value: int | None) -> str:
    """An exact count with thousands separators (1,234,567); None as an em dash."""
    return MISSING if value is None else f"{int(value):,}"


def rate(fraction: float) -> str:
    """A rate as every view writes it, from a fraction: 0%, 0.4%, 3.1%, 10%, 28.6%."""
    value = 100 * fraction
    if value == 0:
        return "0%"
    if value >= 1 and abs(value - round(value)) < 0.05:
        return f"{round(value)}%"
    return f"{value:.1f}%"


def ms(value: float | None) -> str:
    """Call latencies: 850ms, 2.4s, 1m05s; None as an em dash."""
    if value is None:
        return MISSING
    v = float(value)
    if v < 1000:
        return f"{v:.0f}ms"
    if v < 60_000:
        return f"{v / 1000:.1f}s"
    return duration(v / 1000)


def duration(seconds: float | None) -> str:
    """Wall-clock spans: 42s, 3m07s, 1h02m; None as an em dash."""
    if seconds is None:
        return MISSING
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
