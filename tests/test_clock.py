"""Time from one clock (store/clock.py): the skew between this machine and the database
server, measured with the real clock; a gateway refuses to start above
`[database] max_clock_skew_ms` and answers 503 while a later measurement is above it.
(End to end, with gateways whose clocks really differ: tests/e2e/test_e2e_clock.py.)"""

import logging
import time

import pytest
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.addon import AiSpendTrack
from aispendtrack.proxy.guard import LedgerGuard
from aispendtrack.proxy.state import META, FlowState
from aispendtrack.store import clock, open_store
from aispendtrack.store.health import Health


def test_the_sample_with_the_shortest_round_trip_decides():
    readings = iter([100.0, 100.4, 200.0, 200.002, 300.0, 300.1])  # this machine: before and after each
    server = iter([105.0, 203.001, 304.0])  # the server is 3 s ahead; only the 2 ms trip shows it exactly
    skew = clock.measure(lambda: next(server), now=lambda: next(readings), samples=3)
    assert skew == clock.Skew(offset_ms=pytest.approx(3000.0), round_trip_ms=pytest.approx(2.0))
    assert skew.describe() == "this machine's clock is 3.000 s behind the database server's (±1.0 ms)"
    assert clock.Skew(-2500.0, 0.4).describe() == "this machine's clock is 2.500 s ahead of the database server's (±0.2 ms)"


def test_the_bound():
    assert clock.refusal(None, 500) is None  # one clock: nothing to refuse
    assert clock.refusal(clock.Skew(499.9, 1.0), 500) is None
    assert clock.refusal(clock.Skew(-500.1, 1.0), 500) == (
        "this machine's clock is 0.500 s ahead of the database server's (±0.5 ms), more than "
        "[database] max_clock_skew_ms = 500: synchronise the clocks (NTP) of this machine and the database server")


def test_postgresql_is_measured_and_sqlite_has_one_clock(pg_dsn, tmp_path):
    with open_store(pg_dsn) as store:
        here = store.clock_skew()
        assert abs(here.offset_ms) < 50 and 0 <= here.round_trip_ms < 1000
        ahead = store.clock_skew(now=lambda: time.time() + 2)  # this machine 2 s fast
        assert -2050 < ahead.offset_ms < -1950
        with pytest.raises(clock.ClockSkewError, match="2.0.. s ahead of the database server's"):
            clock.check(FixedNow(store, 2), 500)
        assert clock.check(store, 500) is not None
    with open_store(tmp_path / "a.db") as store:
        assert store.clock_skew() is None and clock.check(store, 1) is None


class FixedNow:
    """A store whose `clock_skew` reads this machine's clock `offset` seconds off."""

    def __init__(self, store, offset: float):
        self.store, self.offset = store, offset

    def clock_skew(self, now=time.time):
        return self.store.clock_skew(now=lambda: now() + self.offset)


def test_the_watch_reports_to_health_while_the_clocks_differ(pg_dsn):
    health = Health("db")
    with open_store(pg_dsn) as store:
        offset = [0.0]
        watch = clock.ClockWatch(store, health, 500, now=lambda: time.time() + offset[0])
        assert watch.check_once() is not None and health.problem is None
        offset[0] = -1.5  # this machine's clock fell behind
        watch.check_once()
        assert health.problem.startswith("this machine's clock is 1.5") and "max_clock_skew_ms = 500" in health.problem
        offset[0] = 0.0
        watch.check_once()
        assert health.problem is None
        offset[0] = 3.0
        store.close()
        assert watch.check_once() is None and health.problem is None  # not measured: the writer tells of that


def test_the_watch_measures_every_period_on_its_thread(pg_dsn):
    health = Health("db")
    with open_store(pg_dsn) as store:
        watch = clock.ClockWatch(store, health, 500, every=0.05, now=lambda: time.time() + 1).start()
        try:
            deadline = time.monotonic() + 10
            while health.problem is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert health.problem is not None and "ahead of" in health.problem
        finally:
            watch.stop()
        assert not watch._thread.is_alive()


def provider_flow():
    f = tflow.tflow()
    state = FlowState("openai", "chat", "openai", time.time())
    state.key_id, state.account = "key_1", "acme"
    f.metadata[META] = state
    return f


def test_a_running_gateway_answers_503_while_its_clock_is_too_far(pg_dsn, caplog):
    caplog.set_level(logging.WARNING, logger="aispendtrack")
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=pg_dsn, aispendtrack_config="")
        assert addon.rt.ready and addon._clock is not None  # watching: another machine's clock
        addon._clock.now = lambda: time.time() + 2  # as if this machine's clock ran 2 s ahead
        addon._clock.check_once()
        refused = provider_flow()
        LedgerGuard(addon.rt).requestheaders(refused)
        assert refused.response.status_code == 503
        assert "this machine's clock is 2.0" in refused.response.json()["error"]["message"]
        addon._clock.now = time.time
        addon._clock.check_once()
        passed = provider_flow()
        LedgerGuard(addon.rt).requestheaders(passed)
        assert passed.response is None
        addon.done()
    assert addon._clock is None
    assert "synchronise the clocks" in caplog.text


def test_a_gateway_on_sqlite_has_nothing_to_watch(tmp_path):
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=str(tmp_path / "a.db"), aispendtrack_config="")
        assert addon.rt.ready and addon._clock is None
        addon.done()
