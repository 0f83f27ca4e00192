"""`mitm.toml`: listeners, tiers, keys, providers and prices, validated by pydantic.

Every setting has the product's documented default, so a file sets only what it changes.
A wrong type, an unknown key or a bad value raises `ConfigError` with one line naming the
file and the field; nothing half-starts.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from typing import Annotated, Literal

from aispendtrack.limits import permissions
from aispendtrack.limits.budget import MAX_BUDGET_USD
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from aispendtrack.config_providers import (  # noqa: F401  (the defaults are read from here too)
    DEFAULT_INJECT_USAGE, DEFAULT_PROVIDER_HOSTS, Azure, lift_local_providers,
)
from aispendtrack.hostpattern import check_pattern, is_pattern
from aispendtrack.reconcile.config import Reconcile
from aispendtrack.paths import config_path, db_path, describe_config  # noqa: F401  (where they are: see paths.py)

TIERS = ("free", "pro", "enterprise")


# The largest count limit: far beyond any real use, far inside SQLite's integers.
MAX_LIMIT = 10**12


def limit_value(value: object) -> int | str:
    """A count limit (config or CLI): a whole number from 1 to `MAX_LIMIT`, or "unlimited"."""
    if value == "unlimited":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LIMIT:
        raise ValueError(f'must be a whole number from 1 to {MAX_LIMIT} or "unlimited", got {value!r}')
    return value


# A positive count, or "unlimited" (see `unlimited_to_none`).
Limit = Annotated[int | str, BeforeValidator(limit_value)]

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    max_keys: Limit
    requests_per_hour: Limit
    monthly_calls: Limit
    permissions: tuple[str, ...]
    budget_usd: Decimal | None = Field(None, ge=0, le=MAX_BUDGET_USD)  # default dollar budget of the tier's accounts
    budget_period: Literal["day", "week", "month", "total"] = "month"

    @field_validator("permissions", mode="before")
    @classmethod
    def _known_permissions(cls, v: object) -> object:
        if isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v):
            return permissions.parse_permissions(v)
        return v


TIER_DEFAULTS = {
    "free": {"max_keys": 1, "requests_per_hour": 1_000, "monthly_calls": 10_000},
    "pro": {"max_keys": 5, "requests_per_hour": 10_000, "monthly_calls": "unlimited"},
    "enterprise": {"max_keys": "unlimited", "requests_per_hour": "unlimited", "monthly_calls": "unlimited"},
}
for _name, _perms in permissions.TIER_PERMISSIONS.items():
    TIER_DEFAULTS[_name]["permissions"] = list(_perms)


class Tiers(_Strict):
    free: Tier = Tier(**TIER_DEFAULTS["free"])
    pro: Tier = Tier(**TIER_DEFAULTS["pro"])
    enterprise: Tier = Tier(**TIER_DEFAULTS["enterprise"])

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: object) -> object:
        # `[tiers.pro] requests_per_hour = 50` changes that one value only.
        if isinstance(data, dict):
            return {
                name: {**TIER_DEFAULTS[name], **given} if name in TIER_DEFAULTS and isinstance(given, dict) else given
                for name, given in data.items()
            }
        return data


# Longest rotation grace: 100 years. Larger values overflow the retirement date (year
# 9999) and made `aispendtrack keys rotate` crash with OverflowError.
MAX_GRACE_SECONDS = 100 * 365 * 86_400


class Keys(_Strict):
    rotation_grace_seconds: int = Field(86_400, ge=0, le=MAX_GRACE_SECONDS)
    # A key whose secret is this old is flagged for rotation (lists, /v1/me, the dashboard)
    # and announced once by a `key.rotation_due` webhook.
    rotate_after_days: int = Field(90, ge=1, le=36_500)


class Proxy(_Strict):
    listen_host: str = "127.0.0.1"
    modes: list[str] = [
        "reverse:https://api.openai.com@8080",
        "reverse:https://api.anthropic.com@8081",
        "regular@8082",
    ]
    # Upstream connections only once a request was accepted: a rejected call never
    # opens a connection to the provider.
    connection_strategy: Literal["lazy", "eager"] = "lazy"

    @field_validator("modes")
    @classmethod
    def _valid_modes(cls, v: list[str]) -> list[str]:
        # Checked here so a typo names mitm.toml, not a mitmdump start-up failure.
        from mitmproxy.proxy.mode_specs import ProxyMode

        for spec in v:
            try:
                ProxyMode.parse(spec)
            except ValueError as e:
                raise ValueError(f"invalid mitmproxy mode {spec!r}: {e}") from None
        return v


class Serve(_Strict):
    """`aispendtrack serve`: the account plane (HTTP API) on the proxy's database."""

    listen: str = "127.0.0.1:8090"
    enabled: bool = True
    session_hours: int = Field(12, ge=1, le=24 * 365)
    # Request bodies above this are answered 413 before they are read.
    max_body_bytes: int = Field(1_048_576, ge=1024, le=1 << 30)
    # Host names the API and dashboard answer to besides the listen address, 127.0.0.1 and
    # localhost (a DNS-rebinding defence): "name" (any port), "name:port", globs ("*.example.com").
    allowed_hosts: list[str] = []

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f'expected "host:port", e.g. "127.0.0.1:8090", got {v!r}')
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, v: list[str]) -> list[str]:
        for entry in v:
            if not entry.strip() or any(c in entry for c in "/@ \t") or not entry.isascii():
                raise ValueError(f'expected a host name, "name:port" or a glob such as "*.example.com", got {entry!r}')
        return [canonical_host(entry) for entry in v]

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Webhooks(_Strict):
    # Host globs that webhooks registered through the API may point to; empty = any public
    # host. The CLI (the operator) is not restricted by them. An entry without glob
    # characters also names a host the operator vouches for: it skips the address rule.
    allow_hosts: list[str] = []
    # Let webhooks reach loopback, private, link-local, CGNAT and reserved addresses
    # (local development); cloud metadata addresses stay refused.
    allow_private_networks: bool = False
    # How long the previous signing secret keeps signing after `webhooks rotate-secret`.
    rotation_grace_seconds: int = Field(86_400, ge=0, le=MAX_GRACE_SECONDS)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for host in v:
            if not host.strip() or not host.isprintable() or "/" in host:
                raise ValueError(f"expected host names or globs (no scheme or path), got {host!r}")
        return v


