"""Where the provider's admin key comes from: the environment variable named in config
(`[reconcile.<provider>] admin_key_env`), else the vault, where it is stored apart from the
keys the proxy injects (provider name `<provider>.admin`: no call is ever bound for that
provider, so the proxy never sends it upstream). Never from the command line."""

from __future__ import annotations

import os

from aispendtrack.reconcile.http import ReconcileError
from aispendtrack.vault import service

PROVIDERS = ("openai", "anthropic")
vault_name = service.admin_name  # the vault's provider name of a provider's admin key


def admin_key(config, store, provider: str, account: str | None = None) -> tuple[str, str]:
    """(the admin key, where it came from, for messages)."""
    env = config.reconcile.provider(provider).admin_key_env
    if value := os.environ.get(env, "").strip():
        return value, f"${env}"
    records = [r for r in store.list_credentials() if r.provider == vault_name(provider)]
    # the account's own admin key first; else the one the organization has, wherever it is kept
    records = [r for r in records if r.account == account] or records
    opened = service.opened(records)
    found = {secret: r.account for r, secret, _ in opened if secret is not None}
    if len(found) == 1:
        secret, owner = next(iter(found.items()))
        return secret, f"the vault's {provider} admin key of account {owner}"
    if len(found) > 1:
        raise ReconcileError(f"several accounts hold a {provider} admin key ({', '.join(sorted(found.values()))}): "
                             "name one with --account")
    if problems := [p for _, s, p in opened if s is None]:
        raise ReconcileError(f"the vault's {provider} admin key does not open: {problems[0]}")
    raise ReconcileError(f"no {provider} admin key: set ${env}, or store one with: aispendtrack providers set "
                         f"ACCOUNT {provider} --admin (read from stdin)")
