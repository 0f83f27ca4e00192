"""reconcile(): fetch the provider's bill, read the ledger, compare. Stores nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aispendtrack.reconcile import anthropic_admin, compare, ledger, openai_admin
from aispendtrack.reconcile.adminkey import PROVIDERS, admin_key
from aispendtrack.reconcile.bill import CostLine, UsageLine
from aispendtrack.reconcile.compare import ALL, Owner
from aispendtrack.reconcile.config import DEFAULT_WORKSPACE
from aispendtrack.reconcile.http import AdminClient, ReconcileError
from aispendtrack.reconcile.model import Report

__all__ = ["ReconcileError", "reconcile"]
UTC_NOTE = "Provider days are UTC days (00:00 to 24:00 UTC); the ledger is summed by the same days."
MAX_DAYS = 366


def reconcile(config, store, provider: str, since: date, until: date,
              account: str | None = None, *, now: datetime | None = None,
              base_url: str | None = None, client: AdminClient | None = None) -> Report:
    """The ledger against `provider`'s bill on the UTC days [since, until]: only `account`'s
    rows (None: every account the provider scope maps to). `base_url` replaces the configured
    API root; `client` (tests) replaces the whole admin client."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if provider not in PROVIDERS:
        raise ReconcileError(f"provider: expected one of {', '.join(PROVIDERS)}, got {provider!r}")
    if since > until:
        raise ReconcileError(f"--since {since} is after --until {until}")
    if (until - since).days >= MAX_DAYS:
        raise ReconcileError(f"at most {MAX_DAYS} days at once (asked {(until - since).days + 1})")
    today = now.date()
    if since > today:
        raise ReconcileError(f"--since {since} is in the future (today is {today} UTC)")
    scope = config.reconcile.provider(provider)
    mapped = _mapping(provider, scope)
    if account is not None:
        store.get_account(account)  # an unknown account is an error, not an empty report
        table = f"[reconcile.{provider}.{'projects' if provider == 'openai' else 'workspaces'}]"
        if not mapped:
            raise ReconcileError(f"--account needs the provider's scopes mapped to accounts: {table}")
        if account not in mapped.values():
            raise ReconcileError(f"--account {account}: no {provider} scope maps to it (see {table})")
    if client is None:
        key, source = admin_key(config, store, provider, account)
        module = openai_admin if provider == "openai" else anthropic_admin
        client = module.client(base_url or scope.base_url, key, source)
    bill = (openai_admin if provider == "openai" else anthropic_admin).fetch(client, since, until)
    owner_of, cost_owner = _owners(provider, scope, mapped)
    billed = compare.attribute(bill, owner_of, cost_owner)
    accounts = set(mapped.values()) if mapped else None
    gateway, others = ledger.gateway_days(store, provider, since, until, accounts)
    rows, unattributed = compare.rows(gateway, billed, config.reconcile.tolerance_usd, today)
    if account is not None:
        rows = [r for r in rows if r.account == account]
    pct, unexplained = compare.totals(rows, unattributed)
    notes = [UTC_NOTE]
    if until >= today:
        notes.append(f"{today} (today, UTC) is partial: calls still running and the provider's reporting delay "
                     "can move its numbers; run again after the day is over")
    if unattributed:
        where = "projects" if provider == "openai" else "workspaces or api_keys"
        notes.append(f"{len(unattributed)} provider row(s) belong to no account: map their scope under "
                     f"[reconcile.{provider}.{where}]")
    if others:
        notes.append(f"ledger calls of account(s) {', '.join(sorted(others))} are not compared: none of the "
                     f"[reconcile.{provider}] scopes maps to them")
    return Report(provider, since, until, account, tuple(rows), tuple(unattributed),
                  config.reconcile.tolerance_usd, now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                  pct, unexplained, tuple(notes))


def _mapping(provider: str, scope) -> dict[str, str]:
    if provider == "openai":
        return dict(scope.projects)
    return {**scope.workspaces, **scope.api_keys}


def _owners(provider: str, scope, mapped: dict[str, str]):
    """(owner of a usage line, owner of a cost line with no usage to share it)."""
    if not mapped:
        everyone = Owner(ALL)
        return (lambda u: everyone), (lambda c: everyone)
    if provider == "openai":
        def project(pid: str | None) -> Owner:
            name = scope.projects.get(pid or "")
            return Owner(name) if name else Owner(None, f"project {pid or '(none)'}")

        return (lambda u: project(u.scope)), (lambda c: project(c.scope))

    def workspace(wid: str | None, key: str | None = None) -> Owner:
        name = scope.workspaces.get(wid or DEFAULT_WORKSPACE)
        label = f"workspace {wid or DEFAULT_WORKSPACE}" + (f", API key {key}" if key and scope.api_keys else "")
        return Owner(name) if name else Owner(None, label)

    def usage_owner(u: UsageLine) -> Owner:
        name = scope.api_keys.get(u.api_key or "")
        return Owner(name) if name else workspace(u.scope, u.api_key)

    def cost_owner(c: CostLine) -> Owner:
        return workspace(c.scope)

    return usage_owner, cost_owner
