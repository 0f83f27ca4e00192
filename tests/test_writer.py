"""The proxy's one store writer: what one wake-up commits and how, who is told when, and the
housekeeping between wake-ups (stale budget holds, the store's health).

- On SQLite a wake-up's admissions, ledger rows, keys' last use and calls in flight are one
  transaction (one BEGIN IMMEDIATE, seen in SQLite's own statement trace), and the event
  loop is woken once for all of its waiters.
- An admission that cannot be decided is answered at once (the proxy's 503), while the
  rows of its batch are still being retried; on PostgreSQL, where admissions commit on
  their own, the ones committed stand when the rows' transaction fails (never refused
  after being counted).
- A stale hold is released exactly once however many writers race, by the clock that
  stamped it; with nothing to write the writer finds out by itself that the store is back.
"""

import asyncio
import sqlite3
import threading
import time
import types

import pytest

from aispendtrack.config import Config
from aispendtrack.store import budgets, open_store, traffic, writer
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge
from aispendtrack.store.writer import Presence, StoreWriter

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z
NANO = 10**9
STALE = T0 + budgets.RESERVATION_TTL + 10  # a moment at which a hold made at T0 is stale


def row(flow_id, **more):
    return {"ts": T0, "flow_id": flow_id, "key_id": "key_a", "account": "acme", "provider": "openai",
            "outcome": "forwarded", "cost_usd": None, "pricing": "unmetered", **more}


def sql(store, statement, params=()):
    with store.connection() as conn:
        return conn.execute(statement, params).fetchall()


def storage_error(message, code):
    e = sqlite3.OperationalError(message)
    e.sqlite_errorcode = code  # as SQLite reports it
    return e


def queued(w, admissions=(), rows=()):
    """Queue `admissions` and `rows` on the writer `w` before it starts, start it (its first
    wake-up takes them all) and return their outcomes: decisions and row ids (or errors)."""

    async def main():
        waiters = [asyncio.ensure_future(w.admit(a)) for a in admissions]
        waiters += [asyncio.ensure_future(w.write(r)) for r in rows]
        await asyncio.sleep(0)  # every waiter has queued its job
        w.start()
        got = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 20)
        return got[:len(admissions)], got[len(admissions):]

    return asyncio.run(main())


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "writer.db") as opened:
        yield opened


@pytest.fixture(scope="module")
def pg_server():
    from aispendtrack_dev.pgserver import PgServer

    server = PgServer(fsync=False).start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    """A fresh store's target on each engine (a file, or a new PostgreSQL database)."""
    if request.param == "sqlite":
        return str(tmp_path / "race.db")
    return request.getfixturevalue("pg_server").create_database()


