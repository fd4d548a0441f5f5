"""What the fuzz tests (tests/fuzz) throw at the patient-facing entry points, and what they check after.

Strategies (Hypothesis):
- `hostile_text()`: any code point, NUL, controls and lone surrogates included; `wire_text()` the same
  without surrogates (what can be percent-encoded as UTF-8).
- `json_documents()`: JSON trees of every type, with objects as key/value pairs so a key can repeat,
  numbers past what JSON parsers take, deep nesting; `json_text()` writes one.
- `python_values()`: what python-socketio can hand an event handler after decoding a packet (JSON
  values plus binary attachments as bytes).
- `raw_bodies()`: arbitrary bytes, invalid UTF-8, percent-encoded invalid bytes.
- `content_types()`: absent, wrong, odd or unknown charset parameters.

Checks over the clinic database: `Stored.now()` (rows a refused request must not add),
`repeated_deliveries()` (a provider message stored more than once), `unreceipted()` (receipts and
stored messages that do not match) and `unstorable()` (values PostgreSQL would refuse: longer
than their column, NUL characters, text that is not valid Unicode); `assert_consistent()` runs the
last three. `errors_logged()`: the application's ERROR log records; `personal_data_logged()`: records
at INFO or above that repeat a patient's words or phone number; `assert_still_answering()`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from hypothesis import strategies as st
from sqlalchemy import String, func, select
from sqlalchemy.orm import sessionmaker

from bot.db.models import Conversation, InboundReceipt, Message

# ---- text and JSON ---------------------------------------------------------------------------


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any code points: NUL, controls, right-to-left marks, emoji, lone surrogates."""
    return st.text(st.characters(exclude_categories=()), max_size=max_size)


def wire_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any code points that UTF-8 can carry (no lone surrogates), NUL and controls included."""
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size)


@dataclass(frozen=True)
class JSONObject:
    """A JSON object as written: its key/value pairs in order, a key possibly repeated."""

    pairs: Tuple[Tuple[str, Any], ...]


@dataclass(frozen=True)
class RawJSON:
    """JSON text written as it is (numbers no encoder would write, deep nesting)."""

    text: str

    def __repr__(self) -> str:
        """Short enough for a failure report (a deep nesting is 200,000 characters)."""
        shown = self.text if len(self.text) <= 120 else f"{self.text[:60]}...{self.text[-40:]}"
        return f"RawJSON({shown!r}, {len(self.text)} characters)"


def json_text(value: Any) -> str:
    """`value` (JSON values, `JSONObject`, `RawJSON`) as JSON text; lone surrogates as \\u escapes."""
    if isinstance(value, RawJSON):
        return value.text
    if isinstance(value, JSONObject):
        return "{" + ",".join(f"{json.dumps(key)}:{json_text(item)}" for key, item in value.pairs) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json_text(JSONObject(tuple(value.items())))
    return json.dumps(value)  # NaN and Infinity too: Python's parser takes them


def nested(depth: int, opener: str = "[", closer: str = "]") -> RawJSON:
    """`depth` levels of arrays (or objects: opener '{"a":', closer '}') around a zero."""
    return RawJSON(opener * depth + "0" + closer * depth)


HUGE_NUMBERS = st.sampled_from([
    RawJSON("1" * 5000), RawJSON("-" + "9" * 4301), RawJSON("1e999999"), RawJSON("-1e-999999"),
    RawJSON("0." + "0" * 3000 + "1"), RawJSON(str(2**64)), RawJSON(str(-(2**63) - 1)),
])


def json_scalars(huge_numbers: bool = True) -> st.SearchStrategy[Any]:
    """null, booleans, integers of any size, floats (NaN and infinities too), strings; and with
    `huge_numbers` numbers that Python's parser refuses (more than 4,300 digits)."""
    scalars = [st.none(), st.booleans(), st.integers(), st.integers(min_value=2**53), st.floats(), hostile_text()]
    return st.one_of(*scalars, *([HUGE_NUMBERS] if huge_numbers else []))


def json_documents(keys: Sequence[str] = (), max_leaves: int = 25, huge_numbers: bool = True
                   ) -> st.SearchStrategy[Any]:
    """JSON trees; object keys are drawn from `keys` as often as from anything else, and may repeat."""
    key = st.one_of(st.sampled_from(list(keys) or ["a"]), hostile_text(12))
    return st.recursive(
        json_scalars(huge_numbers),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(st.tuples(key, children), max_size=5).map(lambda pairs: JSONObject(tuple(pairs))),
        ),
        max_leaves=max_leaves,
    )


def python_values(keys: Sequence[str] = (), max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """What a socket.io event can carry once decoded: JSON values as Python objects, and bytes."""
    key = st.one_of(st.sampled_from(list(keys) or ["a"]), hostile_text(12))
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63), st.floats(),
                        hostile_text(), st.binary(max_size=40))
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(key, children, max_size=5)),
        max_leaves=max_leaves,
    )


# ---- HTTP bodies -----------------------------------------------------------------------------

CHARSETS = ("utf-8", "UTF-8", "latin-1", "utf-16", "utf-32", "utf-7", "ascii", "cp1252", "shift_jis",
            "koi8-r", "idna", "base64", "rot13", "no-such-charset", "")
MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "application/json", "text/plain",
               "application/octet-stream", "text/xml", "image/png", "application/x-www-form-urlencoded+junk",
               "", "*/*", "form", ";", "application/json; x=", 'multipart/form-data; boundary="')


