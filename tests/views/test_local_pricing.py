"""Calls of a local provider (`[providers.local]`) in the views: $0 as "local", never shown
as unpriced and never as a price list's $0 alone."""

from datetime import UTC, datetime
from io import StringIO
from types import SimpleNamespace

from rich.console import Console

from aispendtrack.serve.dashboard import view
from aispendtrack.store.totals import Stats
from aispendtrack.views import stats as summary
from aispendtrack.views.render import fmt_cost, not_in_total, render_report
from aispendtrack.views.report import report
from support.store_reads import insert, row

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def local(**kw):
    return row(NOW, model="llama3.2", provider="ollama", pricing="local", cost="0", inp=26, out=282, **kw)


def test_stats_count_local_calls_apart():
    st = Stats()
    for r in (local(), local(), row(NOW, cost="0.5", inp=1, out=1), row(NOW, pricing="unpriced", inp=1, out=1)):
        st.add_row(r)
    assert (st.local_calls, st.priced_calls, st.unpriced_calls, str(st.cost_usd)) == (2, 1, 1, "0.5")
    only_local = Stats()
    only_local.add_row(local())
    assert fmt_cost(only_local) == "local $0"  # not "unpriced", not a bare "$0.00"
    assert not_in_total(only_local) == ["1 local call at $0 (a local provider, [providers.local])"]


def test_report_shows_local_calls(store):
    insert(store, [local(), local(), row(NOW, model="gpt-4o", cost="0.25", inp=1, out=1)])
    rep = report(store, by="model")
    by_model = {g.key: g.stats for g in rep.groups}
    assert fmt_cost(by_model["llama3.2"]) == "local $0" and by_model["llama3.2"].local_calls == 2
    assert rep.to_dict()["totals"]["local_calls"] == 2
    out = StringIO()
    Console(file=out, width=120).print(render_report(rep))
    text = out.getvalue()
    assert "local $0" in text and "2 local calls at $0" in text and "unpriced" not in text
    assert "1 local" in summary.summary_text([local(), row(NOW, cost="0.1", inp=1, out=1)])


def test_dashboard_shows_local_calls(store, config):
    store.create_account("acme", "pro")
    key = store.create_key("acme", config, name="laptop")
    insert(store, [local(key=key.id), local(key=key.id)])
    data = view.page(store, config, SimpleNamespace(account="acme"), now=NOW.timestamp())
    assert data["spend_month"] == "$0.00" and data["counts"]["local"] == "2" and data["counts"]["unpriced"] == "0"
    assert data["spend_note"] == "2 local calls at $0"
    assert [(r["label"], r["cost"], r["local"]) for r in data["by_model"]] == [("llama3.2", "$0.00 (local)", 2)]
    assert data["latest"][0]["cost"] == "$0.00 (local)"
