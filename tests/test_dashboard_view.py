"""The dashboard's data (`serve.dashboard.view`): the month per model, key and member, the
last 30 days, the limits and the latest calls — numbers equal to the ledger's, read from
counters and daily sums (the ledger only for the latest calls and an hour's seek)."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

from aispendtrack.serve.dashboard import view
from aispendtrack.store.reads.report import ledger_groups
from aispendtrack.views.report import assemble
from support.store_reads import insert, row

NOW = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def _ledger_report(store, since, until, by, member_id=None):
    with store.connection() as conn:
        parts = ledger_groups(conn, by, since, until, account="acme", member_id=member_id)
    return assemble(parts, since=since, until=until, by=by, account="acme")


def _team(store, config):
    store.create_account("acme", "pro")
    store.add_member("acme", "bob", "member", config)
    ann = store.create_key("acme", config, name="ann-laptop")
    bob = store.create_key("acme", config, name="bob-laptop", member="bob")
    rows = []
    for d in range(40):
        t = NOW - timedelta(days=d, hours=d % 5)
        rows += [row(t, key=ann.id, model="gpt-4o", cost=f"0.{d + 1:03d}", inp=d),
                 row(t, key=bob.id, model="claude", cost="0.5", inp=None),
                 row(t, key=bob.id, model="claude", outcome="rate_limited", status=429)]
    insert(store, rows + [row(NOW, key="key_other", account="other", cost="7")])
    return ann, bob, store.get_member("acme", "bob").id


def test_page_says_what_the_ledger_says(any_store, config):
    ann, bob, bob_id = _team(any_store, config)
    data = view.page(any_store, config, SimpleNamespace(account="acme"), now=NOW.timestamp())
    first = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime.combine(NOW.date() + timedelta(days=1), time(), UTC)
    month = _ledger_report(any_store, first, end, "model")
    assert data["spend_month"] == f"${month.totals.to_dict()['cost_usd']}"
    assert data["counts"]["calls"] == f"{month.totals.calls:,}" and data["counts"]["limited"] == "30"
    assert [(r["label"], r["cost"]) for r in data["by_model"]] == \
        [(g.key, f"${g.stats.to_dict()['cost_usd']}") for g in month.groups]
    members = _ledger_report(any_store, first, end, "member")
    assert {m["member"]: m["cost"] for m in data["by_member"]} == \
        {g.key.member: f"${g.stats.to_dict()['cost_usd']}" for g in members.groups} | {"bob": "$15"}
    last30 = _ledger_report(any_store, end - timedelta(days=30), end, "day")
    assert data["spend_30d"] == f"${last30.totals.to_dict()['cost_usd']}"
    assert [b["day"] for b in data["chart"]["bars"]] == [d for d, _ in last30.daily]
    assert [r["key"] for r in data["latest"][:3]] == [f"bob-laptop ({bob.hint})"] * 2 + [f"ann-laptop ({ann.hint})"]


def test_a_members_page_is_their_keys_only(store, config):
    ann, bob, bob_id = _team(store, config)
    data = view.page(store, config, SimpleNamespace(account="acme"), now=NOW.timestamp(), member_id=bob_id)
    assert data["by_member"] is None
    assert [r["label"] for r in data["by_key"]] == [f"bob-laptop ({bob.hint})"]
    assert {r["key"] for r in data["latest"]} == {f"bob-laptop ({bob.hint})"}
    first = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime.combine(NOW.date() + timedelta(days=1), time(), UTC)
    assert data["spend_month"] == f"${_ledger_report(store, first, end, 'day', bob_id).totals.to_dict()['cost_usd']}"
    assert [w["name"] for w in data["limits"]] == ["account acme: this month", f"key bob-laptop ({bob.hint}): last hour"]


def test_page_reads_no_ledger_rows_but_the_latest_an_hour_and_the_periods_durations(store, config):
    _team(store, config)
    seen = []
    with store.connection() as conn:
        conn.raw.set_trace_callback(seen.append)
        try:
            view.page(store, config, SimpleNamespace(account="acme"), now=NOW.timestamp())
        finally:
            conn.raw.set_trace_callback(None)
    ledger = [s for s in seen if " FROM calls " in f"{s} "]
    durations = [s for s in ledger if "calls.latency_ms" in s]  # the sums keep no durations: latency reads the period
    assert durations and all("calls.ts >= '2026-11-01T" in s and "calls.ts < '2026-12-01T" in s for s in durations)
    ledger = [s for s in ledger if s not in durations]
    assert ledger and all(s.endswith("ORDER BY ts DESC, id DESC LIMIT 20") or " AND ts > " in s for s in ledger), ledger
    assert any("FROM calls_daily" in s for s in seen)
