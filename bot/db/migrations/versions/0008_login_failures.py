"""Failed console sign-ins per account and client address (`login_failures`), instead of one
account-wide counter that let anyone lock any account.

The old `staff_users.failed_logins` / `locked_until` are cleared (their locks were account-wide,
the kind this replaces) but kept, so a replica still running the older code during the upgrade works.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create login_failures with its indexes; clear the account-wide counters and locks."""
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("address_key", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"],
                                name=op.f("fk_login_failures_staff_user_id_staff_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"])
    op.create_index("ix_login_failures_address_key_at", "login_failures", ["address_key", "at"])
    op.create_index("ix_login_failures_staff_user_id_address_key_at", "login_failures",
                    ["staff_user_id", "address_key", "at"])
    op.execute("UPDATE staff_users SET failed_logins = 0, locked_until = NULL")


def downgrade() -> None:
    """Drop login_failures (the older code counts failures in staff_users again, from zero)."""
    op.drop_index("ix_login_failures_staff_user_id_address_key_at", table_name="login_failures")
    op.drop_index("ix_login_failures_address_key_at", table_name="login_failures")
    op.drop_index(op.f("ix_login_failures_at"), table_name="login_failures")
    op.drop_table("login_failures")
