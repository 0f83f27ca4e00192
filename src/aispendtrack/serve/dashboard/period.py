"""The dashboard's choice of what to show, read from the URL so a view can be shared:
`period` or `from`/`to` (`views.daterange`), `tag=NAME=VALUE` (only those calls) and
`by=tag:NAME` (a breakdown by that tag's values). The picker's links and the export and
live URLs carry the same parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from starlette.requests import Request

from aispendtrack.views.daterange import PRESETS, DayRange, parse_range, parse_tag, parse_tag_by, preset

PARAMS = ("period", "from", "to", "tag", "by")


@dataclass(frozen=True)
class Choice:
    period: DayRange
    tag: tuple[str, str] | None = None
    tag_by: str | None = None  # "tag:NAME"

    def query(self, **change: str | None) -> str:
        """The URL query naming this choice (`change` replaces parts; None drops one)."""
        span = self.period.query()
        if "period" in change or "from" in change:  # a new range replaces the old, either form
            span = {name: change.pop(name) for name in ("period", "from", "to") if name in change}
        q = {**span, "tag": self.tag and f"{self.tag[0]}={self.tag[1]}", "by": self.tag_by, **change}
        return urlencode({k: v for k, v in q.items() if v})


def default(today: date) -> Choice:
    return Choice(preset("month", today))


def choice(request: Request, today: date) -> Choice:
    """What the URL asks for; `ValueError` naming the parameter when it cannot be read."""
    q = request.query_params
    for name in PARAMS:
        if len(q.getlist(name)) > 1:
            raise ValueError(f"{name}: give it once")
    return Choice(parse_range(today, q.get("period"), q.get("from"), q.get("to")), parse_tag(q.get("tag")),
                  parse_tag_by(q.get("by")))


def picker(c: Choice) -> dict:
    """The template's values for the period picker and the tag controls."""
    return {
        "presets": [{"name": name, "label": label, "href": "/?" + c.query(period=name),
                     "current": c.period.preset == name} for name, label in PRESETS.items()],
        "from": c.period.first.isoformat(), "to": c.period.last.isoformat(),
        "custom": c.period.preset is None,
        "tag": "" if c.tag is None else f"{c.tag[0]}={c.tag[1]}",
        "tag_by": "" if c.tag_by is None else c.tag_by[4:],
        "query": c.query(),
        "clear_tag": "/?" + c.query(tag=None),
    }


def export_name(account: str, c: Choice, fmt: str) -> str:
    p = c.period
    span = f"{p.first:%Y-%m}" if p.preset == "month" else f"{p.first.isoformat()}_{p.last.isoformat()}"
    return f"aispendtrack-{account}-{span}.{fmt}"
