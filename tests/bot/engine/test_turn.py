"""Reading an engine turn: replies for the patient, and the handoff a custom action asked for."""
import pytest

from bot.channels.messages import Button, OutboundMessage
from bot.conversations.handoff import HandoffRequest
from bot.engine.turn import read_turn
from bot.teaching.notice import NOT_UNDERSTOOD_NOTICE


def test_replies_keep_their_order_and_a_handoff_request_is_never_shown():
    request = HandoffRequest(reason="booking_change", summary="verified patient", patient_id=7)
    turn = read_turn([
        {"recipient_id": "web:1", "text": "I've asked the team."},
        {"recipient_id": "web:1", "custom": request.as_custom_message()},
        {"recipient_id": "web:1", "text": "Pick one", "buttons": [{"title": "Yes", "payload": "/affirm"}]},
    ])
    assert turn.replies == [OutboundMessage("I've asked the team."),
                            OutboundMessage("Pick one", (Button("Yes", "/affirm"),))]
    assert turn.handoff == request


def test_the_fallback_notice_marks_the_turn_and_is_never_shown():
    turn = read_turn([{"text": "Did you mean one of these?"}, {"custom": dict(NOT_UNDERSTOOD_NOTICE)}])
    assert not turn.understood and turn.replies == [OutboundMessage("Did you mean one of these?")]
    assert read_turn([{"text": "hello"}, {"custom": {"turn": "other"}}]).understood


def test_a_turn_without_a_request_has_no_handoff():
    assert read_turn([{"text": "hello"}, {"custom": {"something": "else"}}]).handoff is None


@pytest.mark.parametrize("custom", [
    {"handoff": {"reason": "because", "summary": "x"}},
    {"handoff": {"reason": "fallback", "summary": "x", "priority": "whenever"}},
    {"handoff": {"reason": "fallback", "summary": "x", "patient_id": "not a number"}},
])
def test_a_malformed_request_is_dropped_and_logged(custom, caplog):
    turn = read_turn([{"text": "hello"}, {"custom": custom}])
    assert turn.handoff is None and turn.replies == [OutboundMessage("hello")]
    assert "malformed handoff request" in caplog.text


def test_the_request_survives_its_round_trip_through_a_custom_message():
    request = HandoffRequest(reason="red_flag", summary="urgent", priority="urgent", patient_id=None)
    assert HandoffRequest.from_custom_message(request.as_custom_message()) == request
