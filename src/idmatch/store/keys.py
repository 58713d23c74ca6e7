"""Secret keys: generated on first run into ``keys.json`` (mode 0600), never logged.

* ``hmac``: keys the hash of document numbers (lines per identity, duplicates) — never rotated
  casually, since rotating it breaks matching of old hashes.
* ``audit``: keys the audit hash chain so that rewriting the chain needs the secret.
* ``enc``: AES-256-GCM keys by id; ``active`` names the one new data is encrypted under.
  ``idmatch rekey`` adds a key, makes it active and re-encrypts everything.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode())


@dataclass
class KeySet:
    hmac_key: bytes
    audit_key: bytes
    enc_keys: dict[str, bytes] = field(default_factory=dict)
    active: str = ""

    @classmethod
    def generate(cls) -> "KeySet":
        kid = new_key_id()
        return cls(hmac_key=secrets.token_bytes(32), audit_key=secrets.token_bytes(32),
                   enc_keys={kid: secrets.token_bytes(32)}, active=kid)

    def add_enc_key(self) -> str:
        kid = new_key_id()
        self.enc_keys[kid] = secrets.token_bytes(32)
        self.active = kid
        return kid

    def to_dict(self) -> dict:
        return {"version": 1, "hmac": _b64(self.hmac_key), "audit": _b64(self.audit_key),
                "enc": {k: _b64(v) for k, v in self.enc_keys.items()}, "active": self.active}

    @classmethod
    def from_dict(cls, d: dict) -> "KeySet":
        try:
            ks = cls(hmac_key=_unb64(d["hmac"]), audit_key=_unb64(d["audit"]),
                     enc_keys={k: _unb64(v) for k, v in d["enc"].items()}, active=d["active"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed keys file: {exc}", code="bad_keys_file") from exc
        if ks.active not in ks.enc_keys or any(len(k) != 32 for k in ks.enc_keys.values()):
            raise ConfigError("keys file: active key missing or a key is not 256 bits", code="bad_keys_file")
        return ks

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


def load_or_create(path: Path) -> tuple[KeySet, bool]:
    """Return the key set and whether it was just created."""
    if path.exists():
        try:
            return KeySet.from_dict(json.loads(path.read_text())), False
        except json.JSONDecodeError as exc:
            raise ConfigError(f"keys file {path} is not JSON: {exc}", code="bad_keys_file") from exc
    ks = KeySet.generate()
    ks.save(path)
    return ks, True