class Metering(_Strict):
    # Ask OpenAI-compatible hosts for usage on chat streams that did not request it, and
    # hide the extra chunk from the client. Per provider id.
    inject_stream_usage: dict[str, bool] = DEFAULT_INJECT_USAGE


class Budgets(_Strict):
    # A model with no price under a budget: refused, since its cost could not be held.
    unpriced: Literal["refuse", "allow"] = "refuse"
    # Output tokens reserved for a call that names no max-tokens field.
    default_max_output_tokens: int = Field(4096, ge=1)


class Database(_Strict):
    # The store every gateway, `serve` and command of this config uses when no `--db`,
    # `--set aispendtrack_db=` or $AISPENDTRACK_DB names one: a `postgresql://` URL (libpq
    # parameters pass through), or a SQLite file path.
    url: str | None = Field(None, min_length=1)
    # Gateways on one PostgreSQL decide windows, months and budget periods with their own
    # clocks: one whose clock is further than this from the server's refuses to start, and
    # answers 503 while it is (measured every minute). See store/clock.py.
    max_clock_skew_ms: int = Field(500, ge=1, le=3_600_000)


class Price(_Strict):
    """Local price for a private or fine-tuned model, USD per million tokens."""

    input_mtok: Decimal = Field(ge=0)
    output_mtok: Decimal = Field(ge=0)
    cache_read_mtok: Decimal | None = Field(None, ge=0)
    cache_write_mtok: Decimal | None = Field(None, ge=0)


class Config(_Strict):
    proxy: Proxy = Proxy()
    keys: Keys = Keys()
    tiers: Tiers = Tiers()
    # provider host (exact, lower case, or a glob pattern: hostpattern.py) → provider id; `[providers.local]` → local_providers
    providers: dict[str, str] = DEFAULT_PROVIDER_HOSTS
    # provider ids whose calls run on the user's own machines: priced $0 as "local"
    local_providers: frozenset[str] = frozenset()
    # explicit provider for other upstreams: "host:port" or "host" → provider id
    upstreams: dict[str, str] = {}
    azure: Azure = Azure()
    metering: Metering = Metering()
    prices: dict[str, Price] = {}
    serve: Serve = Serve()
    webhooks: Webhooks = Webhooks()
    budgets: Budgets = Budgets()
    database: Database = Database()
    reconcile: Reconcile = Reconcile()  # issue 26: the ledger against the provider's bill

    @model_validator(mode="before")
    @classmethod
    def _local_providers(cls, data: object) -> object:
        return lift_local_providers(data)

    @field_validator("providers", "upstreams")
    @classmethod
    def _lower_hosts(cls, v: dict[str, str]) -> dict[str, str]:
        return {check_pattern(h) if is_pattern(h) else canonical_host(h): provider for h, provider in v.items()}

    def tier(self, name: str) -> Tier:
        return getattr(self.tiers, name)

    def tier_permissions(self) -> dict[str, tuple[str, ...]]:
        return {name: self.tier(name).permissions for name in TIERS}


def canonical_host(host: str) -> str:
    """A host name as configured hosts are keyed: lower case, no trailing dot (DNS root).
    A `host:port` keeps its port; `[::1]:443` style literals are left alone."""
    host = host.strip().lower()
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and not name.endswith("]") and ":" not in name:
        return f"{name.rstrip('.')}:{port}"
    return host.rstrip(".")


class ConfigError(Exception):
    """One line: file, field, problem."""


def unlimited_to_none(value: int | str) -> int | None:
    return None if value == "unlimited" else int(value)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and validate the TOML file (`paths.config_path`); no file at all means all defaults."""
    path = config_path(path)
    if path is None:
        return Config()
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return parse_config(data, source=str(path))


def parse_config(data: dict, *, source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        # A quoted TOML key may hold a newline or other control character: keep one line.
        field = ".".join(_one_line(str(p)) for p in err["loc"])
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        where = f"{field}: " if field else ""
        raise ConfigError(f"{source}: {where}{_one_line(err['msg'])}{more}") from None


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
