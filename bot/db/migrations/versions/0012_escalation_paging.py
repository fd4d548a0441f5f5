"""On-call paging: when the on-call phone was told about an urgent case nobody took in time.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Stored as naive UTC (see bot.db.models.UTCDateTime).
UTCDateTime = sa.DateTime()
INDEX = "ix_escalations_priority_status_created_at"


def upgrade() -> None:
    """Add escalations.paged_at and the index the pager's query walks."""
    op.add_column("escalations", sa.Column("paged_at", UTCDateTime, nullable=True))
    op.create_index(INDEX, "escalations", ["priority", "status", "created_at"])


def downgrade() -> None:
    """Drop them again (the column in place: batch mode would cascade-delete on SQLite)."""
    op.drop_index(INDEX, table_name="escalations")
    op.execute("ALTER TABLE escalations DROP COLUMN paged_at")