def content_types() -> st.SearchStrategy[Optional[str]]:
    """A Content-Type header (None: no header at all), often with an odd charset or boundary."""
    parameter = st.one_of(
        st.just(""),
        st.sampled_from(CHARSETS).map(lambda charset: f"; charset={charset}"),
        st.sampled_from(["; boundary=x", "; boundary=", "; boundary=" + "b" * 80, "; charset", ";;;"]),
    )
    header = st.tuples(st.sampled_from(MEDIA_TYPES), parameter).map("".join)
    return st.one_of(st.none(), header)


def percent_encoded(raw: bytes) -> bytes:
    """Every byte of `raw` as %XX (so invalid UTF-8 reaches the form parser intact)."""
    return "".join(f"%{byte:02X}" for byte in raw).encode("ascii")


def raw_bodies(max_size: int = 300) -> st.SearchStrategy[bytes]:
    """Bytes of any kind: random, invalid UTF-8, percent-encoded invalid bytes, form-like noise."""
    invalid_utf8 = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
                                    b"\xe2\x82", b"\x00", b"\xfe\xff"])
    formish = st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=20)), max_size=8).map(
        lambda pairs: b"&".join(key + b"=" + value for key, value in pairs))
    return st.one_of(
        st.binary(max_size=max_size),
        st.lists(invalid_utf8, min_size=1, max_size=8).map(b"".join),
        st.lists(invalid_utf8, min_size=1, max_size=8).map(lambda parts: b"Body=" + percent_encoded(b"".join(parts))),
        formish,
    )


# ---- what the database holds -----------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """How many conversations, patient messages and webhook receipts the database holds."""

    conversations: int
    inbound: int
    receipts: int

    @classmethod
    def now(cls, sessions: sessionmaker) -> "Stored":
        """The counts at this moment."""
        with sessions() as session:
            def count(model, *where) -> int:
                return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

            return cls(count(Conversation), count(Message, Message.direction == "in"), count(InboundReceipt))


def repeated_deliveries(sessions: sessionmaker) -> List[Tuple[str, str, int]]:
    """(channel, provider message id, times stored) of every patient message stored more than once."""
    with sessions() as session:
        rows = session.execute(
            select(Conversation.channel, Message.channel_message_id, func.count())
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.direction == "in", Message.channel_message_id.isnot(None))
            .group_by(Conversation.channel, Message.channel_message_id)
            .having(func.count() > 1)
        ).all()
    return [tuple(row) for row in rows]


def unreceipted(sessions: sessionmaker) -> List[Tuple[str, str]]:
    """(channel, provider message id) of receipts without their stored message, and of stored
    messages without their receipt: both are written in one transaction."""
    with sessions() as session:
        receipts = set(session.execute(select(InboundReceipt.channel, InboundReceipt.channel_message_id)).all())
        messages = set(session.execute(
            select(Conversation.channel, Message.channel_message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.direction == "in", Message.channel_message_id.isnot(None))).all())
    return sorted(tuple(pair) for pair in receipts ^ messages)


def _unstorable_reason(value: Any, length: Optional[int]) -> Optional[str]:
    """Why PostgreSQL would refuse this string (too long for its column, NUL, not Unicode), or None."""
    if not isinstance(value, str):
        return None
    if length is not None and len(value) > length:
        return f"{len(value)} characters for {length}"
    if "\x00" in value:
        return "a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate"
    return None


def unstorable(sessions: sessionmaker) -> List[Tuple[str, str, int, str]]:
    """(table, column, row id, why) of every stored string PostgreSQL would refuse: the fuzz runs on
    SQLite, which stores anything, while production refuses such a value (and the webhook answers 503
    for ever, since the platform delivers the same message again)."""
    found = []
    with sessions() as session:
        for model in (Conversation, Message, InboundReceipt):
            columns = [column for column in model.__table__.columns if isinstance(column.type, String)]
            for row in session.execute(select(model.__table__.c.id, *columns)).all():
                for column, value in zip(columns, row[1:]):
                    reason = _unstorable_reason(value, getattr(column.type, "length", None))
                    if reason is not None:
                        found.append((model.__tablename__, column.name, row[0], reason))
    return found


def assert_consistent(sessions: sessionmaker) -> None:
    """Every provider message stored at most once, with its receipt, in values PostgreSQL takes."""
    repeated, unmatched, refused = repeated_deliveries(sessions), unreceipted(sessions), unstorable(sessions)
    assert repeated == [], f"stored more than once: {repeated}"
    assert unmatched == [], f"receipt and message do not match: {unmatched}"
    assert refused == [], f"PostgreSQL would refuse: {refused}"


def errors_logged(records: Sequence[logging.LogRecord]) -> List[str]:
    """The application's ERROR records (a turn that failed inside the router's safety net, a message
    not stored): with the database up and the platforms answering, there must be none."""
    return [f"{record.name}: {record.getMessage()}" for record in records
            if record.levelno >= logging.ERROR and record.name.startswith("bot.")]


def personal_data_logged(records: Sequence[logging.LogRecord], *personal: str) -> List[str]:
    """The records at INFO or above that repeat a patient's words or number. Only what is long enough
    to be told apart from ordinary log text is looked for: a phone number, 40 characters of a text."""
    fragments = {value.strip()[:40] for value in personal if len(value.strip()) >= 12}
    return [f"{record.name}: {record.levelname}" for record in records if record.levelno >= logging.INFO
            and any(fragment in record.getMessage() for fragment in fragments)]


async def assert_still_answering(client) -> None:
    """The application (an aiohttp test client's) still answers: /healthz is 200."""
    response = await client.get("/healthz")
    assert response.status == 200, await response.text()
