"""`accounts budget` / `keys budget` and where budgets show (lists, `/v1/me`'s standing)."""

import json

from aispendtrack.views.formats import fmt_usd
import time
from decimal import Decimal

import pytest

from aispendtrack.config import Config
from aispendtrack.store import open_store
from aispendtrack.views.me import key_standing

from support.clock import day_of, month, within_one


@pytest.mark.period
def test_set_show_and_clear_budgets(run):
    run("accounts", "create", "acme", "--tier", "pro")
    key_id = json.loads(run("keys", "create", "acme", "--json").output)["id"]
    spent_at = time.time()
    with open_store(run.db) as store:  # as the proxy's ledger writer writes a row
        store.record([{"ts": spent_at, "account": "acme", "key_id": key_id, "outcome": "forwarded",
                       "cost_usd": Decimal("1.25")}])
    assert "$50 per month" in run("accounts", "budget", "acme", "--usd", "50").output
    run("keys", "budget", key_id, "--usd", "5", "--period", "day")
    store = open_store(run.db)

    def read():
        return (json.loads(run("accounts", "list", "--json").output)[0]["budget"],
                json.loads(run("keys", "list", "--json").output)[0]["budget"], run("accounts", "list").output,
                key_standing(store, Config(), key_id)["budget"])

    (account, key, table, me), today = within_one(read)
    store.close()
    # the $1.25 counts in its own day and month: a day or month that began since holds nothing yet
    day_spent = Decimal("1.25") if day_of(spent_at) == today else Decimal(0)
    month_spent = Decimal("1.25") if month(day_of(spent_at)) == month(today) else Decimal(0)
    assert account | {"reset_seconds": None} == {
        "limit_usd": "50", "period": "month", "period_key": today.strftime("%Y-%m"),
        "spent_usd": str(month_spent), "reserved_usd": "0", "remaining_usd": str(50 - month_spent),
        "overshoot_usd": "0", "reset_seconds": None, "source": "own"}
    assert (key["limit_usd"], key["period"], key["spent_usd"]) == ("5", "day", str(day_spent))
    assert 0 < key["reset_seconds"] <= 86400
    assert f"{fmt_usd(month_spent)} / $50.00 month ({month_spent * 100 // 50}%)" in table
    assert (me["key"]["remaining_usd"], me["account"]["remaining_usd"]) == (str(5 - day_spent), str(50 - month_spent))
    run("keys", "budget", key_id, "--clear")
    assert json.loads(run("keys", "list", "--json").output)[0]["budget"] is None


@pytest.mark.parametrize("args, message", [
    (["--usd", "-1"], "must be >= 0"),
    (["--usd", "lots"], "must be a number"),
    (["--usd", "1e309"], "must be at most 1000000000 USD, got '1e309'"),  # an OverflowError before
    (["--usd", "1000000000.000000001"], "must be at most 1000000000 USD"),
    (["--usd", "nan"], "must be a finite number of USD, got 'nan'"),
    (["--usd", "inf"], "must be a finite number"),
    (["--usd", "-inf"], "must be a finite number"),
    (["--usd", "1", "--period", "year"], "'year' is not one of"),
    ([], "either --usd X or --clear"),
    (["--usd", "1", "--clear"], "either --usd X or --clear"),
])
def test_bad_budget_input_is_refused_with_its_reason(run, args, message):
    run("accounts", "create", "acme")
    result = run("accounts", "budget", "acme", *args, ok=False)
    assert result.exit_code != 0 and message in result.output
    assert json.loads(run("accounts", "list", "--json").output)[0]["budget"] is None


def test_a_key_budget_takes_the_same_numbers(run):
    run("accounts", "create", "acme", "--tier", "pro")
    key_id = json.loads(run("keys", "create", "acme", "--json").output)["id"]
    assert "must be at most 1000000000 USD" in run("keys", "budget", key_id, "--usd", "1e309", ok=False).output
    assert "$1000000000 per month" in run("keys", "budget", key_id, "--usd", "1e9").output


def test_unknown_account_or_key(run):
    assert "acme" in run("accounts", "budget", "acme", "--usd", "1", ok=False).output
    assert run("keys", "budget", "nope", "--usd", "1", ok=False).exit_code != 0


def test_tier_default_budget_shows_as_tier(run, tmp_path):
    cfg = tmp_path / "mitm.toml"
    cfg.write_text('[tiers.free]\nbudget_usd = 2.5\nbudget_period = "week"\n')
    run("accounts", "create", "acme")
    row = json.loads(run("--config", str(cfg), "accounts", "list", "--json").output)[0]["budget"]
    assert (row["limit_usd"], row["period"], row["source"]) == ("2.5", "week", "tier")


@pytest.mark.period
def test_dashboard_limits_table_shows_budgets(run):
    from aispendtrack.serve.dashboard import view

    run("accounts", "create", "acme", "--tier", "pro")
    key_id = json.loads(run("keys", "create", "acme", "--name", "laptop", "--json").output)["id"]
    run("accounts", "budget", "acme", "--usd", "0", "--period", "total")
    run("keys", "budget", key_id, "--usd", "2", "--period", "week")
    now = time.time()
    with open_store(run.db) as store:
        rows = view.limits(store, Config(), "acme", {key_id: "laptop"}, now)
    budget_rows = [r for r in rows if "budget" in r["name"]]
    assert [(r["name"], r["used"], r["limit"], r["hit"]) for r in budget_rows] == [
        ("account acme: total budget (total)", "$0.00", "$0.00", True),
        (f"key laptop: week budget ({time.strftime('%G-W%V', time.gmtime(now))})", "$0.00", "$2.00", False),
    ]
    assert budget_rows[0]["reset"] == "never" and "refused" in budget_rows[0]["state"]
    assert budget_rows[1]["state"] == "$2.00 left"
