"""Teaching the assistant: training_examples, the queue of messages it did not understand or staff flagged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

# Stored as naive UTC (see bot.db.models.UTCDateTime); the choices as they were at this revision.
UTCDateTime = sa.DateTime()
SOURCES = "source IN ('fallback', 'flagged')"
STATUSES = "status IN ('open', 'labelled', 'dismissed')"

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create training_examples, with the indexes the console's queue pages on."""
    op.create_table(
        "training_examples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("intent", sa.String(80), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("labelled_by", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("labelled_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("message_id", name="uq_training_examples_message_id"),
        sa.CheckConstraint(SOURCES, name=op.f("ck_training_examples_source")),
        sa.CheckConstraint(STATUSES, name=op.f("ck_training_examples_status")),
    )
    op.create_index("ix_training_examples_status_created_at", "training_examples", ["status", "created_at"])
    op.create_index("ix_training_examples_status_labelled_at", "training_examples", ["status", "labelled_at"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("training_examples")
