"""The clinic database: patients and their bookings, conversations, staff and the audit log.

Declarative SQLAlchemy 1.4 models. Every timestamp is a `UTCDateTime`: it accepts only
timezone-aware datetimes, stores naive UTC and reads back aware UTC, so SQLite and PostgreSQL
behave the same. Choice columns are plain strings guarded by CHECK constraints (no native enums:
they are awkward to migrate). Duplicates that must never exist are made impossible by unique
constraints, so idempotency lives in the database.

The schema itself is created by the Alembic migration in `bot/db/migrations/`, never by
`create_all()`; a change here needs a new migration there.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, List, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship, validates
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Typed as Any: SQLAlchemy 1.4 ships no types, and mypy accepts a class built at run time as a base
# only when told it is Any.
Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))

CHANNELS = ("web", "sms", "whatsapp")
APPOINTMENT_STATUSES = ("booked", "completed", "cancelled", "no_show")
ACTOR_TYPES = ("staff", "bot", "system", "patient")
REQUEST_KINDS = ("reschedule", "cancel", "delete_data")
REQUEST_STATUSES = ("open", "done")
STAFF_ROLES = ("staff", "clinician", "admin")
CONVERSATION_OWNERS = ("bot", "staff")
MESSAGE_DIRECTIONS = ("in", "out")
MESSAGE_AUTHORS = ("patient", "bot", "staff", "system")
ESCALATION_REASONS = (
    "asked_for_person",
    "fallback",
    "booking_change",
    "red_flag",
    "engine_error",
    "verification_locked",
)
ESCALATION_PRIORITIES = ("urgent", "normal")
ESCALATION_STATUSES = ("waiting", "assigned", "resolved")
VERIFICATION_OUTCOMES = ("verified", "mismatch", "locked")
# Proactive care (bot/care): the messages written first around each booked session, and what became
# of each. "sending" is claimed by a sender and not yet known sent; "unknown" is a send that may or
# may not have gone (the sender stopped mid-way): never sent again automatically.
CARE_KINDS = ("preparation", "reminder", "aftercare_checkin", "maintenance")
CARE_STATUSES = ("scheduled", "sending", "sent", "delivered", "read", "failed", "skipped", "cancelled", "unknown")
# Teaching the assistant (bot/teaching): patient messages it did not understand, or that staff flagged.
TRAINING_SOURCES = ("fallback", "flagged")
TRAINING_STATUSES = ("open", "labelled", "dismissed")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK expression limiting `column` to `values` (values are fixed literals, not input)."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as naive UTC; reading gives it back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        """Refuse naive datetimes (their zone is a guess); store the UTC wall time."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        """Mark the stored UTC wall time as UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Patient(Base):
    """A patient of the clinic, known by the clinic's own reference (e.g. MC-4827)."""

    __tablename__ = "patients"

    id = Column(Integer, primary_key=True)
    clinic_ref = Column(String(32), nullable=False, unique=True)
    full_name = Column(String(200), nullable=False)
    phone_e164 = Column(String(20), nullable=True, unique=True)
    date_of_birth = Column(Date, nullable=False)
    email = Column(String(254), nullable=True)
    preferred_channel = Column(String(16), nullable=False, default="web", server_default="web")
    # Consent to care messages (bot/care): given or refused, where that was recorded (e.g. "booking
    # import", "consent form") and when; NULL = never asked, which sends nothing. STOP on a channel
    # stops them there too (consent_records).
    care_consent = Column(Boolean, nullable=True)
    care_consent_source = Column(String(64), nullable=True)
    care_consent_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    courses: List["TreatmentCourse"] = relationship(
        "TreatmentCourse", back_populates="patient", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (CheckConstraint(one_of("preferred_channel", CHANNELS), name="preferred_channel"),)

    @validates("clinic_ref")  # type: ignore[untyped-decorator]  # SQLAlchemy 1.4 is untyped
    def _upper_ref(self, _key: str, value: str) -> str:
        """Store references upper-case without surrounding spaces."""
        return value.strip().upper()


class TreatmentCourse(Base):
    """A planned course of one treatment for one patient."""

    __tablename__ = "treatment_courses"

    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id", ondelete="CASCADE"), nullable=False)
    treatment = Column(String(120), nullable=False)
    planned_sessions = Column(Integer, nullable=False)

    patient: Patient = relationship("Patient", back_populates="courses")
    appointments: List["Appointment"] = relationship(
        "Appointment", back_populates="course", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("patient_id", "treatment", name="uq_treatment_courses_patient_treatment"),
        CheckConstraint("planned_sessions >= 0", name="planned_sessions_not_negative"),
    )


class Appointment(Base):
    """One session of a course; `source_key` is the booking import's identity for it."""

    __tablename__ = "appointments"

    id = Column(Integer, primary_key=True)
    course_id = Column(Integer, ForeignKey("treatment_courses.id", ondelete="CASCADE"), nullable=False)
    starts_at = Column(UTCDateTime, nullable=False)
    duration_min = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False, default="booked")
    practitioner = Column(String(120), nullable=True)
    source_key = Column(String(120), nullable=False, unique=True)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    confirmed_at = Column(UTCDateTime, nullable=True)  # the patient confirmed it (a reminder's "1")

    course: TreatmentCourse = relationship("TreatmentCourse", back_populates="appointments")

    __table_args__ = (
        CheckConstraint(one_of("status", APPOINTMENT_STATUSES), name="status"),
        CheckConstraint("duration_min > 0", name="duration_positive"),
        Index("ix_appointments_course_id_starts_at", "course_id", "starts_at"),
    )


