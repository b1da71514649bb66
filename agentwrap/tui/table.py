"""The calls table: one line per call, and only the lines on screen are ever rendered.

A Textual line-API widget (a ScrollView whose `render_line` draws one terminal line). The
table holds the ids of the calls it shows, in order, and asks `cells(call_id)` for a row's
cells only when that row comes into view, so a filter change is one pass over the ids and a
session of 100,000 calls opens as fast as it is read. A rendered line is kept until its call
changes or the columns do; the cursor and the stripes are styles laid over it when drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agentwrap.tui.cells import CELL_PADDING, Layout

Cells = tuple["str | Text", ...]
# Rendered lines kept at most (some screens' worth): scrolling through 100,000 calls must not
# keep a line for each.
LINES_KEPT = 2000
# Lines above the rows that never scroll away: the column labels.
HEADER_LINES = 1


class CallTable(ScrollView, can_focus=True):
    """Calls as rows under a fixed header; a cursor row that the detail pane follows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "calltable--header",
        "calltable--cursor",
        "calltable--even-row",
    }

    DEFAULT_CSS = """
    CallTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .calltable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .calltable--header {
                background-tint: $foreground 5%;
            }
        }
        & > .calltable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:dark > .calltable--even-row {
            background: $surface-darken-1 40%;
        }
        & > .calltable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .calltable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=False, repaint=False, init=False)

    class RowHighlighted(Message):
        """The cursor moved onto another call."""

        def __init__(self, call_id: str | None) -> None:
            super().__init__()
            self.call_id = call_id

    class RowSelected(Message):
        """Enter or a click on the cursor's call."""

        def __init__(self, call_id: str) -> None:
            super().__init__()
            self.call_id = call_id

    def __init__(
        self, cells: Callable[[str], Cells], *, id: str | None = None, zebra: bool = True
    ) -> None:
        super().__init__(id=id)
        self._cells_of = cells
        self.zebra = zebra
        self._layout: Layout | None = None
        self._keys: list[str] = []
        # Row by call id, made when first asked for: a session of 100,000 calls opens, and a
        # filter changes, without it.
        self._index: dict[str, int] | None = None
        self._lines: dict[str, Strip] = {}  # rendered lines, by call id
        self._header: Strip | None = None
        self._width = 0

    # -- what it shows ---------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        """How many calls the table shows."""
        return len(self._keys)

    @property
    def rows(self) -> Sequence[str]:
        """The shown calls' ids, top to bottom."""
        return self._keys

    @property
    def columns(self) -> tuple[str, ...]:
        """The shown columns' keys, left to right."""
        return self._layout.keys if self._layout else ()

    def get_row_index(self, call_id: str) -> int:
        """The row a call is on (KeyError when it is not shown)."""
        return self._rows_by_id()[call_id]

    def _rows_by_id(self) -> dict[str, int]:
        if self._index is None:
            self._index = {key: i for i, key in enumerate(self._keys)}
        return self._index

    def get_cell(self, call_id: str, column: str) -> str | Text:
        """One cell of a shown call, as it is drawn."""
        index = self._rows_by_id()[call_id]  # KeyError for a call not shown
        return self._cells_of(self._keys[index])[self.columns.index(column)]

    @property
    def selected(self) -> str | None:
        """The id of the call under the cursor, or None when the table is empty."""
        if not self._keys:
            return None
        return self._keys[min(self.cursor_row, len(self._keys) - 1)]

    def set_layout(self, layout: Layout) -> None:
        """Show these columns: every line renders again when next drawn."""
        self._layout = layout
        widths = layout.widths()
        self._width = sum(widths[key] + CELL_PADDING for key in layout.keys)
        self._lines.clear()
        self._header = None
        self._resize()

    def set_rows(self, call_ids: Iterable[str], keep: str | None, follow: bool) -> None:
        """Show these calls in this order (a filter changed). The cursor stays on `keep` when
        it is among them, else goes to the newest call when `follow`, else stays where it
        is. Nothing is rendered until drawn."""
        self._keys = list(call_ids)
        self._index = None
        self._resize()
        kept = self._find(keep)
        if kept is not None:
            self.move_cursor(row=kept)
        elif follow:
            self.move_cursor(row=len(self._keys) - 1)
        else:
            self.move_cursor(row=self.cursor_row)
        self.refresh()

    def append(self, call_ids: Sequence[str]) -> None:
        """Show more calls at the bottom (one resize and one redraw for the lot)."""
        if not call_ids:
            return
        first = len(self._keys)
        if self._index is not None:
            for offset, call_id in enumerate(call_ids):
                self._index[call_id] = first + offset
        self._keys.extend(call_ids)
        self._resize()
        self.refresh_lines(HEADER_LINES + first, len(call_ids))

    def refresh_row(self, call_id: str) -> None:
        """A call changed: its line renders again when next drawn (now, if on screen)."""
        self._lines.pop(call_id, None)
        index = self._rows_by_id().get(call_id)
        if index is not None:
            self.refresh_line(HEADER_LINES + index)

    def _find(self, call_id: str | None) -> int | None:
        # One scan of the ids (cheaper than making the index for one look-up).
        if call_id is None:
            return None
        if self._index is not None:
            return self._index.get(call_id)
        try:
            return self._keys.index(call_id)
        except ValueError:
            return None

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, len(self._keys) + HEADER_LINES)

    # -- the cursor ------------------------------------------------------------------------
    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        """Put the cursor on a row (clamped to the rows there are) and scroll it into view."""
        row = max(0, min(row, len(self._keys) - 1))
        old = self.cursor_row
        self.cursor_row = row
        if old != row:
            self.refresh_line(HEADER_LINES + old)
            self.refresh_line(HEADER_LINES + row)
        if scroll:
            self._scroll_to_row(row, animate)
        if old != row or not self._keys:
            self.post_message(self.RowHighlighted(self.selected))

    def _scroll_to_row(self, row: int, animate: bool) -> None:
        visible = max(self.scrollable_content_region.height - HEADER_LINES, 1)
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=animate, force=True)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=animate, force=True)

    def _page(self) -> int:
        return max(self.scrollable_content_region.height - HEADER_LINES, 1)

    def action_cursor_up(self) -> None:
        """One row up."""
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        """One row down."""
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        """One screen up."""
        self.move_cursor(row=self.cursor_row - self._page())

    def action_page_down(self) -> None:
        """One screen down."""
        self.move_cursor(row=self.cursor_row + self._page())

    def action_first(self) -> None:
        """The oldest call."""
        self.move_cursor(row=0)

    def action_last(self) -> None:
        """The newest call."""
        self.move_cursor(row=len(self._keys) - 1)

    def action_select(self) -> None:
        """Select the call under the cursor."""
        if self.selected is not None:
            self.post_message(self.RowSelected(self.selected))

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor there; a click on the cursor's row selects it."""
        line = event.y - self.gutter.top
        if line < HEADER_LINES:
            return
        row = round(self.scroll_y) + line - HEADER_LINES
        if row >= len(self._keys):
            return
        if row == self.cursor_row:
            self.action_select()
        else:
            self.move_cursor(row=row, scroll=False)

    # -- drawing ---------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """Draw one line of the widget: the header, or the row scrolled there."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        scroll_x = round(self.scroll_x)
        if y < HEADER_LINES:
            strip = self._header_line().apply_style(base)
            header = self.get_component_rich_style("calltable--header")
            strip = Strip(Segment.apply_style(strip, post_style=header), strip.cell_length)
            return strip.crop_extend(scroll_x, scroll_x + width, base + header)
        row = round(self.scroll_y) + y - HEADER_LINES
        if row >= len(self._keys):
            return Strip.blank(width, base)
        style = base
        if self.zebra and row % 2 == 0:
            style = base + self.get_component_rich_style("calltable--even-row")
        strip = self._row_line(self._keys[row]).apply_style(style)
        if row == self.cursor_row:
            cursor = self.get_component_rich_style("calltable--cursor")
            strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
            style = style + cursor
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _row_line(self, call_id: str) -> Strip:
        line = self._lines.get(call_id)
        if line is None:
            if len(self._lines) >= LINES_KEPT:
                self._lines.clear()
            line = self._lines[call_id] = self._render_cells(self._cells_of(call_id))
        return line

    def _header_line(self) -> Strip:
        if self._header is None:
            layout = self._layout
            labels = tuple(c.label_in(layout.mode) for c in layout.columns) if layout else ()
            self._header = self._render_cells(labels)
        return self._header

    def _render_cells(self, cells: Sequence[str | Text]) -> Strip:
        """One line of cells, each padded by one column on each side and cut to its width."""
        if self._layout is None:
            return Strip([])
        widths = self._layout.widths()
        line = Text(no_wrap=True, end="")
        pad = " " * (CELL_PADDING // 2)
        for key, cell in zip(self._layout.keys, cells, strict=True):
            text = cell if isinstance(cell, Text) else Text(str(cell))
            text = text.copy()
            text.truncate(widths[key], overflow="ellipsis", pad=True)
            line.append(pad)
            line.append_text(text)
            line.append(pad)
        segments = list(line.render(self.app.console))
        return Strip(segments, line.cell_len)
