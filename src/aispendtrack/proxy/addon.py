"""The AiSpendTrack addon: options, start-up and shutdown; the data path lives in children.

request → auth (`auth.Auth`) → ledger health (`guard.LedgerGuard`) → models (`access.Access`: the path's, then
the body's) → vault policy (`vault.VaultCheck`) → limits (`limits.Limiter`: only what may be forwarded is
counted) → the vault's provider key set (`vault.VaultInject`) → upstream → meter and ledger
(`metering.Metering`; a Realtime session's responses: `realtime.Realtime`) → provider keys redacted (`redact.Redact`) → summary on exit
(`summary.Summary`). The parent opens the shared services (`state.Runtime`) when its
options name a config and database; each child owns the rest of what it needs.
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, exceptions
from mitmproxy.proxy import mode_specs

from aispendtrack import config as configmod
from aispendtrack.proxy.access import Access
from aispendtrack.proxy.batches import BatchObjects
from aispendtrack.proxy.auth import Auth
from aispendtrack.proxy.guard import LedgerGuard
from aispendtrack.proxy.tags import Tags
from aispendtrack.proxy.intercept import NamelessTls, intercept_patterns
from aispendtrack.proxy.limits import Limiter
from aispendtrack.proxy.metering import Metering
from aispendtrack.proxy.realtime import Realtime
from aispendtrack.proxy.redact import Redact
from aispendtrack.proxy.servewatch import ServeWatch
from aispendtrack.proxy.state import Runtime
from aispendtrack.proxy.summary import Summary
from aispendtrack.proxy.tlshint import TlsHint
from aispendtrack.proxy.upstream_errors import UpstreamErrors
from aispendtrack.proxy.vault import VaultCheck, VaultInject
from aispendtrack.proxy.vaultview import VaultView
from aispendtrack.proxy.webview import WebColumns
from aispendtrack.proxy.keycache import KeyCache
from aispendtrack.store import describe_target, open_store
from aispendtrack.store.clock import ClockWatch, check as check_clock
from aispendtrack.store.health import Health
from aispendtrack.store.writer import Presence, StoreWriter

log = logging.getLogger(__name__)


class AiSpendTrack:
    """Loads the config and database named by the options and runs the data path."""

    def __init__(self) -> None:
        self.rt = Runtime()
        self.metering = Metering(self.rt)
        # The data path in hook order: each child is one step.
        self.addons = [Auth(self.rt), Tags(self.rt), LedgerGuard(self.rt), Access(self.rt), VaultCheck(self.rt),
                       Limiter(self.rt), VaultInject(self.rt), self.metering, BatchObjects(self.rt),
                       Realtime(self.rt, self.metering),
                       UpstreamErrors(), Redact(), Summary(self.rt), TlsHint(), NamelessTls(self.rt), WebColumns(),
                       ServeWatch()]
        self._allow_hosts_set: list[str] | None = None
        self._running = False
        self._updater = None
        self._clock: ClockWatch | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "aispendtrack_config",
            str,
            "",
            "AiSpendTrack config file (TOML). Default: $AISPENDTRACK_CONFIG, else ./mitm.toml, else the "
            "checkout's mitm.toml, else built-in defaults.",
        )
        loader.add_option(
            "aispendtrack_db",
            str,
            "",
            "AiSpendTrack database file (key store, limits, ledger). Default: $AISPENDTRACK_DB, else the "
            "checkout's var/aispendtrack.db, else aispendtrack.db in the user data directory.",
        )
        loader.add_option(
            "aispendtrack_allow_hosts",
            bool,
            True,
            "Intercept TLS only for provider hosts and reverse targets (sets allow_hosts unless you set "
            "allow_hosts or ignore_hosts yourself).",
        )
        loader.add_option(
            "aispendtrack_price_updates",
            bool,
            False,
            "Fetch fresh prices from the genai-prices project hourly (network). Off: the pinned, bundled prices.",
        )

    def configure(self, updated: set[str]) -> None:
        if "aispendtrack_config" in updated or "aispendtrack_db" in updated:
            try:
                self._start(ctx.options.aispendtrack_config or None, ctx.options.aispendtrack_db or None)
            except exceptions.OptionsError as e:
                if self._running:
                    raise  # a live change (mitmweb options): mitmproxy rolls the option back
                # At start-up one clear line; mitmdump exits on an ERROR logged before it runs.
                log.error("%s", e)
                return
        if "aispendtrack_price_updates" in updated:
            self._price_updates(ctx.options.aispendtrack_price_updates)
        if updated & {"mode", "aispendtrack_allow_hosts", "aispendtrack_config", "allow_hosts", "ignore_hosts"}:
            self._set_allow_hosts()

    def running(self) -> None:
        self._running = True
        self._set_allow_hosts()

    def done(self) -> None:
        self._price_updates(False)
        self.metering.shutdown()  # children's `done` would run after the writer closed
        self._stop()

    def _price_updates(self, on: bool) -> None:
        if on and self._updater is None:
            from genai_prices import UpdatePrices

            self._updater = UpdatePrices()
            self._updater.start()
            log.info("AiSpendTrack: fetching price updates from genai-prices hourly")
        elif not on and self._updater is not None:
            self._updater.stop()
            self._updater = None

    def _start(self, config_arg: str | None, db_arg: str | None) -> None:
        try:
            config = configmod.load_config(config_arg)
        except configmod.ConfigError as e:
            raise exceptions.OptionsError(f"AiSpendTrack config error: {e}") from None
        target = configmod.db_path(db_arg, config.database.url)
        self._stop()
        rt = self.rt
        try:
            health = Health(describe_target(target))
            store = open_store(target, health=health)  # a SQLite file lost under it: health says so, for good
        except Exception as e:
            raise exceptions.OptionsError(f"AiSpendTrack database error: {describe_target(target)}: {e}") from None
        bound = config.database.max_clock_skew_ms
        try:  # windows, months and budget periods are decided with this machine's clock
            skew = check_clock(store, bound)
        except Exception as e:
            store.close()
            raise exceptions.OptionsError(f"AiSpendTrack database error: {store.target}: {e}") from None
        rt.config, rt.config_path, rt.db_path, rt.store = config, configmod.config_path(config_arg), target, store
        rt.health = health
        keycache = KeyCache(store, config, rt.health)
        keycache.vault = rt.vault = VaultView()
        rt.presence = Presence()
        writer = StoreWriter(store, health=rt.health, presence=rt.presence, used=keycache.take_used)
        try:
            keycache.start()
            writer.start()
        except Exception as e:
            keycache.stop()
            store.close()
            raise exceptions.OptionsError(f"AiSpendTrack database error: {store.target}: {e}") from None
        rt.keycache, rt.writer = keycache, writer
        if skew is not None:  # another machine's clock: measured again every minute (503 while too far)
            self._clock = ClockWatch(store, rt.health, bound).start()
        for child in self.addons:
            if hasattr(child, "start"):
                child.start()
        log.info("AiSpendTrack: config %s, database %s", configmod.describe_config(rt.config_path), store.target)

    def _stop(self) -> None:
        if self._clock is not None:
            self._clock.stop()
            self._clock = None
        for child in reversed(self.addons):
            if hasattr(child, "stop"):
                child.stop()
        if self.rt.keycache is not None:
            self.rt.keycache.stop()
            self.rt.keycache = self.rt.vault = None
        if self.rt.writer is not None:
            self.rt.writer.close()  # stays on the runtime: late rows are told it is closed
        if self.rt.store is not None:
            self.rt.store.close()
            self.rt.store = None

    def _set_allow_hosts(self) -> None:
        if not self.rt.ready or not ctx.options.aispendtrack_allow_hosts:
            return
        current = list(ctx.options.allow_hosts)
        if ctx.options.ignore_hosts or (current and current != self._allow_hosts_set):
            return  # the user chose their own interception rules
        modes = list(ctx.options.mode)
        if not any(mode_specs.ProxyMode.parse(m).type_name != "reverse" for m in modes):
            wanted: list[str] = []  # reverse listeners only: nothing else can arrive
        else:
            wanted = intercept_patterns(self.rt.config, modes)
        if wanted != current:
            self._allow_hosts_set = wanted
            ctx.options.update(allow_hosts=wanted)
