"""`GET /v1/me`'s data (`views.me.key_standing`) and the usage windows every view shows:
the key's hour, its account's month, the two budgets and the month's spend — read from
this key's and account's counters and the daily sums only, on both engines."""

from datetime import UTC, datetime, timedelta

import pytest

from aispendtrack.limits.window import month_start
from aispendtrack.views.me import key_standing
from aispendtrack.views.usage import account_usage, key_usage
from support.store_reads import admit, insert, row

NOW = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # the month's last half hour


def test_a_limited_key_reads_the_limiters_counters(any_store, config):
    any_store.create_account("acme", "free")
    k = any_store.create_key("acme", config, name="ci")
    t = NOW.timestamp()
    for i in range(3):
        admit(any_store, k.id, "acme", hourly=1000, monthly=10_000, now=t - 600 + i)
    insert(any_store, [row(NOW - timedelta(days=d), key=k.id, cost="0.25") for d in (0, 1, 29, 30)])
    s = key_standing(any_store, config, k.id, now=t)
    assert s["hour"] == {"limit": 1000, "used": 3, "remaining": 997, "reset_seconds": 3000}
    assert s["month"] == {"limit": 10_000, "used": 3, "remaining": 9997,
                          "reset_seconds": int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() - t)}
    assert s["spend_month_usd"] == "0.75"  # Nov 30, 29 and 1st; not Oct 31
    assert s["budget"] == {"key": None, "account": None}


def test_an_unlimited_account_reads_what_the_ledger_metered(any_store, config):
    any_store.create_account("acme", "enterprise")
    k = any_store.create_key("acme", config)
    t = NOW.timestamp()
    insert(any_store, [row(NOW - timedelta(minutes=10), key=k.id, cost="0.5"),
                       row(NOW - timedelta(minutes=5), key=k.id, outcome="rate_limited", status=429),
                       row(NOW - timedelta(hours=2), key=k.id, outcome="upstream_error", status=500),
                       row(NOW - timedelta(days=31), key=k.id, cost="9")])
    s = key_standing(any_store, config, k.id, now=t)
    assert s["hour"] == {"limit": None, "used": 1, "remaining": None, "reset_seconds": None}
    assert s["month"]["used"] == 2 and s["month"]["limit"] is None  # upstream calls this month
    assert s["spend_month_usd"] == "0.5"


def test_budgets_stand_where_the_store_says(any_store, config):
    any_store.create_account("acme", "pro")
    k = any_store.create_key("acme", config)
    t = NOW.timestamp()
    insert(any_store, [row(NOW - timedelta(hours=1), key=k.id, cost="1.25")])
    any_store.set_budget("account", "acme", "50", "month", now=month_start(t))
    any_store.set_budget("key", k.id, "5", "day", now=t - 7200)
    b = key_standing(any_store, config, k.id, now=t)["budget"]
    assert (b["key"]["remaining_usd"], b["account"]["remaining_usd"]) == ("3.75", "48.75")
    assert (b["key"]["period"], b["account"]["source"]) == ("day", "own")


def _statements(store, fn):
    seen = []
    with store.connection() as conn:
        conn.raw.set_trace_callback(seen.append)
        try:
            fn()
        finally:
            conn.raw.set_trace_callback(None)
    return seen


@pytest.mark.parametrize("tier", ["free", "enterprise"])
def test_standing_reads_the_same_few_rows_however_many_accounts(store, config, tier):
    """/v1/me asks this key's and this account's counters only: as many statements for one
    account as for forty, none of them summing ledger rows of other days."""
    store.create_account("acme", tier)
    k = store.create_key("acme", config)
    insert(store, [row(NOW - timedelta(hours=h), key=k.id, cost="0.1") for h in range(48)])
    one = _statements(store, lambda: key_standing(store, config, k.id, now=NOW.timestamp()))
    for i in range(40):
        store.create_account(f"other-{i}", tier)
        store.create_key(f"other-{i}", config)
    many = _statements(store, lambda: key_standing(store, config, k.id, now=NOW.timestamp()))
    assert len(many) == len(one) < 20
    ledger = [s for s in many if " FROM calls " in f"{s} "]
    # the limiter counts a limited key; an unlimited key's hour is one index seek on (key, ts)
    assert len(ledger) == (0 if tier == "free" else 1)
    assert all(f"WHERE key_id = '{k.id}' AND ts > " in s for s in ledger)


def test_lists_of_accounts_and_keys(store, config):
    store.create_account("acme", "free")
    k = store.create_key("acme", config, name="ci")
    admit(store, k.id, "acme", hourly=1000, monthly=10_000, now=NOW.timestamp() - 60)
    (a,) = account_usage(store, config, now=NOW.timestamp())
    assert (a["name"], a["active_keys"], a["monthly_used"], a["monthly_remaining"]) == ("acme", 1, 1, 9999)
    (r,) = key_usage(store, config, now=NOW.timestamp())
    assert list(r)[:13] == ["id", "account", "name", "created", "last_used", "revoked", "expires", "permissions",
                            "models", "member", "hint", "in_grace", "state"]
    assert (r["hourly_used"], r["hourly_remaining"], r["hourly_reset_seconds"], r["state"]) == (1, 999, 3540, "active")
    assert r["models"] is None and r["member"] == "owner" and r["in_grace"] is False
