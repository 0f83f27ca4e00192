"""How a saved run reads on the dashboard: period, matched %, exact dollars, a failure's
message, and the red mark only above the drift threshold."""

from datetime import date
from decimal import Decimal

from aispendtrack.reconcile.model import Row, Side
from aispendtrack.store.reconcile_runs import ReconcileRun
from aispendtrack.views.reconcile import row_json, row_view, summary

RUN = ReconcileRun(id=7, provider="openai", since=date(2026, 3, 4), until=date(2026, 3, 4), account=None,
                   accounts=("acme",), ran_at="2026-03-05T01:00:03.123456Z", status="ok", matched_pct=99.5,
                   unexplained_usd=Decimal("0.500000"), tolerance_usd=Decimal("0.01"), error=None, notes=(),
                   off_rows=1, share_of="acme")


def test_a_good_run():
    s = summary(RUN, Decimal("1.00"))
    assert (s["period"], s["ran_at"], s["matched"], s["unexplained"], s["drift"], s["href"]) == (
        "2026-03-04", "2026-03-05 01:00:03", "99.5 %", "$0.50", False, "/dashboard/reconcile/7")
    assert s["unexplained_exact"] == "$0.5"  # the exact amount, for the page's title
    assert s["scope"] == "every mapped account (your share)"
    assert summary(RUN, Decimal("0.49"))["drift"] is True and summary(RUN)["drift"] is True


def test_a_failed_run_and_a_longer_period():
    failed = ReconcileRun(**{**{f: getattr(RUN, f) for f in RUN.__slots__}, "status": "error", "matched_pct": None,
                             "unexplained_usd": None, "error": "no openai admin key", "account": "acme",
                             "until": date(2026, 3, 31)})
    s = summary(failed, Decimal(1))
    assert (s["ok"], s["matched"], s["unexplained"], s["drift"], s["error"], s["scope"], s["period"]) == (
        False, "—", "—", False, "no openai admin key", "account acme", "2026-03-04 to 2026-03-31")


def test_a_row_exactly():
    row = Row(date(2026, 3, 4), "gpt-4o", Side(10, 2, 5, 0, 1, Decimal("0.000100")),
              Side(12, 2, 5, 3, 2, Decimal("0.0001234")), "gateway under", note="1 call unmetered")
    assert row_json(row)["difference_usd"] == "0.0000234" and row_json(row)["provider"]["batch_tokens"] == 3
    v = row_view(row)
    assert (v["gateway_tokens"], v["provider_usd"], v["difference"], v["off"]) == (
        "10 / 2 / 5", "$0.000123", "$0.0000234", True)
    assert (v["provider_usd_exact"], v["difference_exact"]) == ("$0.0001234", "$0.0000234")
