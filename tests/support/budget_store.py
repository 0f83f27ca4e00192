"""Budget reservations on a shared SQLite file: the admission the store's budget tests make,
and the body of the OS processes that race on one budget (a module function so that a
`spawn` child can import it)."""

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets, open_store
from aispendtrack.store.api.traffic import Admission

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z
NANO = rules.NANO


def admit(db, amount_nano, now=T0, key_id="k1", account="acme", tier_budget=None):
    """One admission on the store `db` charging `amount_nano` against the budgets."""
    return db.admit(Admission(key_id, account, None, None, now, budgets.Charge(amount_nano, tier_budget)))


def _process(path, n, amount_nano, start, out):
    with open_store(path, migrate_schema=False) as db:
        start.wait()
        admitted = sum(admit(db, amount_nano, now=T0 + i * 1e-3).admitted for i in range(n))
    out.put(admitted)
