"""incident register: fires and thermal events of batteries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safety_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("location_type", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("chemistry", sa.String(length=100), nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("consequence", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("passport_id", sa.String(length=128), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["passport_id"], ["passports.id"], name=op.f("fk_safety_incidents_passport_id_passports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_incidents")),
        sa.UniqueConstraint("number", "version", name="uq_safety_incidents_number_version"),
    )
    with op.batch_alter_table("safety_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_safety_incidents_occurred_on", ["occurred_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_incidents_passport_id"), ["passport_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("safety_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_incidents_passport_id"))
        batch_op.drop_index("ix_safety_incidents_occurred_on")
    op.drop_table("safety_incidents")
