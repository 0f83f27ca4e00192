import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console

from aispendtrack.cli.report import report_command
from aispendtrack.views import report as rpt
from aispendtrack.views.formats import fmt_usd
from aispendtrack.views.render import render_report
from aispendtrack.views.report import limits_status, parse_when, report, resolve_period
from aispendtrack_dev.synth import make_ledger
from support.store_reads import MIXED, T0, admit, insert, row


def test_totals_known(store):
    insert(store, MIXED)
    t = report(store).totals
    assert t.calls == 10
    assert (t.forwarded, t.errors, t.rejected, t.rate_limited, t.quota_exceeded) == (5, 2, 1, 1, 1)
    assert t.cost_usd == Decimal("1.5035") and str(t.cost_usd) == "1.5035"
    assert (t.priced_calls, t.unpriced_calls, t.unmetered_calls) == (4, 1, 2)
    assert (t.input_tokens, t.output_tokens, t.cache_read_tokens) == (1360, 136, 20)
    assert t.cache_write_tokens == 7
    assert t.reasoning_tokens is None  # never reported: unknown, not 0


def test_tiny_costs_sum_exactly(store):
    insert(store, [row(T0 + timedelta(seconds=i), cost="0.0000001") for i in range(10_000)])
    acc = 0.0
    for _ in range(10_000):
        acc += float("0.0000001")
    assert acc != 0.001  # what a naive float SUM gives
    for rep in (report(store), report(store, by="provider"), report(store, since=T0)):  # daily sums, ledger
        assert str(rep.totals.cost_usd) == "0.001"
        assert json.loads(rep.to_json())["totals"]["cost_usd"] == "0.001"


@pytest.mark.parametrize(
    "costs",
    [
        ["0.1234567890123456789", "0.0000000000001"],  # > 12 fractional digits: exact fallback
        ["1E-7", "2.5E-3", "0.1"],  # exponent notation (str(Decimal) writes it)
        ["1234.5", "99999.000001", "0.000001"],  # large amounts
        ["-0.5", "0.75"],  # credits
    ],
)
@pytest.mark.parametrize("kind", [{}, {"by": "provider"}, {"since": T0}])  # daily sums; ledger, ledger
def test_exact_for_any_decimal_text(store, costs, kind):
    insert(store, [row(cost=c) for c in costs], validate=False)
    assert report(store, **kind).totals.cost_usd == sum(map(Decimal, costs))


@pytest.mark.parametrize("kind", [{}, {"by": "provider"}, {"since": T0}])
def test_invalid_cost_counts_as_unpriced(store, kind):
    insert(store, [row(cost="abc"), row(cost="1E-20"), row(cost="0.5")], validate=False)  # an older release's rows
    t = report(store, **kind).totals
    assert t.cost_usd == Decimal("0.5") + Decimal("1E-20")
    assert (t.priced_calls, t.unpriced_calls) == (2, 1)


def test_groups_sorted_top_n_and_other(store):
    rows = [row(model="a", cost="1")] + [row(model="b", cost="2")] * 2 + [row(model="c", cost="0.5")] * 5
    rows += [row(model="d", pricing="unpriced")] * 3 + [row(model=None, cost="0.5")]
    insert(store, rows)
    rep = report(store, by="model")
    assert [g.key for g in rep.groups] == ["b", "c", "a", None, "d"]  # cost desc, then calls
    top = report(store, by="model", top=2)
    assert [g.key for g in top.groups] == ["b", "c"]
    assert top.other.key == 3 and top.other.stats.calls == 5 and top.other.stats.cost_usd == Decimal("1.5")
    assert top.other.stats.unpriced_calls == 3
    assert top.totals == rep.totals


def test_null_tokens_stay_unknown(store):
    insert(store, [row(model="x", pricing="unmetered"), row(model="y", inp=0, out=0, cost="0")])
    groups = {g.key: g.stats for g in report(store).groups}
    assert groups["x"].input_tokens is None and groups["y"].input_tokens == 0
    data = json.loads(report(store).to_json())
    assert {g["key"]: g["input_tokens"] for g in data["groups"]} == {"x": None, "y": 0}


@pytest.mark.parametrize(
    "by, keys_",
    [
        ("key", {"key_a", "key_b", None}),
        ("account", {"acme", "other"}),
        ("provider", {"openai", "anthropic"}),
        ("status", {200, 401, 429, 500, 499}),
        ("outcome", {"forwarded", "rejected", "rate_limited", "quota_exceeded", "upstream_error", "aborted"}),
        ("day", {"2026-11-10"}),
        ("hour", {"2026-11-10T12"}),
    ],
)
def test_dimensions(store, by, keys_):
    insert(store, MIXED)
    rep = report(store, by=by)
    assert {g.key for g in rep.groups} == keys_
    assert sum(g.stats.calls for g in rep.groups) == 10


