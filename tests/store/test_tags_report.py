"""Ledger rows keep their tags; a report by `tag:NAME` groups the period's rows by that tag's
value (untagged: None), on both engines, with the same totals as by model."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aispendtrack.store.reads.report import tag_of
from aispendtrack.views.report import report

T = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
ROWS = [({"feature": "search", "env": "prod"}, "0.25"), ({"feature": "search"}, "0.5"),
        ({"feature": "chat", "env": "prod"}, "1.25"), (None, "2")]


@pytest.fixture
def tagged(store):
    store.record([{"ts": T + timedelta(minutes=i), "key_id": "key_a", "account": "acme", "provider": "openai",
                   "model": "gpt-4o", "outcome": "forwarded", "cost_usd": c, "pricing": "priced", "tags": t}
                  for i, (t, c) in enumerate(ROWS)])
    return store


def test_report_by_a_tag(tagged):
    since, until = T.replace(hour=0), T.replace(hour=0) + timedelta(days=1)
    rep = report(tagged, since=since, until=until, by="tag:feature")
    groups = {g.key: g.stats.cost_usd for g in rep.groups}
    assert groups == {"search": Decimal("0.75"), "chat": Decimal("1.25"), None: Decimal("2")}
    assert rep.totals == report(tagged, since=since, until=until, by="model").totals
    env = {g.key: g.stats.calls for g in report(tagged, since=since, until=until, by="tag:env").groups}
    assert env == {"prod": 2, None: 2}


def test_tags_are_stored_as_one_canonical_object(tagged):
    with tagged.connection() as conn:
        stored = [t for (t,) in conn.execute("SELECT tags FROM calls ORDER BY ts").fetchall()]
    assert stored == ['{"env":"prod","feature":"search"}', '{"feature":"search"}',
                      '{"env":"prod","feature":"chat"}', None]


@pytest.mark.parametrize("by", ["tag:", "tag:Bad", "tag:a'b", "tag:x y", "tags:feature"])
def test_a_bad_tag_dimension_is_refused(tagged, by):
    assert tag_of(by) is None
    with pytest.raises(ValueError, match="tag:NAME"):
        report(tagged, by=by)
