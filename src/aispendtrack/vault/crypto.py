"""Provider credentials sealed with AES-256-GCM under a master key.

Every record names the master key that sealed it (`master_key_id`, a fingerprint of the key,
never the key) and is bound by its associated data to the account's id, the provider and the
AiSpendTrack key it is for: a ciphertext copied to another account, provider or key does not
open. A master key is 32 random bytes; a keyring holds the current one (new records) and the
older ones still needed to open records sealed before a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FORMAT = "32 bytes written as base64 (44 characters) or hex (64 characters)"


class VaultError(Exception):
    """A vault problem, with a message naming the fix (never a secret)."""


def new_master_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def parse_master_key(text: str, where: str) -> bytes:
    """A master key written as hex or base64 (standard or URL-safe); `where` names its source."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 2 * KEY_BYTES:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != KEY_BYTES:
        raise VaultError(f"{where}: a vault master key must be {KEY_FORMAT}; "
                         "make one with: python -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())'")
    return raw


def master_key_id(key: bytes) -> str:
    """A stable name for a master key that tells nothing about it."""
    return "mk_" + hashlib.sha256(b"aispendtrack vault master key\0" + key).hexdigest()[:12]


def associated_data(account_id: int, provider: str, key_id: str | None) -> bytes:
    return json.dumps(["aispendtrack-vault", 1, int(account_id), provider, key_id or ""]).encode()


def hint(secret: str) -> str:
    """`sk-…abcd`: enough to tell credentials apart, never enough to use one."""
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) > 12 else "…"


@dataclass(frozen=True)
class Keyring:
    """The master keys this process has: `current` seals, every one of `keys` opens."""

    keys: dict[str, bytes]
    current: str
    source: str  # where they came from, for messages ("$AISPENDTRACK_VAULT_KEY", a file path)

    @classmethod
    def of(cls, keys: list[bytes], source: str) -> Keyring:
        ids = [master_key_id(k) for k in keys]
        return cls(dict(zip(ids, keys)), ids[0], source)

    def seal(self, secret: str, account_id: int, provider: str, key_id: str | None) -> tuple[str, str]:
        """(master key id, sealed text) of `secret` for this account, provider and key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(
            nonce, secret.encode(), associated_data(account_id, provider, key_id))
        return self.current, base64.b64encode(nonce + sealed).decode()

    def open(self, master_id: str, sealed: str, account_id: int, provider: str, key_id: str | None) -> str:
        """The secret, or `VaultError` saying why it cannot be had and what to do."""
        key = self.keys.get(master_id)
        if key is None:
            raise VaultError(f"sealed with master key {master_id}, which {self.source} does not hold "
                             f"(it holds {', '.join(self.keys)}): give the gateway that key, or set the "
                             "credential again with: aispendtrack providers set")
        try:
            blob = base64.b64decode(sealed, validate=True)
            plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                        associated_data(account_id, provider, key_id))
        except (InvalidTag, binascii.Error, ValueError):
            raise VaultError(f"does not decrypt with master key {master_id} (altered, or copied from another "
                             "account, provider or key): set it again with: aispendtrack providers set") from None
        return plain.decode()
