"""`aispendtrack db migrate --from FILE --to postgresql://…`: a SQLite store made through the
store API (keys in every state, members, webhooks and their outbox, budgets with holds,
this hour's and month's counters, ledger rows with long decimal costs) copied into
PostgreSQL exactly: every table's rows, the report's totals to the last decimal, keys
still valid, counters and holds carried. A non-empty target is refused unless --force; a
failed copy leaves the target as it was."""

import time
from decimal import Decimal

import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli
from aispendtrack.config import Config
from aispendtrack.limits.budget import to_nano
from aispendtrack.store import keys, open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge
from aispendtrack.vault import service as vault_service
from aispendtrack.views.report import report
from support.reconcile_reports import DAY as RECONCILE_DAY
from support.reconcile_reports import report as reconcile_report

CONFIG = Config()
NOW = time.time()
HOLD = 500_000_000  # $0.50 held per call
VAULTED = "sk-proj-VAULTED-COPIED-SECRET-0042"
COSTS = ("0.000123456789012345678", "1.5", "0.1", "0.2", "12.000000000001", "0.000000001")


def db(*args, ok=True):
    result = CliRunner().invoke(cli, ["db", *args], catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


@pytest.fixture
def sqlite_store(tmp_path):
    """A SQLite store with something in every table, made through the store API."""
    path = tmp_path / "local.db"
    with open_store(path) as store:
        store.create_account("acme", "pro")
        store.create_account("007")
        store.add_member("acme", "bob", "admin", CONFIG)
        made = {
            "live": store.create_key("acme", CONFIG, name="ci"),
            "bob": store.create_key("acme", CONFIG, member="bob"),
            "revoked": store.create_key("acme", CONFIG),
            "free": store.create_key("007", CONFIG),
        }
        made["rotated"] = store.rotate_key(made["live"].id, CONFIG)  # the old secret is in its grace
        store.revoke_key(made["revoked"].id)
        endpoint, _ = store.add_endpoint("acme", "https://hooks.example/a", None)
        store.send_test_event(endpoint.id)
        store.set_budget("account", "acme", "100", "month", now=NOW)
        store.set_budget("key", made["bob"].id, "5", "total", now=NOW)
        holds = []
        for i in range(6):
            d = store.admit(Admission(made["bob"].id, "acme", 100, 1000, NOW + i * 0.001, Charge(HOLD),
                                      keys.digest(made["bob"].key)))
            assert d.admitted
            holds.append(d.budget.id)
        store.admit(Admission(made["free"].id, "007", 1000, 10_000, NOW))
        rows = [{"ts": NOW - i * 3600, "key_id": made["bob"].id, "account": "acme", "provider": "openai",
                 "model": ("gpt-4o", "gpt-4o-mini")[i % 2], "outcome": "forwarded", "status": 200,
                 "input_tokens": 100 + i, "output_tokens": 7 * i, "cost_usd": cost, "pricing": "priced",
                 "reservation_id": holds[i] if i < 4 else None, "latency_ms": 12.5 + i}
                for i, cost in enumerate(COSTS)]
        rows.append({"ts": NOW, "account": None, "outcome": "rejected", "status": 401, "pricing": "unmetered"})
        store.record(rows)
        session = store.create_session(keys.digest(made["live"].key), 12)
        store.write(_presence())
        vault_service.store_secret(store, "acme", "openai", None, VAULTED, "ops")
        vault_service.store_secret(store, "acme", "anthropic", made["bob"].id, VAULTED, "ops")
        store.set_vault_mode(store.get_account("acme").id, "require")
        store.save_reconcile(reconcile_report(unexplained="0.000000000001"), accounts=["acme", "007"])
        store.claim_reconcile_day("openai", RECONCILE_DAY)
    return path, made, holds, session


def _presence():
    from aispendtrack.store.writer import Batch

    return Batch(presence=("gw-local", 1, "laptop", NOW, NOW, 0))


TABLES = ("accounts", "members", "keys", "key_secrets", "meta", "rate_events", "monthly_usage", "budgets",
          "budget_spend", "budget_reservations", "calls", "calls_daily", "proxies",
          "dashboard_sessions", "webhook_endpoints", "webhook_messages", "webhook_attempts", "webhook_alerts",
          "provider_credentials", "vault_modes", "reconcile_runs", "reconcile_run_accounts", "reconcile_rows",
          "reconcile_days")


def tables_of(store) -> dict[str, list]:
    """Every AiSpendTrack table's rows, sorted, with values as the copy must keep them."""
    out = {}
    with store.connection() as conn:
        for name in TABLES:
            rows = conn.rows(f"SELECT * FROM {name}")
            out[name] = sorted((tuple(sorted(r.items())) for r in rows), key=repr)
    return out


def test_a_sqlite_store_is_copied_exactly(sqlite_store, pg_dsn):
    path, made, holds, session = sqlite_store
    out = db("migrate", "--from", str(path), "--to", pg_dsn)
    assert "Ledger: 7 calls, 6 priced, $13.800123457790012345678 over 2 account(s): equal on both sides" in out
    assert f"Copied {len(TABLES)} tables," in out  # every table of the schema
    assert "Keys: 4 with 5 secrets" in out and "Budgets: 2, 2 counters, 2 holds." in out
    with open_store(path) as local, open_store(pg_dsn) as shared:
        before, after = tables_of(local), tables_of(shared)
        meta = after.pop("meta")  # the copy raised every change signal on top of the copied versions
        before.pop("meta")
        assert after == before
        assert {dict(r)["name"] for r in meta} == {"keys_version", "budgets_version", "webhooks_version",
                                                   "vault_version"}
        # the vault's sealed keys open on the copy: account ids, and so their associated data, kept
        assert [(r.provider, s, p) for r, s, p in vault_service.opened(shared.list_credentials())] == [
            ("anthropic", VAULTED, None), ("openai", VAULTED, None)]

        # the report: the same totals and groups, to the last decimal
        for by in ("account", "model", "key", "day", "outcome"):
            assert report(shared, by=by).to_dict() == report(local, by=by).to_dict()
        assert report(shared).totals.cost_usd == Decimal("13.800123457790012345678")
        with shared.connection() as conn:
            shared_rows = conn.rows("SELECT id FROM calls")

        # this hour's and month's counters carried
        bob = made["bob"].id
        assert shared.usage(key_id=bob, account="acme", now=NOW + 1) == local.usage(key_id=bob, account="acme", now=NOW + 1)

        # keys work as before: live, in their grace, revoked, with their sessions
        for name in ("live", "bob", "free"):
            assert shared.credentials(keys.digest(made[name].key)) == local.credentials(keys.digest(made[name].key))
        assert shared.admit(Admission(made["live"].id, "acme", None, None, NOW + 1, None,
                                      keys.digest(made["live"].key))).admitted  # the rotated-out secret, in grace
        refused = shared.admit(Admission(made["revoked"].id, "acme", None, None, NOW + 1, None,
                                         keys.digest(made["revoked"].key)))
        assert refused.limit == "key" and "revoked" in refused.reason
        assert shared.lookup_session(session.id) == session

        # budget counters and holds carried
        budget = shared.get_budget("key", bob)
        standing = shared.budget_standing(budget, now=NOW + 1)
        assert standing == local.budget_standing(local.get_budget("key", bob), now=NOW + 1)
        spent = sum(to_nano(c) for c in COSTS[:4])
        assert (standing.spent_nano, standing.reserved_nano, standing.overshoot_nano) == (spent, 2 * HOLD, 10**9)
        shared.record([{"ts": NOW + 2, "key_id": bob, "account": "acme", "outcome": "forwarded",
                        "cost_usd": "0.25", "pricing": "priced", "reservation_id": holds[4]}])
        standing = shared.budget_standing(budget, now=NOW + 3)
        assert (standing.spent_nano, standing.reserved_nano) == (spent + HOLD // 2, HOLD)  # a copied hold settled
        left = 5 * 10**9 - standing.spent_nano - standing.reserved_nano
        assert shared.admit(Admission(bob, "acme", 100, 1000, NOW + 3, Charge(left + 1))).admitted is False
        assert shared.admit(Admission(bob, "acme", 100, 1000, NOW + 3, Charge(left))).admitted
        (message,) = shared.claim_messages("serve", time.time() + 1)  # the outbox came along
        assert message.type == "webhook.test"

        # new rows and accounts continue after the copied ids
        new_id = shared.create_account("new").id
        assert new_id > max(a.id for a in local.list_accounts())
        assert max(r["id"] for r in shared_rows) < shared.record([{"ts": NOW, "outcome": "rejected"}])[0]


def test_a_non_empty_target_is_refused_unless_forced(sqlite_store, pg_dsn):
    path = sqlite_store[0]
    db("migrate", "--from", str(path), "--to", pg_dsn)
    with open_store(pg_dsn) as shared:
        shared.create_account("only-here")
        counts = {t: len(rows) for t, rows in tables_of(shared).items()}
    out = db("migrate", "--from", str(path), "--to", pg_dsn, ok=False)
    assert "Error: the target database is not empty (accounts: 3," in out and "--force replaces everything" in out
    with open_store(pg_dsn) as shared:
        assert {t: len(rows) for t, rows in tables_of(shared).items()} == counts  # untouched
    out = db("migrate", "--from", str(path), "--to", pg_dsn, "--force")
    assert "Replaced what" in out and "accounts 3" in out
    with open_store(path) as local, open_store(pg_dsn) as shared:
        assert [a.name for a in shared.list_accounts()] == [a.name for a in local.list_accounts()]
        assert tables_of(shared)["calls"] == tables_of(local)["calls"]


def test_a_value_the_target_cannot_hold_leaves_it_as_it_was(sqlite_store, pg_dsn):
    path = sqlite_store[0]
    with open_store(path) as local, local.connection() as conn:
        conn.execute("UPDATE calls SET status = 'two hundred' WHERE status = 200")  # SQLite keeps text anywhere
    out = db("migrate", "--from", str(path), "--to", pg_dsn, ok=False)
    assert "Error: calls.status: 'two hundred' cannot be stored as bigint: nothing was copied" in out
    with open_store(pg_dsn) as shared:
        assert all(rows == [] for rows in tables_of(shared).values())


def test_bad_arguments_are_named(tmp_path, pg_dsn):
    out = db("migrate", "--from", str(tmp_path / "none.db"), "--to", pg_dsn, ok=False)
    assert "Invalid value for --from: no database file at" in out
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "a.db").touch()
    assert "Invalid value for --to: must be a postgresql:// URL" in db(
        "migrate", "--from", str(tmp_path / "a.db"), "--to", str(tmp_path / "b.db"), ok=False)
    assert "Invalid value for --from: must be a SQLite database file" in db(
        "migrate", "--from", pg_dsn, "--to", pg_dsn, ok=False)