def test_month_boundary_and_periods(store):
    last_oct = datetime(2026, 10, 31, 23, 59, 59, 999999, tzinfo=UTC)
    first_nov = datetime(2026, 11, 1, tzinfo=UTC)
    insert(store, [row(last_oct, cost="1"), row(first_nov, cost="2"), row(first_nov + timedelta(days=14), cost="4")])
    since, until = resolve_period(month=True, now=datetime(2026, 11, 20, 8, tzinfo=UTC))
    assert (since, until) == (first_nov, None)
    assert report(store, since=since, until=until).totals.cost_usd == 6
    oct_ = report(store, since=parse_when("2026-10-01"), until=parse_when("2026-10-31", end=True))
    assert oct_.totals.cost_usd == 1
    everything = report(store)
    days = dict(everything.daily)
    assert days["2026-10-31"].cost_usd == 1 and days["2026-11-01"].cost_usd == 2
    assert days["2026-11-07"].calls == 0  # gaps filled for the bar chart
    assert len(everything.daily) == 16


def test_resolve_period():
    now = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert resolve_period(today=True, now=now) == (datetime(2026, 11, 20, tzinfo=UTC), None)
    assert resolve_period(days=7, now=now) == (now - timedelta(days=7), None)
    assert resolve_period(since="2026-11-01T10:00", until="2026-11-02", now=now) == (
        datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))  # fmt: skip
    assert resolve_period(since="2026-11-01T10:00+01:00")[0] == datetime(2026, 11, 1, 9, tzinfo=UTC)
    with pytest.raises(ValueError):
        resolve_period(today=True, month=True)
    with pytest.raises(ValueError):
        parse_when("yesterday")


def test_filters(store):
    insert(store, MIXED)
    assert report(store, account="other").totals.cost_usd == Decimal("1.5")
    assert report(store, key="key_a").totals.calls == 8
    assert report(store, key="key_b", account="acme").totals.calls == 0


def test_many_days_match_brute_force(store):
    """Over 90 days, by a dimension the daily sums keep and by one they do not, the report
    equals a plain Python sum of the rows; a period with partial days too."""
    make_ledger(store, 4000, seed=7, days=90, start=datetime(2026, 8, 1, tzinfo=UTC))
    rows = list(store.export_rows())
    for by in ("model", "provider"):
        rep = report(store, by=by)
        assert rep.totals.calls == 4000
        assert rep.totals.cost_usd == sum((Decimal(r.cost_usd) for r in rows if r.cost_usd), Decimal(0))
        for g in rep.groups:
            mine = [r for r in rows if getattr(r, by) == g.key]
            assert g.stats.calls == len(mine)
            assert g.stats.input_tokens == sum(r.input_tokens or 0 for r in mine)
            assert g.stats.cost_usd == sum((Decimal(r.cost_usd) for r in mine if r.cost_usd), Decimal(0))
        assert sum(s.calls for _, s in rep.daily) == 4000
        assert len(rep.daily) == 90
        window = report(store, by=by, since=datetime(2026, 9, 3, 7, tzinfo=UTC),
                        until=datetime(2026, 9, 20, 1, tzinfo=UTC))
        assert window.totals.calls == sum(1 for r in rows if "2026-09-03T07" <= r.ts < "2026-09-20T01")


def test_json_command_matches_independent_sum(store):
    rng = random.Random(3)
    rows = [row(T0 + timedelta(minutes=i), model=rng.choice("xyz"), cost=f"{rng.randrange(1, 10**9)}e-{rng.randrange(5, 15)}")
            for i in range(300)]  # fmt: skip
    rows += [row(model="x", pricing="unpriced")]
    insert(store, rows)
    result = CliRunner().invoke(report_command, ["--json", "--by", "model"], obj={"db_path": store.target})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # only JSON on stdout
    expected = sum((Decimal(r["cost_usd"]) for r in rows if r["cost_usd"]), Decimal(0))
    assert Decimal(data["totals"]["cost_usd"]) == expected
    for g in data["groups"]:
        assert Decimal(g["cost_usd"]) == sum((Decimal(r["cost_usd"]) for r in rows if r["model"] == g["key"] and r["cost_usd"]), Decimal(0))
    assert data["totals"]["unpriced_calls"] == 1


def test_command_renders_and_errors(store, tmp_path):
    insert(store, MIXED)
    run = CliRunner().invoke
    result = run(report_command, ["--by", "key", "--since", "2026-11-01"], obj={"db_path": store.target})
    assert result.exit_code == 0, result.output
    assert "$1.50" in result.output and "1 unpriced call not in total" in result.output
    assert "2 unmetered calls not in total" in result.output and "\x1b[" not in result.output
    missing = run(report_command, [], obj={"db_path": str(tmp_path / "nope.db")})
    assert missing.exit_code == 1 and "nope.db" in missing.output and not (tmp_path / "nope.db").exists()
    both = run(report_command, ["--today", "--month"], obj={"db_path": store.target})
    assert both.exit_code == 2 and "choose one period" in both.output


