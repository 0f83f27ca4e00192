"""`aispendtrack providers …` and `aispendtrack vault rotate`: secrets from stdin only,
sealed at rest, listed with whether they decrypt, a wrong or rotated master key reported."""

import base64
import json
import os
import stat

from click.testing import CliRunner

from aispendtrack.cli.main import cli

SECRET = "sk-proj-PLAINTEXT-VAULT-SECRET-abcd"


def setkey(run, *args, secret=SECRET, ok=True):
    result = CliRunner().invoke(cli, ["--db", str(run.db), "providers", "set", *args], input=secret + "\n",
                                catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def listed(run, *args, ok=True):
    return json.loads(run("providers", "list", *args, "--json", ok=ok).stdout)


def files_text(run) -> str:
    return b"".join(p.read_bytes() for p in run.db.parent.iterdir() if p.name.startswith(run.db.name)).decode("latin-1")


def test_set_list_remove(run, vault_key_file):
    run("accounts", "create", "acme", "--tier", "pro")
    key = json.loads(run("keys", "create", "acme", "--json").output)
    out = setkey(run, "acme", "openai", "--by", "ann").output
    assert "sk-…abcd" in out and SECRET not in out
    assert stat.S_IMODE(os.stat(vault_key_file).st_mode) == 0o600
    setkey(run, "acme", "anthropic", "--key", key["id"], secret="sk-ant-OTHER-SECRET-9999")
    rows = listed(run, "acme")
    assert [(r["provider"], r["key_id"], r["hint"], r["decrypts"]) for r in rows] == [
        ("anthropic", key["id"], "sk-…9999", True), ("openai", None, "sk-…abcd", True)]
    assert rows[1]["set_by"] == "ann" and rows[1]["set_at"]
    assert SECRET not in run("providers", "list", "acme").output
    assert SECRET not in files_text(run) and SECRET[8:] not in files_text(run)
    run("providers", "remove", "acme", "openai")
    assert "no openai credential" in run("providers", "remove", "acme", "openai", ok=False).output
    assert [r["provider"] for r in listed(run)] == ["anthropic"]


def test_bad_input_is_named(run):
    run("accounts", "create", "acme")
    assert "unknown provider 'nope'" in setkey(run, "acme", "nope", ok=False).output
    assert "secret: empty" in setkey(run, "acme", "openai", secret="", ok=False).output
    assert "no account named 'ghost'" in setkey(run, "ghost", "openai", ok=False).output
    assert "no key 'key_nope' in account acme" in setkey(run, "acme", "openai", "--key", "key_nope", ok=False).output
    assert "no account named 'ghost'" in run("providers", "list", "ghost", ok=False).output
    # a secret on the command line is not an option at all
    assert "Got unexpected extra argument" in run("providers", "set", "acme", "openai", SECRET, ok=False).output


def test_a_wrong_master_key_is_reported_never_skipped(run, vault_key_file, monkeypatch):
    run("accounts", "create", "acme")
    setkey(run, "acme", "openai")
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", base64.b64encode(os.urandom(32)).decode())
    rows = listed(run, ok=False)
    assert rows[0]["decrypts"] is False and "does not hold" in rows[0]["problem"]
    assert "providers set" in rows[0]["problem"]
    monkeypatch.delenv("AISPENDTRACK_VAULT_KEY")
    vault_key_file.unlink()
    assert "no vault master key" in listed(run, ok=False)[0]["problem"]
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", "too-short")
    assert "32 bytes" in listed(run, ok=False)[0]["problem"]


def test_rotate_with_the_key_file(run, vault_key_file):
    run("accounts", "create", "acme")
    setkey(run, "acme", "openai")
    before = json.loads(vault_key_file.read_text())
    out = run("vault", "rotate").output
    after = json.loads(vault_key_file.read_text())
    assert after["current"] != before["current"] and list(after["keys"]) == [after["current"]]
    assert f"Removed old master key(s) {before['current']}" in out
    assert stat.S_IMODE(os.stat(vault_key_file).st_mode) == 0o600
    rows = listed(run)
    assert rows[0]["decrypts"] and rows[0]["master_key_id"] == after["current"]
    # the old key file (a backup from before the rotation) no longer opens the records
    vault_key_file.write_text(json.dumps(before))
    os.chmod(vault_key_file, 0o600)
    assert "does not hold" in listed(run, ok=False)[0]["problem"]


def test_rotate_with_keys_from_the_environment(run, monkeypatch):
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    run("accounts", "create", "acme")
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", old)
    setkey(run, "acme", "openai")
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", f"{new},{old}")
    assert listed(run)[0]["decrypts"]
    out = run("vault", "rotate").output
    assert "remove it from $AISPENDTRACK_VAULT_KEY" in out
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", new)
    assert listed(run)[0]["decrypts"]
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", old)
    assert listed(run, ok=False)[0]["decrypts"] is False
    # a record that does not open stops the rotation and changes nothing
    assert "rotation stopped, nothing changed" in run("vault", "rotate", ok=False).output


def test_a_key_file_others_can_read_is_refused(run, vault_key_file):
    run("accounts", "create", "acme")
    setkey(run, "acme", "openai")
    os.chmod(vault_key_file, 0o644)
    assert "chmod 600" in listed(run, ok=False)[0]["problem"]
    assert "chmod 600" in setkey(run, "acme", "openai", ok=False).output


def test_rotations_at_once_never_lose_the_key_in_use(run):
    """Each rotation holds the key file's lock: without it one could write back a file
    without the key the other had just resealed every record with."""
    import threading

    from aispendtrack.store import open_store
    from aispendtrack.vault import service

    run("accounts", "create", "acme")
    setkey(run, "acme", "openai")
    errors = []

    def rotate():
        with open_store(run.db) as store:
            for _ in range(5):
                try:
                    service.rotate(store)
                except Exception as e:  # noqa: BLE001 - every failure is the test's
                    errors.append(e)

    threads = [threading.Thread(target=rotate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and listed(run)[0]["decrypts"]
