"""`[reconcile]` in mitm.toml: tolerance, schedule, drift threshold, and per provider where its
admin API is, which environment variable holds the admin key, and which provider project /
workspace / API key belongs to which account.

    [reconcile]
    tolerance_usd = "0.01"
    [reconcile.openai]
    admin_key_env = "OPENAI_ADMIN_KEY"
    [reconcile.openai.projects]
    proj_abc = "acme"
    [reconcile.anthropic.workspaces]
    wrkspc_01 = "acme"
    default = "umbrella"        # the default workspace (its id is reported as null)
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DEFAULT_WORKSPACE = "default"  # the mapping key of Anthropic's default workspace (workspace_id null)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(v: str) -> str:
    if not _ENV_NAME.fullmatch(v):
        raise ValueError(f"expected an environment variable name such as OPENAI_ADMIN_KEY (never the key itself), "
                         f"got a value of {len(v)} characters")
    return v


def _base_url(v: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", v):
        raise ValueError(f'expected an http(s) URL such as "https://api.openai.com", got {v!r}')
    return v.rstrip("/")


def _accounts(v: dict[str, str]) -> dict[str, str]:
    for scope, account in v.items():
        if not scope.strip() or not account.strip():
            raise ValueError(f"expected scope id = \"account name\", got {scope!r} = {account!r}")
    return v


EnvName = Annotated[str, AfterValidator(_env_name)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
Accounts = Annotated[dict[str, str], AfterValidator(_accounts)]


class OpenAIReconcile(_Strict):
    admin_key_env: EnvName = "OPENAI_ADMIN_KEY"
    base_url: BaseUrl = "https://api.openai.com"
    projects: Accounts = {}  # OpenAI project id → account


class AnthropicReconcile(_Strict):
    admin_key_env: EnvName = "ANTHROPIC_ADMIN_KEY"
    base_url: BaseUrl = "https://api.anthropic.com"
    workspaces: Accounts = {}  # workspace id (or "default") → account
    api_keys: Accounts = {}  # API key id → account (wins over its workspace's)


class Reconcile(_Strict):
    # dollars within this of the provider's count as a match (token counts must be exact)
    tolerance_usd: Decimal = Field(Decimal("0.01"), ge=0, le=1_000_000)
    schedule: Literal["daily", "off"] = "off"  # used by `serve` (reconcile/schedule)
    drift_usd: Decimal = Field(Decimal("1.00"), ge=0, le=1_000_000)  # threshold of the reconcile.drift webhook
    openai: OpenAIReconcile = OpenAIReconcile()
    anthropic: AnthropicReconcile = AnthropicReconcile()

    def provider(self, name: str) -> OpenAIReconcile | AnthropicReconcile:
        return getattr(self, name)
