"""Batch results are counted once per (batch, model), on both engines: a second download's
rows — by the same gateway, or by another gateway on the same store at the same moment —
are not inserted, add nothing to the daily sums, and settle their budget hold at $0; the
rows of one download share one hold and settle it with their summed cost."""

import threading
from decimal import Decimal

from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.writer import Batch

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z
NANO = 10**9


def batch_row(model="gpt-4o-mini", *, key="openai:file-out1", cost="0.5", tokens=1000, requests=3, reservation=None):
    return {"ts": T0, "key_id": "key_a", "account": "acme", "provider": "openai", "api": "batch", "model": model,
            "outcome": "forwarded", "status": 200, "input_tokens": tokens, "output_tokens": tokens // 2,
            "cost_usd": cost, "pricing": "priced", "cost_source": "genai-prices-batch", "batch_key": key,
            "batch_requests": requests, "reservation_id": reservation}


def ledger(store):
    with store.connection() as conn, conn.read():
        return conn.execute("SELECT batch_key, model, input_tokens, batch_requests, cost_usd FROM calls"
                            " ORDER BY id").fetchall()


def spent(store):
    return store.report_groups(by="model", per_day=False)


def test_a_second_download_of_the_same_batch_adds_no_row(store):
    first = store.record([batch_row(), batch_row("gpt-4o", cost="1.25", tokens=10, requests=1)])
    again = store.record([batch_row(cost="9"), batch_row("gpt-4o", cost="9")])
    assert again == first  # the rows that counted it
    assert ledger(store) == [("openai:file-out1", "gpt-4o-mini", 1000, 3, "0.5"),
                             ("openai:file-out1", "gpt-4o", 10, 1, "1.25")]
    other = store.record([batch_row(key="anthropic:msgbatch_2")])  # another batch counts
    assert other[0] not in first and len(ledger(store)) == 3
    total = sum((g.stats.cost_usd for g in spent(store)), Decimal(0))
    assert total == Decimal("2.25")  # the daily sums saw each (batch, model) once
    assert sum(g.stats.calls for g in spent(store)) == 3
    by_api = {g.group: g.stats for g in store.report_groups(by="api", per_day=False)}  # `report --by api`
    assert list(by_api) == ["batch"] and by_api["batch"].cost_usd == Decimal("2.25")


def test_rows_without_a_batch_are_never_deduplicated(store):
    plain = {k: v for k, v in batch_row().items() if k not in ("batch_key", "batch_requests")}
    ids = store.record([plain, plain])
    assert len(set(ids)) == 2 and len(ledger(store)) == 2


def test_one_download_settles_its_hold_with_the_sum_and_a_repeat_settles_at_zero(store):
    store.create_account("acme", "pro")
    store.set_budget("account", "acme", "10", "month", now=T0)
    hold = store.admit(Admission("key_a", "acme", None, None, T0, Charge(0), None)).budget.id
    store.record([batch_row(cost="0.5", reservation=hold), batch_row("gpt-4o", cost="1.25", reservation=hold)])
    standing = store.budget_standing(store.get_budget("account", "acme"), now=T0)
    assert (standing.spent_nano, standing.reserved_nano) == (1_750_000_000, 0)
    repeat = store.admit(Admission("key_a", "acme", None, None, T0 + 1, Charge(0), None)).budget.id
    store.record([batch_row(cost="0.5", reservation=repeat)])
    standing = store.budget_standing(store.get_budget("account", "acme"), now=T0 + 1)
    assert (standing.spent_nano, standing.reserved_nano) == (1_750_000_000, 0)


def test_two_gateways_downloading_at_once_count_the_batch_exactly_once(store_target):
    """Two stores (two gateways' connections) write the same batch's rows at the same moment,
    many times over: every batch ends with exactly one row per model."""
    with open_store(store_target) as a, open_store(store_target) as b:
        start = threading.Barrier(2)
        errors = []

        def download(store, n):
            try:
                for i in range(n):
                    start.wait(10)
                    rows = [to_db_row(batch_row(model, key=f"openai:file-{i}")) for model in ("gpt-4o-mini", "gpt-4o")]
                    result = store.write(Batch(rows=[(r, None) for r in rows]))
                    assert result.failed == [] and None not in result.ids, result.failed
            except Exception as e:  # reported by the main thread
                errors.append(e)
                start.abort()

        threads = [threading.Thread(target=download, args=(s, 20)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        rows = ledger(a)
        assert len(rows) == 40 and len({(k, m) for k, m, *_ in rows}) == 40
        assert sum(g.stats.calls for g in a.report_groups(by="model", per_day=False)) == 40
