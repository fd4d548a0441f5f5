"""Create the clinic schema.

Patients, courses, appointments, verification attempts, audit log, staff requests, staff users,
conversations, messages, inbound receipts, escalations, consent records and staff notes.

Timestamps are naive UTC `DateTime` columns (the models' `UTCDateTime` adds the zone back when
reading). Runs on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Stored as naive UTC; see bot.db.models.UTCDateTime.
UTC_DATETIME = sa.DateTime()


def upgrade() -> None:
    """Create every table, constraint and index of the clinic database."""
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTC_DATETIME, nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.CheckConstraint("actor_type IN ('staff', 'bot', 'system', 'patient')", name=op.f('ck_audit_log_actor_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_subject', 'audit_log', ['subject_type', 'subject_id'], unique=False)

    op.create_table('consent_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone_e164', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('changed_at', UTC_DATETIME, nullable=False),
    sa.CheckConstraint("channel IN ('web', 'sms', 'whatsapp')", name=op.f('ck_consent_records_channel')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records')),
    sa.UniqueConstraint('phone_e164', 'channel', name='uq_consent_records_phone_channel')
    )
    op.create_table('inbound_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('channel_message_id', sa.String(length=128), nullable=False),
    sa.Column('received_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_receipts')),
    sa.UniqueConstraint('channel', 'channel_message_id', name='uq_inbound_receipts_channel_message')
    )
    op.create_index(op.f('ix_inbound_receipts_received_at'), 'inbound_receipts', ['received_at'], unique=False)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_ref', sa.String(length=32), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('phone_e164', sa.String(length=20), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('preferred_channel', sa.String(length=16), server_default='web', nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.CheckConstraint("preferred_channel IN ('web', 'sms', 'whatsapp')", name=op.f('ck_patients_preferred_channel')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('clinic_ref', name=op.f('uq_patients_clinic_ref')),
    sa.UniqueConstraint('phone_e164', name=op.f('uq_patients_phone_e164'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', UTC_DATETIME, nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.CheckConstraint("role IN ('staff', 'clinician', 'admin')", name=op.f('ck_staff_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.String(length=8), server_default='bot', nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('last_patient_message_at', UTC_DATETIME, nullable=True),
    sa.CheckConstraint("channel IN ('web', 'sms', 'whatsapp')", name=op.f('ck_conversations_channel')),
    sa.CheckConstraint("owner IN ('bot', 'staff')", name=op.f('ck_conversations_owner')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_conversations_patient_id_patients'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('channel', 'external_id', name='uq_conversations_channel_external_id')
    )
    op.create_index(op.f('ix_conversations_patient_id'), 'conversations', ['patient_id'], unique=False)

    op.create_table('treatment_courses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('treatment', sa.String(length=120), nullable=False),
    sa.Column('planned_sessions', sa.Integer(), nullable=False),
    sa.CheckConstraint('planned_sessions >= 0', name=op.f('ck_treatment_courses_planned_sessions_not_negative')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_treatment_courses_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_courses')),
    sa.UniqueConstraint('patient_id', 'treatment', name='uq_treatment_courses_patient_treatment')
    )
    op.create_table('verification_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('attempted_at', UTC_DATETIME, nullable=False),
    sa.CheckConstraint("outcome IN ('verified', 'mismatch', 'locked')", name=op.f('ck_verification_attempts_outcome')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_verification_attempts_patient_id_patients'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_attempts'))
    )
    op.create_index(op.f('ix_verification_attempts_attempted_at'), 'verification_attempts', ['attempted_at'], unique=False)
    op.create_index(op.f('ix_verification_attempts_conversation_id'), 'verification_attempts', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_verification_attempts_patient_id'), 'verification_attempts', ['patient_id'], unique=False)

    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', UTC_DATETIME, nullable=False),
    sa.Column('duration_min', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('practitioner', sa.String(length=120), nullable=True),
    sa.Column('source_key', sa.String(length=120), nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.CheckConstraint("status IN ('booked', 'completed', 'cancelled', 'no_show')", name=op.f('ck_appointments_status')),
    sa.CheckConstraint('duration_min > 0', name=op.f('ck_appointments_duration_positive')),
    sa.ForeignKeyConstraint(['course_id'], ['treatment_courses.id'], name=op.f('fk_appointments_course_id_treatment_courses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('source_key', name=op.f('uq_appointments_source_key'))
    )
    op.create_index('ix_appointments_course_id_starts_at', 'appointments', ['course_id', 'starts_at'], unique=False)

    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('assigned_to', sa.Integer(), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('resolved_at', UTC_DATETIME, nullable=True),
    sa.CheckConstraint("priority IN ('urgent', 'normal')", name=op.f('ck_escalations_priority')),
    sa.CheckConstraint("reason IN ('asked_for_person', 'fallback', 'booking_change', 'red_flag', 'engine_error', 'verification_locked')", name=op.f('ck_escalations_reason')),
    sa.CheckConstraint("status IN ('waiting', 'assigned', 'resolved')", name=op.f('ck_escalations_status')),
    sa.ForeignKeyConstraint(['assigned_to'], ['staff_users.id'], name=op.f('fk_escalations_assigned_to_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_escalations_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations'))
    )
    op.create_index(op.f('ix_escalations_conversation_id'), 'escalations', ['conversation_id'], unique=False)
    op.create_index('ix_escalations_status_created_at', 'escalations', ['status', 'created_at'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=4), nullable=False),
    sa.Column('author', sa.String(length=8), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('channel_message_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.CheckConstraint("author IN ('patient', 'bot', 'staff', 'system')", name=op.f('ck_messages_author')),
    sa.CheckConstraint("direction IN ('in', 'out')", name=op.f('ck_messages_direction')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_messages_staff_user_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    op.create_index('ix_messages_conversation_id_created_at', 'messages', ['conversation_id', 'created_at'], unique=False)

    op.create_table('staff_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_staff_notes_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_staff_notes_staff_user_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_notes'))
    )
    op.create_index(op.f('ix_staff_notes_conversation_id'), 'staff_notes', ['conversation_id'], unique=False)

    op.create_table('staff_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('wishes', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('done_at', UTC_DATETIME, nullable=True),
    sa.Column('done_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('reschedule', 'cancel', 'delete_data')", name=op.f('ck_staff_requests_kind')),
    sa.CheckConstraint("status IN ('open', 'done')", name=op.f('ck_staff_requests_status')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_staff_requests_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['done_by'], ['staff_users.id'], name=op.f('fk_staff_requests_done_by_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_staff_requests_patient_id_patients'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_requests'))
    )
    op.create_index(op.f('ix_staff_requests_patient_id'), 'staff_requests', ['patient_id'], unique=False)
    op.create_index('ix_staff_requests_status_created_at', 'staff_requests', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    """Drop everything this revision created (tables go with their indexes)."""
    op.drop_table('staff_requests')
    op.drop_table('staff_notes')
    op.drop_table('messages')
    op.drop_table('escalations')
    op.drop_table('appointments')
    op.drop_table('verification_attempts')
    op.drop_table('treatment_courses')
    op.drop_table('conversations')
    op.drop_table('staff_users')
    op.drop_table('patients')
    op.drop_table('inbound_receipts')
    op.drop_table('consent_records')
    op.drop_table('audit_log')
