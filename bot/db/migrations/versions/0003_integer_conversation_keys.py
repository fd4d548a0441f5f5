"""Key verification attempts and staff requests by the conversation's integer id, like every other table.

Until now both tables kept Rasa's "<channel>:<external id>" sender key as a string, so code joined
them to conversations by parsing strings. The data migration finds each key's conversation (a
missing one is created, owned by the bot, as the application would have done on its next message),
writes its id, then replaces the string column by an integer foreign key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
from datetime import datetime, timezone
from typing import Tuple

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL_PREFIXES = ("web", "sms", "whatsapp")
# Table -> (nullable, ON DELETE): an attempt belongs to its conversation; a request outlives it.
LINKS = {"verification_attempts": (False, "CASCADE"), "staff_requests": (True, "SET NULL")}
TABLES = tuple(LINKS)
INDEXED_BEFORE = ("verification_attempts",)


def split_sender_key(sender_key: str) -> Tuple[str, str]:
    """"<channel>:<external id>" -> (channel, external id); anything else is a web conversation."""
    channel, sep, external = sender_key.partition(":")
    if sep and channel in CHANNEL_PREFIXES and external:
        return channel, external
    return "web", sender_key


def conversation_id_for(bind: Connection, conversations: sa.Table, sender_key: str, now: datetime) -> int:
    """The id of the conversation with this sender key, created if there is none."""
    channel, external = split_sender_key(sender_key)
    found = bind.execute(sa.select(conversations.c.id).where(
        conversations.c.channel == channel, conversations.c.external_id == external)).scalar()
    if found is not None:
        return found
    return bind.execute(conversations.insert().values(
        channel=channel, external_id=external, owner="bot", created_at=now)).inserted_primary_key[0]


def upgrade() -> None:
    """Add the integer column, fill it from the sender keys, drop the string column."""
    bind = op.get_bind()
    meta = sa.MetaData()
    conversations = sa.Table("conversations", meta, autoload_with=bind)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for table_name in TABLES:
        with op.batch_alter_table(table_name) as batch:
            batch.add_column(sa.Column("conversation_ref", sa.Integer(), nullable=True))
        table = sa.Table(table_name, sa.MetaData(), autoload_with=bind)
        keys = bind.execute(sa.select(table.c.conversation_id).distinct()).scalars().all()
        for key in keys:
            ref = conversation_id_for(bind, conversations, key, now)
            bind.execute(table.update().where(table.c.conversation_id == key).values(conversation_ref=ref))
    for table_name, (nullable, on_delete) in LINKS.items():
        _replace_key_column(table_name, nullable, on_delete)


def _replace_key_column(table_name: str, nullable: bool, on_delete: str) -> None:
    """Drop the string column (and its index), give the integer one its name, index and foreign key."""
    index = f"ix_{table_name}_conversation_id"
    with op.batch_alter_table(table_name) as batch:
        if table_name in INDEXED_BEFORE:
            batch.drop_index(index)
        batch.drop_column("conversation_id")
        batch.alter_column("conversation_ref", new_column_name="conversation_id", existing_type=sa.Integer(),
                           nullable=nullable)
    with op.batch_alter_table(table_name) as batch:
        batch.create_foreign_key(f"fk_{table_name}_conversation_id_conversations", "conversations",
                                 ["conversation_id"], ["id"], ondelete=on_delete)
        batch.create_index(index, ["conversation_id"])


def downgrade() -> None:
    """Back to the string sender keys."""
    bind = op.get_bind()
    conversations = sa.Table("conversations", sa.MetaData(), autoload_with=bind)
    for table_name in TABLES:
        with op.batch_alter_table(table_name) as batch:
            batch.add_column(sa.Column("sender_key", sa.String(128), nullable=True))
        table = sa.Table(table_name, sa.MetaData(), autoload_with=bind)
        rows = bind.execute(sa.select(table.c.id, conversations.c.channel, conversations.c.external_id)
                            .select_from(table.outerjoin(conversations, table.c.conversation_id == conversations.c.id)))
        for row_id, channel, external in rows.all():
            key = f"{channel}:{external}" if channel else "web:unknown"
            bind.execute(table.update().where(table.c.id == row_id).values(sender_key=key))
        index = f"ix_{table_name}_conversation_id"
        with op.batch_alter_table(table_name) as batch:
            batch.drop_constraint(f"fk_{table_name}_conversation_id_conversations", type_="foreignkey")
            batch.drop_index(index)
            batch.drop_column("conversation_id")
            batch.alter_column("sender_key", new_column_name="conversation_id", existing_type=sa.String(128),
                               nullable=False)
    with op.batch_alter_table("verification_attempts") as batch:
        batch.create_index("ix_verification_attempts_conversation_id", ["conversation_id"])
