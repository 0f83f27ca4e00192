"""`SqlStore`: the `Store` protocol on the store's logic modules, whatever the engine.

Each public operation is a function of a logic module whose first argument is a `Conn`
(`keys.create_key(conn, …)`); `SqlStore` gives it a connection of its engine and nothing
else, so the rules, the SQL and the transactions are written once for SQLite and
PostgreSQL. An engine (`sqlite.store.SqliteStore`, `postgres.store.PostgresStore`) says how
connections are made and kept, how the schema is migrated and how change signals travel.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Concatenate, ParamSpec, TypeVar

from aispendtrack.store import (budgets, keys, limits, members, migrate, outbox, reconcile_runs, rename, sessions,
                                traffic, vault, webhook_endpoints)
from aispendtrack.store.reads import calls as read_calls
from aispendtrack.store.reads import daily as read_daily
from aispendtrack.store.reads import latency as read_latency
from aispendtrack.store.reads import report as read_report
from aispendtrack.store.reads import windows
from aispendtrack.store.reads.rows import ExportRow
from aispendtrack.store.api.keys import Changes
from aispendtrack.store.clock import Skew
from aispendtrack.store.conn import Conn

P = ParamSpec("P")
R = TypeVar("R")


def op(fn: Callable[Concatenate[Conn, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A store method running `fn` on a connection of the store's engine."""

    @functools.wraps(fn)
    def method(self: SqlStore, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.connection() as conn:
            return fn(conn, *args, **kwargs)

    return method


class SqlStore:
    """What both engines share; see the module docstring."""

    engine: str = ""
    target: str = ""  # the database it opened, as the user named it (never a password)
    # True when a change signal is seen by every process before its next decision (SQLite's
    # mapped file); else the proxy has every call admitted with its key's digest checked in
    # the store (`Admission.digest`), so a key change is exact at the command's return.
    exact_signals: bool = True
    # The engine's own exceptions an operation may raise besides `StoreError`s (callers
    # answer them with `store.db.storage_problem`: disk full, read-only, …).
    engine_errors: tuple[type[BaseException], ...] = ()
    # how a batch of admissions and rows commits on this engine (see store/traffic.py)
    write_batch: Callable = staticmethod(traffic.one_transaction)
    migrations: Sequence[migrate.Migration] = ()  # the engine's numbered schema migrations

    def schema_versions(self) -> tuple[int, int]:
        """(the database's schema version, the newest this code knows), writing nothing."""
        with self.connection() as conn:
            return migrate.applied_version(conn), migrate.latest(self.migrations)

    def clock_skew(self, now: Callable[[], float] = time.time) -> Skew | None:
        """How far the clock deciding windows and periods is from this machine's (see
        `store/clock.py`); None when they are one clock (a file on this machine)."""
        return None

    def connection(self) -> AbstractContextManager[Conn]:
        """A connection for this thread's next operation."""
        raise NotImplementedError

    def changes(self) -> Changes:
        raise NotImplementedError

    def lost(self) -> str | None:
        """Why this process may never use its database again until it restarts (SQLite:
        the file was replaced or removed), or None."""
        return None

    def idle(self) -> None:
        """The calling thread has nothing to do for a while (an engine may let go of what
        it holds for it)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the data path (the proxy's writer; see store/writer.py) ---------------------------
    def write(self, batch):
        """Commit one batch of the proxy's writer: admissions decided and counted, ledger rows
        inserted with their holds settled, keys' last use, calls in flight."""
        with self.connection() as conn:
            return self.write_batch(conn, batch)

    admit = op(limits.admit)
    hold_budget = op(limits.hold)
    record = op(traffic.record)
    usage = op(limits.usage)
    reset_key = op(limits.reset_key)
    reset_account = op(limits.reset_account)
    expire_holds = op(traffic.expire_holds)
    presence_gone = op(traffic.presence_gone)
    inflight = op(traffic.inflight)
    ping = op(traffic.ping)
    credentials = op(keys.credentials)
    versions = op(keys.versions)
    budgeted_subjects = op(budgets.budgeted_subjects)

    # -- budgets ---------------------------------------------------------------------------
    set_budget = op(budgets.set_budget)
    clear_budget = op(budgets.clear_budget)
    get_budget = op(budgets.get_budget)
    budget_standing = op(budgets.standing)

    # -- accounts and keys ---------------------------------------------------------------
    create_account = op(keys.create_account)
    get_account = op(keys.get_account)
    list_accounts = op(keys.list_accounts)
    set_tier = op(keys.set_tier)
    set_account_limits = op(keys.set_account_limits)
    rename_account = op(rename.rename_account)
    create_key = op(keys.create_key)
    rotate_key = op(keys.rotate_key)
    revoke_key = op(keys.revoke_key)
    rename_key = op(rename.rename_key)
    get_key = op(keys.get_key)
    list_keys = op(keys.list_keys)
    touch_keys = op(keys.touch_keys)

    # -- members and dashboard sessions ----------------------------------------------------
    add_member = op(members.add_member)
    get_member = op(members.get_member)
    member_of_key = op(members.of_key)
    list_members = op(members.list_members)
    set_role = op(members.set_role)
    remove_member = op(members.remove_member)
    create_session = op(sessions.create)
    lookup_session = op(sessions.lookup)
    end_session = op(sessions.end)

    # -- webhooks ----------------------------------------------------------------------------
    add_endpoint = op(webhook_endpoints.add_endpoint)
    get_endpoint = op(webhook_endpoints.get_endpoint)
    list_endpoints = op(webhook_endpoints.list_endpoints)
    remove_endpoint = op(webhook_endpoints.remove_endpoint)
    rotate_secret = op(webhook_endpoints.rotate_secret)
    deliveries = op(outbox.deliveries)
    outbox_depth = op(outbox.depth)
    send_test_event = op(outbox.test_event)
    claim_messages = op(outbox.claim)
    record_attempt = op(outbox.record)
    queue_expiring_keys = op(outbox.expiring_keys)
    queue_rotation_due = op(outbox.rotation_due_keys)

    # -- the provider-key vault (sealed by `aispendtrack.vault`; the store never sees a secret) --
    put_credential = op(vault.put_credential)
    list_credentials = op(vault.list_credentials)
    remove_credential = op(vault.remove_credential)
    reseal_credentials = op(vault.reseal)
    master_keys_in_use = op(vault.master_keys_in_use)
    set_vault_mode = op(vault.set_vault_mode)
    vault_modes = op(vault.vault_modes)

    # -- saved reconciliations (`api.reconcile`) ---------------------------------------------
    save_reconcile = op(reconcile_runs.save_report)
    save_reconcile_failure = op(reconcile_runs.save_failure)
    latest_reconcile_runs = op(reconcile_runs.latest_runs)
    get_reconcile_run = op(reconcile_runs.get_run)
    reconcile_run_rows = op(reconcile_runs.run_rows)
    load_reconcile_report = op(reconcile_runs.load_report)
    claim_reconcile_day = op(reconcile_runs.claim_day)

    # -- reads (views: report, dashboard, /v1/me, /v1/usage, export, top; `api.reads`) -------
    report_groups = op(read_report.report_groups)
    latest_calls = op(read_calls.latest_calls)
    latency_durations = op(read_latency.durations)
    count_calls = op(read_calls.count_calls)
    key_hour = op(windows.key_hour)
    account_month = op(windows.account_month)
    provider_days = op(read_daily.provider_days)

    def export_rows(self, **filters) -> Iterator[ExportRow]:
        with self.own_connection() as conn:
            yield from read_calls.export_rows(conn, **filters)

    def own_connection(self) -> AbstractContextManager[Conn]:
        """A connection used by nothing else while the block runs (a streamed export, read
        across several threads one batch at a time). Engines whose `connection` lends one
        whole (a pool) need not override it."""
        return self.connection()
