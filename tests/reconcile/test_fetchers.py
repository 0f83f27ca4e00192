"""Both admin API readers against the fake provider on 127.0.0.1: the documented shapes,
pagination, polite 429 retries, refused keys, a cut-off page list, an unreachable API; and
the admin key in no message."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D

import pytest

from aispendtrack.demo.fake.billing import Served
from aispendtrack.demo.fake.server import FakeProvider, Fault
from aispendtrack.launch import free_port
from aispendtrack.reconcile import anthropic_admin, openai_admin
from aispendtrack.reconcile.http import ReconcileError
from aispendtrack.reconcile.model import Side

FIRST, LAST = date(2026, 9, 1), date(2026, 10, 10)  # 40 days: more than one page of 31 buckets
KEYS = {"openai": "sk-admin-SECRETforRECONtests0123", "anthropic": "sk-ant-admin01-SECRETforRECONtests0123"}
MODULES = {"openai": openai_admin, "anthropic": anthropic_admin}


def at(d: date, hour: int = 12) -> float:
    return datetime.combine(d, time(hour), UTC).timestamp()


@pytest.fixture
def fake():
    with FakeProvider().start() as f:
        f.billing.admin_keys = set(KEYS.values())
        f.billing.add(
            Served("openai", "gpt-4o-mini", at(FIRST), 1200, 300, 400, project="proj_a"),
            Served("openai", "gpt-4o-mini", at(FIRST, 13), 1200, 300, 400, project="proj_a"),
            Served("openai", "gpt-4o-mini", at(LAST), 100, 10, project="proj_b", batch=True),
            Served("openai", "text-embedding-3-small", at(LAST), 50, api="embeddings", project="proj_b"),
            Served("anthropic", "claude-sonnet-4-5", at(FIRST), 1200, 300, 400, 100, "messages", None, "wrkspc_1",
                   "k1"),
            Served("anthropic", "claude-sonnet-4-5", at(LAST), 1200, 300, 400, 100, "messages", None, None, "k2",
                   batch=True),
        )
        yield f


def fetch(fake, provider, key=None, since=FIRST, until=LAST, **kw):
    api = MODULES[provider].client(fake.url, key or KEYS[provider])
    for name, value in kw.items():
        setattr(api, name, value)
    return MODULES[provider].fetch(api, since, until), api


def paths(fake):
    return [r.path.split("?")[0] + ("+page" if "page=" in r.path else "") for r in fake.received]


def test_openai_usage_and_costs_over_two_pages(fake):
    bill, _ = fetch(fake, "openai")
    usage = {(u.day, u.model, u.scope): u.side for u in bill.usage}
    assert usage == {
        (FIRST, "gpt-4o-mini", "proj_a"): Side(1600, 800, 600, 0, 2),
        (LAST, "gpt-4o-mini", "proj_b"): Side(100, 0, 10, 110, 1),
        (LAST, "text-embedding-3-small", "proj_b"): Side(50, 0, 0, 0, 1),
    }
    costs = {(c.day, c.model, c.kind) for c in bill.costs}
    assert (FIRST, "gpt-4o-mini", "cached") in costs and (LAST, "text-embedding-3-small", "input") in costs
    first_day = sum(c.usd for c in bill.costs if c.day == FIRST)
    assert first_day == sum(sum(s.costs().values()) for s in fake.billing.calls[:2])  # genai-prices, as billed
    assert paths(fake).count("/v1/organization/usage/completions+page") == 1  # the second page of 40 days
    req = fake.received[0]
    assert req.header("authorization") == f"Bearer {KEYS['openai']}"
    assert "bucket_width=1d" in req.path and "group_by%5B%5D=model" in req.path and "project_id" in req.path


def test_the_fake_speaks_the_shapes_of_the_official_sdk(fake):
    """The fake's admin answers parse into the openai SDK's own admin types."""
    import openai

    client = openai.OpenAI(admin_api_key=KEYS["openai"], api_key="unused", base_url=fake.url + "/v1")
    start = int(at(FIRST, 0))
    usage = client.admin.organization.usage.completions(start_time=start, end_time=start + 86_400,
                                                         group_by=["model", "project_id"], limit=1)
    (r,) = usage.data[0].results
    assert (r.model, r.project_id, r.input_tokens, r.input_cached_tokens, r.num_model_requests) == (
        "gpt-4o-mini", "proj_a", 2400, 800, 2)
    costs = client.admin.organization.usage.costs(start_time=start, end_time=start + 86_400,
                                                  group_by=["line_item", "project_id"])
    assert {c.line_item for c in costs.data[0].results} == {
        "gpt-4o-mini, input", "gpt-4o-mini, cached input", "gpt-4o-mini, output"}
    assert all(c.amount.currency == "usd" and c.amount.value > 0 for c in costs.data[0].results)


def test_anthropic_usage_and_costs_over_two_pages(fake):
    bill, _ = fetch(fake, "anthropic")
    usage = {(u.day, u.scope, u.api_key): u.side for u in bill.usage}
    assert usage == {(FIRST, "wrkspc_1", "k1"): Side(800, 400, 300),
                     (LAST, None, "k2"): Side(800, 400, 300, 1500)}  # cache writes are input; batch tier
    total = sum(c.usd for c in bill.costs if c.day == FIRST)
    assert total == sum(fake.billing.calls[4].costs().values()) > 0  # cents read back as dollars, exactly
    assert {c.kind for c in bill.costs} == {"input", "cached", "output"}
    assert paths(fake).count("/v1/organizations/cost_report+page") == 1
    req = fake.received[0]
    assert req.header("x-api-key") == KEYS["anthropic"] and req.header("anthropic-version") == "2023-06-01"
    assert "starting_at=2026-09-01T00%3A00%3A00Z" in req.path and "group_by%5B%5D=workspace_id" in req.path


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_429_is_retried_politely_then_given_up(fake, provider):
    waits = []
    fake.fail(Fault.error(429, headers=[("retry-after", "2")]), Fault.error(429, headers=[("retry-after-ms", "5")]))
    bill, _ = fetch(fake, provider, sleep=waits.append)
    assert waits == [2.0, 0.005] and bill.usage
    fake.fail(*[Fault.error(429, headers=[("retry-after", "1")])] * 4)
    with pytest.raises(ReconcileError, match="429.*after 3 polite retries.*wait 1 s"):
        fetch(fake, provider, sleep=waits.append)
    fake.fail(Fault.error(429, headers=[("retry-after", "3600")]))  # longer than we wait: said at once
    with pytest.raises(ReconcileError, match="429"):
        fetch(fake, provider, sleep=waits.append)
    assert len(waits) == 5


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("key, status", [("sk-admin-WRONG", 401), ("sk-ant-admin01-WRONG", 401),
                                         ("sk-proj-NOTanADMINkey99", 403)])
def test_refused_keys_are_named_and_never_shown(fake, provider, key, status):
    if provider == "anthropic" and key == "sk-admin-WRONG":
        key = "sk-ant-api03-NOTanADMINkey99"
        status = 403
    if provider == "openai" and key.startswith("sk-ant-admin"):
        key = "sk-admin-ALSOwrong"
    with pytest.raises(ReconcileError, match=f"refused \\({status}\\)|may not read .*\\({status}\\)") as e:
        fetch(fake, provider, key=key)
    assert key not in str(e.value)


def test_a_provider_echoing_the_key_has_it_scrubbed(fake):
    key = KEYS["openai"]
    fake.fail(Fault.error(401, {"error": {"message": f"Incorrect API key provided: {key}"}}))
    with pytest.raises(ReconcileError) as e:
        fetch(fake, "openai")
    assert key not in str(e.value) and "[admin key]" in str(e.value)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_cut_off_page_list_stops_with_a_message(fake, provider):
    fake.billing.cut_off = True
    with pytest.raises(ReconcileError, match="cut .* off.*nothing was compared"):
        fetch(fake, provider)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_unreachable_api(provider):
    api = MODULES[provider].client(f"http://127.0.0.1:{free_port()}", KEYS[provider])
    with pytest.raises(ReconcileError, match="cannot reach the .* admin API at http://127.0.0.1"):
        MODULES[provider].fetch(api, FIRST, FIRST)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_not_the_documented_shape(fake, provider):
    fake.fail(Fault.error(200, {"unexpected": True}))
    with pytest.raises(ReconcileError, match="without a data list"):
        fetch(fake, provider)


def test_costs_of_the_current_day(fake):
    fake.billing.add(Served("openai", "gpt-4o-mini", datetime.now(UTC).timestamp(), 10, 1))
    today = datetime.now(UTC).date()  # after the call: the window holds it across a midnight
    bill, _ = fetch(fake, "openai", since=today - timedelta(days=1), until=today)
    assert sum(c.usd for c in bill.costs) > D(0)
