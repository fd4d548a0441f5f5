"""Bind a web chat's verification to the browser tab that proved it, and let a patient end a chat.

`verified_client` is the tab that verified (a random id the widget keeps for that tab only) and
`verified_at` when; a message from any other tab, or after the idle time, ends the verification.
`ended_at` is set when the patient presses "End chat": the session id is then never accepted again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add conversations.verified_client, verified_at and ended_at (all NULL for existing rows)."""
    op.add_column("conversations", sa.Column("verified_client", sa.String(64), nullable=True))
    op.add_column("conversations", sa.Column("verified_at", sa.DateTime(), nullable=True))
    op.add_column("conversations", sa.Column("ended_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Drop the three columns in place (SQLite 3.35+ and PostgreSQL both can).

    Not batch mode: rebuilding `conversations` on SQLite would drop the old table, and its
    ON DELETE CASCADE would take every message and verification attempt with it.
    """
    for column in ("ended_at", "verified_at", "verified_client"):
        op.execute(f"ALTER TABLE conversations DROP COLUMN {column}")
