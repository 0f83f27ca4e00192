"""The cells of a server-rendered page's tables, by `data-testid`, with each cell's `title`."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.current: str | None = None
        self.row: list | None = None
        self.cell: list | None = None
        self.title: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-testid" in a:
            self.current = a["data-testid"]
            self.tables[self.current] = []
        elif tag == "tr" and self.current:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell, self.title = [], a.get("title")

    def handle_endtag(self, tag):
        if tag == "table":
            self.current = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(("".join(self.cell).strip(), self.title))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.current:
            self.tables[self.current].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables(html: str) -> dict[str, list[list[tuple[str, str | None]]]]:
    """{testid: rows (header row first) of (text, title) cells}."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def texts(html: str, testid: str) -> list[list[str]]:
    """The body rows' cell texts of one table (its header row left out)."""
    return [[text for text, _ in row] for row in tables(html)[testid][1:]]
