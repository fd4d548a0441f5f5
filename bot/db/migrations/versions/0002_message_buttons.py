"""Store the quick-reply buttons a bot message offered.

The conversation router accepts a button payload from a patient only when the bot's latest turn
offered it, so the buttons must be kept with the message that carried them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add messages.buttons (a JSON list of {title, payload}, NULL when none)."""
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("buttons", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop messages.buttons."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("buttons")
