"""The backup file: a gzip-compressed tar archive with a signed manifest and one JSON-lines file per table.

::

    manifest.json          {"format": "batteryloop.registry-backup", "format_version": 1, "created_at": ...,
                            "schema_revision": <Alembic revision>, "signer": {"public_key", "fingerprint"},
                            "tables": [{"name", "columns", "rows", "sha256", "member"}, ...]}
    manifest.sig           Ed25519 signature (base64) over the SHA-256 (hex) of the RFC 8785 canonical manifest
    tables/<table>.jsonl   one row per line: a JSON array of the column values in the manifest's column order

Rows are ordered by primary key and written as RFC 8785 canonical JSON (sorted keys, no spaces, UTF-8, canonical
numbers): the same data gives the same bytes on SQLite and PostgreSQL, whatever order a JSON column kept its keys in.
Times are ISO 8601 in UTC. Every member has modification time 0 and the gzip header no time stamp, so two backups of
the same data differ only in the manifest's ``created_at`` (and its signature).

The manifest names each table's row count and the SHA-256 of its member; signing the manifest therefore covers every
byte of data. Signing uses a backup key (Ed25519, PEM file, see :func:`load_or_create_key`): the registry has no key
of its own, each economic operator signs its passport versions with its own key, and those signatures are carried in
the data and checked again after a restore.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from batteryloop.errors import IntegrityError, ValidationError
from batteryloop.passport import signing

FORMAT = "batteryloop.registry-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
TABLES_DIR = "tables"
CHUNK = 1 << 20


def encode_row(values: list[Any]) -> bytes:
    """One line of a table member: the row's values as an RFC 8785 canonical JSON array.

    Canonical numbers matter across databases: SQLite gives back a JSON scalar ``59.0`` as ``59`` (the column's
    numeric affinity), PostgreSQL's JSONB as ``59.0``; RFC 8785 writes both as ``59``.
    """
    return signing.canonical(values) + b"\n"


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 (hex) over the RFC 8785 canonical JSON of the manifest: what the backup key signs."""
    return signing.content_hash(manifest)


def load_or_create_key(path: Path) -> tuple[signing.KeyPair, bool]:
    """The backup signing key in ``path`` (PKCS#8 PEM); a new one is written (mode 0600) when the file is absent.

    Returns the key and whether it was created now.
    """
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValidationError(
                f"{path}: cannot read the backup key ({exc})", field="--key", expected="an Ed25519 private key (PEM)"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValidationError(f"{path}: not an Ed25519 key", field="--key", expected="an Ed25519 private key (PEM)")
        return signing.KeyPair(key), False
    keys = signing.KeyPair.generate()
    pem = keys.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    path.with_name(path.name + ".pub").write_text(keys.public_b64 + "\n", encoding="ascii")
    return keys, True


def write_archive(out: Path, manifest: dict[str, Any], signature: str, members: list[tuple[str, Path]]) -> None:
    """Write the archive atomically (a temporary file renamed into place): ``members`` are (name, file) pairs."""
    tmp = out.with_name(out.name + ".partial")
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"
            _add_bytes(tar, MANIFEST, manifest_bytes)
            _add_bytes(tar, SIGNATURE, signature.encode("ascii") + b"\n")
            for name, path in members:
                info = _info(name, path.stat().st_size)
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
        fd = os.open(tmp, os.O_RDONLY)  # on disk before it takes the name: a crash leaves no half backup
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))


@dataclass(frozen=True)
class TableEntry:
    name: str
    columns: list[str]
    rows: int
    sha256: str
    member: str


@dataclass(frozen=True)
class VerifiedBackup:
    """A backup file whose signature, member hashes, row counts and row shapes have been checked."""

    path: Path
    manifest: dict[str, Any]
    tables: list[TableEntry]
    fingerprint: str

    def rows(self, table: TableEntry) -> Iterator[list[Any]]:
        """The rows of one table, read again from the file (its hash was checked by :func:`open_backup`)."""
        with _open_tar(self.path) as tar:
            fh = _member(tar, table.member)
            for line in fh:
                yield json.loads(line)


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:gz")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ValidationError(
            f"{path}: not a batteryloop backup ({exc})",
            field=str(path),
            expected="a file written by batteryloop backup",
        ) from None


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        info = tar.getmember(name)
    except KeyError:
        raise IntegrityError(f"the backup lacks {name}", field=name) from None
    fh = tar.extractfile(info) if info.isfile() else None
    if fh is None:
        raise IntegrityError(f"{name} in the backup is not a regular file", field=name)
    return fh


