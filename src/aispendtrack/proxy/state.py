"""What the addons share while mitmdump runs: config, key cache, ledger writer, pricer.

Per-flow state never lives here; it lives on the flow (`flow.metadata["aispendtrack"]`),
which is saved with the flow, so it holds no secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import http

from aispendtrack.proxy import providers
from aispendtrack.config import Config
from aispendtrack.store.keycache import KeyCache, KeyRecord

META = "aispendtrack"


@dataclass
class Runtime:
    config: Config | None = None
    config_path: Path | None = None
    db_path: Path | None = None
    keycache: KeyCache | None = None
    ledger: object | None = None  # aispendtrack.store.ledger.LedgerWriter
    limiter: object | None = None  # aispendtrack.limits.gate.LimitGate
    pricer: object | None = None  # aispendtrack.meter.pricing.Pricer
    session: object | None = None  # aispendtrack.views.stats.SessionStats
    presence: object | None = None  # aispendtrack.store.presence.Presence: calls in flight

    @property
    def ready(self) -> bool:
        return self.config is not None and self.keycache is not None

    def start_flow(self, flow: http.HTTPFlow, target: providers.Target) -> dict:
        meta = flow.metadata.setdefault(META, {})
        # A replay keeps the identity recorded the first time; everything else starts afresh.
        kept = {k: meta[k] for k in ("key_id", "key_hint", "account", "account_id") if k in meta}
        meta.clear()
        meta.update(kept)
        if self.presence is not None:
            self.presence.count += 1  # until the flow's ledger row is built
        meta.update(
            provider=target.provider,
            api=target.api,
            shape=target.shape,
            start=time.time(),
            outcome="forwarded",
        )
        return meta

    @staticmethod
    def identify_key(meta: dict, record: KeyRecord) -> None:
        meta.update(
            key_id=record.key_id,
            key_hint=record.hint,
            account=record.account,
            account_id=record.account_id,
            requests_per_hour=record.requests_per_hour,
            monthly_calls=record.monthly_calls,
        )

    @staticmethod
    def reject(
        flow: http.HTTPFlow,
        status: int,
        message: str,
        code: str,
        *,
        outcome: str,
        marker: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the flow ourselves; it is never forwarded. Visible in mitmweb."""
        meta = flow.metadata[META]
        meta["outcome"] = outcome
        meta["error"] = message
        flow.response = providers.error_response(meta["shape"], status, message, code, headers)
        flow.marked = marker
        flow.comment = message


def meta_of(flow: http.HTTPFlow) -> dict | None:
    return flow.metadata.get(META)
