"""Limits per client address: the keyed address of each web chat, and merged urgent escalations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add conversations.client_key (indexed with created_at) and the escalations' merge columns."""
    op.add_column("conversations", sa.Column("client_key", sa.String(32), nullable=True))
    op.create_index("ix_conversations_client_key_created_at", "conversations", ["client_key", "created_at"])
    # No foreign key (SQLite cannot add one to an existing table in place): the retention purge
    # deletes old conversations with their escalations, and a merge whose target is gone reads as
    # merged into nothing (bot/clinic/inbox.py).
    op.add_column("escalations", sa.Column("merged_into_id", sa.Integer, nullable=True))
    op.add_column("escalations", sa.Column("merged_reports", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop them in place (not batch mode, which would cascade-delete on SQLite)."""
    op.drop_index("ix_conversations_client_key_created_at", table_name="conversations")
    for table, column in (("escalations", "merged_reports"), ("escalations", "merged_into_id"),
                          ("conversations", "client_key")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