def test_one_wake_up_is_one_transaction_on_sqlite(store, monkeypatch):
    store.create_account("acme", "pro")
    key = store.create_key("acme", Config())
    transactions: list[list[str]] = []

    def traced(conn, batch):  # SQLite's own trace of the statements the batch ran
        transactions.append([])
        conn.raw.set_trace_callback(transactions[-1].append)
        try:
            return traffic.one_transaction(conn, batch)
        finally:
            conn.raw.set_trace_callback(None)

    monkeypatch.setattr(store, "write_batch", traced)
    presence = Presence(count=3)
    w = StoreWriter(store, presence=presence, used=lambda: {key.id})
    now = time.time()
    try:
        decisions, ids = queued(w, [Admission(key.id, "acme", 2, None, now)] * 3,
                                [row(f"f{i}", key_id=key.id) for i in range(2)])
    finally:
        w.close()
    assert [d.admitted for d in decisions] == [True, True, False] and ids == [1, 2]
    first = transactions[0]
    assert first[0] == "BEGIN IMMEDIATE" and first[-1] == "COMMIT"
    assert [s for s in first if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
    for done in ("INSERT INTO rate_events", "INSERT INTO calls", "UPDATE keys SET last_used",
                 "INSERT INTO proxies"):
        assert any(s.startswith(done) for s in first), done
    assert (w.stats.batches, w.stats.admissions, w.stats.rows_written) == (1, 3, 2)
    assert sql(store, "SELECT count(*) FROM rate_events") == [(2,)]
    assert sql(store, "SELECT flow_id FROM calls ORDER BY id") == [("f0",), ("f1",)]
    assert store.get_key(key.id).last_used is not None


def test_the_event_loop_is_woken_once_per_batch(store):
    w = StoreWriter(store)

    async def main():
        loop = asyncio.get_running_loop()
        wakes = []
        real = loop.call_soon_threadsafe

        def counted(callback, *args, **kwargs):
            wakes.append(callback)
            return real(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counted
        waiters = [asyncio.ensure_future(w.admit(Admission("key_a", "acme", 10, None, T0 + i))) for i in range(5)]
        waiters += [asyncio.ensure_future(w.write(row(f"f{i}"))) for i in range(5)]
        await asyncio.sleep(0)  # every waiter has queued its job
        w.start()
        got = await asyncio.wait_for(asyncio.gather(*waiters), 10)
        return got, wakes

    try:
        got, wakes = asyncio.run(main())
    finally:
        w.close()
    assert [d.admitted for d in got[:5]] == [True] * 5 and got[5:] == [1, 2, 3, 4, 5]
    assert len(wakes) == 1 and w.stats.batches == 1


def test_an_admission_that_cannot_be_decided_is_refused_at_once_while_its_rows_are_retried(store, monkeypatch):
    locked = [2]  # the first two commits find the database locked
    writes = []

    class Locked:
        def write(self, batch):
            writes.append((len(batch.admissions), len(batch.rows)))
            if locked[0]:
                locked[0] -= 1
                raise storage_error("database is locked", sqlite3.SQLITE_BUSY)
            return store.write(batch)

        def __getattr__(self, name):
            return getattr(store, name)

    backoff = threading.Event()
    slept = []

    def sleep(seconds):  # the first backoff waits until the test has seen the admission answered
        slept.append(seconds)
        backoff.wait(10)

    monkeypatch.setattr(writer, "time", types.SimpleNamespace(sleep=sleep, time=time.time))
    w = StoreWriter(Locked(), retries=3, retry_delay=0.05)

    async def main():
        admission = asyncio.ensure_future(w.admit(Admission("key_a", "acme", 10, None, T0)))
        await asyncio.sleep(0)
        row_done = asyncio.wrap_future(w.submit(row("kept")))
        w.start()
        with pytest.raises(sqlite3.OperationalError, match="^database is locked$"):
            await asyncio.wait_for(admission, 5)  # answered before the first retry could end
        while not slept:
            await asyncio.sleep(0.01)
        assert slept == [0.05] and not row_done.done()  # the rows wait in the backoff
        backoff.set()
        return await asyncio.wait_for(row_done, 10)

    try:
        assert asyncio.run(main()) == 1
    finally:
        backoff.set()
        w.close()
    assert writes == [(1, 1), (0, 1), (0, 1)]  # retried without the admission: never decided late
    assert slept == [0.05, 0.1] and w.stats.retries == 2
    assert sql(store, "SELECT count(*) FROM rate_events") == [(0,)]  # it was not counted either
    assert sql(store, "SELECT flow_id FROM calls") == [("kept",)]


def test_on_postgresql_admissions_committed_alone_stand_when_the_rows_fail(pg_server, monkeypatch):
    import psycopg

    failures = [1]
    real_insert = traffic.insert_batch

    def rows_fail_once(*args, **kwargs):
        if failures[0]:
            failures[0] -= 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(traffic, "insert_batch", rows_fail_once)
    with open_store(pg_server.create_database()) as store:
        assert store.write_batch is traffic.admissions_apart
        w = StoreWriter(store, retries=2, retry_delay=0.01)
        try:
            decisions, ids = queued(w, [Admission("key_a", "acme", 5, None, T0 + i) for i in range(2)], [row("kept")])
        finally:
            w.close()
        assert [(d.admitted, d.hourly_remaining) for d in decisions] == [(True, 4), (True, 3)]
        assert ids[0] > 0 and sql(store, "SELECT flow_id FROM calls") == [("kept",)]
        assert store.usage(key_id="key_a", account="acme", now=T0 + 2).hourly_count == 2  # counted once each
        assert failures == [0] and w.stats.retries == 1


def held(store):
    return sql(store, "SELECT reserved_nano FROM budget_spend WHERE scope = 'key' AND subject = 'key_b'")


def test_a_stale_hold_is_released_exactly_once_when_stores_race(target):
    with open_store(target) as store:
        store.set_budget("key", "key_b", "1", "total", now=T0)
        hold = store.admit(Admission("key_b", "acme", None, None, T0, Charge(NANO // 2))).budget.id
        assert held(store) == [(NANO // 2,)]
    racers, barrier, released, errors = 8, threading.Barrier(8), [], []

    def race():
        try:
            with open_store(target, migrate_schema=False) as mine:
                barrier.wait()
                released.append(mine.expire_holds(STALE))
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and sorted(released) == [0] * (racers - 1) + [1]
    with open_store(target) as store:
        assert held(store) == [(0,)]  # released once: not -0.5
        assert sql(store, "SELECT id, expired FROM budget_reservations") == [(hold, 1)]


def test_two_writers_release_a_stale_hold_once_by_the_clock_that_stamped_it(target):
    with open_store(target) as store:
        store.set_budget("key", "key_b", "1", "total", now=T0)
        store.admit(Admission("key_b", "acme", None, None, T0, Charge(NANO // 2)))
    stores = [open_store(target, migrate_schema=False) for _ in range(2)]
    writers = [StoreWriter(s) for s in stores]
    results = []

    def proxy(w):  # each proxy's clock (a test's, here) is at STALE: the hold made at T0 is stale for it
        results.append(queued(w, [Admission("key_c", "acme", None, None, STALE)]))

    try:
        threads = [threading.Thread(target=proxy, args=(w,)) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [decisions[0].admitted for decisions, _ in results] == [True, True]
        for w in writers:
            w.close()  # each released what was stale after its first wake-up
        assert held(stores[0]) == [(0,)]  # once: not -0.5
        assert sql(stores[0], "SELECT expired FROM budget_reservations") == [(1,)]
    finally:
        for w in writers:
            w.close()
        for s in stores:
            s.close()


def test_a_writer_does_not_release_holds_its_admissions_clock_still_counts(store):
    """A test's (or a lagging) clock stamps the hold: the writer releases by that clock, not by
    its own, so a hold made 'a week ago' by the proxy's clock a moment ago is still held."""
    store.set_budget("key", "key_b", "1", "total", now=T0)
    w = StoreWriter(store)
    try:
        ([d], _) = queued(w, [Admission("key_b", "acme", None, None, T0, Charge(NANO // 2))])
        assert d.admitted
    finally:
        w.close()  # its first wake-up made the hold, then ran the release
    assert held(store) == [(NANO // 2,)]
    assert sql(store, "SELECT id, expired FROM budget_reservations") == [(d.budget.id, 0)]


def test_the_probe_clears_health_once_the_store_is_back_with_nothing_to_write(store, monkeypatch):
    monkeypatch.setattr(writer, "PRESENCE_SECONDS", 0.05)  # idle wake-ups come this often
    down = [True]
    calls = {"write": 0, "ping": 0}

    class Flaky:
        def write(self, batch):
            calls["write"] += 1
            if down[0]:
                raise storage_error("disk I/O error", sqlite3.SQLITE_IOERR)
            return store.write(batch)

        def ping(self):
            calls["ping"] += 1
            if down[0] and calls["ping"] > 1:  # the first one is start()'s
                raise storage_error("disk I/O error", sqlite3.SQLITE_IOERR)
            return store.ping()

        def __getattr__(self, name):
            return getattr(store, name)

    w = StoreWriter(Flaky())
    w.start()
    try:
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            w.admit_sync(Admission("key_a", "acme", 10, None, T0))
        assert w.health.problem == "disk I/O error"
        wait_for(lambda: calls["ping"] >= 3)  # probed while down: still failing
        assert w.health.problem == "disk I/O error"
        down[0] = False
        wait_for(lambda: w.health.problem is None)  # found by itself: no call needed to come
        assert calls["write"] == 1  # a probe, not a write
    finally:
        w.close()


def test_calls_in_flight_are_published_and_withdrawn_at_close(store):
    assert store.inflight() is None
    w = StoreWriter(store, presence=Presence(count=4))  # the proxy's count, kept on the event loop
    w.start()
    try:
        wait_for(lambda: store.inflight() == 4)
    finally:
        w.close()
    assert store.inflight() is None  # a proxy that stopped has no calls in flight
