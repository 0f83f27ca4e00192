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

VERDICTS: tuple[Verdict, ...] = ("matches", "gateway under", "gateway over", "provider only", "gateway only", "unattributed")


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
