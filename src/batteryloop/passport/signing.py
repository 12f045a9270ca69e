"""Integrity of passport versions: canonical JSON, SHA-256 hash chain, Ed25519 signatures.

Each version's content is serialised with the JSON Canonicalization Scheme (RFC 8785, through the ``rfc8785``
package), hashed with SHA-256, and the hash (hex) is signed with the Ed25519 key of the economic operator that made
the version. Each version's content holds the previous version's hash, so the versions form a chain: changing,
removing or re-ordering any version breaks every later link.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64


def canonical(content: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of ``content``."""
    return bytes(rfc8785.dumps(content))


def content_hash(content: Any) -> str:
    """SHA-256 (hex) over the canonical JSON of ``content``."""
    return hashlib.sha256(canonical(content)).hexdigest()


@dataclass(frozen=True)
class KeyPair:
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_b64(self) -> str:
        return public_key_b64(self.public)

    def sign(self, message_hex: str) -> str:
        return base64.b64encode(self.private.sign(message_hex.encode("ascii"))).decode("ascii")

    def private_bytes(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        return cls(Ed25519PrivateKey.from_private_bytes(raw))


def public_key_b64(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def fingerprint(public_b64: str) -> str:
    """A short, stable name for a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def verify_signature(public_b64: str, message_hex: str, signature_b64: str) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        key.verify(base64.b64decode(signature_b64, validate=True), message_hex.encode("ascii"))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def wrap_private(raw: bytes, key_encryption_key: str | None) -> str:
    """Private key bytes for storage: Fernet-encrypted with the configured key-encryption key, else base64."""
    if key_encryption_key:
        return "fernet:" + Fernet(key_encryption_key.encode("ascii")).encrypt(raw).decode("ascii")
    return "raw:" + base64.b64encode(raw).decode("ascii")


def unwrap_private(stored: str, key_encryption_key: str | None) -> bytes:
    scheme, _, body = stored.partition(":")
    if scheme == "fernet":
        if not key_encryption_key:
            raise RuntimeError("this private key is encrypted; set BATTERYLOOP_KEY_ENCRYPTION_KEY")
        return Fernet(key_encryption_key.encode("ascii")).decrypt(body.encode("ascii"))
    return base64.b64decode(body)
