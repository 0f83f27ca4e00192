"""Where the vault's master keys come from.

First that applies: `$AISPENDTRACK_VAULT_KEY` (one key, or several separated by commas: the
first seals, the others only open records sealed before a rotation), else the key file:
`$AISPENDTRACK_VAULT_KEY_FILE`, the checkout's `var/vault.key`, else `vault.key` in the
platform's user config directory. The file is made on first use (`create=True`: only by
commands that store a credential or rotate), with mode 0600, and refused when others may
read it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from aispendtrack.paths import APP, find_checkout
from aispendtrack.vault.crypto import Keyring, VaultError, master_key_id, new_master_key, parse_master_key

KEY_ENV = "AISPENDTRACK_VAULT_KEY"
FILE_ENV = "AISPENDTRACK_VAULT_KEY_FILE"
FILE_NAME = "vault.key"


def key_file() -> Path:
    if env := os.environ.get(FILE_ENV):
        return Path(env)
    checkout = find_checkout()
    if checkout is not None:
        return checkout / "var" / FILE_NAME
    return platformdirs.user_config_path(APP, appauthor=False) / FILE_NAME


def from_env() -> Keyring | None:
    text = os.environ.get(KEY_ENV)
    if text is None or not text.strip():
        return None
    where = f"${KEY_ENV}"
    return Keyring.of([parse_master_key(part, where) for part in text.split(",") if part.strip()], where)


def read_file(path: Path) -> Keyring:
    try:
        mode = path.stat().st_mode
        if os.name == "posix" and mode & 0o077:
            raise VaultError(f"{path}: the vault key file may be read by others (mode {mode & 0o777:o}): "
                             f"chmod 600 {path}")
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = {kid: parse_master_key(text, f"{path}: key {kid}") for kid, text in data["keys"].items()}
        current = data["current"]
    except VaultError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise VaultError(f"{path}: not a readable vault key file ({type(e).__name__}: {e})") from None
    if current not in keys or any(master_key_id(k) != kid for kid, k in keys.items()):
        raise VaultError(f"{path}: the vault key file's key ids do not match its keys (edited by hand?)")
    return Keyring(keys, current, str(path))


def write_file(path: Path, keyring: Keyring, *, new: bool = False) -> None:
    """Replace the key file at once (a reader sees the old file or the new, never half);
    `new`: only if there is none (`FileExistsError`), so two first uses make one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"current": keyring.current,
                       "keys": {kid: base64.b64encode(k).decode() for kid, k in keyring.keys.items()}}, indent=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if not new:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `<key file>.lock` exclusively (one key-file change at a time on this machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load(create: bool = False) -> Keyring | None:
    """The master keys; None when there are none yet and `create` is false."""
    if (ring := from_env()) is not None:
        return ring
    path = key_file()
    if path.exists():
        return read_file(path)
    if not create:
        return None
    ring = Keyring.of([new_master_key()], str(path))
    try:
        write_file(path, ring, new=True)
    except FileExistsError:  # another command made it first: use that one
        return read_file(path)
    return ring


def described() -> str:
    return f"${KEY_ENV}" if os.environ.get(KEY_ENV, "").strip() else str(key_file())
