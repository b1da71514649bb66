"""Tables drawn line by line: the characters and styles Rich's `Table` draws, for less.

Rich lays a table out generically: it measures every cell, then renders each one through a
padding, a wrapper and a line splitter, about 50 µs a cell; on a 100-row `agentwrap log`
that was half of the command's time. Most of our tables' cells are one line that fits its
column, and such a cell is its text, justified and padded to the column's width. `drawn`
draws those cells so, and every other cell (one that wraps or is cut, a header of two
lines) as Rich does; a table whose layout needs more than that (columns squeezed to fit,
row styles, lines between rows) is handed to Rich whole. tests/cli/test_tables.py holds
the output to Rich's, byte for byte, in colour and without.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.table import Column, Table


def drawn(table: Table) -> Drawn:
    """The table as a renderable that prints what Rich would print for it."""
    return Drawn(table)


def _layout_supported(table: Table) -> bool:
    """True when the table uses only what `Drawn` lays out itself."""
    top, _, bottom, _ = table.padding
    return (
        table.width is None
        and table.min_width is None
        and not table.show_lines
        and not table.leading
        and not table.row_styles
        and not table.collapse_padding
        and not top
        and not bottom
        and table.caption is None
        and all(row.style is None and not row.end_section for row in table.rows)
        and all(column.width is None for column in table.columns)
    )


def _as_text(console: Console, cell: object, markup: bool | None) -> Text | None:
    """A cell as the Text Rich makes of it, or None for a cell that is not text."""
    if isinstance(cell, Text):
        return cell
    if isinstance(cell, str):
        if "[" not in cell and ":" not in cell:
            return Text(cell)  # no markup and no emoji code: what render_str would make
        return console.render_str(cell, highlight=False, markup=markup)
    return None


class Drawn:
    """A Rich table, drawn as Rich draws it (see the module's docstring)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        if not table.columns or not _layout_supported(table):
            yield table
            return
        texts = self._texts(console, options)
        if texts is None:
            yield table
            return
        extra = self._extra_width()
        widths = self._widths(texts, options.max_width - extra)
        if widths is None:
            yield table
            return
        render_options = options.update(
            width=sum(widths) + extra, highlight=table.highlight, height=None
        )
        if table.title:
            title = table.title
            style = Style.pick_first(table.title_style, "table.title")
            if isinstance(title, str):
                title = console.render_str(title, style=style, highlight=False)
            yield from console.render(
                title, options=render_options.update(justify=table.title_justify)
            )
        yield from self._lines(console, render_options, widths, texts)

    def _extra_width(self) -> int:
        """The columns the borders take."""
        table = self.table
        if not table.box:
            return 0
        return len(table.columns) - 1 + (2 if table.show_edge else 0)

    def _texts(self, console: Console, options: ConsoleOptions) -> list[list[Text]] | None:
        """Each column's cells as Text, header and footer included; None when one is not text."""
        table = self.table
        columns: list[list[Text]] = []
        for column in table.columns:
            cells: list[object] = list(column.cells)
            if table.show_header:
                cells.insert(0, column.header)
            if table.show_footer:
                cells.append(column.footer)
            texts = [_as_text(console, cell, options.markup) for cell in cells]
            if any(text is None for text in texts):
                return None
            columns.append([text for text in texts if text is not None])
        return columns

    def _padding(self, index: int) -> tuple[int, int]:
        """The spaces left and right of a cell in column `index`."""
        table = self.table
        _, right, _, left = table.padding
        if not table.pad_edge:
            if index == 0:
                left = 0
            if index == len(table.columns) - 1:
                right = 0
        return left, right

    def _padded(self, text: Text, index: int) -> Text | Padding:
        """A cell as Rich's table hands it to the console: inside its padding, if it has any."""
        if not any(self.table.padding):
            return text
        left, right = self._padding(index)
        return Padding(text, (0, right, 0, left))

    def _widths(self, texts: list[list[Text]], max_width: int) -> list[int] | None:
        """Each column's width, padding included, as Rich sets it; None when the columns
        would have to be squeezed to fit (Rich's own layout does that)."""
        from rich._ratio import ratio_distribute  # Rich's own share-out of spare width

        table = self.table
        if max_width < 1:
            return None
        maxima: list[int] = []
        for index, (column, cells) in enumerate(zip(table.columns, texts, strict=True)):
            pad = sum(self._padding(index))
            widest = max(
                (self._measured(text, pad, max_width) for text in cells), default=max_width
            )
            widest = min(widest, max_width)
            if column.min_width is not None:
                widest = max(widest, column.min_width + pad)
            if column.max_width is not None:
                widest = min(widest, column.max_width + pad)
            maxima.append(widest)
        widths = [widest or 1 for widest in maxima]
        if table.expand:
            flexible = [column.ratio or 0 for column in table.columns if column.flexible]
            if any(flexible):
                fixed = [
                    0 if column.flexible else widest
                    for column, widest in zip(table.columns, maxima, strict=True)
                ]
                minimums = [
                    (column.width or 1) + sum(self._padding(index))
                    for index, column in enumerate(table.columns)
                    if column.flexible
                ]
                shares = iter(ratio_distribute(max_width - sum(fixed), flexible, minimums))
                widths = [
                    fixed[index] + next(shares) if column.flexible else widths[index]
                    for index, column in enumerate(table.columns)
                ]
        total = sum(widths)
        if total > max_width:
            return None
        if total < max_width and table.expand:
            extra = ratio_distribute(max_width - total, widths)
            widths = [width + more for width, more in zip(widths, extra, strict=True)]
        return widths

    def _measured(self, text: Text, pad: int, max_width: int) -> int:
        """The widest a cell would be drawn, padding included, as Rich measures it."""
        if max_width - pad < 1:
            return max_width
        lines = text.plain.splitlines()
        widest = min(max(cell_len(line) for line in lines) if lines else 0, max_width)
        return min(widest + pad, max_width)

    def _lines(
        self,
        console: Console,
        options: ConsoleOptions,
        widths: list[int],
        texts: list[list[Text]],
    ) -> Iterator[Segment]:
        table = self.table
        box = (
            table.box.substitute(
                options, safe=console.safe_box if table.safe_box is None else table.safe_box
            )
            if table.box
            else None
        )
        if box and not table.show_header:
            box = box.get_plain_headed_box()
        border = console.get_style(table.style or "") + console.get_style(table.border_style or "")
        new_line = Segment.line()
        edge = table.show_edge
        if box and edge:
            yield Segment(box.get_top(widths), border)
            yield new_line
        rows = list(zip(*texts, strict=True))
        header_style = console.get_style(table.header_style or "")
        footer_style = console.get_style(table.footer_style or "")
        for index, row in enumerate(rows):
            first, last = index == 0, index == len(rows) - 1
            header = first and table.show_header
            footer = last and table.show_footer
            if header:
                styles = [header_style + console.get_style(c.header_style) for c in table.columns]
            elif footer:
                styles = [footer_style + console.get_style(c.footer_style) for c in table.columns]
            else:
                styles = [console.get_style(c.style or "") for c in table.columns]
            cells = self._row(console, options, widths, row, styles, header, footer)
            if box and footer:
                yield Segment(box.get_row(widths, "foot", edge=edge), border)
                yield new_line
            if box:
                left, right, divider = (
                    (box.head_left, box.head_right, box.head_vertical)
                    if first
                    else (box.foot_left, box.foot_right, box.foot_vertical)
                    if last
                    else (box.mid_left, box.mid_right, box.mid_vertical)
                )
            for line_no in range(len(cells[0])):
                if box and edge:
                    yield Segment(left, border)
                for column_no, cell in enumerate(cells):
                    yield from cell[line_no]
                    if box and column_no < len(cells) - 1:
                        yield Segment(divider, border)
                if box and edge:
                    yield Segment(right, border)
                yield new_line
            if box and header:
                yield Segment(box.get_row(widths, "head", edge=edge), border)
                yield new_line
        if box and edge:
            yield Segment(box.get_bottom(widths), border)
            yield new_line

    def _row(
        self,
        console: Console,
        options: ConsoleOptions,
        widths: list[int],
        row: Sequence[Text],
        styles: list[Style],
        header: bool,
        footer: bool,
    ) -> list[list[list[Segment]]]:
        """A row's cells, each as its lines of segments, all as tall as the tallest."""
        cells: list[list[list[Segment]]] = []
        for index, (column, width, text, style) in enumerate(
            zip(self.table.columns, widths, row, styles, strict=True)
        ):
            line = self._one_line(console, column, index, width, text, style)
            if line is not None:
                cells.append([line])
                continue
            cells.append(
                console.render_lines(
                    self._padded(text, index),
                    options.update(
                        width=width,
                        justify=column.justify,
                        no_wrap=column.no_wrap,
                        overflow=column.overflow,
                        height=None,
                        highlight=column.highlight,
                    ),
                    style=style,
                )
            )
        if all(len(cell) == 1 for cell in cells):
            return cells
        height = max(len(cell) for cell in cells)  # aligned to this, then made at least 1
        aligned: list[list[list[Segment]]] = []
        for column, width, cell, style in zip(
            self.table.columns, widths, cells, styles, strict=True
        ):
            vertical = "bottom" if header else "top" if footer else column.vertical
            align = {
                "top": Segment.align_top,
                "middle": Segment.align_middle,
                "bottom": Segment.align_bottom,
            }[vertical]
            aligned.append(
                Segment.set_shape(align(cell, width, height, style), width, max(height, 1))
            )
        return aligned

    def _one_line(
        self, console: Console, column: Column, index: int, width: int, text: Text, style: Style
    ) -> list[Segment] | None:
        """A cell that is one line fitting its column, as Rich renders it: its text justified
        to the column's width between the padding. None for any other cell."""
        left, right = self._padding(index)
        room = width - left - right
        plain = text.plain
        if (
            room < 1
            or "\n" in plain
            or "\t" in plain
            or text.justify is not None
            or text.overflow is not None
            or text.no_wrap is not None
            or text.end != "\n"
            or column.justify not in ("left", "right")
            or column.overflow == "ignore"
            or column.highlight
            or cell_len(plain) > room
        ):
            return None
        if not text.spans and not text.style and not style:
            if column.justify == "right":
                plain = plain.rstrip()
                body = " " * (room - cell_len(plain)) + plain
            else:
                body = plain + " " * (room - cell_len(plain))
            return [Segment(" " * left + body + " " * right)]
        line = text.copy()
        if column.justify == "right":
            line.rstrip()
            line.pad_left(room - cell_len(line.plain))
        else:
            line.truncate(room, pad=True)
        segments: list[Segment] = []
        if left:
            segments.append(Segment(" " * left, style or None))
        rendered: Iterable[Segment] = Text("\n").join([line]).render(console)
        segments.extend(Segment.apply_style(rendered, style) if style else rendered)
        if right:
            segments.append(Segment(" " * right, style or None))
        return segments
