"""``batteryloop backup`` and ``batteryloop restore``: the registry outlives its operator (Art. 78).

The two commands sit at the top level of the ``batteryloop`` command; :func:`register` adds them to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

KEY_FILE = "backup-signing.key"


def backup(
    out_path: Annotated[Path, typer.Option("--out", help="The backup file to write (a .tar.gz).")],
    key: Annotated[
        Path | None,
        typer.Option(
            help=f"Ed25519 private key (PEM) that signs the backup; default BATTERYLOOP_DATA_DIR/{KEY_FILE}, "
            "created on first use with its public key next to it (.pub)."
        ),
    ] = None,
) -> None:
    """Write a consistent, signed snapshot of the whole registry: passports, versions, grants, access log,
    organisations, accounts, the producer-responsibility and incident registers. Private keys stay as stored."""
    from batteryloop.cli import _engine
    from batteryloop.config import get_settings
    from batteryloop.continuity.archive import load_or_create_key
    from batteryloop.continuity.backup import write_backup
    from batteryloop.errors import ValidationError
    from batteryloop.migrate import current

    settings = get_settings()
    if not out_path.parent.is_dir():
        raise ValidationError(f"no directory {out_path.parent}", field="--out", expected="a file in an existing folder")
    url = settings.resolved_database_url()
    if (
        url.startswith("sqlite")
        and not (settings.data_dir / "batteryloop.db").exists()
        and settings.database_url is None
    ):
        raise ValidationError(
            f"no database at {settings.data_dir / 'batteryloop.db'}",
            field="BATTERYLOOP_DATA_DIR",
            expected="the folder of the registry to back up (or BATTERYLOOP_DATABASE_URL)",
        )
    engine = _engine(settings, migrate=False)
    try:
        if current(engine) is None:
            raise ValidationError(
                "the database has no batteryloop schema: nothing to back up",
                field="BATTERYLOOP_DATABASE_URL",
                expected="a batteryloop database",
            )
        key_path = key or settings.data_dir / KEY_FILE
        keys, created = load_or_create_key(key_path)
        if created:
            out.print(
                f"created the backup key {key_path} (public key in {key_path}.pub); keep it apart from the backups"
            )
        summary = write_backup(engine, out_path, keys)
    finally:
        engine.dispose()
    for table, n in summary.tables.items():
        out.print(f"  {table:24s} {n:>10d}")
    if summary.raw_private_keys:
        err.print(
            f"[yellow]note[/yellow]: {summary.raw_private_keys} organisation private key(s) are stored without a "
            "key-encryption key (BATTERYLOOP_KEY_ENCRYPTION_KEY) and are in the backup as stored: protect the file"
        )
    out.print(f"signed with backup key {summary.fingerprint}; {summary.rows} rows")
    print(out_path)


def restore(
    file: Annotated[Path, typer.Argument(help="A file written by batteryloop backup.")],
    trusted_key: Annotated[
        list[str] | None,
        typer.Option(help="Public key (base64) or fingerprint of a backup key to trust; repeat for several."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes that verify the hash chains (default: one per core, at most 8).", min=1),
    ] = None,
) -> None:
    """Restore a backup into an EMPTY database: signature and hashes are checked first, the rows loaded in one
    transaction, every passport's hash chain verified before it commits."""
    from batteryloop.cli import _engine
    from batteryloop.config import get_settings
    from batteryloop.continuity.restore import restore_backup
    from batteryloop.errors import ValidationError

    if not file.is_file():
        raise ValidationError(f"no file {file}", field="FILE", expected="a backup file")
    settings = get_settings()
    engine = _engine(settings)
    try:
        summary = restore_backup(engine, file, trusted_keys=trusted_key, workers=workers)
    finally:
        engine.dispose()
    if not trusted_key:
        err.print(
            "[yellow]note[/yellow]: the signature holds, but no --trusted-key was given: check that "
            f"{summary.fingerprint} is your backup key"
        )
    for table, n in summary.tables.items():
        out.print(f"  {table:24s} {n:>10d}")
    out.print(
        f"restored {summary.rows} rows of the backup of {summary.created_at} (key {summary.fingerprint}); "
        f"{summary.chains.passports} passports, {summary.chains.versions} versions: every hash chain verifies"
    )


def register(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to the ``batteryloop`` command."""
    app.command("backup")(backup)
    app.command("restore")(restore)
