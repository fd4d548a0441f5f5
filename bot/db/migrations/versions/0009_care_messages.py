"""Proactive care: the outbox of care messages, patients' consent to them, confirmed sessions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

# Stored as naive UTC (see bot.db.models.UTCDateTime); the choices as they were at this revision.
UTCDateTime = sa.DateTime()
KINDS = "kind IN ('preparation', 'reminder', 'aftercare_checkin', 'maintenance')"
STATUSES = ("status IN ('scheduled', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled', "
            "'unknown')")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create care_messages; add patients' care consent columns and appointments.confirmed_at."""
    op.create_table(
        "care_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("appointment_id", sa.Integer, sa.ForeignKey("appointments.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("detail", sa.String(120), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("provider_message_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column("claimed_at", UTCDateTime, nullable=True),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("status_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("appointment_id", "kind", name="uq_care_messages_appointment_id"),
        sa.CheckConstraint(KINDS, name=op.f("ck_care_messages_kind")),
        sa.CheckConstraint(STATUSES, name=op.f("ck_care_messages_status")),
    )
    op.create_index("ix_care_messages_status_due_at", "care_messages", ["status", "due_at"])
    op.create_index("ix_care_messages_patient_id", "care_messages", ["patient_id"])
    op.create_index("ix_care_messages_provider_message_id", "care_messages", ["provider_message_id"])
    op.add_column("patients", sa.Column("care_consent", sa.Boolean, nullable=True))
    op.add_column("patients", sa.Column("care_consent_source", sa.String(64), nullable=True))
    op.add_column("patients", sa.Column("care_consent_at", UTCDateTime, nullable=True))
    op.add_column("appointments", sa.Column("confirmed_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    """Drop them again (columns in place: batch mode would cascade-delete on SQLite)."""
    op.drop_table("care_messages")
    for table, column in (("appointments", "confirmed_at"), ("patients", "care_consent_at"),
                          ("patients", "care_consent_source"), ("patients", "care_consent")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
