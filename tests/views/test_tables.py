"""`tables.fitted`: the full table, else the first compact layout that fits, else blocks —
never a word cut; columns that may wrap give up width first, down to their widest word."""

import io

import pytest
from rich.console import Console

from aispendtrack.views.tables import fits, fitted

FULL = (["name", "state", "note"], [["build-server-eu-west", "active", "rotated after the laptop was lost"]])
COMPACT = (["name / state"], [["build-server-eu-west\nactive"]])


def show(renderable, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


@pytest.mark.parametrize("width, compact, layout", [
    (80, [COMPACT], "full"), (40, [COMPACT], "full, note wrapped"), (26, [COMPACT], "compact"), (30, [], "blocks"),
])  # fmt: skip
def test_the_first_layout_that_fits(width, compact, layout):
    text = show(fitted(*FULL, wrap={"note"}, compact=compact), width)
    assert max(len(line) for line in text.splitlines()) <= width, text
    first = text.splitlines()[0]
    assert {"full": "note" in first and "rotated after the laptop was lost" in text,
            "full, note wrapped": "note" in first and "rotated after the laptop was lost" not in text,
            "compact": "name / state" in first,
            "blocks": first.startswith("build-server-eu-west")}[layout], text
    assert "build-server-eu-west" in text  # never cut
    for word in ("rotated", "laptop", "lost") if layout != "compact" else ():
        assert word in text


def test_fits_counts_the_widest_word_of_a_wrapping_column_and_the_gaps():
    layout = (["a", "b"], [["xxxx", "yy yyyyy"]])
    assert fits(layout, 4 + 2 + 8) and not fits(layout, 4 + 2 + 4)
    assert fits(layout, 4 + 2 + 5, wrap={"b"}) and not fits(layout, 4 + 2 + 4, wrap={"b"})
