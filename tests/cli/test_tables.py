"""`tables.drawn` prints what Rich's own Table prints, byte for byte, in colour and without:
Rich is the judge, on tables shaped like the commands' and on tables drawn at random."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentwrap.cli.tables import drawn

BOXES = [None, box.HEAVY_HEAD, box.SIMPLE_HEAD, box.ROUNDED]


def printed(renderable: Any, width: int, colour: bool) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        force_terminal=colour,
        color_system="truecolor" if colour else None,
        legacy_windows=False,
    )
    console.print(renderable)
    return out.getvalue()


def same_as_rich(table: Table, width: int) -> None:
    for colour in (False, True):
        assert printed(drawn(table), width, colour) == printed(table, width, colour), (
            vars(table),
            [vars(c) for c in table.columns],
        )


def log_like(rows: int, long_reason: bool) -> Table:
    table = Table(title="session s · claude · 3 calls", box=box.HEAVY_HEAD)
    table.add_column("#", justify="right", no_wrap=True, min_width=3)
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1, min_width=24, overflow="ellipsis")
    for i in range(rows):
        reason = "rule 'requested-after-failure' (step implement) " * (3 if long_reason else 0)
        table.add_row(
            str(i),
            "opus-4-1 → sonnet-4-5" if i % 3 else "claude-haiku-4-5 → gemini-3-flash-preview",
            f"${i / 7:.2f}",
            reason + f"routing.step {i}: [x] 10:20:30",
        )
    return table


def report_like(compact: bool, key_width: int) -> Table:
    table = Table(
        show_footer=True, box=None if compact else box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False
    )
    table.add_column("day", footer="total", no_wrap=True, overflow="ellipsis")
    table.add_column("calls", justify="right", footer="12", no_wrap=True)
    table.add_column("cost", justify="right", footer=Text("$1.20 +2 unpriced", style="yellow"))
    table.add_column("would\ncost", justify="right", footer=Text("$3.00", style="cyan"))
    for i in range(5):
        cost = Text(f"${i}.00", style="green")
        if i % 2:
            cost.append(" +1 unpriced", style="yellow")
        table.add_row(
            f"2025-11-{20 + i}-and-a-long-key" if i == 3 else f"2025-11-{20 + i}",
            str(i),
            cost,
            Text("—", style="dim"),
        )
    table.columns[0].max_width = key_width
    for column in table.columns[1:]:
        column.min_width = 16
    return table


def test_the_commands_tables_are_drawn_as_rich_draws_them() -> None:
    for width in (40, 80, 120, 250):
        for expand in (False, True):
            table = log_like(12, long_reason=False)
            table.expand = expand
            same_as_rich(table, width)
            wrapped = log_like(4, long_reason=True)
            wrapped.expand = expand
            same_as_rich(wrapped, width)
        for compact in (True, False):
            for key in (6, 10, 40):
                same_as_rich(report_like(compact, key), width)


def test_a_table_the_drawing_does_not_lay_out_is_left_to_rich() -> None:
    squeezed = log_like(3, long_reason=True)  # at 30 columns its columns must be squeezed
    assert printed(drawn(squeezed), 30, False) == printed(squeezed, 30, False)
    lined = log_like(3, long_reason=False)
    lined.show_lines = True
    same_as_rich(lined, 100)
    styled = log_like(3, long_reason=False)
    styled.row_styles = ["dim", ""]
    same_as_rich(styled, 100)


words = st.text(alphabet="ab :/→—é漢", min_size=0, max_size=12)
cells = st.one_of(
    words,
    st.builds(
        lambda plain, style: Text(plain, style=style),
        words,
        st.sampled_from(["", "bold", "green", "dim", "yellow on blue"]),
    ),
    st.builds(
        lambda a, b: Text.assemble(a, (b, "bold red")),
        words,
        words,
    ),
    st.builds(lambda a, b: f"{a}\n{b}", words, words),
    st.just("[dim]dimmed[/dim] text"),
    st.just(":thumbs_up: 10:20"),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[Table, int]:
    n_columns = draw(st.integers(1, 5))
    table = Table(
        title=draw(st.sampled_from([None, "a title", "[bold]marked[/bold] up"])),
        box=draw(st.sampled_from(BOXES)),
        show_header=draw(st.booleans()),
        show_footer=draw(st.booleans()),
        show_edge=draw(st.booleans()),
        pad_edge=draw(st.booleans()),
        expand=draw(st.booleans()),
        padding=draw(st.sampled_from([(0, 1), (0, 0), (0, 2), (0, 1, 0, 0)])),
        header_style=draw(st.sampled_from([None, "bold", "italic magenta"])),
    )
    for _ in range(n_columns):
        table.add_column(
            draw(words),
            footer=draw(cells),
            justify=draw(st.sampled_from(["left", "right", "center"])),
            no_wrap=draw(st.booleans()),
            overflow=draw(st.sampled_from(["ellipsis", "fold", "crop"])),
            min_width=draw(st.sampled_from([None, 0, 3, 12])),
            max_width=draw(st.sampled_from([None, 4, 20])),
            ratio=draw(st.sampled_from([None, None, 1, 2])),
            vertical=draw(st.sampled_from(["top", "middle", "bottom"])),
            style=draw(st.sampled_from([None, None, "cyan"])),
        )
    for _ in range(draw(st.integers(0, 6))):
        table.add_row(*(draw(cells) for _ in range(n_columns)))
    return table, draw(st.sampled_from([10, 24, 60, 100, 200]))


@settings(max_examples=300, deadline=None)
@given(tables())
def test_any_table_is_drawn_as_rich_draws_it(case: tuple[Table, int]) -> None:
    table, width = case
    same_as_rich(table, width)
