from datetime import UTC, datetime, timedelta
from io import StringIO

from click.testing import CliRunner
from rich.console import Console

from aispendtrack.views.top import render_top, top_command
from support.store_reads import insert, row

NOW = datetime(2026, 11, 10, 12, 30, 20, tzinfo=UTC)


def text_of(renderable, width=120) -> str:
    out = StringIO()
    Console(file=out, width=width).print(renderable)
    return out.getvalue()


def test_render_top_without_terminal(store, config):
    store.create_account("acme", "free")
    k = store.create_key("acme", config, name="ci")
    insert(store, [
        row(NOW - timedelta(minutes=3), key=k.id, model="gpt-4o-mini", cost="0.000123", inp=1200, out=80),
        row(NOW - timedelta(seconds=30), key=k.id, model="claude-haiku", cost="2.5", inp=10, out=5),
        row(NOW - timedelta(seconds=10), key=k.id, model="mine", pricing="unpriced", inp=10, out=5),
        row(NOW - timedelta(seconds=5), key=k.id, outcome="rate_limited", status=429),
        row(NOW - timedelta(hours=2), key=k.id, cost="100"),  # outside the 15 minutes
    ])  # fmt: skip
    text = text_of(render_top(store, NOW, config=config))
    assert "3 calls in the last minute" in text and "no proxy running on this database" in text
    assert "spend per minute, last 15 min: $2.50" in text
    assert "12:27" in text and "12:30" in text and "$0.000123" in text
    assert "latest calls" in text and "claude-haiku" in text and "unpriced" in text and "rate_limited" in text
    assert "nearest to their limits" in text and "key ci" in text and "account acme" in text
    assert "10,000" in text  # free tier monthly limit


def test_calls_in_flight_from_live_proxies_only(any_store):
    t = NOW.timestamp()
    assert any_store.inflight(t) is None
    with any_store.connection() as conn, conn.tx():
        conn.executemany("INSERT INTO proxies (id, pid, host, started, heartbeat, inflight) VALUES (?, ?, ?, ?, ?, ?)", [
            ("a", 1, "h", t - 60, t - 0.5, 2), ("b", 2, "h", t - 60, t - 1.5, 1), ("gone", 3, "h", t - 600, t - 60, 5),
        ])  # fmt: skip
    insert(any_store, [row(NOW - timedelta(seconds=1), cost="1")])
    text = text_of(render_top(any_store, NOW))
    assert "3 in flight" in text and "no proxy running" not in text
    assert "limits: none set" in text


def test_top_once_command(store):
    insert(store, [row(datetime.now(UTC) - timedelta(seconds=5), model="gpt-4o", cost="0.01")])
    result = CliRunner().invoke(top_command, ["--once"], obj={"db_path": store.target, "config_path": None})
    assert result.exit_code == 0, result.output
    assert "aispendtrack top" in result.output and "gpt-4o" in result.output
    # not a TTY: one frame and exit, even without --once
    result = CliRunner().invoke(top_command, [], obj={"db_path": store.target, "config_path": None})
    assert result.exit_code == 0 and result.output.count("aispendtrack top") == 1


def test_top_missing_db(tmp_path):
    result = CliRunner().invoke(top_command, ["--once"], obj={"db_path": str(tmp_path / "none.db")})
    assert result.exit_code == 1 and "none.db" in result.output and not (tmp_path / "none.db").exists()
