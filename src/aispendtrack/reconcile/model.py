"""What a reconciliation produces: per UTC day x model, the gateway side against the provider side.

Plain frozen dataclasses; the names are a contract with the scheduler and the dashboard
(see RECON_SPEC): fields may be added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Verdict = Literal["matches", "gateway under", "gateway over", "provider only", "gateway only", "unattributed"]

VERDICTS: tuple[Verdict, ...] = ("matches", "gateway under", "gateway over", "provider only", "gateway only",
                                 "unattributed")


@dataclass(frozen=True, slots=True)
class Side:
    """One side (gateway ledger or provider bill) of a day x model."""

    input_tokens: int = 0  # uncached input (cache writes included: both bill them as input)
    cached_tokens: int = 0  # cache reads
    output_tokens: int = 0
    batch_tokens: int = 0  # part of the above billed at batch rates, where the API says
    requests: int = 0
    usd: Decimal = Decimal(0)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.cached_tokens + self.output_tokens

    def __add__(self, other: Side) -> Side:
        return Side(
            self.input_tokens + other.input_tokens,
            self.cached_tokens + other.cached_tokens,
            self.output_tokens + other.output_tokens,
            self.batch_tokens + other.batch_tokens,
            self.requests + other.requests,
            self.usd + other.usd,
        )


@dataclass(frozen=True, slots=True)
class Row:
    day: date  # UTC day (provider buckets are UTC)
    model: str
    gateway: Side
    provider: Side
    verdict: Verdict
    note: str = ""  # e.g. "metering gap: 1 call unmetered that day"
    account: str | None = None  # None: every account together (no scope mapping configured) or unattributed
    scope: str = ""  # unattributed rows: the provider project / workspace / API key they came from


@dataclass(frozen=True, slots=True)
class Report:
    provider: str  # "openai" | "anthropic"
    since: date
    until: date  # inclusive
    account: str | None  # None: every account the provider scope maps to
    rows: tuple[Row, ...]
    unattributed: tuple[Row, ...]  # provider usage whose project/workspace/key maps to no account
    tolerance_usd: Decimal
    ran_at: str  # ISO UTC
    matched_pct: float  # share of provider dollars on rows with verdict "matches"
    unexplained_usd: Decimal  # sum |gateway - provider| dollars over rows not matching (+ unattributed)
    notes: tuple[str, ...] = ()  # partial days, price caveats, cut-off pagination...


def money(d: Decimal) -> str:
    """Dollars as a plain decimal string without trailing zeros ("0.0009", "0")."""
    return format(d.normalize(), "f") if d else "0"


def side_json(s: Side) -> dict:
    return {"input_tokens": s.input_tokens, "cached_tokens": s.cached_tokens, "output_tokens": s.output_tokens,
            "batch_tokens": s.batch_tokens, "requests": s.requests, "usd": money(s.usd)}


def row_json(r: Row) -> dict:
    diff = Side(r.provider.input_tokens - r.gateway.input_tokens, r.provider.cached_tokens - r.gateway.cached_tokens,
                r.provider.output_tokens - r.gateway.output_tokens, r.provider.batch_tokens - r.gateway.batch_tokens,
                r.provider.requests - r.gateway.requests, r.provider.usd - r.gateway.usd)
    return {"day": r.day.isoformat(), "account": r.account, "model": r.model, "scope": r.scope or None,
            "verdict": r.verdict, "gateway": side_json(r.gateway), "provider": side_json(r.provider),
            "difference": side_json(diff), "note": r.note}


def report_json(rep: Report) -> dict:
    """The report as JSON-ready data (money as decimal strings; `difference` = provider - gateway)."""
    return {"provider": rep.provider, "since": rep.since.isoformat(), "until": rep.until.isoformat(),
            "days": "UTC", "account": rep.account, "ran_at": rep.ran_at, "tolerance_usd": money(rep.tolerance_usd),
            "matched_pct": rep.matched_pct, "unexplained_usd": money(rep.unexplained_usd),
            "rows": [row_json(r) for r in rep.rows], "unattributed": [row_json(r) for r in rep.unattributed],
            "notes": list(rep.notes)}
