"""The gateway's side: the ledger's daily sums of one provider per account, UTC day and model
(through the store API: `provider_days`)."""

from __future__ import annotations

from datetime import date

from aispendtrack.reconcile.compare import ALL, GatewayDay, Key
from aispendtrack.reconcile.model import Side


def gateway_days(store, provider: str, since: date, until: date,
                 accounts: set[str] | None) -> tuple[dict[Key, GatewayDay], set[str]]:
    """({(account, day, model): GatewayDay}, accounts with calls outside `accounts`). With
    `accounts` None every account is summed together under `ALL`."""
    out: dict[Key, GatewayDay] = {}
    others: set[str] = set()
    for g in store.provider_days(provider, since.isoformat(), until.isoformat()):
        account, model = g.group
        st = g.stats
        read = st.cache_read_tokens or 0
        side = Side(input_tokens=(st.input_tokens or 0) - read, cached_tokens=read, output_tokens=st.output_tokens or 0,
                    requests=st.forwarded + st.errors, usd=st.cost_usd)
        if side.requests == 0 and side.tokens == 0:
            continue  # only calls the gateway refused: nothing reached the provider
        if accounts is not None and account not in accounts:
            others.add(account or "(no account)")
            continue
        key = (ALL if accounts is None else account, date.fromisoformat(g.day), model or "")
        old = out.get(key, GatewayDay(Side()))
        out[key] = GatewayDay(old.side + side, old.unmetered + st.unmetered_calls, old.unpriced + st.unpriced_calls)
    return out, others
