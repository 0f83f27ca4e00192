"""What the addons share while mitmdump runs, and what each provider-bound flow carries.

`Runtime` holds the services the parent addon opens for its children (config, key
cache, presence, session totals); a child's own resources (limiter thread, ledger
writer, pricer) stay on the child. `FlowState` is the per-flow record: created once, by
`Runtime.start_flow` in auth's `requestheaders`, and read by every other step through
`state_of(flow)`. It lives in `flow.metadata`, which is saved with the flow, so it holds
no secret.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mitmproxy import http

from aispendtrack.auth.records import KeyRecord
from aispendtrack.config import Config
from aispendtrack.proxy import providers
from aispendtrack.proxy.keycache import KeyCache

if TYPE_CHECKING:
    from aispendtrack.proxy.vaultview import VaultView
from aispendtrack.store.health import Health
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.store.totals import SessionStats
from aispendtrack.store.writer import Presence, StoreWriter

META = "aispendtrack"

# Kept by a replay: the identity authorised the first time (see `Auth._reauthorise`).
IDENTITY = ("key_id", "key_hint", "account", "account_id")


@dataclass(slots=True)
class FlowState:
    """One provider-bound flow on its way through auth → limits → upstream → meter.

    Every field is plain data (str, int, float, bool, None, dict of str), so a flow saved
    with `-w` or from mitmweb keeps it: mitmproxy deep-copies `flow.metadata` to save or
    copy a flow, and `__deepcopy__` hands it the `asdict` form. `state_of` turns such a
    dict back into a `FlowState`.
    """

    provider: str
    api: str
    shape: str  # whose error format our own answers use (see `providers.error_response`)
    start: float  # epoch seconds at requestheaders
    outcome: Outcome = Outcome.FORWARDED
    # who: set by auth from the key record
    key_id: str | None = None
    key_hint: str | None = None
    account: str | None = None  # the account's name: the ledger's and the limiter's account
    account_id: int | None = None  # accounts.id
    requests_per_hour: int | None = None  # None = unlimited
    monthly_calls: int | None = None
    tier: str | None = None
    permissions: list[str] | None = None  # effective: the tier's ∩ the key's own
    models: list[str] | None = None  # model globs the key may call; None = any
    budgeted: bool = False  # limits are checked in `request`, with the call's dollar bound (see `limits_after_body`)
    # limits
    limit_headers: dict[str, str] | None = None  # status headers for the forwarded response
    reservation_id: str | None = None  # the budget hold the ledger row settles
    tags: dict[str, str] | None = None  # the client's tags (proxy/tags.py), kept with the row
    # request and response, as metering sees them
    request_model: str | None = None
    stream: bool = False
    strip_usage: bool = False  # we asked for stream usage: hide that chunk from the client
    expect_usage: bool = False  # a usage chunk was asked for (by us or the client): wait for it
    ttfb: float | None = None  # epoch seconds at responseheaders
    error: str | None = None
    recorded: bool = False  # the ledger row is built (exactly one per flow)
    injected: str | None = None  # the header the vault's provider key was set in (its name, never the key)
    # a Realtime session (proxy/realtime.py): budget holds of client response.create events not yet
    # matched to a response, and each running response's [hold id, start time] by response id
    realtime_pending: list[str] | None = None
    realtime_responses: dict[str, list] | None = None
    # the presented secret's SHA-256, for the store's own check where its change signals are
    # not exact (`Admission.digest`); never saved with the flow
    digest: str | None = None

    @property
    def identified(self) -> bool:
        return self.key_id is not None

    @property
    def limited(self) -> bool:
        return self.requests_per_hour is not None or self.monthly_calls is not None or self.budgeted

    @property
    def limits_after_body(self) -> bool:
        """Limits are counted in `request`, once the body is read: a budget needs the call's
        bound, a model list its check first (a refused call uses nothing)."""
        return self.budgeted or self.models is not None

    def identify(self, record: KeyRecord) -> None:
        self.key_id = record.key_id
        self.key_hint = record.hint
        self.account = record.account
        self.account_id = record.account_id
        self.requests_per_hour = record.requests_per_hour
        self.monthly_calls = record.monthly_calls
        self.tier = record.tier
        self.permissions = list(record.permissions)
        self.models = list(record.models) if record.models is not None else None
        self.budgeted = record.budgeted
        self.digest = record.digest
        if self.tags is None and record.tags:  # a replayed flow keeps the tags its original had
            self.tags = dict(record.tags)  # the key's defaults; proxy/tags.py lays the request's over them

    def __deepcopy__(self, memo) -> dict:
        saved = dataclasses.asdict(self)
        del saved["digest"]
        return saved

    @classmethod
    def from_dict(cls, data: dict) -> FlowState | None:
        """A saved or copied flow's state; None if it is not one of ours."""
        known = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        try:
            state = cls(**known)
            state.outcome = Outcome(state.outcome)
        except (TypeError, ValueError):
            return None
        return state


def state_of(flow: http.HTTPFlow) -> FlowState | None:
    """The flow's `FlowState`; None for a flow that is not provider-bound."""
    state = flow.metadata.get(META)
    if state is None or type(state) is FlowState:
        return state
    if isinstance(state, dict):  # loaded from a file, copied or reverted by mitmproxy
        state = FlowState.from_dict(state)
        if state is not None:
            flow.metadata[META] = state
        return state
    return None


@dataclass
class Runtime:
    """The services the parent addon opens (`AiSpendTrack._start`) for its children."""

    config: Config | None = None
    config_path: Path | None = None
    db_path: Path | str | None = None  # the database as the user named it (a PostgreSQL URL is shown without password)
    store: object | None = None  # the process's `SqlStore`
    writer: StoreWriter | None = None  # the one writer: admissions, ledger rows, last use, presence
    keycache: KeyCache | None = None
    vault: VaultView | None = None  # the provider keys opened from the vault (reloaded with the keys)
    presence: Presence | None = None  # this proxy's calls in flight, published by the writer
    session: SessionStats = field(default_factory=SessionStats)
    health: Health = field(default_factory=Health)  # whether the ledger can be kept (fail closed)

    @property
    def ready(self) -> bool:
        return self.config is not None and self.keycache is not None

    def start_flow(self, flow: http.HTTPFlow, target: providers.Target) -> FlowState:
        """The one place a flow's state is created. A replay keeps the identity recorded
        the first time; everything else starts afresh."""
        state = FlowState(target.provider, target.api, target.shape, time.time())
        if (old := state_of(flow)) is not None:
            for name in IDENTITY:
                setattr(state, name, getattr(old, name))
        flow.metadata[META] = state
        if self.presence is not None:
            self.presence.count += 1  # until the flow's ledger row is built
        return state


def reject(
    flow: http.HTTPFlow,
    status: int,
    message: str,
    code: str,
    *,
    outcome: Outcome,
    marker: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer a provider-bound flow ourselves; it is never forwarded. Visible in mitmweb."""
    state = state_of(flow)
    state.outcome = outcome
    state.error = message
    flow.response = providers.error_response(state.shape, status, message, code, headers)
    flow.marked = marker
    flow.comment = message
