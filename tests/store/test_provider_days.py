"""`provider_days`: one provider's daily sums per (account, model) and UTC day, on both
engines — the gateway's side of a reconciliation."""

from datetime import UTC, datetime
from decimal import Decimal as D

from support.ledger_rows import make_row


def test_one_providers_days_per_account_and_model(any_store):
    rows = [
        make_row(ts=datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC), account="acme", input_tokens=100,
                 cache_read_tokens=40, output_tokens=10, cost_usd=D("0.001")),
        make_row(ts=datetime(2026, 11, 1, 8, tzinfo=UTC), account="acme", input_tokens=50, output_tokens=5,
                 cost_usd=D("0.0005")),
        make_row(ts=datetime(2026, 11, 2, 0, 0, 0, tzinfo=UTC), account="acme"),  # the next UTC day
        make_row(ts=datetime(2026, 11, 1, 9, tzinfo=UTC), account="umbrella", model="gpt-4o"),
        make_row(ts=datetime(2026, 11, 1, 9, tzinfo=UTC), account="acme", provider="anthropic",
                 model="claude-haiku-4-5"),
        make_row(ts=datetime(2026, 11, 1, 9, tzinfo=UTC), account="acme", outcome="aborted", input_tokens=None,
                 output_tokens=None, cost_usd=None, pricing="unmetered"),
        make_row(ts=datetime(2026, 10, 31, 9, tzinfo=UTC), account="acme"),  # before the period
    ]
    any_store.record(rows)
    got = {(g.group, g.day): g.stats for g in any_store.provider_days("openai", "2026-11-01", "2026-11-02")}
    assert set(got) == {(("acme", "gpt-4o-mini"), "2026-11-01"), (("umbrella", "gpt-4o"), "2026-11-01"),
                        (("acme", "gpt-4o-mini"), "2026-11-02")}
    st = got[("acme", "gpt-4o-mini"), "2026-11-01"]
    assert (st.calls, st.forwarded, st.errors, st.unmetered_calls) == (3, 2, 1, 1)
    assert (st.input_tokens, st.cache_read_tokens, st.output_tokens, st.cost_usd) == (150, 40, 15, D("0.0015"))
    assert any_store.provider_days("openai", "2026-11-03", "2026-11-05") == []
