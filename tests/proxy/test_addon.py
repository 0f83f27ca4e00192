import pytest
from mitmproxy.test import taddons

from aispendtrack.proxy.addon import AiSpendTrack
from aispendtrack.config import Config


def test_addon_starts_on_configured_db_and_stops_cleanly(tmp_path):
    addon = AiSpendTrack()
    db = tmp_path / "a.db"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(db), aispendtrack_config="")
        assert addon.rt.ready and addon.rt.db_path == db
        # the children's options come with the parent
        assert {"aispendtrack_redact_provider_keys", "aispendtrack_clock_offset_file"} <= set(tctx.options.keys())
        assert addon.rt.config == Config()
        assert db.exists()
        with addon.rt.store.connection() as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        assert {"accounts", "keys", "key_secrets", "calls", "rate_events", "monthly_usage", "proxies"} <= tables
        addon.done()
    assert addon.rt.keycache is None and addon.rt.store is None


def test_the_config_database_url_is_used_when_no_option_names_one(tmp_path, pg_dsn, monkeypatch):
    monkeypatch.delenv("AISPENDTRACK_DB", raising=False)
    config = tmp_path / "mitm.toml"
    config.write_text(f'[database]\nurl = "{pg_dsn}"\n')
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_config=str(config))
        assert addon.rt.ready and addon.rt.store.engine == "postgres" and addon.rt.db_path == pg_dsn
        tctx.configure(addon, aispendtrack_db=str(tmp_path / "a.db"))  # the option beats the config
        assert addon.rt.store.engine == "sqlite"
        addon.done()


@pytest.mark.parametrize("text, says", [
    ("[tiers.free]\nmax_keys = 0\n", "tiers.free.max_keys"),
    ('[providers]\n"*.com" = "openai"\n', "providers: Value error, host pattern '*.com'"),  # a bad host pattern
])
def test_bad_config_at_start_up_logs_one_error_line_and_stays_unready(tmp_path, caplog, text, says):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(tmp_path / "a.db"), aispendtrack_config=str(bad))
        assert not addon.rt.ready
    # an ERROR during start-up makes mitmdump exit
    assert any(f"{bad}: {says}" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_bad_config_while_running_is_refused_and_keeps_the_old_one(tmp_path):
    from mitmproxy import exceptions

    bad = tmp_path / "bad.toml"
    bad.write_text("not toml [")
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(tmp_path / "a.db"))
        addon.running()
        with pytest.raises(exceptions.OptionsError, match="not valid TOML"):
            tctx.configure(addon, aispendtrack_config=str(bad))
        assert addon.rt.ready
        addon.done()


def test_unusable_database_is_a_clear_start_up_error(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(blocker / "sub" / "a.db"))
        assert not addon.rt.ready
    assert any("AiSpendTrack database error" in r.getMessage() for r in caplog.records)


def test_allow_hosts_set_for_regular_mode_but_not_over_user_choice(tmp_path):
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(tmp_path / "a.db"), mode=["regular@8082"])
        addon.running()
        assert any("openai" in p for p in tctx.options.allow_hosts)
        tctx.configure(addon, allow_hosts=["^mine:443$"])
        assert tctx.options.allow_hosts == ["^mine:443$"]
        addon.done()


def test_summary_command_reports_the_session(tmp_path):
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(tmp_path / "a.db"))
        addon.rt.session.add({
            "ts": "2026-11-26T00:00:00.000000Z", "key_id": "key_1", "key_hint": "ask_…abcd", "account": "a",
            "provider": "openai", "api": "chat", "model": "gpt-4o-mini", "status": 200, "outcome": "forwarded",
            "streamed": False, "partial": False, "input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 0,
            "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_usd": "0.000123", "pricing": "priced",
        })
        text = tctx.master.commands.call("aispendtrack.summary")
        assert "gpt-4o-mini" in text and "0.000123" in text
        addon.done()
