"""The backup file: a gzip-compressed tar archive with a signed manifest and one JSON-lines file per table.

::

    manifest.json          {"format": "batteryloop.registry-backup", "format_version": 1, "created_at": ...,
                            "schema_revision": <Alembic revision>, "signer": {"public_key", "fingerprint"},
                            "tables": [{"name", "columns", "rows", "sha256", "member"}, ...]}
    manifest.sig           Ed25519 signature (base64) over the SHA-256 (hex) of the RFC 8785 canonical manifest
    tables/<table>.jsonl   one row per line: a JSON array of the column values in the manifest's column order

Rows are ordered by primary key and written as RFC 8785 canonical JSON (sorted keys, no spaces, UTF-8, canonical
numbers): the same data gives the same bytes on SQLite and PostgreSQL, whatever order a JSON column kept its keys in.
(:mod:`batteryloop.continuity.canonical` writes them through the standard library's C encoder where that gives the
RFC 8785 bytes, through the reference implementation otherwise.) Times are ISO 8601 in UTC. Every member has
modification time 0 and the gzip header no time stamp, so two backups of the same data differ only in the manifest's
``created_at`` (and its signature).

The members come in this order: manifest, signature, then the tables parents before children (the order a restore
loads them in; a restore reads the file front to back twice, once to check it, once to load it). The file is a
concatenation of gzip members (RFC 1952, section 2.2), level 6: one for manifest and signature, then per table one for
its tar header and one for its data, and one for the end of the tar archive. ``gzip -d``, ``tar xzf`` and Python's
``tarfile`` read it as a single stream; the split lets a table be compressed while it is written, before its size (in
its header) is known. Files written before this split (one gzip member, level 9) are read the same way.

The manifest names each table's row count and the SHA-256 of its member; signing the manifest therefore covers every
byte of data. Signing uses a backup key (Ed25519, PEM file, see :func:`load_or_create_key`): the registry has no key
of its own, each economic operator signs its passport versions with its own key, and those signatures are carried in
the data and checked again after a restore.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
COMPRESSLEVEL = 6
"""gzip level: 6 writes the file in about 60 % of the time of 9, 1-2 % larger (measured on passport data)."""


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


class MemberWriter:
    """The data of one table member, compressed as it is written into a gzip member of its own (a temporary file);
    :func:`write_archive` puts the tar header in front once the size is known. Compression runs in a thread
    (``compressor``; zlib releases the interpreter lock) beside the encoding of the next rows."""

    def __init__(self, name: str, path: Path, compressor: ThreadPoolExecutor) -> None:
        self.name = name
        self.path = path
        self.size = 0
        """Bytes of data written (without the padding to whole tar blocks)."""
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._zlib = zlib.compressobj(COMPRESSLEVEL, zlib.DEFLATED, 31)  # wbits 31: a gzip member, time stamp 0
        self._pool = compressor
        self._pending: deque[Future[None]] = deque()

    def write(self, block: bytes) -> None:
        self.size += len(block)
        self._submit(block)

    def _submit(self, block: bytes) -> None:
        self._pending.append(self._pool.submit(self._compress, block))
        while len(self._pending) > 4:  # a few blocks ahead at most: memory stays flat
            self._pending.popleft().result()

    def _compress(self, block: bytes) -> None:
        self._fh.write(self._zlib.compress(block))

    def close(self) -> None:
        """Pad the data to whole tar blocks and end the gzip member."""
        self._submit(b"\0" * (-self.size % tarfile.BLOCKSIZE))
        while self._pending:
            self._pending.popleft().result()
        self._fh.write(self._zlib.flush())
        self._fh.close()


def write_archive(out: Path, manifest: dict[str, Any], signature: str, members: list[MemberWriter]) -> None:
    """Write the archive atomically (a temporary file renamed into place): the manifest and signature, then each
    member's tar header followed by its compressed data, then the end of the tar archive.

    The file is a concatenation of gzip members (RFC 1952 allows it; ``gzip -d``, ``tar xzf`` and Python's
    ``tarfile`` read it as one stream): the header of a table, known only once its data is written, is a gzip member
    of its own in front of the data's."""
    tmp = out.with_name(out.name + ".partial")
    try:
        with open(tmp, "wb") as fh:
            manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"
            signature_bytes = signature.encode("ascii") + b"\n"
            head = b"".join(
                _info(name, len(data)).tobuf(tarfile.PAX_FORMAT) + data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)
                for name, data in ((MANIFEST, manifest_bytes), (SIGNATURE, signature_bytes))
            )
            fh.write(_gzip(head))
            offset = len(head)
            for member in members:
                header = _info(member.name, member.size).tobuf(tarfile.PAX_FORMAT)
                fh.write(_gzip(header))
                with open(member.path, "rb") as piece:
                    shutil.copyfileobj(piece, fh, CHUNK)
                offset += len(header) + member.size + (-member.size % tarfile.BLOCKSIZE)
            end = 2 * tarfile.BLOCKSIZE
            end += -(offset + end) % tarfile.RECORDSIZE  # as tarfile ends an archive: two zero blocks, whole records
            fh.write(_gzip(b"\0" * end))
            fh.flush()
            os.fsync(fh.fileno())  # on disk before it takes the name: a crash leaves no half backup
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=COMPRESSLEVEL, mtime=0)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


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

    def members(self, order: list[str]) -> Iterator[tuple[TableEntry, IO[bytes]]]:
        """The tables named in ``order`` with their lines, in that order, read again from the file in one pass when
        the archive holds them in that order (as :func:`batteryloop.continuity.backup.write_backup` writes them),
        else member by member."""
        entries = {t.name: t for t in self.tables}
        wanted = [entries[name] for name in order]
        with _open_tar(self.path) as tar:
            pending = list(wanted)
            for info in tar:
                if not pending:
                    break
                if info.name == pending[0].member:
                    fh = tar.extractfile(info) if info.isfile() else None
                    if fh is None:
                        raise IntegrityError(f"{info.name} in the backup is not a regular file", field=info.name)
                    yield pending.pop(0), fh
                elif info.name in {t.member for t in pending}:
                    break  # out of order: read the rest member by member
            for entry in pending:
                yield entry, _member(tar, entry.member)


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
    is trusted), and for every table the SHA-256 and row count of its member.

    The file is read once, front to back; the checks are made in that order afterwards. Raises
    :class:`~batteryloop.errors.IntegrityError` naming the first thing that does not hold.
    """
    small: dict[str, bytes] = {}
    digests: dict[str, tuple[str, int]] = {}
    names: list[str] = []
    try:
        with _open_tar(path) as tar:
            for info in tar:
                names.append(info.name)
                fh = tar.extractfile(info) if info.isfile() else None
                if fh is None:
                    continue
                if info.name in (MANIFEST, SIGNATURE):
                    small[info.name] = fh.read(1 << 24)
                else:
                    digests[info.name] = _digest(fh)
    except (OSError, EOFError, tarfile.TarError, gzip.BadGzipFile, zlib.error) as exc:
        raise IntegrityError(f"the file is damaged ({type(exc).__name__}: {exc})", field=str(path)) from None
    if not names:
        raise ValidationError(
            f"{path}: not a batteryloop backup (no members)",
            field=str(path),
            expected="a file written by batteryloop backup",
        )
    manifest = _read_manifest(small)
    if SIGNATURE not in small:
        raise IntegrityError(f"the backup lacks {SIGNATURE}", field=SIGNATURE)
    signature = small[SIGNATURE].decode("ascii", "replace").strip()
    fingerprint = _check_signature(manifest, signature, trusted_keys)
    tables = _table_entries(manifest)
    expected = {MANIFEST, SIGNATURE} | {t.member for t in tables}
    extra = sorted(set(names) - expected)
    if extra:
        raise IntegrityError(f"the backup holds members the manifest does not name: {', '.join(extra)}")
    for table in tables:
        if table.member not in digests:
            raise IntegrityError(f"the backup lacks {table.member}", field=table.member)
        _check_member(table, *digests[table.member])
    return VerifiedBackup(path=path, manifest=manifest, tables=tables, fingerprint=fingerprint)


def _read_manifest(small: dict[str, bytes]) -> dict[str, Any]:
    if MANIFEST not in small:
        raise IntegrityError(f"the backup lacks {MANIFEST}", field=MANIFEST)
    try:
        manifest = json.loads(small[MANIFEST])
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


def _digest(fh: IO[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and line count of a member, read in large blocks."""
    digest = hashlib.sha256()
    rows = 0
    for block in iter(lambda: fh.read(CHUNK), b""):
        digest.update(block)
        rows += block.count(b"\n")
    return digest.hexdigest(), rows


