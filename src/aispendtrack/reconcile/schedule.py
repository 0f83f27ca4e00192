"""`[reconcile] schedule = "daily"`: `aispendtrack serve` reconciles yesterday once a day.

Each day after `HOUR` UTC (when the provider's buckets of yesterday are complete), for each
provider with an admin key (in serve's environment, `[reconcile.<provider>] admin_key_env`,
or in the vault: `reconcile.adminkey`), `reconcile()` runs over yesterday and
the report is saved with the accounts it concerns (every account the provider scope maps
to), queueing `reconcile.drift` when its unexplained dollars pass `[reconcile] drift_usd`.
A run that fails (provider unreachable, bad admin key, rate limited) is saved as a failed
run with its message: serve keeps running and the earlier runs stay.

A provider's day is claimed in the store before it runs, so several `serve` processes on
one store run it once between them. The day due at `now` is the day before `now - HOUR`:
a serve started after a day it missed runs that day first. The clock and `reconcile` are
injected, so tests run a pass at a pinned time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from aispendtrack.reconcile.adminkey import PROVIDERS, vault_name
from aispendtrack.reconcile.run import ReconcileError, reconcile
from aispendtrack.store.db import iso
from aispendtrack.store.records import StoreGone

log = logging.getLogger(__name__)

HOUR = 1  # UTC: yesterday's buckets are complete by then
POLL_SECONDS = 60.0
REDACTED = "[admin key]"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the schedule runs: the providers with an admin key, whom each concerns, the drift
    threshold; and the admin keys' values, only to keep them out of saved messages."""

    providers: tuple[str, ...]
    accounts: Mapping[str, tuple[str, ...]]  # provider → accounts its scope maps to
    drift_usd: Decimal
    hour: int = HOUR
    secrets: tuple[str, ...] = ()


def scope_accounts(config, provider: str) -> tuple[str, ...]:
    """The accounts `provider`'s scope mapping names (projects; workspaces and API keys)."""
    section = config.reconcile.provider(provider)
    maps = [getattr(section, name, {}) for name in ("projects", "workspaces", "api_keys")]
    return tuple(sorted({account for m in maps for account in m.values()}))


def plan_of(config, store, environ: Mapping[str, str] = os.environ) -> Plan | None:
    """The daily plan of `config` now, or None when `[reconcile] schedule` is off. Read on
    every pass: an admin key set in the vault is used from the next day on, no restart."""
    settings = config.reconcile
    if settings.schedule != "daily":
        return None
    keys = {p: environ.get(settings.provider(p).admin_key_env, "").strip() for p in PROVIDERS}
    vaulted = {r.provider for r in store.list_credentials()} if not all(keys.values()) else set()
    providers = tuple(p for p in PROVIDERS if keys[p] or vault_name(p) in vaulted)
    return Plan(providers, {p: scope_accounts(config, p) for p in providers}, settings.drift_usd,
                secrets=tuple(v for v in keys.values() if v))


def due_day(now: datetime, hour: int = HOUR) -> date:
    """The UTC day the schedule reconciles at `now`: yesterday from `hour` on, else the day before."""
    return (now.astimezone(UTC) - timedelta(hours=hour)).date() - timedelta(days=1)


class Scheduler:
    """`run_due()` is one pass (what is due now, run and saved); `start()` a polling thread."""

    def __init__(self, store, config, *, run: Callable = reconcile, clock: Callable[[], float] = time.time,
                 environ: Mapping[str, str] = os.environ):
        self.store, self.config, self.environ = store, config, environ
        self.run, self.clock = run, clock
        self._done: dict[str, date] = {}  # provider → last day claimed here or seen claimed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self) -> list[int]:
        """Run each provider's due day not yet claimed by any serve; the ids of the runs saved."""
        plan = plan_of(self.config, self.store, self.environ)
        if plan is None:
            return []
        now = datetime.fromtimestamp(self.clock(), UTC)
        day = due_day(now, plan.hour)
        saved = []
        for provider in plan.providers:
            if self._done.get(provider) == day:
                continue
            claimed = self.store.claim_reconcile_day(provider, day, now.timestamp())
            self._done[provider] = day
            if claimed:
                saved.append(self._run(plan, provider, day, now))
        return saved

    def _run(self, plan: Plan, provider: str, day: date, now: datetime) -> int:
        accounts = plan.accounts.get(provider, ())
        try:
            report = self.run(self.config, self.store, provider, day, day, None, now=now)
        except ReconcileError as e:
            message = logged = str(e)
        except Exception as e:  # a bug or the store: the run is recorded as failed, serve goes on
            # the page says only that it failed; the log has what (with the key taken out)
            message, logged = f"unexpected error ({type(e).__name__}); see serve's log", f"{type(e).__name__}: {e}"
        else:
            return self.store.save_reconcile(report, accounts=accounts, drift_usd=plan.drift_usd)
        for secret in plan.secrets:  # the fetchers leave the key out already: this is the second lock
            message, logged = message.replace(secret, REDACTED), logged.replace(secret, REDACTED)
        log.warning("aispendtrack: scheduled %s reconciliation of %s failed: %s", provider, day, logged)
        return self.store.save_reconcile_failure(provider, day, day, message, accounts=accounts, ran_at=iso(now))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="aispendtrack-reconcile", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except StoreGone:
                self.store.idle()
            except Exception as e:  # the store is busy or down: the next pass tries again
                log.warning("aispendtrack: reconciliation schedule pass failed: %s", e)
            self._stop.wait(POLL_SECONDS)
