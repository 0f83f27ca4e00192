"""Cells shared by the bench's tables: numbers, ranges, aligned columns."""

from __future__ import annotations

from rich.table import Table


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def fmt_range(r: tuple[float, float] | None, spec: str = ".1f") -> str:
    return "–" if r is None else f"{format(r[0], spec)}–{format(r[1], spec)}"


def _columns(t: Table, names: list[str], left: tuple[str, ...]) -> None:
    for col in names:
        t.add_column(col, justify="left" if col in left else "right")
