"""Remember which platform a phone conversation came through, and the clinic number it was sent to.

With both Twilio and the WhatsApp Cloud API configured, a WhatsApp message must be answered through
the platform it arrived on; and a reply can come from the number the patient wrote to when no
sending number is configured.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add conversations.provider and clinic_address (NULL for existing rows: the default platform)."""
    op.add_column("conversations", sa.Column("provider", sa.String(16), nullable=True))
    op.add_column("conversations", sa.Column("clinic_address", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop both columns in place (not batch mode, which would cascade-delete on SQLite)."""
    for column in ("clinic_address", "provider"):
        op.execute(f"ALTER TABLE conversations DROP COLUMN {column}")
