"""passport registry

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passport_id", sa.String(length=128), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column(
            "attributes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("route", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index("ix_access_log_passport_at", ["passport_id", "at"], unique=False)

    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("issuing_agency_code", sa.String(length=3), nullable=True),
        sa.Column("company_identification_number", sa.String(length=20), nullable=True),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("identifier", name=op.f("uq_organisations_identifier")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_accounts_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "passports",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("serial_number", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("chemistry", sa.String(length=100), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("soh_pct", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "observations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "links", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["organisations.id"], name=op.f("fk_passports_operator_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passports")),
        sa.UniqueConstraint("gtin", "serial_number", name="uq_passports_gtin_serial"),
    )
    with op.batch_alter_table("passports", schema=None) as batch_op:
        batch_op.create_index("ix_passports_category_status", ["category", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_passports_model"), ["model"], unique=False)
        batch_op.create_index(batch_op.f("ix_passports_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index("ix_passports_soh", ["soh_pct"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_keys_token_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_account_id"), ["account_id"], unique=False)

    op.create_table(
        "dynamic_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("passport_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column(
            "value", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.Text(), nullable=True),
        sa.Column("uncertainty", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["passport_id"], ["passports.id"], name=op.f("fk_dynamic_values_passport_id_passports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dynamic_values")),
    )
    with op.batch_alter_table("dynamic_values", schema=None) as batch_op:
        batch_op.create_index("ix_dynamic_values_passport_key", ["passport_id", "key", "version"], unique=False)

    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("passport_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_grants_account_id_accounts")),
        sa.ForeignKeyConstraint(["passport_id"], ["passports.id"], name=op.f("fk_grants_passport_id_passports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index("ix_grants_account_passport", ["account_id", "passport_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_passport_id"), ["passport_id"], unique=False)

    op.create_table(
        "passport_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("predecessor_id", sa.String(length=128), nullable=False),
        sa.Column("successor_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("predecessor_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["predecessor_id"], ["passports.id"], name=op.f("fk_passport_links_predecessor_id_passports")
        ),
        sa.ForeignKeyConstraint(
            ["successor_id"], ["passports.id"], name=op.f("fk_passport_links_successor_id_passports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport_links")),
    )
    with op.batch_alter_table("passport_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passport_links_predecessor_id"), ["predecessor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_passport_links_successor_id"), ["successor_id"], unique=False)

    op.create_table(
        "passport_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("passport_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column(
            "content", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=120), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["passport_id"], ["passports.id"], name=op.f("fk_passport_versions_passport_id_passports")
        ),
        sa.ForeignKeyConstraint(
            ["signer_id"], ["organisations.id"], name=op.f("fk_passport_versions_signer_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport_versions")),
        sa.UniqueConstraint("passport_id", "number", name="uq_passport_versions_passport_number"),
    )
    with op.batch_alter_table("passport_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passport_versions_passport_id"), ["passport_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("passport_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passport_versions_passport_id"))

    op.drop_table("passport_versions")
    with op.batch_alter_table("passport_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passport_links_successor_id"))
        batch_op.drop_index(batch_op.f("ix_passport_links_predecessor_id"))

    op.drop_table("passport_links")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_passport_id"))
        batch_op.drop_index("ix_grants_account_passport")

    op.drop_table("grants")
    with op.batch_alter_table("dynamic_values", schema=None) as batch_op:
        batch_op.drop_index("ix_dynamic_values_passport_key")

    op.drop_table("dynamic_values")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_account_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("passports", schema=None) as batch_op:
        batch_op.drop_index("ix_passports_soh")
        batch_op.drop_index(batch_op.f("ix_passports_operator_id"))
        batch_op.drop_index(batch_op.f("ix_passports_model"))
        batch_op.drop_index("ix_passports_category_status")

    op.drop_table("passports")
    op.drop_table("accounts")
    op.drop_table("organisations")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_access_log_passport_at")

    op.drop_table("access_log")
