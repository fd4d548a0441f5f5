"""The inbox: what each staff member has read of each conversation, and indexes for the filters.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FILTER_INDEXES = (
    ("ix_escalations_assigned_to_status", "escalations", ["assigned_to", "status"]),
    ("ix_escalations_reason_status", "escalations", ["reason", "status"]),
    ("ix_conversations_channel", "conversations", ["channel"]),
    ("ix_messages_conversation_id_author_id", "messages", ["conversation_id", "author", "id"]),
    ("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"]),
)


def upgrade() -> None:
    """Create conversation_reads; index the inbox filters, previews and unread markers."""
    op.create_table(
        "conversation_reads",
        sa.Column("staff_user_id", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("last_read_message_id", sa.Integer, nullable=False),
    )
    op.create_index("ix_conversation_reads_conversation_id", "conversation_reads", ["conversation_id"])
    for name, table, columns in FILTER_INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop them again."""
    for name, table, _ in FILTER_INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_index("ix_conversation_reads_conversation_id", table_name="conversation_reads")
    op.drop_table("conversation_reads")