def open_backup(path: Path, *, trusted_keys: list[str] | None = None) -> VerifiedBackup:
    """Check a backup before anything is loaded: format, signature (and, given ``trusted_keys``, that the signing key
    is trusted), and for every table the SHA-256 and row count of its member and the shape of each row.

    Raises :class:`~batteryloop.errors.IntegrityError` naming the first thing that does not hold.
    """
    try:
        with _open_tar(path) as tar:
            names = tar.getnames()
            manifest = _read_manifest(tar)
            signature = _member(tar, SIGNATURE).read().decode("ascii", "replace").strip()
            fingerprint = _check_signature(manifest, signature, trusted_keys)
            tables = _table_entries(manifest)
            expected = {MANIFEST, SIGNATURE} | {t.member for t in tables}
            extra = sorted(set(names) - expected)
            if extra:
                raise IntegrityError(f"the backup holds members the manifest does not name: {', '.join(extra)}")
            for table in tables:
                _check_member(tar, table)
    except (OSError, EOFError, tarfile.TarError, gzip.BadGzipFile) as exc:
        raise IntegrityError(f"the file is damaged ({type(exc).__name__}: {exc})", field=str(path)) from None
    return VerifiedBackup(path=path, manifest=manifest, tables=tables, fingerprint=fingerprint)


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        manifest = json.loads(_member(tar, MANIFEST).read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{MANIFEST} is not JSON ({exc})", field=MANIFEST) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IntegrityError(f"{MANIFEST}: not a {FORMAT} manifest", field=f"{MANIFEST}:format", expected=FORMAT)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(
            f"{MANIFEST}: format_version {manifest.get('format_version')!r} is not supported",
            field=f"{MANIFEST}:format_version",
            expected=str(FORMAT_VERSION),
        )
    return manifest


def _check_signature(manifest: dict[str, Any], signature: str, trusted_keys: list[str] | None) -> str:
    public_key = (manifest.get("signer") or {}).get("public_key")
    if not isinstance(public_key, str):
        raise IntegrityError(f"{MANIFEST} names no signing key", field=f"{MANIFEST}:signer.public_key")
    if not signing.verify_signature(public_key, manifest_digest(manifest), signature):
        raise IntegrityError(
            "the manifest's signature does not verify: the manifest was changed after it was signed, or signed with "
            "another key",
            field=SIGNATURE,
        )
    fingerprint = signing.fingerprint(public_key)
    if trusted_keys is not None and public_key not in trusted_keys and fingerprint not in trusted_keys:
        raise IntegrityError(
            f"the backup is signed with key {fingerprint}, which is not one of the trusted keys",
            field="--trusted-key",
            expected="the public key or fingerprint of the backup key",
        )
    return fingerprint


def _table_entries(manifest: dict[str, Any]) -> list[TableEntry]:
    raw = manifest.get("tables")
    if not isinstance(raw, list):
        raise IntegrityError(f"{MANIFEST} lists no tables", field=f"{MANIFEST}:tables")
    tables = []
    for i, t in enumerate(raw):
        try:
            entry = TableEntry(
                name=str(t["name"]),
                columns=[str(c) for c in t["columns"]],
                rows=int(t["rows"]),
                sha256=str(t["sha256"]),
                member=str(t["member"]),
            )
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(
                f"{MANIFEST}: table entry {i} is incomplete",
                field=f"{MANIFEST}:tables[{i}]",
                expected="name, columns, rows, sha256, member",
            ) from None
        if entry.member != f"{TABLES_DIR}/{entry.name}.jsonl":
            raise IntegrityError(f"{MANIFEST}: table {entry.name} names member {entry.member!r}", field=entry.member)
        tables.append(entry)
    return tables


def _check_member(tar: tarfile.TarFile, table: TableEntry) -> None:
    digest = hashlib.sha256()
    rows = 0
    width = len(table.columns)
    for line in _member(tar, table.member):
        digest.update(line)
        rows += 1
        try:
            values = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(
                f"{table.member} line {rows}: not JSON ({exc})", field=f"{table.member}:{rows}"
            ) from None
        if not isinstance(values, list) or len(values) != width:
            raise IntegrityError(
                f"{table.member} line {rows}: expected an array of {width} values",
                field=f"{table.member}:{rows}",
                expected=", ".join(table.columns),
            )
    if digest.hexdigest() != table.sha256:
        raise IntegrityError(
            f"{table.member}: SHA-256 is {digest.hexdigest()[:16]}..., the signed manifest says "
            f"{table.sha256[:16]}...: the table was changed after the backup was made",
            field=table.member,
        )
    if rows != table.rows:
        raise IntegrityError(f"{table.member}: {rows} rows, the signed manifest says {table.rows}", field=table.member)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
