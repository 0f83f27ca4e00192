"""Tables that fit the width they are printed at: the full layout, else the first compact
one whose every name and number fits whole, else one block per row (`fitted`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text


class AtWidth:
    """A renderable built when printed, for the width it is printed at (a pipe, a narrow
    terminal, a `Live` screen), so a frame can pick its layout without knowing the console."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: Any):
        yield self.build(options.max_width)


def _width(cell: str | Text, wrap: bool = False) -> int:
    """Cells of the widest line, or of the widest word if the column may wrap at spaces."""
    parts = str(cell).split() if wrap else str(cell).split("\n")
    return max((cell_len(p) for p in parts), default=0)


Layout = tuple[list[str], list[list[str | Text]]]  # column names, rows of cells


def _widths(layout: Layout, width: int, wrap: frozenset[str] | set[str]) -> list[int] | None:
    """Each column's width in a table of `layout` within `width` cells, every cell whole:
    the widest cell, less for `wrap` columns (down to their widest word) as far as needed,
    the widest first. None if even that does not fit."""
    columns, rows = layout
    most = [max(_width(c) for c in [name, *(row[i] for row in rows)]) for i, name in enumerate(columns)]
    least = [max(_width(c, name in wrap) for c in [name, *(row[i] for row in rows)]) for i, name in enumerate(columns)]
    excess = sum(most) + 2 * (len(columns) - 1) - width  # cells + two-cell gaps (padding collapsed)
    widths = list(most)
    while excess > 0:
        slack = [(w - lo, i) for i, (w, lo) in enumerate(zip(widths, least)) if w > lo]
        if not slack:
            return None
        i = max(slack)[1]
        widths[i] -= 1
        excess -= 1
    return widths


def fits(layout: Layout, width: int, wrap: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether a table of `layout` fits `width` cells with no cell cut: its widest cells (the
    widest words in `wrap` columns) plus the gaps between columns."""
    return _widths(layout, width, wrap) is not None


def fitted(columns: list[str], rows: list[list[str | Text]], console: Console | None = None, *,
           title: str | None = None, right: frozenset[str] | set[str] = frozenset(),
           wrap: frozenset[str] | set[str] = frozenset(), compact: list[Layout] | tuple[Layout, ...] = ()) -> RenderableType:
    """A table when every cell fits the width it is printed at unbroken; else the first of the
    `compact` layouts that fits (fewer or merged columns, shorter headers); otherwise one
    block per row of the full layout (`column  value` lines), so no name or number is cut
    mid-token. Columns named in `right` are right-aligned; those in `wrap` may wrap at
    spaces (never inside a word); a header or a merged cell may hold a line break."""

    def table(layout: Layout, widths: list[int]) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  show_edge=False, collapse_padding=True)
        for name, w in zip(layout[0], widths):  # widths set here: rich's own squeeze may cut a word
            t.add_column(name, no_wrap=name not in wrap, justify="right" if name in right else "left", width=w)
        for row in layout[1]:
            t.add_row(*(c if isinstance(c, Text) else Text(c) for c in row))  # cells are cleaned, not markup
        return t

    def build(width: int) -> RenderableType:
        for layout in ((columns, rows), *compact):
            if (widths := _widths(layout, width, wrap)) is not None:
                return table(layout, widths)
        names = [name.replace("-\n", "").replace("\n", " ") for name in columns[1:]]
        pad = max((len(n) for n in names), default=0) + 2
        blocks: list[RenderableType] = [Text(title, style="italic")] if title else []
        for row in rows:
            grid = Table.grid()  # a long value wraps between its words, in its own column
            grid.add_column(no_wrap=True, width=pad + 2)
            grid.add_column()
            for name, value in zip(names, row[1:]):
                if str(value):
                    grid.add_row(Text(f"  {name}"), value if isinstance(value, Text) else Text(value))  # not markup
            blocks.append(Group(Text(str(row[0]), style="bold"), grid))
        return Group(*blocks)

    return AtWidth(build)
