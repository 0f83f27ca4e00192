"""The comparison alone: verdicts, attribution of the bill to accounts, row notes, totals."""

from datetime import date
from decimal import Decimal as D

import pytest

from aispendtrack.reconcile.bill import Bill, CostLine, UsageLine
from aispendtrack.reconcile.compare import ALL, GatewayDay, Owner, attribute, rows, totals, verdict
from aispendtrack.reconcile.model import Side

DAY, TODAY = date(2026, 11, 3), date(2026, 11, 10)
TOL = D("0.01")
BASE = Side(800, 400, 300, 0, 2, D("0.50"))


@pytest.mark.parametrize("gateway, provider, expected", [
    (BASE, BASE, "matches"),
    (BASE, Side(800, 400, 300, 0, 2, D("0.509")), "matches"),  # within the tolerance
    (BASE, Side(800, 400, 300, 0, 2, D("0.52")), "gateway under"),  # dollars only
    (BASE, Side(800, 400, 300, 0, 2, D("0.48")), "gateway over"),
    (BASE, Side(900, 400, 300, 0, 3, D("0.55")), "gateway under"),  # a call around the gateway
    (BASE, Side(801, 400, 300, 0, 2, D("0.50")), "gateway under"),  # one token is not a match
    (BASE, Side(700, 400, 300, 0, 2, D("0.45")), "gateway over"),
    (BASE, Side(700, 500, 300, 0, 2, D("0.60")), "gateway under"),  # same total, split differently: by dollars
    (Side(), BASE, "provider only"),
    (Side(requests=1), BASE, "gateway under"),  # a call reached the provider unmetered
    (BASE, Side(), "gateway only"),
])  # fmt: skip
def test_verdicts(gateway, provider, expected):
    assert verdict(gateway, provider, TOL) == expected


def _owner(mapping):
    def owner(line):
        name = mapping.get(line.api_key) or mapping.get(line.scope)
        return Owner(name) if name else Owner(None, f"scope {line.scope}")
    return owner


def test_costs_follow_usage_and_are_shared_by_tokens_of_their_kind():
    bill = Bill(
        usage=[UsageLine(DAY, "m", "ws", "k1", Side(100, 0, 10)), UsageLine(DAY, "m", "ws", "k2", Side(300, 0, 30)),
               UsageLine(DAY, "m", "other", None, Side(5, 0, 0))],
        costs=[CostLine(DAY, "m", "ws", "input", D("4")), CostLine(DAY, "m", "ws", "output", D("0.40")),
               CostLine(DAY, "", "ws", "", D("1"), "web search"), CostLine(DAY, "m", "other", "input", D("0.1"))])
    owner = _owner({"k1": "acme", "k2": "umbrella", "ws": "acme"})
    got = attribute(bill, owner, lambda c: owner(UsageLine(c.day, c.model, c.scope, None, Side())))
    assert got[Owner("acme"), DAY, "m"] == Side(100, 0, 10, usd=D("1.1"))
    assert got[Owner("umbrella"), DAY, "m"] == Side(300, 0, 30, usd=D("3.3"))
    assert got[Owner("acme"), DAY, "web search"] == Side(usd=D("1"))  # no usage line shares it: its scope's
    assert got[Owner(None, "scope other"), DAY, "m"] == Side(5, usd=D("0.1"))


def test_a_shared_cost_loses_no_cent():
    bill = Bill(usage=[UsageLine(DAY, "m", "ws", k, Side(1)) for k in ("a", "b", "c")],
                costs=[CostLine(DAY, "m", "ws", "input", D("1"))])
    got = attribute(bill, lambda u: Owner(u.api_key), lambda c: Owner(None, "x"))
    assert sum(s.usd for s in got.values()) == D("1")


def test_rows_notes_and_unattributed():
    gateway = {("acme", DAY, "m"): GatewayDay(Side(800, 400, 300, 0, 3, D("0.5")), unmetered=1),
               ("acme", TODAY, "m"): GatewayDay(BASE)}
    provider = {(Owner("acme"), DAY, "m"): Side(1600, 800, 600, 0, 3, D("1.0")),
                (Owner("acme"), TODAY, "m"): BASE,
                (Owner(None, "project proj_x"), DAY, "m"): Side(10, 0, 1, 10, 1, D("0.2"))}
    got, unattributed = rows(gateway, provider, TOL, TODAY)
    assert [(r.day, r.verdict) for r in got] == [(DAY, "gateway under"), (TODAY, "matches")]
    assert got[0].note.startswith("metering gap: 1 call reached the provider")
    assert "partial day" in got[1].note and got[1].account == "acme"
    (u,) = unattributed
    assert (u.verdict, u.scope, u.gateway) == ("unattributed", "project proj_x", Side())
    pct, unexplained = totals(got, unattributed)
    assert pct == pytest.approx(float(D("0.5") * 100 / D("1.7")), abs=0.01)
    assert unexplained == D("0.5") + D("0.2")


def test_everything_together_without_a_mapping():
    got, _ = rows({(ALL, DAY, "m"): GatewayDay(BASE)}, {(Owner(ALL), DAY, "m"): BASE}, TOL, TODAY)
    assert [(r.account, r.verdict) for r in got] == [(None, "matches")]
    assert totals(got, []) == (100.0, D(0))
    assert totals([], []) == (100.0, D(0))
