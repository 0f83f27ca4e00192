"""Property: the store's reservation ledger, driven through the proxy's writer, behaves like a
plain in-memory reference model, and settled spend never exceeds the budget beyond the
recorded overshoot."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets, open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.writer import StoreWriter

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z, a Thursday
DAY = 86400.0


class Reference:
    """Per period: spent, held, overshoot; a call is admitted iff spent + held + bound <= limit."""

    def __init__(self, limit):
        self.limit = limit
        self.periods: dict[str, list[int]] = {}
        self.open: dict[int, tuple[str, int, float]] = {}  # call → (period, amount, created)
        self.expired: set[int] = set()

    def reserve(self, i, period_key, amount, now) -> bool:
        for j, (key, held, created) in self.open.items():  # holds older than the TTL are released
            if j not in self.expired and created < now - budgets.RESERVATION_TTL:
                self.periods[key][1] -= held
                self.expired.add(j)
        p = self.periods.setdefault(period_key, [0, 0, 0])
        if p[0] + p[1] + amount > self.limit:
            return False
        p[1] += amount
        self.open[i] = (period_key, amount, now)
        return True

    def settle(self, i, cost):
        period_key, amount, _ = self.open.pop(i)
        p = self.periods[period_key]
        p[0] += cost
        if i in self.expired:
            p[2] += cost
        else:
            p[1] -= amount
            p[2] += max(0, cost - amount)


ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 400)),
    st.tuples(st.just("settle"), st.integers(0, 30), st.integers(0, 500)),
    st.tuples(st.just("advance"), st.floats(0, 2 * DAY)),
), max_size=40)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(0, 1000), period=st.sampled_from(rules.PERIODS), steps=ops)
def test_store_matches_reference(tmp_path_factory, limit, period, steps):
    path = tmp_path_factory.mktemp("model") / "b.db"
    store = open_store(path)
    store.set_budget("account", "acme", Decimal(limit) / rules.NANO, period, now=T0)
    ref = Reference(limit)
    writer = StoreWriter(store)
    writer.start()
    ids: dict[int, str] = {}
    now, n = T0, 0
    try:
        for step in steps:
            if step[0] == "advance":
                now += step[1]
            elif step[0] == "reserve":
                key = rules.period_bounds(period, now)[0]
                store.expire_holds(now)  # what the proxies' writers run now and then; the model does it here
                d = writer.admit_sync(Admission("k", "acme", None, None, now, budgets.Charge(step[1])))
                assert d.admitted == ref.reserve(n, key, step[1], now)
                if d.admitted:
                    ids[n] = (d.budget.id, now)
                n += 1
            elif ref.open:
                i = sorted(ref.open)[step[1] % len(ref.open)]
                cost = step[2]
                rid, started = ids.pop(i)  # a ledger row's ts is its call's start, as the proxy writes it
                writer.write_sync({"ts": started, "account": "acme", "key_id": "k", "outcome": "forwarded",
                                   "cost_usd": Decimal(cost) / rules.NANO, "reservation_id": rid})
                ref.settle(i, cost)
    finally:
        writer.close()
    with store.connection() as conn:
        rows = {k: [s, r, o] for k, s, r, o in conn.execute(
            "SELECT period_key, spent_nano, reserved_nano, overshoot_nano FROM budget_spend").fetchall()}
    store.close()
    for key, (spent, held, over) in ref.periods.items():
        assert rows[key] == [spent, held, over]
        assert spent <= limit + over
