"""producer-responsibility register: memberships and yearly reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epr_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("producer_id", sa.Integer(), nullable=False),
        sa.Column("pro_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("since_year", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["producer_id"], ["organisations.id"], name=op.f("fk_epr_memberships_producer_id_organisations")
        ),
        sa.ForeignKeyConstraint(["pro_id"], ["organisations.id"], name=op.f("fk_epr_memberships_pro_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epr_memberships")),
        sa.UniqueConstraint("producer_id", "category", name="uq_epr_memberships_producer_category"),
    )
    with op.batch_alter_table("epr_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epr_memberships_pro_id"), ["pro_id"], unique=False)

    op.create_table(
        "epr_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("submitted_by", sa.String(length=200), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_epr_reports_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epr_reports")),
        sa.UniqueConstraint("kind", "organisation_id", "year", "version", name="uq_epr_reports_kind_org_year_version"),
    )
    with op.batch_alter_table("epr_reports", schema=None) as batch_op:
        batch_op.create_index("ix_epr_reports_year_kind", ["year", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("epr_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_epr_reports_year_kind")
    op.drop_table("epr_reports")
    with op.batch_alter_table("epr_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epr_memberships_pro_id"))
    op.drop_table("epr_memberships")