def test_render_report_daily_bars(store):
    insert(store, [row(T0 + timedelta(days=d), cost=str(d + 1)) for d in range(3)])
    out = StringIO()
    Console(file=out, width=100).print(render_report(report(store)))
    text = out.getvalue()
    assert "spend per day" in text and "2026-11-12" in text and "█" in text and "$3.00" in text


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "—"),
        (Decimal(0), "$0.00"),
        (Decimal("0.000123"), "$0.000123"),
        (Decimal("0.00012345"), "$0.000123"),
        (Decimal("0.0000001"), "$0.0000001"),
        (Decimal("0.005"), "$0.005"),
        (Decimal("0.009999"), "$0.01"),
        (Decimal("0.01"), "$0.01"),
        (Decimal("0.0142"), "$0.0142"),
        (Decimal("0.125"), "$0.125"),
        (Decimal("0.9999"), "$1.00"),
        (Decimal("1234.56"), "$1,234.56"),
        (Decimal("1234567.891"), "$1,234,567.89"),
        (Decimal("-2.5"), "-$2.50"),
        ("0.5", "$0.50"),
    ],
)
def test_fmt_usd(value, text):
    assert fmt_usd(value) == text


def test_fmt_usd_none_label():
    assert fmt_usd(None, none="unpriced") == "unpriced"


def test_limits_status_from_limits_store(store, config):
    store.create_account("acme", "free")
    k = store.create_key("acme", config, name="ci")
    now = datetime(2026, 11, 10, 12, tzinfo=UTC)
    for i in range(3):
        admit(store, k.id, "acme", hourly=1000, monthly=10_000, now=now.timestamp() - 600 + i)
    st = {(s.scope, s.window): s for s in limits_status(store, config, now)}
    hour, month = st["key", "hour"], st["account", "month"]
    assert (hour.used, hour.limit, hour.name) == (3, 1000, "ci")
    assert hour.resets_at == now - timedelta(seconds=600) + timedelta(hours=1)
    assert (month.used, month.limit, month.name) == (3, 10_000, "acme")
    assert month.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert hour.source == "limits"


def test_limits_status_ledger_fallback(store, config):
    """An account without limits has no limiter counters: its usage is what the ledger metered."""
    store.create_account("acme", "enterprise")
    k = store.create_key("acme", config)
    now = datetime(2026, 11, 10, 12, tzinfo=UTC)
    insert(store, [row(now - timedelta(minutes=5), key=k.id), row(now - timedelta(minutes=90), key=k.id),
                   row(now - timedelta(minutes=1), key=k.id, outcome="rate_limited"),
                   row(datetime(2026, 10, 31, 23, 59, tzinfo=UTC), key=k.id)])  # fmt: skip
    st = {(s.scope, s.window): s for s in limits_status(store, config, now)}
    assert st["key", "hour"].used == 1 and st["key", "hour"].limit is None  # enterprise: unlimited
    assert st["account", "month"].used == 2 and st["account", "month"].limit is None
    assert st["key", "hour"].source == st["account", "month"].source == "ledger"


def test_unknown_dimension(store):
    with pytest.raises(ValueError):
        report(store, by="colour")


def test_empty_ledger(store):
    rep = report(store)
    assert rep.totals.calls == 0 and rep.groups == [] and rep.daily == []
    assert json.loads(rep.to_json())["totals"]["cost_usd"] == "0"


def test_module_has_no_float_money():
    assert "float(" not in rpt.__loader__.get_source(rpt.__name__).split("def report(")[1].split("def _fill_days")[0]


def test_grouped_table_counts_401s_next_to_errors_and_429s(store):
    insert(store, MIXED)
    out = StringIO()
    Console(file=out, width=120).print(render_report(report(store, by="account")))
    lines = out.getvalue().splitlines()
    assert any(" err 401 429 " in f" {' '.join(line.split())} " for line in lines), out.getvalue()
    acme = next(line.split() for line in lines if line.startswith("acme"))
    assert acme[-5:] == ["2", "1", "2", "1", "2"]  # err, 401, 429, unpriced, unmetered


def test_by_key_rows_name_the_key_and_its_hint(store, config):
    store.create_account("acme", "pro")
    k = store.create_key("acme", config, name="laptop")
    insert(store, [row(key=k.id, cost="0.25", inp=10, out=1), row(key="key_gone", cost="0.01")])
    rep = report(store, by="key")
    out = StringIO()
    Console(file=out, width=120).print(render_report(rep))
    assert f"{k.id} laptop {k.hint}" in out.getvalue()
    assert "key_gone" in out.getvalue()
    groups = {g["key"]: g for g in rep.to_dict()["groups"]}
    assert (groups[k.id]["name"], groups[k.id]["hint"]) == ("laptop", k.hint)
    assert "name" not in groups["key_gone"]


@pytest.mark.parametrize("by", ["model", "member", "provider", "day"])
def test_groups_without_a_daily_series_are_the_same_groups(store, by):
    make_ledger(store, 600, seed=2, days=6, start=datetime(2026, 11, 3, tzinfo=UTC))
    for since in (None, datetime(2026, 11, 4, 7, tzinfo=UTC)):
        full, flat = report(store, by=by, since=since), report(store, by=by, since=since, per_day=False)
        assert [(g.key, g.stats) for g in flat.groups] == [(g.key, g.stats) for g in full.groups]
        assert flat.totals == full.totals and (flat.daily == []) == (by != "day")
