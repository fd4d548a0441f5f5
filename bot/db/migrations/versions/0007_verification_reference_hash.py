"""Lock identity checks per typed reference, not per patient: the keyed hash of the reference.

An invented booking reference now locks after the same number of mismatches as a real one, so a
"locked" answer no longer tells which references exist. Only the HMAC of the normalised reference is
stored (bot.clinic.verification.reference_hash), never what was typed; existing rows keep NULL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_verification_attempts_reference_hash"


def upgrade() -> None:
    """Add verification_attempts.reference_hash (NULL for existing rows) and its index."""
    op.add_column("verification_attempts", sa.Column("reference_hash", sa.String(32), nullable=True))
    op.create_index(INDEX, "verification_attempts", ["reference_hash"])


def downgrade() -> None:
    """Drop the index, then the column in place (not batch mode: see 0004)."""
    op.drop_index(INDEX, table_name="verification_attempts")
    op.execute("ALTER TABLE verification_attempts DROP COLUMN reference_hash")
