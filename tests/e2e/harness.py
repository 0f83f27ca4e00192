"""A real mitmdump subprocess with the AiSpendTrack addon, for end-to-end tests."""

from __future__ import annotations

import signal
from pathlib import Path

from aispendtrack.launch import ENTRY, MITMDUMP, Mitmdump, free_port, mitmdump_argv, stop_process, wait_port  # noqa: F401  (re-exported)

REPO = Path(__file__).resolve().parents[2]


class Proxy(Mitmdump):
    """mitmdump with the addon; `modes` maps a name to a mode spec with `{port}` left open;
    `config_text` becomes its config file."""

    def __init__(self, tmp: Path, db_path: Path, *, modes: dict[str, str], config_text: str = "",
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        config_path = tmp / "mitm.toml"
        config_path.write_text(config_text)
        super().__init__(
            modes=modes, config_path=config_path, db_path=db_path, workdir=tmp,
            log_path=tmp / f"mitmdump-{len(list(tmp.glob('mitmdump-*.log')))}.log", extra_args=extra_args,
            # faulthandler: a crash of mitmdump leaves its Python stack in the log
            env={"PYTHONFAULTHANDLER": "1", **(env or {})},
        )  # fmt: skip

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


def database_with_key(tmp: Path, label: str, tier: str = "enterprise") -> tuple[Path, str]:
    """A fresh ledger database in `tmp` with account `acme` and one key: (db path, plaintext key)."""
    from aispendtrack.store import db as dbmod
    from aispendtrack.store import keys, ledger_schema
    from aispendtrack.config import Config

    db_path = tmp / "aispendtrack.db"
    database = dbmod.connect(db_path)
    keys.ensure_schema(database)
    ledger_schema.ensure_schema(database)
    keys.create_account(database, "acme", tier)
    key = keys.create_key(database, "acme", Config(), name=label).key
    database.conn.close()
    return db_path, key
