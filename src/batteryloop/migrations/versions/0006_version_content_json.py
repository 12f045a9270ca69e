"""passport versions: the signed content as ``json`` (text) instead of ``jsonb`` on PostgreSQL

A version is written once, read whole and never searched inside. ``jsonb`` stores a parsed binary form whose
compression (pglz) left a version of the demo models at about 2.5 kB, split over two TOAST chunks; as ``json`` the
text itself is compressed, about 2.0 kB. On 21,597 versions of the bulk loader's mix the table went from 71 MB to
56 MB (docs/registry-scale.md). The text is kept as written: the bulk loader writes the canonical bytes that were
hashed and signed. SQLite stores JSON as text already; nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE passport_versions ALTER COLUMN content TYPE json USING content::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE passport_versions ALTER COLUMN content TYPE jsonb USING content::jsonb")
