"""The provider's bill as both admin APIs are read into it: token usage and dollar cost lines
per UTC day, model and provider scope (OpenAI project; Anthropic workspace and API key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from aispendtrack.reconcile.model import Side

KINDS = ("input", "cached", "output")  # what a cost line pays for ("" = something else: tools, search)


@dataclass(frozen=True, slots=True)
class UsageLine:
    day: date
    model: str
    scope: str | None  # OpenAI project id / Anthropic workspace id (None: the default workspace)
    api_key: str | None  # Anthropic API key id, where reported
    side: Side  # tokens and requests; usd stays 0 (dollars come from cost lines)


@dataclass(frozen=True, slots=True)
class CostLine:
    day: date
    model: str  # "" when the line is not a model's (web search, code execution)
    scope: str | None
    kind: str  # one of KINDS, or ""
    usd: Decimal
    label: str = ""  # the provider's line item / description


@dataclass
class Bill:
    usage: list[UsageLine] = field(default_factory=list)
    costs: list[CostLine] = field(default_factory=list)


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


def period(since: date, until: date) -> tuple[datetime, datetime]:
    """[since 00:00 UTC, the day after until 00:00 UTC)."""
    return day_start(since), day_start(until + timedelta(days=1))


def count(value: object) -> int:
    """A token count as the APIs give it (null: 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
