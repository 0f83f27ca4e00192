"""`aispendtrack reconcile` and `providers set|remove --admin` on the command line: arguments
checked with the field named, admin keys stored apart from the injected keys, a broken
`[reconcile]` config stops the command naming the key."""

import json

import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.store import open_store

ADMIN = "sk-admin-CLItestADMINkey0123456789"


@pytest.fixture
def fake():
    with FakeProvider().start() as f:
        yield f


def test_admin_keys_are_stored_apart(run):
    run("accounts", "create", "acme")
    def setkey(*args, ok=True):
        r = CliRunner().invoke(cli, ["--db", str(run.db), "providers", "set", *args], input=ADMIN + "\n",
                               catch_exceptions=False)
        assert (r.exit_code == 0) == ok, r.output
        return r.output

    assert "openai.admin" in setkey("acme", "openai", "--admin") and ADMIN not in setkey("acme", "openai", "--admin")
    assert "for openai and anthropic only" in setkey("acme", "groq", "--admin", ok=False)
    assert "organization's" in setkey("acme", "openai", "--admin", "--key", "k_x", ok=False)
    listed = json.loads(run("providers", "list", "--json").output)
    assert [(r["provider"], r["decrypts"]) for r in listed] == [("openai.admin", True)]
    run("providers", "remove", "acme", "openai", ok=False)  # the injected key's name is another
    assert "Removed the openai.admin key" in run("providers", "remove", "acme", "openai", "--admin").output
    assert json.loads(run("providers", "list", "--json").output) == []


def test_reconcile_arguments_and_config(run, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    assert "expected a UTC day as YYYY-MM-DD" in run("reconcile", "openai", "--since", "11/02/2026", ok=False).output
    assert "Invalid value for '{openai|anthropic}'" in run("reconcile", "groq", ok=False).output
    out = run("reconcile", "openai", "--base-url", fake.url, "--json").output
    rep = json.loads(out)
    assert rep["rows"] == [] and rep["days"] == "UTC" and ADMIN not in out
    assert fake.received[0].header("authorization") == f"Bearer {ADMIN}"
    bad = tmp_path / "bad.toml"
    bad.write_text('[reconcile]\ntolerance_usd = "lots"\n')
    out = run("--config", str(bad), "reconcile", "openai", ok=False).output
    assert "reconcile.tolerance_usd" in out
    monkeypatch.delenv("OPENAI_ADMIN_KEY")
    assert "no openai admin key" in run("reconcile", "openai", "--base-url", fake.url, ok=False).output


def test_save_keeps_the_run_for_the_dashboard(run, fake, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    config = tmp_path / "scoped.toml"
    config.write_text('[reconcile.openai.projects]\nproj_default = "acme"\n')
    run("accounts", "create", "acme", "--tier", "pro")
    plain = json.loads(run("--config", str(config), "reconcile", "openai", "--base-url", fake.url, "--json").output)
    assert "run_id" not in plain
    with open_store(run.db) as store:
        assert store.latest_reconcile_runs() == []  # without --save nothing is kept
    saved = json.loads(run("--config", str(config), "reconcile", "openai", "--base-url", fake.url, "--json",
                           "--save").output)
    with open_store(run.db) as store:
        [kept] = store.latest_reconcile_runs("acme")
    assert kept.id == saved["run_id"] and kept.provider == "openai" and kept.status == "ok"
    assert kept.accounts == ("acme",) and str(kept.since) == saved["since"]
    out = run("--config", str(config), "reconcile", "openai", "--base-url", fake.url, "--save").output
    assert "Saved as run" in out and ADMIN not in out
