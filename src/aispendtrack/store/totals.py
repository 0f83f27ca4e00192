"""What a set of calls cost: the `Stats` accumulator and the per-run `SessionStats`.

Pure arithmetic over ledger rows (same keys as the `calls` columns, `cost_usd` as
Decimal or str): the report sums the ledger with it, and the metering addon adds each row
it writes to the run's `SessionStats` (O(1), no rows kept), which the session summary shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Context, Decimal, InvalidOperation

from aispendtrack.store.ledger_schema import REFUSED, UPSTREAM, Outcome

# Exact money arithmetic regardless of the thread's decimal context.
CTX = Context(prec=100)
_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def canon(value: Decimal) -> str:
    """Decimal text without exponent or trailing zeros: 0.001000 → "0.001", 1E+2 → "100"."""
    return format(value.normalize(CTX), "f")


def _add_opt(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


@dataclass
class Stats:
    """Counts for a set of calls. Token sums are None while every call's count is unknown."""

    calls: int = 0
    forwarded: int = 0
    errors: int = 0  # upstream_error + aborted
    rejected: int = 0  # 401
    rate_limited: int = 0
    quota_exceeded: int = 0
    budget_exceeded: int = 0  # refused by a budget: 429 over it, 403 for an unpriced model under it
    forbidden: int = 0  # 403: no `calls` permission, or a model outside the key's list
    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: Decimal = Decimal(0)  # priced calls only
    priced_calls: int = 0
    unpriced_calls: int = 0  # cost unknown: model not in the price list
    unmetered_calls: int = 0  # reached the provider, but no usage could be read
    local_calls: int = 0  # $0 because a local provider served them (`[providers.local]`), not by a price

    def add_row(self, row: Mapping) -> None:
        self.calls += 1
        outcome = row.get("outcome")
        if outcome == Outcome.FORWARDED:
            self.forwarded += 1
        elif outcome in UPSTREAM:
            self.errors += 1
        elif outcome == Outcome.REJECTED:
            self.rejected += 1
        elif outcome == Outcome.RATE_LIMITED:
            self.rate_limited += 1
        elif outcome == Outcome.QUOTA_EXCEEDED:
            self.quota_exceeded += 1
        elif outcome == Outcome.BUDGET_EXCEEDED:
            self.budget_exceeded += 1
        elif outcome == Outcome.FORBIDDEN:
            self.forbidden += 1
        for name in _TOKENS:
            v = row.get(name)
            if v is not None:
                setattr(self, name, (getattr(self, name) or 0) + v)
        cost, pricing = row.get("cost_usd"), row.get("pricing")
        if pricing == "local":
            self.local_calls += 1
            return
        if cost is not None:
            try:
                value = cost if isinstance(cost, Decimal) else Decimal(str(cost).strip())
                if not value.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                self.unpriced_calls += 1
                return
            self.priced_calls += 1
            self.cost_usd = CTX.add(self.cost_usd, value)
        elif pricing in ("priced", "unpriced"):
            self.unpriced_calls += 1
        elif pricing == "unmetered" and outcome not in REFUSED:
            self.unmetered_calls += 1

    def merge(self, other: Stats) -> None:
        for name in _COUNT_FIELDS:
            setattr(self, name, _add_opt(getattr(self, name), getattr(other, name)))
        self.cost_usd = CTX.add(self.cost_usd, other.cost_usd)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["cost_usd"] = canon(self.cost_usd)
        return d


_COUNT_FIELDS = tuple(f.name for f in fields(Stats) if f.name != "cost_usd")


class SessionStats:
    """Per-run totals, per model and per key; `add(row)` is O(1) and keeps no rows."""

    def __init__(self) -> None:
        self.totals = Stats()
        self.by_model: dict[str | None, Stats] = {}
        self.by_key: dict[str | None, Stats] = {}
        self.key_hints: dict[str | None, str] = {}
        self.key_names: dict[str | None, str] = {}  # the keys' labels, filled by the proxy (rows carry no name)

    def add(self, row: Mapping) -> None:
        self.totals.add_row(row)
        model, key = row.get("model"), row.get("key_id")
        (self.by_model.get(model) or self.by_model.setdefault(model, Stats())).add_row(row)
        (self.by_key.get(key) or self.by_key.setdefault(key, Stats())).add_row(row)
        if row.get("key_hint") and key not in self.key_hints:
            self.key_hints[key] = row["key_hint"]

    def ranked(self, groups: dict) -> list:
        return sorted(groups.items(), key=lambda kv: (-kv[1].cost_usd, -kv[1].calls, str(kv[0])))
