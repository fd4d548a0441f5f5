"""Analytics: red-flag categories of escalations, fallback turns on patient messages, range indexes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RANGE_INDEXES = (
    ("ix_conversations_created_at", "conversations", ["created_at"]),
    ("ix_messages_author_created_at", "messages", ["author", "created_at"]),
    ("ix_escalations_created_at", "escalations", ["created_at"]),
    ("ix_care_messages_due_at", "care_messages", ["due_at"]),
)


def upgrade() -> None:
    """Create escalation_categories; add messages.fallback; index the analytics ranges."""
    op.create_table(
        "escalation_categories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("escalation_id", sa.Integer, sa.ForeignKey("escalations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.UniqueConstraint("escalation_id", "category", name="uq_escalation_categories_escalation_id"),
    )
    op.add_column("messages", sa.Column("fallback", sa.Boolean, nullable=True))
    for name, table, columns in RANGE_INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop them again (the column in place: batch mode would cascade-delete on SQLite)."""
    for name, table, _ in RANGE_INDEXES:
        op.drop_index(name, table_name=table)
    op.execute("ALTER TABLE messages DROP COLUMN fallback")
    op.drop_table("escalation_categories")
