"""Session start: a channel-verified phone identifies the patient; nothing else can claim it."""
from dataclasses import replace

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import ClinicServices, services, use_services
from actions.session import ActionSessionStart
from bot.clinic.aftercare import GENERAL_ANSWER_HOURS
from bot.clinic.identity import channel_identity_metadata

KEY = "test-signing-key"
SENDER = "sms:+447700900123"


def session_tracker(metadata, sender=SENDER):
    slots = {"session_started_metadata": metadata}
    return Tracker(sender, slots, {}, [], False, None, {}, "action_listen")


async def start(metadata, sender=SENDER, key=KEY):
    current = services()
    use_services(ClinicServices(replace(current.settings, identity_signing_key=key), current.session_factory))
    events = await ActionSessionStart().run(CollectingDispatcher(), session_tracker(metadata, sender), {})
    identity = {e["name"]: e["value"] for e in events if e["event"] == "slot" and e["name"] not in GENERAL_ANSWER_HOURS}
    return identity, [e["event"] for e in events]


async def test_signed_phone_of_a_patient_verifies_the_session(clinic):
    slots, kinds = await start(channel_identity_metadata(KEY, SENDER, "+447700900123"))
    assert slots == {"verified": True, "verified_patient_id": "1", "patient_first_name": "Alex"}
    assert kinds[0] == "session_started" and kinds[-1] == "action"


async def test_unsigned_or_forged_phone_verifies_nothing(clinic):
    assert (await start({"channel_identity": {"phone": "+447700900123", "signature": "0" * 64}}))[0] == {}
    assert (await start({"channel_identity": {"phone": "+447700900123"}}))[0] == {}
    assert (await start(None))[0] == {}


async def test_signature_for_another_conversation_is_refused(clinic):
    metadata = channel_identity_metadata(KEY, "sms:+447700900999", "+447700900123")
    assert (await start(metadata))[0] == {}


async def test_without_a_signing_key_channel_identity_is_ignored(clinic):
    assert (await start(channel_identity_metadata("", SENDER, "+447700900123"), key=""))[0] == {}


async def test_unknown_number_is_not_verified(clinic):
    assert (await start(channel_identity_metadata(KEY, "sms:+447700900777", "+447700900777"),
                        sender="sms:+447700900777"))[0] == {}
