"""A store made before the daily sums kept the provider (schema 4) is brought up: its sums
are made again with the provider, and a report by provider from them equals the ledger's,
on both engines."""

from datetime import UTC, datetime, timedelta

from aispendtrack.store import open_store
from aispendtrack.store.migrate import migrate
from aispendtrack.store.reads.report import ledger_groups
from aispendtrack.views.report import report

T = datetime(2026, 11, 20, tzinfo=UTC)


def test_sums_made_again_by_provider(empty_target):
    store = open_store(empty_target, migrate_schema=False)
    with store.connection() as conn:
        migrate(conn, store.migrations[:4])
        with conn.tx():  # rows and sums as schema 4 kept them (no provider in the sums)
            for d, provider in enumerate(["openai", "anthropic", "openai", None] * 3):
                conn.execute("INSERT INTO calls (ts, account, provider, model, outcome, cost_usd, pricing) "
                             "VALUES (?, 'acme', ?, 'm', 'forwarded', '0.5', 'priced')",
                             [(T + timedelta(days=d % 5, hours=1)).isoformat().replace("+00:00", "Z"), provider])
    store.close()
    with open_store(empty_target) as store:  # migrations 5 and on
        assert store.schema_versions()[0] == store.migrations[-1].version
        since, until = T, T + timedelta(days=5)
        got = {g.key: (g.stats.calls, g.stats.cost_usd) for g in report(store, since=since, until=until,
                                                                           by="provider").groups}
        with store.connection() as conn:
            ledger = {}
            for g in ledger_groups(conn, "provider", since, until):
                calls, cost = ledger.get(g.group, (0, 0))
                ledger[g.group] = (calls + g.stats.calls, cost + g.stats.cost_usd)
            summed = conn.execute("SELECT count(*) FROM calls_daily WHERE provider IS NOT NULL").fetchone()[0]
        assert got == ledger and got["openai"][0] == 6 and summed > 0
