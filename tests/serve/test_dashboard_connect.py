"""The empty state: an account (or a member's view) without calls shows how to point an SDK
at the proxy — the configured listeners' addresses as 127.0.0.1, the header — instead of
empty tables, and never the key itself."""

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from aispendtrack.config import parse_config
from aispendtrack.serve.app import create_app
from aispendtrack.serve.dashboard.connect import guide, listeners
from aispendtrack.store.writer import StoreWriter

from support.ledger_rows import make_row
from support.team import CONFIG

BASE = f"http://{CONFIG.serve.listen}"


@pytest.mark.parametrize("proxy, openai, anthropic, regular", [
    ({}, "http://127.0.0.1:8080/v1", "http://127.0.0.1:8081", "http://127.0.0.1:8082"),
    ({"listen_host": "0.0.0.0", "modes": ["reverse:https://api.anthropic.com@9001", "regular"]},
     None, "http://127.0.0.1:9001", "http://127.0.0.1:8080"),
    ({"listen_host": "localhost", "modes": ["reverse:http://10.0.0.7:11434@10.1.2.3:7000"]},
     "http://10.1.2.3:7000/v1", None, None),
    ({"modes": ["reverse:https://api.openai.com@[::1]:8443", "socks5@1080"]}, "http://[::1]:8443/v1", None, None),
])
def test_guide_reads_the_configured_listeners_as_loopback_addresses(proxy, openai, anthropic, regular):
    g = guide(parse_config({"proxy": proxy}))
    assert (g["openai"], g["anthropic"], g["proxy"]) == (openai, anthropic, regular)
    assert all("localhost" not in x.url for x in listeners(parse_config({"proxy": proxy})))


def login(db_path, key: str, config=CONFIG) -> tuple[TestClient, str]:
    client = TestClient(create_app(config, db_path, deliver=False), base_url=BASE)
    r = client.post("/login", data={"key": key}, headers={"origin": BASE}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client, re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/").text).group(1)


def test_a_new_account_sees_how_to_connect_and_never_its_key(db_path, team):
    config = parse_config({"tiers": {"pro": {"max_keys": 20}},
                           "proxy": {"modes": ["reverse:https://api.openai.com@18080",
                                               "reverse:https://api.anthropic.com@18081", "regular@18082"]}})
    client, csrf = login(db_path, team["owner"].key, config)
    page = client.get("/").text
    assert 'data-testid="connect"' in page and 'data-testid="latest"' not in page and 'data-testid="by-model"' not in page
    assert 'OpenAI(base_url="http://127.0.0.1:18080/v1"' in page
    assert 'Anthropic(base_url="http://127.0.0.1:18081"' in page
    assert "curl http://127.0.0.1:18080/v1/chat/completions" in page and "x-aispendtrack-key: ask_…" in page
    assert "HTTPS_PROXY=http://127.0.0.1:18082" in page and "localhost" not in page
    for name in ("owner", "ada", "mia", "vic"):
        assert team[name].key not in page and team[name].key[4:] not in page
    # a key made on that page is shown once, in its own box, never in the snippets
    r = client.post("/dashboard/keys", data={"name": "sdk", "permissions": ["calls"], "csrf": csrf}, headers={"origin": BASE})
    new = re.search(r'id="new-key" readonly value="(ask_[A-Za-z0-9]{32})"', r.text).group(1)
    assert r.text.count(new) == 1 and r.text.count(new[4:]) == 1
    assert new not in r.text.split('data-testid="connect"', 1)[1]


def test_after_the_first_call_the_tables_are_back(db_path, team, store):
    client, _ = login(db_path, team["owner"].key)
    assert 'data-testid="connect"' in client.get("/").text
    record_call(store, team["owner"].id)
    page = client.get("/").text
    assert 'data-testid="connect"' not in page and 'data-testid="latest"' in page
    # a member whose own keys made no call still sees how to connect
    mia, _ = login(db_path, team["mia"].key)
    assert 'data-testid="connect"' in mia.get("/").text


def record_call(store, key_id: str) -> None:
    writer = StoreWriter(store)
    writer.start()
    try:
        writer.write_sync(make_row(ts=datetime(2026, 11, 26, 9, 0, tzinfo=UTC), key_id=key_id, account="acme"))
    finally:
        writer.close()


def test_a_period_without_calls_is_not_the_empty_state(db_path, team, store):
    """An account with calls, looking at a period that has none, gets its (empty) tables."""
    record_call(store, team["owner"].id)  # 2026-11-26
    client, _ = login(db_path, team["owner"].key)
    page = client.get("/?from=2026-10-01&to=2026-10-31").text
    assert 'data-testid="connect"' not in page and 'data-testid="by-model"' in page, page[:2000]
