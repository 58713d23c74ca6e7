"""AES-256-GCM for templates and images (key id kept beside each blob) and HMAC-SHA256 of ID numbers."""
from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError, IdmatchError
from .keys import KeySet


class DecryptionError(IdmatchError):
    code = "decryption_failed"
    http_status = 500


class Crypto:
    def __init__(self, keys: KeySet):
        self.keys = keys

    # -- encryption at rest ------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt under the active key. Returns (key_id, nonce||ciphertext||tag)."""
        kid = self.keys.active
        nonce = os.urandom(12)
        return kid, nonce + AESGCM(self.keys.enc_keys[kid]).encrypt(nonce, plaintext, aad)

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        key = self.keys.enc_keys.get(key_id)
        if key is None:
            raise ConfigError(f"encryption key {key_id!r} is not in the keys file", code="unknown_key_id")
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
        except InvalidTag as exc:
            raise DecryptionError("stored blob failed authentication (tampered or wrong key)") from exc

    # -- keyed hashes ---------------------------------------------------------------------------
    def id_hash(self, doc_type: str, number: str) -> str:
        """HMAC-SHA256 of the normalised (type, number): equal inputs collide, nothing is reversible."""
        msg = f"{normalise_doc_type(doc_type)}\x1f{normalise_doc_number(number)}".encode()
        return hmac.new(self.keys.hmac_key, msg, hashlib.sha256).hexdigest()

    def digest(self, data: bytes) -> str:
        """Keyed digest of request bytes (idempotency checks) — not linkable across deployments."""
        return hmac.new(self.keys.hmac_key, b"digest\x1f" + data, hashlib.sha256).hexdigest()


def normalise_doc_type(t: str) -> str:
    return unicodedata.normalize("NFKC", t).strip().lower()


def normalise_doc_number(n: str) -> str:
    n = unicodedata.normalize("NFKC", n).upper()
    return "".join(ch for ch in n if ch.isalnum())
