from decimal import Decimal
from io import StringIO

from rich.console import Console

from aispendtrack.views.report import report
from aispendtrack.store.totals import SessionStats, Stats
from aispendtrack.views.stats import build_summary, render_summary, summary_text
from support.store_reads import MIXED, insert


def rows_with_decimals():
    return [{**r, "cost_usd": Decimal(r["cost_usd"]) if r["cost_usd"] else None} for r in MIXED]


def test_session_totals_match_report(store):
    insert(store, MIXED)
    s = build_summary(rows_with_decimals())
    assert s.totals == report(store).totals == report(store, by="provider").totals
    assert s.totals.cost_usd == Decimal("1.5035")


def test_add_is_incremental_and_keeps_no_rows():
    s = SessionStats()
    for r in MIXED:
        s.add(r)
    assert not any(isinstance(v, list) for v in vars(s).values())
    assert s.by_model["gpt-4o"].calls == 7 and s.by_model["claude"].cost_usd == Decimal("1.5")
    assert s.by_key["key_b"].cost_usd == Decimal("1.5") and s.by_key[None].rejected == 1
    assert s.by_model["mine"].input_tokens == 50 and s.by_model["mine"].unmetered_calls == 1


def test_cost_as_str_or_decimal_and_float_safe():
    s = Stats()
    for cost in ("0.1", Decimal("0.2"), 0.1):  # a float is taken by its repr, not its binary value
        s.add_row({"outcome": "forwarded", "cost_usd": cost, "pricing": "priced"})
    assert s.cost_usd == Decimal("0.4")
    s.add_row({"outcome": "forwarded", "cost_usd": "nan?", "pricing": "priced"})
    assert (s.priced_calls, s.unpriced_calls) == (3, 1)


def test_summary_text():
    text = summary_text(rows_with_decimals())
    assert ("session: 10 calls (5 forwarded, 2 errors, 2 429s [1 rate limit, 1 quota], 1 rejected, 0 budget refused, "
            "0 forbidden)") in text
    assert "tokens: input 1,360 (cached 20, cache write 7), output 136 (reasoning —)" in text
    assert "cost: $1.50 (4 priced calls)" in text
    assert "1 unpriced call not in total" in text and "2 unmetered calls not in total" in text
    assert "claude: 1 call, $1.50" in text
    assert "key_b (_b): 1 call, $1.50" in text
    lines = text.splitlines()
    assert lines.index("per model:") < lines.index("per key:")


def test_summary_empty_and_unpriced_only():
    assert "session: 0 calls" in summary_text([])
    text = summary_text([{"outcome": "forwarded", "model": "m", "pricing": "unpriced", "input_tokens": 3}])
    assert "cost: unpriced" in text and "m: 1 call, unpriced" in text


def test_render_summary():
    out = StringIO()
    stats = build_summary(rows_with_decimals())
    Console(file=out, width=120).print(render_summary(stats))
    text = out.getvalue()
    for needle in ("this session", "per model", "per key", "claude", "$1.50", "unpriced", "1,360"):
        assert needle in text


def test_summary_addon_alone_answers_its_command_from_the_runtime_totals():
    from mitmproxy.test import taddons

    from aispendtrack.proxy.state import Runtime
    from aispendtrack.proxy.summary import Summary

    rt = Runtime()
    addon = Summary(rt)
    with taddons.context(addon) as tctx:
        assert "session: 0 calls" in tctx.master.commands.call("aispendtrack.summary")
        rt.session.add(rows_with_decimals()[0])
        assert "session: 1 call" in tctx.master.commands.call("aispendtrack.summary")
