"""`scripts/run`: validate the config, prepare the database, then become mitmdump.

On first use (no key in the database) it creates a local account and key and prints the
key once with a copy-paste SDK snippet. Extra arguments go to mitmdump; a `--mode` among
them replaces the configured listeners.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from rich.console import Console

from aispendtrack import config as configmod
from aispendtrack.store import db as dbmod
from aispendtrack.store import keys, ledger_schema

ENTRY = configmod.REPO_ROOT / "addon" / "aispendtrack_addon.py"
LOCAL_ACCOUNT = "local"


def has_mode(args: list[str]) -> bool:
    return any(a in ("--mode", "-m") or a.startswith("--mode=") or a.startswith("mode=") for a in args)


def mitmdump_argv(config: configmod.Config, config_path: Path, db_path: Path, args: list[str], program: str = "mitmdump") -> list[str]:
    argv = [program, "-s", str(ENTRY), "--set", f"aispendtrack_config={config_path}", "--set", f"aispendtrack_db={db_path}"]
    argv += ["--listen-host", config.proxy.listen_host, "--set", f"connection_strategy={config.proxy.connection_strategy}"]
    if not has_mode(args):
        for mode in config.proxy.modes:
            argv += ["--mode", mode]
    return argv + args


def first_run(db_path: Path, config: configmod.Config, console: Console) -> None:
    database = dbmod.connect(db_path)
    keys.ensure_schema(database)
    ledger_schema.ensure_schema(database)
    if database.execute("SELECT COUNT(*) FROM keys").fetchone()[0]:
        return
    try:
        keys.get_account(database, LOCAL_ACCOUNT)
    except keys.KeyStoreError:
        keys.create_account(database, LOCAL_ACCOUNT, "pro")
    new = keys.create_key(database, LOCAL_ACCOUNT, config, name="first-run")
    console.print(f"[bold]AiSpendTrack first run[/]: created account '{LOCAL_ACCOUNT}' (pro tier) and key {new.id}.")
    console.print("Your key (shown only this once; stored only as a digest):\n")
    print(new.key, flush=True)
    console.print(
        "\n  export AISPENDTRACK_API_KEY=<the key above>\n\n"
        "  from openai import OpenAI\n"
        '  client = OpenAI(base_url="http://localhost:8080/v1",\n'
        '                  default_headers={"x-aispendtrack-key": os.environ["AISPENDTRACK_API_KEY"]})\n\n'
        "  from anthropic import Anthropic\n"
        '  client = Anthropic(base_url="http://localhost:8081",\n'
        '                     default_headers={"x-aispendtrack-key": os.environ["AISPENDTRACK_API_KEY"]})\n',
        highlight=False,
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        config = configmod.load_config()
    except configmod.ConfigError as e:
        print(f"AiSpendTrack config error: {e}", file=sys.stderr)
        return 2
    config_path, db_path = configmod.config_path(), configmod.db_path()
    try:
        first_run(db_path, config, console)
    except Exception as e:
        print(f"AiSpendTrack database error: {db_path}: {e}", file=sys.stderr)
        return 2
    program = shutil.which("mitmdump", path=str(Path(sys.executable).parent)) or "mitmdump"
    argv = mitmdump_argv(config, config_path, db_path, args, program)
    sys.stdout.flush()
    os.execv(program, argv)
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
