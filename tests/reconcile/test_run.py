"""reconcile() on a real store of each engine and the fake provider's admin APIs: verdicts per
UTC day and model, attribution to accounts, partial days, metering gaps, where the admin key
comes from (environment, vault: never both unnamed), and what stops it."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D

import pytest

from aispendtrack.config import parse_config
from aispendtrack.demo.fake.billing import Served
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.reconcile.adminkey import vault_name
from aispendtrack.reconcile.model import Side, report_json
from aispendtrack.reconcile.run import ReconcileError, reconcile
from aispendtrack.vault import service
from support.ledger_rows import make_row

DAY, NEXT = date(2026, 11, 2), date(2026, 11, 3)
AFTER = datetime(2026, 11, 5, 8, tzinfo=UTC)
KEY = "sk-admin-RUNtestADMINkey0123456789"
MAPPED = {"reconcile": {"openai": {"projects": {"proj_a": "acme", "proj_u": "umbrella"}}}}


def at(d: date, hour: int = 12) -> datetime:
    return datetime.combine(d, time(hour), UTC)


def served(d: date, project="proj_a", n=1200, hour=12) -> Served:
    return Served("openai", "gpt-4o-mini", at(d, hour).timestamp(), n, 300, 400, project=project)


def ledger(store, s: Served, account="acme", **over):
    cost = sum(s.costs().values())
    store.record([make_row(ts=datetime.fromtimestamp(s.ts, UTC), account=account, model=s.model,
                           input_tokens=s.input, output_tokens=s.output, cache_read_tokens=s.cache_read,
                           cost_usd=cost, **over)])


@pytest.fixture
def fake():
    with FakeProvider().start() as f:
        yield f


@pytest.fixture
def world(any_store, fake, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    for name in ("acme", "umbrella", "penny"):
        any_store.create_account(name, "pro")
    both = [served(DAY), served(DAY, hour=15), served(NEXT)]
    fake.billing.add(*both)
    for s in both:
        ledger(any_store, s)
    return any_store


def run(store, fake, config=MAPPED, since=DAY, until=NEXT, now=AFTER, **kw):
    return reconcile(parse_config(config), store, "openai", since, until, base_url=fake.url, now=now, **kw)


def test_calls_seen_by_both_sides_match(world, fake):
    rep = run(world, fake)
    assert [(r.day, r.account, r.model, r.verdict) for r in rep.rows] == [
        (DAY, "acme", "gpt-4o-mini", "matches"), (NEXT, "acme", "gpt-4o-mini", "matches")]
    assert rep.rows[0].gateway.tokens == rep.rows[0].provider.tokens == 2 * 1500
    assert rep.matched_pct == 100.0 and rep.unexplained_usd == 0 and not rep.unattributed
    assert any("UTC" in n for n in rep.notes) and not any("partial" in n for n in rep.notes)
    assert fake.received[0].header("authorization") == f"Bearer {KEY}"


def test_direct_traffic_shows_as_gateway_under_by_exactly_its_size(world, fake):
    extra = served(NEXT, n=5000, hour=9)
    fake.billing.add(extra)
    rep = run(world, fake)
    row = next(r for r in rep.rows if r.day == NEXT)
    assert row.verdict == "gateway under"
    diff = Side(*(getattr(row.provider, f) - getattr(row.gateway, f) for f in
                  ("input_tokens", "cached_tokens", "output_tokens", "batch_tokens", "requests", "usd")))
    assert diff == Side(extra.input - extra.cache_read, extra.cache_read, extra.output, 0, 1,
                        sum(extra.costs().values()))
    assert rep.unexplained_usd == sum(extra.costs().values())
    assert D(report_json(rep)["rows"][1]["difference"]["usd"]) == sum(extra.costs().values())


def test_a_metering_gap_is_shown_not_hidden(world, fake):
    gap = served(NEXT, hour=18)
    fake.billing.add(gap)  # the provider generated it; the gateway lost its usage
    world.record([make_row(ts=at(NEXT, 18), outcome="aborted", status=200, input_tokens=None, output_tokens=None,
                           cost_usd=None, pricing="unmetered", usage_json=None)])
    row = next(r for r in run(world, fake).rows if r.day == NEXT)
    assert row.verdict == "gateway under" and row.note.startswith("metering gap: 1 call")


def test_scopes_map_to_accounts_and_the_rest_is_unattributed(world, fake):
    fake.billing.add(served(DAY, "proj_u", 1000), served(DAY, "proj_x", 2000))
    ledger(world, served(DAY, "proj_u", 1000), "umbrella")
    rep = run(world, fake)
    assert {(r.account, r.day): r.verdict for r in rep.rows} == {
        ("acme", DAY): "matches", ("acme", NEXT): "matches", ("umbrella", DAY): "matches"}
    (u,) = rep.unattributed
    assert (u.scope, u.verdict, u.provider.input_tokens) == ("project proj_x", "unattributed", 2000 - 400)
    only = run(world, fake, account="umbrella")
    assert [r.account for r in only.rows] == ["umbrella"] and only.unattributed == rep.unattributed


def test_without_a_mapping_every_account_is_compared_together(world, fake):
    ledger(world, served(DAY), "umbrella")
    fake.billing.add(served(DAY))
    rep = run(world, fake, config={})
    assert [(r.account, r.verdict) for r in rep.rows] == [(None, "matches"), (None, "matches")]
    with pytest.raises(ReconcileError, match=r"--account needs .*\[reconcile.openai.projects\]"):
        run(world, fake, config={}, account="acme")


def test_today_is_partial(world, fake):
    rep = run(world, fake, now=at(NEXT, 20))
    assert "partial" in rep.rows[1].note and "partial" not in rep.rows[0].note
    assert any(n.startswith(f"{NEXT} (today, UTC) is partial") for n in rep.notes)


def test_the_admin_key_from_the_vault_never_injected_elsewhere(world, fake, monkeypatch):
    monkeypatch.delenv("OPENAI_ADMIN_KEY")
    with pytest.raises(ReconcileError, match=r"no openai admin key: set \$OPENAI_ADMIN_KEY, or store one") as e:
        run(world, fake)
    service.store_secret(world, "acme", vault_name("openai"), None, KEY, "test")
    assert [r.provider for r in world.list_credentials()] == ["openai.admin"]  # not "openai": never injected
    assert run(world, fake).rows[0].verdict == "matches"
    assert fake.received[-1].header("authorization") == f"Bearer {KEY}"
    service.store_secret(world, "umbrella", vault_name("openai"), None, KEY + "other", "test")
    with pytest.raises(ReconcileError, match=r"several accounts hold .*\(acme, umbrella\): name one with --account"):
        run(world, fake)
    assert run(world, fake, account="acme").rows[0].verdict == "matches"
    world.remove_credential(world.get_account("umbrella").id, vault_name("openai"), None)
    assert run(world, fake, account="umbrella").rows == ()  # acme's key, the only one, serves any account
    assert fake.received[-1].header("authorization") == f"Bearer {KEY}"
    assert KEY not in str(e.value)


def test_the_environment_variable_named_in_config(world, fake, monkeypatch):
    monkeypatch.delenv("OPENAI_ADMIN_KEY")
    monkeypatch.setenv("ORG_BILLING_KEY", KEY)
    config = {"reconcile": {"openai": {"admin_key_env": "ORG_BILLING_KEY"}}}
    assert run(world, fake, config=config).rows[0].verdict == "matches"


@pytest.mark.parametrize("kw, message", [
    ({"since": NEXT, "until": DAY}, "is after"),
    ({"since": date(2026, 12, 1), "until": date(2026, 12, 2)}, "in the future"),
    ({"since": DAY - timedelta(days=400)}, "at most 366 days"),
    ({"account": "nobody"}, "nobody"),
    ({"account": "penny"}, r"--account penny: no openai scope maps to it \(see \[reconcile.openai.projects\]\)"),
])  # fmt: skip
def test_what_stops_it(world, fake, kw, message):
    with pytest.raises(Exception, match=message):
        run(world, fake, **kw)


def test_anthropic_keys_and_workspaces_map_to_accounts(any_store, fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-RUNtest0123456789")
    for name in ("acme", "umbrella"):
        any_store.create_account(name, "pro")
    calls = [Served("anthropic", "claude-haiku-4-5", at(DAY).timestamp(), 1200, 300, 400, 100, "messages", None,
                    "wrkspc_1", key) for key in ("apikey_a", "apikey_b", "apikey_b")]
    calls.append(Served("anthropic", "claude-haiku-4-5", at(DAY).timestamp(), 900, 30, 0, 0, "messages", None,
                        None, "apikey_c"))
    fake.billing.add(*calls)
    for s, account in zip(calls, ("acme", "umbrella", "umbrella")):
        ledger(any_store, s, account, provider="anthropic", cache_write_tokens=s.cache_write)
    config = {"reconcile": {"anthropic": {"api_keys": {"apikey_a": "acme"}, "workspaces": {"wrkspc_1": "umbrella"}}}}
    rep = reconcile(parse_config(config), any_store, "anthropic", DAY, DAY, base_url=fake.url, now=AFTER)
    assert [(r.account, r.verdict, r.provider.input_tokens) for r in rep.rows] == [
        ("acme", "matches", 800), ("umbrella", "matches", 1600)]
    assert abs(rep.rows[0].provider.usd - sum(calls[0].costs().values())) < D("0.000001")  # its share of the lines
    (u,) = rep.unattributed
    assert u.scope == "workspace default, API key apikey_c" and u.provider.usd == sum(calls[3].costs().values())
