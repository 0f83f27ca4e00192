"""The comparison, pure: the provider's bill attributed to accounts, then day x model rows
against the ledger with a verdict each (see `verdict`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aispendtrack.reconcile.bill import Bill, CostLine, UsageLine
from aispendtrack.reconcile.model import Row, Side, Verdict

ALL = "*"  # the account of everything when no scope mapping is configured
Key = tuple[str, date, str]  # (account or unattributed scope label, day, model)


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose a provider line is: an account, or (unattributed) the scope it was reported under."""

    account: str | None
    label: str = ""  # e.g. "project proj_abc", when account is None


@dataclass(frozen=True, slots=True)
class GatewayDay:
    side: Side
    unmetered: int = 0  # calls that reached the provider but whose usage could not be read
    unpriced: int = 0  # calls metered but without a price


def verdict(gateway: Side, provider: Side, tolerance: Decimal) -> Verdict:
    """matches: the same tokens of each kind and dollars within `tolerance`; gateway under:
    the provider billed more than the gateway metered (traffic around the gateway, or a call
    it failed to meter); gateway over: the reverse; provider only / gateway only: one side
    saw nothing at all."""
    if provider == Side():
        return "gateway only"
    if gateway.tokens == 0 and gateway.requests == 0 and gateway.usd == 0:
        return "provider only"
    diff = provider.usd - gateway.usd
    same = (gateway.input_tokens, gateway.cached_tokens, gateway.output_tokens) == \
        (provider.input_tokens, provider.cached_tokens, provider.output_tokens)
    if same and abs(diff) <= tolerance:
        return "matches"
    if provider.tokens != gateway.tokens:
        return "gateway under" if provider.tokens > gateway.tokens else "gateway over"
    return "gateway under" if diff > 0 else "gateway over"


def attribute(bill: Bill, owner_of: Callable[[UsageLine], Owner],
              cost_owner: Callable[[CostLine], Owner]) -> dict[tuple[Owner, date, str], Side]:
    """The bill summed per owner, day and model. A cost line is shared among the usage lines of
    its day, scope and model by their tokens of the kind it pays for (Anthropic's cost report
    has no API key; an OpenAI project's lines all go one way); a line with no such usage goes
    to its scope's owner."""
    out: dict[tuple[Owner, date, str], Side] = defaultdict(Side)
    lines: dict[tuple[date, str | None, str], list[tuple[Owner, Side]]] = defaultdict(list)
    for u in bill.usage:
        owner = owner_of(u)
        out[owner, u.day, u.model] += u.side
        lines[u.day, u.scope, u.model].append((owner, u.side))
    for c in bill.costs:
        shares = _shares(lines.get((c.day, c.scope, c.model), []), c.kind)
        if not shares:
            out[cost_owner(c), c.day, c.model or c.label] += Side(usd=c.usd)
            continue
        total = sum(shares.values())
        given = Decimal(0)
        for i, (owner, weight) in enumerate(shares.items()):
            usd = c.usd - given if i == len(shares) - 1 else c.usd * weight / total
            given += usd
            out[owner, c.day, c.model] += Side(usd=usd)
    return dict(out)


def _shares(lines: list[tuple[Owner, Side]], kind: str) -> dict[Owner, int]:
    weights: dict[Owner, int] = defaultdict(int)
    for owner, side in lines:
        weights[owner] += {"input": side.input_tokens, "cached": side.cached_tokens,
                           "output": side.output_tokens}.get(kind, side.tokens)
    if not any(weights.values()):
        weights = defaultdict(int, {owner: side.tokens or 1 for owner, side in lines})
    return {o: w for o, w in weights.items() if w}


def rows(gateway: dict[Key, GatewayDay], provider: dict[tuple[Owner, date, str], Side], tolerance: Decimal,
         today: date) -> tuple[list[Row], list[Row]]:
    """(rows, unattributed rows), each sorted by day, account and model."""
    billed: dict[Key, Side] = {}
    unattributed = []
    for (owner, day, model), side in provider.items():
        if owner.account is None:
            unattributed.append(Row(day, model, Side(), side, "unattributed", _day_note(day, today, ""),
                                    None, owner.label))
        else:
            billed[owner.account, day, model] = side
    out = []
    for key in sorted(set(billed) | set(gateway), key=lambda k: (k[1], k[0], k[2])):
        account, day, model = key
        g = gateway.get(key, GatewayDay(Side()))
        p = billed.get(key, Side())
        notes = []
        if g.unmetered:
            notes.append(f"metering gap: {g.unmetered} call{'s' * (g.unmetered != 1)} reached the provider "
                         "without usage the gateway could read")
        if g.unpriced:
            notes.append(f"{g.unpriced} call{'s' * (g.unpriced != 1)} without a price in the ledger")
        if p.batch_tokens:
            notes.append(f"{p.batch_tokens} tokens at batch rates (the gateway meters batch results when they pass through it)")
        out.append(Row(day, model, g.side, p, verdict(g.side, p, tolerance), _day_note(day, today, "; ".join(notes)),
                       None if account == ALL else account))
    unattributed.sort(key=lambda r: (r.day, r.scope, r.model))
    return out, unattributed


def _day_note(day: date, today: date, note: str) -> str:
    if day < today:
        return note
    partial = "partial day: the UTC day is not over, the provider's numbers may still grow"
    return f"{note}; {partial}" if note else partial


def totals(rows_: list[Row], unattributed: list[Row]) -> tuple[float, Decimal]:
    """(share in percent of the provider's dollars on matching rows, unexplained dollars)."""
    billed = sum((r.provider.usd for r in rows_ + unattributed), Decimal(0))
    matched = sum((r.provider.usd for r in rows_ if r.verdict == "matches"), Decimal(0))
    unexplained = sum((abs(r.provider.usd - r.gateway.usd) for r in rows_ if r.verdict != "matches"), Decimal(0))
    unexplained += sum((r.provider.usd for r in unattributed), Decimal(0))
    if billed:
        pct = float(matched * 100 / billed)
    else:
        pct = 100.0 if all(r.verdict == "matches" for r in rows_) and not unattributed else 0.0
    return round(pct, 2), unexplained
