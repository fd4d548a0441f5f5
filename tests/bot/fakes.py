"""Stand-ins for the parts of the application a test does not exercise: a scripted engine and a
screen with fixed answers. The recording deliverer is tests/support/deliverers.py's (re-exported)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import List, Optional, Tuple

from bot.channels.messages import Button, OutboundMessage
from bot.conversations.handoff import HandoffRequest
from bot.engine.turn import EngineTurn
from tests.support.deliverers import RecordingDeliverer  # noqa: F401  (re-exported for older imports)


class ScriptedEngine:
    """Answers from a script: exact text -> replies; "handoff" asks for staff like the custom action."""

    def __init__(self, session_factory=None, ready: bool = True) -> None:
        self.session_factory = session_factory
        self.ready = ready
        self.calls: List[Tuple[str, str, dict]] = []
        self.fail_with: Optional[Exception] = None
        self.delay_seconds = 0.0
        self.sessions_ended: List[str] = []

    async def end_session(self, sender_key: str) -> None:
        self.sessions_ended.append(sender_key)

    async def respond(self, sender_key: str, text: str, metadata: Optional[dict] = None) -> EngineTurn:
        self.calls.append((sender_key, text, dict(metadata or {})))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_with is not None:
            raise self.fail_with
        if text == "silent":
            return EngineTurn([])
        if text == "options":
            return EngineTurn([OutboundMessage("Did you mean:", (Button("Pain", "/faq_pain"),
                                                                 Button("Cost", "/ask_cost")))])
        if text == "MC-4827 12/04/1988":  # as the verification form does when the details match
            return EngineTurn([OutboundMessage("Thanks, Alex, you're verified.")], verified=True)
        if text == "zxq blorf":  # as the fallback action does: "did you mean", and the miss recorded
            return EngineTurn([OutboundMessage("Sorry, I'm not sure I understood.")], understood=False)
        if text in ("handoff", "a person please"):
            return EngineTurn([OutboundMessage("I've asked a member of the team to reply here.")],
                              HandoffRequest(reason="asked_for_person", summary="asked"))
        return EngineTurn([OutboundMessage(f"bot heard: {text}")])


@dataclass(frozen=True)
class FixedResult:
    kind: Optional[str]
    categories: Tuple[str, ...] = ()

    @property
    def is_red_flag(self) -> bool:
        return self.kind in ("emergency", "urgent")


class KeywordScreen:
    """Flags a message containing "lips swelling" (emergency) or "bit red" (after-effect)."""

    def check(self, text: str) -> FixedResult:
        if "lips swelling" in text:
            return FixedResult("emergency", ("allergy",))
        if "bit red" in text:
            return FixedResult("after_effect", ("after_effect",))
        return FixedResult(None)
