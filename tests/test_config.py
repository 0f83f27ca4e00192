from pathlib import Path

import pytest

from aispendtrack.config import Config, ConfigError, load_config, parse_config, unlimited_to_none


def test_defaults_are_the_documented_product_values():
    c = Config()
    assert (c.tiers.free.max_keys, c.tiers.free.requests_per_hour, c.tiers.free.monthly_calls) == (1, 1000, 10000)
    assert (c.tiers.pro.max_keys, c.tiers.pro.requests_per_hour) == (5, 10000)
    assert unlimited_to_none(c.tiers.pro.monthly_calls) is None
    assert unlimited_to_none(c.tiers.enterprise.max_keys) is None
    assert c.keys.rotation_grace_seconds == 86400
    assert (c.serve.max_body_bytes, c.serve.allowed_hosts) == (1_048_576, [])


def test_repository_mitm_toml_matches_defaults():
    assert load_config(Path(__file__).resolve().parents[1] / "mitm.toml") == Config()


def test_partial_tier_keeps_other_defaults():
    c = parse_config({"tiers": {"pro": {"requests_per_hour": 5}}})
    assert c.tiers.pro.requests_per_hour == 5
    assert c.tiers.pro.max_keys == 5
    assert c.tiers.free.requests_per_hour == 1000


@pytest.mark.parametrize(
    "data, field",
    [
        ({"tiers": {"gold": {}}}, "tiers.gold"),
        ({"tiers": {"free": {"max_keys": 0}}}, "tiers.free.max_keys"),
        ({"tiers": {"free": {"monthly_calls": "lots"}}}, "tiers.free.monthly_calls"),
        ({"tiers": {"free": {"requests_per_hour": True}}}, "tiers.free.requests_per_hour"),
        ({"keys": {"rotation_grace_seconds": -1}}, "keys.rotation_grace_seconds"),
        ({"keys": {"rotation_grace": 5}}, "keys.rotation_grace"),
        ({"proxy": {"modes": "regular"}}, "proxy.modes"),
        ({"prices": {"m": {"input_mtok": "x", "output_mtok": 1}}}, "prices.m.input_mtok"),
        ({"tiers": {"pro": {"requests_per_hour": 10**12 + 1}}}, "tiers.pro.requests_per_hour"),
        ({"tiers": {"pro": {"budget_usd": 1e30}}}, "tiers.pro.budget_usd"),
        ({"tiers": {"pro": {"budget_usd": float("nan")}}}, "tiers.pro.budget_usd"),
        ({"serve": {"max_body_bytes": 100}}, "serve.max_body_bytes"),
        ({"serve": {"max_body_bytes": 1 << 31}}, "serve.max_body_bytes"),
        ({"serve": {"allowed_hosts": "example.com"}}, "serve.allowed_hosts"),
    ],
)
def test_bad_values_name_file_and_field(data, field):
    with pytest.raises(ConfigError) as e:
        parse_config(data, source="conf.toml")
    assert str(e.value).startswith(f"conf.toml: {field}:")
    assert "\n" not in str(e.value)


def test_unparsable_file_is_one_clear_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[tiers.free\nmax_keys = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(p)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_env_var_names_the_file(tmp_path, monkeypatch):
    p = tmp_path / "c.toml"
    p.write_text("[keys]\nrotation_grace_seconds = 7\n")
    monkeypatch.setenv("AISPENDTRACK_CONFIG", str(p))
    assert load_config().keys.rotation_grace_seconds == 7
