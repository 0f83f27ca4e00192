"""Budget reservations on a shared SQLite file: the admission the store's budget tests make,
and the body of the OS processes that race on one budget (a module function so that a
`spawn` child can import it)."""

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets
from aispendtrack.store.db import connect
from aispendtrack.store.limits import check_and_count

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z
NANO = rules.NANO


def admit(db, amount_nano, now=T0, key_id="k1", account="acme", tier_budget=None):
    return check_and_count(db, key_id=key_id, account=account, hourly_limit=None, monthly_limit=None,
                           now=now, charge=budgets.Charge(amount_nano, tier_budget))


def _process(path, n, amount_nano, start, out):
    db = connect(path)
    start.wait()
    admitted = sum(admit(db, amount_nano, now=T0 + i * 1e-3).admitted for i in range(n))
    out.put(admitted)