class VerificationAttempt(Base):
    """One try at proving identity; never holds what was typed (reference or date of birth).

    `reference_hash` is the keyed hash of the typed reference (bot.clinic.verification), so tries of
    one reference from different conversations lock it together; NULL on rows older than it.
    """

    __tablename__ = "verification_attempts"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    patient_id = Column(Integer, ForeignKey("patients.id", ondelete="SET NULL"), nullable=True, index=True)
    reference_hash = Column(String(32), nullable=True, index=True)
    succeeded = Column(Boolean, nullable=False)
    # "mismatch" attempts count towards the lock; "locked" ones are refused without comparing.
    outcome = Column(String(16), nullable=False)
    attempted_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)

    __table_args__ = (CheckConstraint(one_of("outcome", VERIFICATION_OUTCOMES), name="outcome"),)


class AuditLog(Base):
    """Who did what to which record; `detail` carries ids and counts, never personal data."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor_type = Column(String(16), nullable=False)
    actor_id = Column(String(64), nullable=True)
    action = Column(String(64), nullable=False)
    subject_type = Column(String(32), nullable=True)
    subject_id = Column(String(64), nullable=True)
    detail = Column(JSON, nullable=True)

    __table_args__ = (
        CheckConstraint(one_of("actor_type", ACTOR_TYPES), name="actor_type"),
        Index("ix_audit_log_subject", "subject_type", "subject_id"),
    )


class StaffUser(Base):
    """A member of staff who signs in to the console."""

    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default="staff")
    # No longer used to sign in (failures are counted per client address in `login_failures` since
    # migration 0008, which cleared these): kept so a replica still running the older code during an
    # upgrade works; `unlock` and `set_password` still clear them.
    failed_logins = Column(Integer, nullable=False, default=0, server_default="0")
    locked_until = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint(one_of("role", STAFF_ROLES), name="role"),)


class LoginFailure(Base):
    """One failed console sign-in: on which account (NULL for an email without one), from which client
    address, named by its keyed hash (bot/web/client_address.py; never the address itself).

    bot/clinic/login_failures.py counts them per account and address and per address; rows older
    than the lockout window are deleted as new ones come in.
    """

    __tablename__ = "login_failures"

    id = Column(Integer, primary_key=True)
    staff_user_id = Column(Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=True)
    address_key = Column(String(32), nullable=False)
    at = Column(UTCDateTime, nullable=False, index=True)

    __table_args__ = (
        Index("ix_login_failures_address_key_at", "address_key", "at"),
        Index("ix_login_failures_staff_user_id_address_key_at", "staff_user_id", "address_key", "at"),
    )


class StaffRequest(Base):
    """Something the bot cannot do itself and hands to staff (reschedule, cancel, erase data)."""

    __tablename__ = "staff_requests"

    id = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False)
    patient_id = Column(Integer, ForeignKey("patients.id", ondelete="SET NULL"), nullable=True, index=True)
    appointment_id = Column(Integer, ForeignKey("appointments.id", ondelete="SET NULL"), nullable=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True,
                             index=True)
    wishes = Column(Text, nullable=False, default="")
    status = Column(String(8), nullable=False, default="open")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    done_at = Column(UTCDateTime, nullable=True)
    done_by = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)

    __table_args__ = (
        CheckConstraint(one_of("kind", REQUEST_KINDS), name="kind"),
        CheckConstraint(one_of("status", REQUEST_STATUSES), name="status"),
        Index("ix_staff_requests_status_created_at", "status", "created_at"),
    )


class Conversation(Base):
    """One sender on one channel (web session id or E.164 phone), owned by the bot or by staff."""

    __tablename__ = "conversations"

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    external_id = Column(String(128), nullable=False)
    patient_id = Column(Integer, ForeignKey("patients.id", ondelete="SET NULL"), nullable=True, index=True)
    owner = Column(String(8), nullable=False, default="bot", server_default="bot")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    last_patient_message_at = Column(UTCDateTime, nullable=True)
    # Web chat: the browser tab whose patient proved who they are, and when; NULL when unverified.
    verified_client = Column(String(64), nullable=True)
    verified_at = Column(UTCDateTime, nullable=True)
    ended_at = Column(UTCDateTime, nullable=True)  # the patient ended the chat: the id is never reused
    # Phone channels: the platform the patient last wrote through, which answers them ("twilio" or
    # "meta"), and the clinic number they wrote to (a reply comes from it unless one is configured).
    provider = Column(String(16), nullable=True)
    clinic_address = Column(String(32), nullable=True)
    # Web chat: the keyed hash of the client's network address (bot/web/client_address.py; never
    # the address), so new chats and urgent cases can be limited per address.
    client_key = Column(String(32), nullable=True)

    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_conversations_channel_external_id"),
        Index("ix_conversations_client_key_created_at", "client_key", "created_at"),
        Index("ix_conversations_created_at", "created_at"),  # analytics: conversations in a range
        Index("ix_conversations_channel", "channel"),  # the inbox's channel filter
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(one_of("owner", CONVERSATION_OWNERS), name="owner"),
    )


class Message(Base):
    """One message in a conversation, in or out."""

    __tablename__ = "messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    direction = Column(String(4), nullable=False)
    author = Column(String(8), nullable=False)
    staff_user_id = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)
    text = Column(Text, nullable=False)
    channel_message_id = Column(String(128), nullable=True)
    # The quick replies a bot message offered: [{"title": ..., "payload": ...}], NULL when none.
    buttons = Column(JSON, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    # A patient message the assistant did not understand (its turn was a fallback: "did you mean"
    # or the offer of staff after a second miss); NULL otherwise, and on messages older than 0014.
    fallback = Column(Boolean, nullable=True)

    __table_args__ = (
        CheckConstraint(one_of("direction", MESSAGE_DIRECTIONS), name="direction"),
        CheckConstraint(one_of("author", MESSAGE_AUTHORS), name="author"),
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
        Index("ix_messages_author_created_at", "author", "created_at"),  # analytics: patient messages
        # the inbox: the newest message of a conversation (preview), its newest patient message (unread)
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_conversation_id_author_id", "conversation_id", "author", "id"),
    )


class InboundReceipt(Base):
    """A webhook message already received; the unique key makes redelivery a no-op."""

    __tablename__ = "inbound_receipts"

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    channel_message_id = Column(String(128), nullable=False)
    received_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)

    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_inbound_receipts_channel_message"),
    )


class Escalation(Base):
    """A conversation waiting for (or handled by) a person."""

    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    reason = Column(String(32), nullable=False)
    summary = Column(Text, nullable=False, default="")
    priority = Column(String(8), nullable=False, default="normal")
    status = Column(String(8), nullable=False, default="waiting")
    assigned_to = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at = Column(UTCDateTime, nullable=True)
    # Urgent reports from one client address beyond its limit are merged into its newest open urgent
    # escalation: the merged one is resolved at once and points there; the open one counts them.
    # (No foreign key: see migration 0006; a target deleted by the retention purge is just gone.)
    merged_into_id = Column(Integer, nullable=True)
    merged_reports = Column(Integer, nullable=False, default=0, server_default="0")
    # When the on-call phone was sent an SMS because nobody took this urgent case in time
    # (bot.alerts.on_call); set in the transaction that claims the page, so it is sent once.
    paged_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint(one_of("reason", ESCALATION_REASONS), name="reason"),
        CheckConstraint(one_of("priority", ESCALATION_PRIORITIES), name="priority"),
        CheckConstraint(one_of("status", ESCALATION_STATUSES), name="status"),
        Index("ix_escalations_status_created_at", "status", "created_at"),
        Index("ix_escalations_created_at", "created_at"),  # analytics: escalations in a range
        # the on-call pager: urgent cases still waiting, oldest first
        Index("ix_escalations_priority_status_created_at", "priority", "status", "created_at"),
        # the inbox's filters
        Index("ix_escalations_assigned_to_status", "assigned_to", "status"),
        Index("ix_escalations_reason_status", "reason", "status"),
    )


class EscalationCategory(Base):
    """One red-flag category (bot.safety: allergy, breathing, ...) an escalation was opened or
    merged for; the summary says the same in words, this is what analytics counts."""

    __tablename__ = "escalation_categories"

    id = Column(Integer, primary_key=True)
    escalation_id = Column(Integer, ForeignKey("escalations.id", ondelete="CASCADE"), nullable=False)
    category = Column(String(24), nullable=False)

    __table_args__ = (
        UniqueConstraint("escalation_id", "category", name="uq_escalation_categories_escalation_id"),
    )


class ConsentRecord(Base):
    """Whether a phone number has opted out of messages on a channel (STOP / START)."""

    __tablename__ = "consent_records"

    id = Column(Integer, primary_key=True)
    phone_e164 = Column(String(20), nullable=False)
    channel = Column(String(16), nullable=False)
    opted_out = Column(Boolean, nullable=False, default=False)
    changed_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("phone_e164", "channel", name="uq_consent_records_phone_channel"),
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
    )


class StaffNote(Base):
    """A private note by staff on a conversation; never sent to the patient."""

    __tablename__ = "staff_notes"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    staff_user_id = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)
    text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ConversationRead(Base):
    """How far one staff member has read one conversation: the newest message they were shown."""

    __tablename__ = "conversation_reads"

    staff_user_id = Column(Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True,
                             index=True)
    last_read_message_id = Column(Integer, nullable=False)


class CareMessage(Base):
    """One message the assistant writes first about one booked session: the outbox row.

    The unique (appointment, kind) makes each message exist once however often the plan is made;
    a sender claims a due row (`status` "scheduled" -> "sending") before it sends, so two senders
    never send the same row (bot/care/sender.py).
    """

    __tablename__ = "care_messages"

    id = Column(Integer, primary_key=True)
    appointment_id = Column(Integer, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False)
    patient_id = Column(Integer, ForeignKey("patients.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(24), nullable=False)
    due_at = Column(UTCDateTime, nullable=False)
    status = Column(String(12), nullable=False, default="scheduled")
    detail = Column(String(120), nullable=True)  # why skipped, cancelled or failed (never message text)
    channel = Column(String(16), nullable=True)  # sms or whatsapp, chosen when sent
    provider = Column(String(16), nullable=True)  # twilio or meta
    provider_message_id = Column(String(64), nullable=True, index=True)
    error_code = Column(String(32), nullable=True)  # the provider's, when it failed
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    sent_at = Column(UTCDateTime, nullable=True)
    status_at = Column(UTCDateTime, nullable=True)  # the provider's latest delivery status
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("appointment_id", "kind", name="uq_care_messages_appointment_id"),
        CheckConstraint(one_of("kind", CARE_KINDS), name="kind"),
        CheckConstraint(one_of("status", CARE_STATUSES), name="status"),
        Index("ix_care_messages_status_due_at", "status", "due_at"),
        Index("ix_care_messages_due_at", "due_at"),  # analytics: care messages due in a range
    )


class TrainingExample(Base):
    """A patient message for staff to label with the FAQ topic it should have matched (bot/teaching).

    `text` is a copy of the message (at most 500 characters), kept when the message itself is deleted;
    `intent` is "faq/<topic>" once labelled, or NULL with status "labelled" for "new topic needed"
    (the note says what the topic would be). One row per message: queueing twice is a no-op.
    """

    __tablename__ = "training_examples"

    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    text = Column(String(500), nullable=False)
    source = Column(String(8), nullable=False)
    status = Column(String(10), nullable=False, default="open")
    intent = Column(String(80), nullable=True)
    note = Column(String(500), nullable=True)
    labelled_by = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)
    labelled_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("message_id", name="uq_training_examples_message_id"),
        CheckConstraint(one_of("source", TRAINING_SOURCES), name="source"),
        CheckConstraint(one_of("status", TRAINING_STATUSES), name="status"),
        Index("ix_training_examples_status_created_at", "status", "created_at"),
        Index("ix_training_examples_status_labelled_at", "status", "labelled_at"),
    )


class CannedReply(Base):
    """A reply staff pick in the composer by typing "/"; admins manage them (bot/clinic/canned_replies).

    `body` may hold {first_name}, {next_session}, {clinic_phone} and {clinic_name}, filled for one
    conversation when a staff member picks the reply (never stored filled in).
    """

    __tablename__ = "canned_replies"

    id = Column(Integer, primary_key=True)
    title = Column(String(80), nullable=False)
    body = Column(Text, nullable=False)
    created_by = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)
    updated_by = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("title", name="uq_canned_replies_title"),)
