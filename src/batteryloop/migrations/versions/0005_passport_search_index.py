"""passport search: two indexes for searches by category and state-of-health range

A search by category and state-of-health range (restricted to the passports whose individual data the caller may
read: its own, or those granted to it) counts its matches and returns one page of them in identifier order.

- ``(category, soh_pct) INCLUDE (operator_id)``: the count, from one index range with no visit to the table.
- ``(category, id, soh_pct, operator_id)``: the page. It walks one category in identifier order and tests the
  state of health and the operator on the index entry itself, so only the 50 rows of the page are read from the
  table. Without it the page walked the primary key through every category and read each row: on 2.4 million
  passports 431 ms for EVs at 71-76 % and 3.4 s for industrial batteries at 90-95 % (15,869 and 2.4 million rows
  read and dropped); with it 3.0 ms and 0.36 ms (EXPLAIN ANALYZE, PostgreSQL 15, docs/registry-scale.md).

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
        batch_op.create_index(
            "ix_passports_category_id_soh", ["category", "id", "soh_pct", "operator_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("passports", schema=None) as batch_op:
        batch_op.drop_index("ix_passports_category_id_soh")
        batch_op.drop_index("ix_passports_category_soh")
