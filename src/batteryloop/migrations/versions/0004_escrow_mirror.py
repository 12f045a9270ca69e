"""escrow: agreements with origin operators and the passports mirrored under them (Art. 78)

Revision ID: 0004_escrow
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_escrow"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "escrow_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("origin_identifier", sa.String(length=100), nullable=True),
        sa.Column("origin_url", sa.String(length=500), nullable=True),
        sa.Column("public_keys", _json(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_escrow_agreements_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escrow_agreements")),
        sa.UniqueConstraint("account_id", name=op.f("uq_escrow_agreements_account_id")),
        sa.UniqueConstraint("origin", name=op.f("uq_escrow_agreements_origin")),
    )
    op.create_table(
        "escrow_passports",
        sa.Column("passport_id", sa.String(length=128), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("serial_number", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("responsible", sa.String(length=200), nullable=False),
        sa.Column("signer", sa.String(length=200), nullable=False),
        sa.Column("signer_key", sa.String(length=64), nullable=False),
        sa.Column("bundle", _json(), nullable=False),
        sa.Column("received_from", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["escrow_agreements.id"], name=op.f("fk_escrow_passports_agreement_id_escrow_agreements")
        ),
        sa.PrimaryKeyConstraint("passport_id", name=op.f("pk_escrow_passports")),
        sa.UniqueConstraint("gtin", "serial_number", name="uq_escrow_passports_gtin_serial"),
    )
    with op.batch_alter_table("escrow_passports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escrow_passports_agreement_id"), ["agreement_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escrow_passports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escrow_passports_agreement_id"))
    op.drop_table("escrow_passports")
    op.drop_table("escrow_agreements")
