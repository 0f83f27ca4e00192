"""The `[providers]` part of `mitm.toml`: the default provider hosts (exact, or glob patterns:
see `hostpattern`), `[providers.local]`, the provider ids whose calls run on the user's own
machines (priced $0 as "local"), and `[azure]` (which model each Azure deployment serves)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from aispendtrack.families import registry

# Each family module declares its provider hosts (see `aispendtrack.families`).
DEFAULT_PROVIDER_HOSTS = registry.hosts()

# Hosts known to accept `stream_options.include_usage` on chat streams.
DEFAULT_INJECT_USAGE = {"openai": True, "groq": True, "openrouter": True, "deepseek": True, "x-ai": True, "mistral": False,
                        "azure": True}  # Azure: only api-versions that know it (see proxy/azure.py)


def lift_local_providers(data: object) -> object:
    """The raw config with `[providers.local]` (a table inside the host table) moved to
    `local_providers`. Hosts given next to it replace the default hosts; `local` alone keeps
    them. Raises ValueError naming the field for anything but `<id> = true | false`."""
    if not isinstance(data, dict):
        return data
    if "local_providers" in data:
        raise ValueError('unknown key "local_providers": declare local providers as [providers.local] <id> = true')
    providers = data.get("providers")
    if not isinstance(providers, dict) or "local" not in providers:
        return data
    hosts = {host: provider for host, provider in providers.items() if host != "local"}
    local = providers["local"]
    if not isinstance(local, dict) or not all(isinstance(v, bool) for v in local.values()):
        raise ValueError("providers.local: expected a table of provider id = true | false, e.g. ollama = true")
    data = {**data, "local_providers": frozenset(name.strip().lower() for name, on in local.items() if on)}
    if hosts:
        data["providers"] = hosts
    else:
        data.pop("providers")
    return data


class Azure(BaseModel):
    """`[azure.deployments]`: deployment name → the model it serves, for pricing a call whose
    response names no model, or a name genai-prices does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    deployments: dict[str, str] = {}

    @field_validator("deployments")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for name, model in v.items():
            if not name.strip() or not model.strip():
                raise ValueError(f"expected deployment name = model name, got {name!r} = {model!r}")
        return v
