"""The checks of one stored passport version that need no other version: run in worker processes by
:func:`batteryloop.continuity.verify.verify_chains`.

This module imports little (no database, no models) so that a worker process starts quickly.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from batteryloop.continuity import canonical
from batteryloop.passport import signing

VersionRow = tuple[str, int, str | None, str, str, str, str]
"""(passport_id, number, content as JSON text, hash, previous_hash, signature, public_key) of a version row."""

_keys: dict[str, Ed25519PublicKey | None] = {}


def _public_key(b64: str) -> Ed25519PublicKey | None:
    """The key object for a base64 public key, kept: a registry has few signing keys and many versions."""
    key = _keys.get(b64, False)
    if key is False:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))
        except (ValueError, TypeError):
            key = None
        if len(_keys) < 100_000:
            _keys[b64] = key
    return key  # type: ignore[return-value]


def signature_holds(public_b64: str, message_hex: str, signature_b64: str) -> bool:
    """:func:`signing.verify_signature`, with the key objects kept between calls."""
    key = _public_key(public_b64)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message_hex.encode("ascii"))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def content_digest(text: str) -> tuple[Any, str]:
    """The decoded content and the SHA-256 (hex) of its RFC 8785 canonical JSON."""
    try:
        content = canonical.loads(text)
        encoded = canonical.encode_safe(content)
    except canonical.UnsafeValueError:
        content, encoded = json.loads(text), None
    if encoded is None:
        encoded = signing.canonical(content)
    return content, hashlib.sha256(encoded).hexdigest()


def _signer(content: Mapping[str, Any]) -> Any:
    party = content.get("signer")
    return party.get("public_key") if isinstance(party, Mapping) else None


def check_versions(rows: Sequence[VersionRow]) -> list[str]:
    """The failures among ``rows``, each as ``"<passport>: version <n> <check>: <detail>"``.

    Per version: the content hashes (RFC 8785, SHA-256) to the stored hash, names the passport and the version
    number of its row and the previous hash of its row, and the stored signature over the hash verifies with the
    stored key, which is the signer's key in the content. (The order of the versions, the links between them and who
    may sign which are checked over the whole chain by :func:`batteryloop.continuity.verify.verify_chains`.)
    """
    failures: list[str] = []
    for pid, number, text, stored_hash, previous_hash, signature, public_key in rows:
        where = f"{pid}: version {number}"
        try:
            content, recomputed = content_digest(text) if text is not None else (None, "")
        except (ValueError, RecursionError) as exc:
            failures.append(f"{where} hash: content cannot be canonicalised: {exc}")
            continue
        if not isinstance(content, Mapping):
            failures.append(f"{where} structure: entry lacks its content")
            continue
        if recomputed != stored_hash:
            failures.append(f"{where} hash: content hashes to {recomputed[:16]}..., stored {str(stored_hash)[:16]}...")
        if content.get("version") != number:
            failures.append(f"{where} number: content says version {content.get('version')}")
        if content.get("passport_id") != pid:
            failures.append(f"{where} passport: belongs to {content.get('passport_id')!r}")
        if content.get("previous_hash") != previous_hash:
            failures.append(
                f"{where} chain: content points at {str(content.get('previous_hash'))[:16]}..., its row at "
                f"{str(previous_hash)[:16]}..."
            )
        if not (
            isinstance(public_key, str)
            and public_key == _signer(content)
            and signature_holds(public_key, str(stored_hash), str(signature))
        ):
            failures.append(f"{where} signature: signature does not verify with the signer's key")
    return failures
