"""The limiter's parts around the check: its testing option and clock, the thread its checks
run on, and how its status headers join the upstream's response headers."""

import asyncio
import locale
import logging
import threading
import time

from mitmproxy import http
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.limits import Limiter, add_headers, offset_clock
from aispendtrack.proxy.state import META, FlowState, Runtime, state_of
from aispendtrack.store import db as dbmod

OPTION = "aispendtrack_clock_offset_file"


def test_clock_option_name_type_default_and_help(db_path, config, caplog):
    """The option as `mitmdump --options` and mitmweb show it; at startup mitmproxy
    configures every option, and the default leaves the real clock, silently."""
    lim = Limiter(Runtime(config=config, db_path=db_path))
    with taddons.context(lim) as tctx:
        option = tctx.options._options[OPTION]
        assert (option.typespec, option.default) == (str, "")
        assert option.help == (
            "Testing only: a file holding seconds (float) that the limiter adds to the current time, read at each"
            " check, so a test can move a running proxy ahead without waiting. Empty: the real clock.")
        caplog.set_level(logging.WARNING)
        lim.configure(set(tctx.options.keys()))
        assert lim.clock is time.time
    assert caplog.records == []


def test_setting_the_clock_file_warns_that_it_is_a_testing_option(db_path, config, tmp_path, caplog):
    lim = Limiter(Runtime(config=config, db_path=db_path))
    path = str(tmp_path / "clock")
    caplog.set_level(logging.WARNING)
    with taddons.context(lim) as tctx:
        tctx.configure(lim, **{OPTION: path})
    assert caplog.record_tuples == [
        ("aispendtrack.proxy.limits", logging.WARNING,
         f"AiSpendTrack: limiter clock offset read from {path} (testing option)")]


def test_clock_file_is_read_as_utf8_whatever_the_locale(tmp_path, monkeypatch):
    clock_file = tmp_path / "clock"
    clock_file.write_text("\u0663\u0666\u0660\u0660", encoding="utf-8")  # 3600 in Arabic-Indic digits
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    clock = offset_clock(str(clock_file))
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # the process's default text encoding becomes ASCII
    try:
        assert clock() == 1_003_600.0
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def test_the_worker_is_one_named_daemon_thread_ended_by_stop(proxy_rt, config):
    """The checks run on the store writer's thread: named for thread dumps; a daemon, so a
    proxy that exits without `done()` does not hang on a thread waiting for checks; after
    the writer is closed (the addon's shutdown) it is gone."""

    def ours():
        return [t for t in threading.enumerate() if t.name == "aispendtrack-writer"]

    assert ours() == []
    rt = proxy_rt(config)
    [thread] = ours()
    assert thread.daemon is True
    rt.writer.close()
    assert ours() == [] and not thread.is_alive()


def test_stop_closes_the_worker_connection(proxy_rt, db_path, config):
    """A connection still open keeps SQLite from leaving WAL mode; once the addon has shut
    down (writer and store closed), nothing of the limiter's checks holds the file."""
    rt = proxy_rt(config)
    lim = Limiter(rt)
    f = tflow.tflow()
    f.metadata[META] = FlowState("openai", "chat", "openai", time.time(), key_id="key_1", account="acme",
                                 requests_per_hour=2)

    async def main():
        with taddons.context(lim) as tctx:
            lim.start()
            await tctx.cycle(lim, f)  # the writer opens its connection and counts the call
            rt.writer.close()
            rt.store.close()

    asyncio.run(main())
    assert f.response is None and state_of(f).limit_headers
    database = dbmod.connect(db_path)
    try:
        assert database.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    finally:
        database.conn.close()


def test_status_headers_are_appended_after_the_upstream_headers():
    headers = http.Headers(content_type="application/json", x_ratelimit_remaining_requests="7")
    add_headers(headers, {"x-aispendtrack-ratelimit-remaining-requests-hour": "1"})
    assert headers.fields == (
        (b"content-type", b"application/json"),
        (b"x-ratelimit-remaining-requests", b"7"),
        (b"x-aispendtrack-ratelimit-remaining-requests-hour", b"1"),
    )


def test_status_headers_replace_ours_the_upstream_already_sent():
    """An upstream that is itself an AiSpendTrack proxy sent these headers: ours replace
    them, one value each, and the provider's headers stay."""
    resp = tflow.tresp()
    resp.headers["X-AiSpendTrack-RateLimit-Remaining-Requests-Hour"] = "99"
    add_headers(resp.headers, {"x-aispendtrack-ratelimit-remaining-requests-hour": "1",
                               "x-aispendtrack-ratelimit-limit-requests-hour": "2"})
    assert resp.headers.get_all("x-aispendtrack-ratelimit-remaining-requests-hour") == ["1"]
    assert resp.headers.get_all("x-aispendtrack-ratelimit-limit-requests-hour") == ["2"]
    assert resp.headers["header-response"] == "svalue"  # tresp()'s own header
