"""Budget headers and the 429 text of a budget refusal (`limits/headers.py`), exactly."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from aispendtrack.limits.budget import NANO, Budget
from aispendtrack.limits.headers import budget_headers, budget_message, rejection_headers, status_headers
from aispendtrack.limits.window import Decision
from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge, Reservation, Standing


def ep(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


B = "x-aispendtrack-budget-"
NOW = ep(2026, 11, 30, 12, 0, 0) + 0.25  # 11 h 59 min 59.75 s before December (UTC)
DEC_1 = ep(2026, 12, 1)

# The key's month budget: $5, $1.25 spent, $0.5 held -> $3.25 left, resets on 1 December.
KEY_MONTH = Standing(Budget("key", "key_ab12", 5 * NANO, "month"), "m2026-11", DEC_1,
                     spent_nano=5 * NANO // 4, reserved_nano=NANO // 2, overshoot_nano=0)
# The account's total budget: $2, $1.5 spent, $0.25 held -> $0.25 left, never resets.
ACCT_TOTAL = Standing(Budget("account", "acme", 2 * NANO, "total"), "t", None,
                      spent_nano=3 * NANO // 2, reserved_nano=NANO // 4, overshoot_nano=0)


def decision(reservation, *, admitted=False) -> Decision:
    return Decision(
        admitted=admitted, limit=None if admitted else "budget", retry_after=None,
        should_retry=None if admitted else False, now=NOW, retry_at=None, key_id="key_ab12",
        account="acme", month="2026-11", hourly_limit=None, hourly_remaining=None,
        hourly_reset=None, monthly_limit=None, monthly_remaining=None, monthly_reset=None,
        budget=reservation,
    )


def test_no_budget_no_budget_headers():
    assert budget_headers(decision(None, admitted=True)) == {}
    assert budget_headers(decision(Reservation("r1", ()), admitted=True)) == {}


def test_admitted_shows_the_tightest_budget_with_its_reset():
    d = decision(Reservation("r1", (KEY_MONTH, replace(KEY_MONTH, spent_nano=4 * NANO))), admitted=True)
    assert budget_headers(d) == {
        f"{B}limit-usd": "5",
        f"{B}remaining-usd": "0.5",  # 5 - 4 - 0.5: the tighter of the two
        f"{B}reset-seconds": "43200",  # 43199.75 s to 2026-12-01T00:00:00Z, ceil'd
    }
    assert status_headers(d) == budget_headers(d)  # unlimited counts add nothing


def test_admitted_total_budget_has_no_reset_header():
    d = decision(Reservation("r1", (KEY_MONTH, ACCT_TOTAL)), admitted=True)
    assert budget_headers(d) == {f"{B}limit-usd": "2", f"{B}remaining-usd": "0.25"}


def test_refusing_budget_wins_over_a_tighter_one():
    """Headers and message name the budget that refused, even when another has less left."""
    d = decision(Reservation(None, (KEY_MONTH, ACCT_TOTAL), refused_by=KEY_MONTH))
    assert budget_headers(d) == {
        f"{B}limit-usd": "5", f"{B}remaining-usd": "3.25", f"{B}reset-seconds": "43200",
    }
    assert budget_message(d, 7 * NANO // 2) == (
        "AiSpendTrack budget exceeded: the month budget of $5 for key key_ab12 (month 2026-11)"
        " has $1.25 spent and $0.5 held by calls in flight; this call may cost up to $3.5;"
        " it resets at 2026-12-01T00:00:00Z (in 12 h)"
    )
    assert rejection_headers(d) == {
        "x-should-retry": "false", f"{B}limit-usd": "5", f"{B}remaining-usd": "3.25",
        f"{B}reset-seconds": "43200",
    }


def test_refused_by_an_account_total_budget():
    d = decision(Reservation(None, (KEY_MONTH, ACCT_TOTAL), refused_by=ACCT_TOTAL))
    assert budget_headers(d) == {f"{B}limit-usd": "2", f"{B}remaining-usd": "0.25"}
    assert budget_message(d, 3 * NANO // 10) == (
        "AiSpendTrack budget exceeded: the total budget of $2 for account acme (total)"
        " has $1.5 spent and $0.25 held by calls in flight; this call may cost up to $0.3;"
        " a total budget never resets: raise it to admit more calls"
    )


def test_message_reset_time_is_ceiled_to_the_second():
    s = replace(KEY_MONTH, budget=replace(KEY_MONTH.budget, period="day"), period_key="d2026-11-30",
                reset_at=NOW + 10.5)
    d = decision(Reservation(None, (s,), refused_by=s))
    assert budget_headers(d)[f"{B}reset-seconds"] == "11"
    assert budget_message(d, 1).endswith(
        "the day budget of $5 for key key_ab12 (day 2026-11-30) has $1.25 spent and $0.5 held"
        " by calls in flight; this call may cost up to $0.000000001;"
        " it resets at 2026-11-30T12:00:11Z (in 11 s)"
    )


@pytest.fixture()
def db(tmp_path):
    with open_store(tmp_path / "b.db") as store:
        yield store


def test_store_refusal_through_admit(db):
    """A real refusal from the store: headers and text of the key's month budget."""
    db.set_budget("key", "key_ab12", "1", "month", now=NOW - 60)
    first = db.admit(Admission("key_ab12", "acme", None, None, NOW, Charge(6 * NANO // 10)))
    assert first.admitted and budget_headers(first) == {
        f"{B}limit-usd": "1", f"{B}remaining-usd": "0.4", f"{B}reset-seconds": "43200"}
    d = db.admit(Admission("key_ab12", "acme", None, None, NOW + 1, Charge(NANO // 2)))
    assert (d.admitted, d.limit) == (False, "budget")
    assert rejection_headers(d) == {
        "retry-after": "43199", "retry-after-ms": "43198750", "x-should-retry": "false",
        f"{B}limit-usd": "1", f"{B}remaining-usd": "0.4", f"{B}reset-seconds": "43199",
    }
    assert budget_message(d, NANO // 2) == (
        "AiSpendTrack budget exceeded: the month budget of $1 for key key_ab12 (month 2026-11)"
        " has $0 spent and $0.6 held by calls in flight; this call may cost up to $0.5;"
        " it resets at 2026-12-01T00:00:00Z (in 11 h 59 min)"
    )