def _check_member(table: TableEntry, sha256: str, rows: int) -> None:
    """The member's SHA-256 and row count against the signed manifest. (The rows themselves, JSON arrays of the
    manifest's width, are checked as they are loaded, inside the restore's transaction: :func:`parse_line`.)"""
    if sha256 != table.sha256:
        raise IntegrityError(
            f"{table.member}: SHA-256 is {sha256[:16]}..., the signed manifest says "
            f"{table.sha256[:16]}...: the table was changed after the backup was made",
            field=table.member,
        )
    if rows != table.rows:
        raise IntegrityError(f"{table.member}: {rows} rows, the signed manifest says {table.rows}", field=table.member)


def parse_line(line: bytes, table: TableEntry, line_no: int) -> list[Any]:
    """One line of a table member as the list of its values; :class:`IntegrityError` naming the line otherwise."""
    try:
        values = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(
            f"{table.member} line {line_no}: not JSON ({exc})", field=f"{table.member}:{line_no}"
        ) from None
    if not isinstance(values, list) or len(values) != len(table.columns):
        raise IntegrityError(
            f"{table.member} line {line_no}: expected an array of {len(table.columns)} values",
            field=f"{table.member}:{line_no}",
            expected=", ".join(table.columns),
        )
    return values


_scan = json.JSONDecoder().raw_decode


def split_line(line: bytes, table: TableEntry, line_no: int, raw_at: frozenset[int]) -> list[Any]:
    """:func:`parse_line`, with the values of the columns in ``raw_at`` left as their JSON text (for a database that
    parses JSON itself: nothing is decoded to be encoded again). Lines are canonical JSON, without spaces; any other
    line goes through :func:`parse_line` and its raw values are encoded again."""
    try:
        text = line.decode("utf-8").rstrip("\n")
        values: list[Any] = []
        width = len(table.columns)
        if text[:1] != "[":
            raise ValueError
        i = 1
        for column in range(width):
            value, end = _scan(text, i)
            values.append(text[i:end] if column in raw_at else value)
            if text[end] != ("," if column < width - 1 else "]"):
                raise ValueError
            i = end + 1
        if i != len(text):
            raise ValueError
        return values
    except (ValueError, IndexError):
        values = parse_line(line, table, line_no)
        return [json.dumps(v) if i in raw_at else v for i, v in enumerate(values)]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
