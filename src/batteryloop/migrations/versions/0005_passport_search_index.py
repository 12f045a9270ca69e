"""passport search: an index on (category, state of health) that also carries the responsible operator

A search by category and state-of-health range (restricted to the passports whose individual data the caller may
read: its own, or those granted to it) is answered from one index range; with ``operator_id`` carried in the index the
count of the matches needs no visit to the table. On ten million passports the two single-column indexes it replaces
for this query had to be combined in a bitmap over hundreds of thousands of entries each.

Revision ID: 0005
Revises: 0004_escrow
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004_escrow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_passports_category_soh",
            ["category", "soh_pct"],
            unique=False,
            postgresql_include=["operator_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("passports", schema=None) as batch_op:
        batch_op.drop_index("ix_passports_category_soh")
