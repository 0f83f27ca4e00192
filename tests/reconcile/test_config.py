"""`[reconcile]` in mitm.toml: documented defaults; a bad value stops naming the key, and an
admin key pasted where a variable name belongs is never echoed."""

from decimal import Decimal

import pytest

from aispendtrack.config import ConfigError, parse_config


def test_defaults():
    r = parse_config({}).reconcile
    assert (r.tolerance_usd, r.schedule, r.drift_usd) == (Decimal("0.01"), "off", Decimal("1.00"))
    assert (r.openai.admin_key_env, r.openai.base_url) == ("OPENAI_ADMIN_KEY", "https://api.openai.com")
    assert (r.anthropic.admin_key_env, r.anthropic.base_url) == ("ANTHROPIC_ADMIN_KEY", "https://api.anthropic.com")
    assert r.openai.projects == r.anthropic.workspaces == r.anthropic.api_keys == {}


def test_a_file_sets_only_what_it_changes():
    r = parse_config({"reconcile": {"tolerance_usd": "0.05", "anthropic": {"workspaces": {"default": "acme"},
                                                                            "base_url": "http://127.0.0.1:9/"}}})
    assert r.reconcile.tolerance_usd == Decimal("0.05") and r.reconcile.anthropic.base_url == "http://127.0.0.1:9"
    assert r.reconcile.anthropic.workspaces == {"default": "acme"} and r.reconcile.schedule == "off"


@pytest.mark.parametrize("section, field", [
    ({"tolerance_usd": "lots"}, "reconcile.tolerance_usd"),
    ({"tolerance_usd": "-1"}, "reconcile.tolerance_usd"),
    ({"schedule": "hourly"}, "reconcile.schedule"),
    ({"drift_usd": []}, "reconcile.drift_usd"),
    ({"openai": {"base_url": "api.openai.com"}}, "reconcile.openai.base_url"),
    ({"openai": {"projects": {"proj_a": ""}}}, "reconcile.openai.projects"),
    ({"openai": {"project": {}}}, "reconcile.openai.project"),
    ({"anthropic": {"api_keys": {"k": 3}}}, "reconcile.anthropic.api_keys.k"),
    ({"google": {}}, "reconcile.google"),
])  # fmt: skip
def test_bad_values_name_the_key(section, field):
    with pytest.raises(ConfigError, match=f"<config>: {field}"):
        parse_config({"reconcile": section})


def test_a_key_pasted_as_the_variable_name_is_not_echoed():
    secret = "sk-admin-PASTEDbyMISTAKE0123456789"
    with pytest.raises(ConfigError, match="reconcile.openai.admin_key_env: .*environment variable name") as e:
        parse_config({"reconcile": {"openai": {"admin_key_env": secret}}})
    assert secret not in str(e.value)
