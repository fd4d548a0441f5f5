"""Canned replies: the texts staff pick in the composer by typing "/" (admins manage them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

# Stored as naive UTC (see bot.db.models.UTCDateTime).
UTCDateTime = sa.DateTime()

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create canned_replies (its unique title is the index the list is read by)."""
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("updated_by", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("title", name="uq_canned_replies_title"),
    )


def downgrade() -> None:
    """Drop canned_replies."""
    op.drop_table("canned_replies")
