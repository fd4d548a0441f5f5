"""What the router itself says (not Rasa): limits, faults, consent, handoff notices, the disclaimer.

Every text is plain (it goes out by SMS too), short, and free of promises; tests scan them with
the same banned-phrase list as the bot's answers.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.channels.messages import Button, OutboundMessage
from bot.clinic.hours import reply_expectation
from bot.settings import ClinicProfile

if TYPE_CHECKING:  # bot.safety is imported lazily below (it loads spaCy)
    from bot.safety.screen import ScreenResult


class Replies:
    """The router's own messages for one clinic."""

    def __init__(self, clinic: ClinicProfile) -> None:
        """Texts mention this clinic's name, phone and emergency number."""
        self.clinic = clinic

    def disclaimer(self) -> OutboundMessage:
        """The first message of every conversation: automated, not medical advice, privacy notice."""
        privacy = f" Privacy notice: {self.clinic.privacy_notice_url}" if self.clinic.privacy_notice_url else ""
        return OutboundMessage(
            f"I'm the automated assistant of {self.clinic.name}, not a clinician: my answers are general "
            f"information, not medical advice.{privacy}")

    def welcome(self) -> OutboundMessage:
        """The web chat's first screen: the disclaimer, then starter questions as buttons."""
        return OutboundMessage(f"{self.disclaimer().text} Patients often ask:",
                               tuple(Button(q, q) for q in self.clinic.starter_questions))

    def too_long(self, length: int, limit: int) -> OutboundMessage:
        """A message over the size limit is not processed (it is stored for the team)."""
        return OutboundMessage(
            f"Your message is {length:,} characters long, more than I can read at once ({limit:,}). "
            "Please send your question in a shorter message.")

    def address_limited(self, limit: str) -> OutboundMessage:
        """A web message refused because its network is over a limit (nothing of it was kept)."""
        what = ("Too many chats have been started from your network in the last hour, so I can't start "
                "another one right now." if limit == "new_chats" else
                "Too many messages are coming from your network right now, so I couldn't take yours.")
        return OutboundMessage(
            f"{what} Please try again later, or call the clinic on {self.clinic.phone}. If you feel unwell or "
            f"something is seriously wrong, call {self.clinic.emergency_number} or go to urgent care.")

    def slow_down(self) -> OutboundMessage:
        """Said once when a sender goes over the rate limit."""
        return OutboundMessage(
            "You're sending messages faster than I can answer them. Please wait a minute, then send "
            f"your question again. If it's urgent, call the clinic on {self.clinic.phone}.")

    def media_only(self) -> OutboundMessage:
        """A message with an attachment but no text."""
        return OutboundMessage(
            "I can only read text, so I can't see attachments. Please describe your question in words. "
            f"If you're worried about how your scalp looks, call the clinic on {self.clinic.phone}.")

    def red_flag(self, flagged: ScreenResult) -> OutboundMessage:
        """Urgent guidance for a red-flag symptom."""
        from bot.safety.replies import red_flag_reply

        return OutboundMessage(red_flag_reply(flagged, self.clinic))

    def red_flag_summary(self, flagged: ScreenResult) -> str:
        """The staff inbox's one-line summary of a red flag (never the patient's words)."""
        from bot.safety.replies import red_flag_summary

        return red_flag_summary(flagged)

    def after_effect(self, flagged: ScreenResult) -> OutboundMessage:
        """The calm answer to an expected after-effect."""
        from bot.safety.replies import after_effect_reply

        return OutboundMessage(after_effect_reply(self.clinic))

    def starting_up(self) -> OutboundMessage:
        """The model is still loading."""
        return OutboundMessage("The assistant is just starting up. Please send your message again in a minute.")

    def apology(self, now: datetime) -> OutboundMessage:
        """The engine or an action failed: sorry, and a person will reply."""
        return OutboundMessage(
            "Sorry, something went wrong on our side and I can't answer that right now. I've passed your "
            f"conversation to the clinic team, who will reply here. {reply_expectation(self.clinic, now)}")

    def opted_out(self) -> OutboundMessage:
        """Confirmation of STOP (the last message the number receives)."""
        return OutboundMessage(
            f"You won't receive any more messages from {self.clinic.name} here. Reply START to receive them again.")

    def opted_in(self) -> OutboundMessage:
        """Confirmation of START after STOP."""
        return OutboundMessage(
            f"You'll receive messages from {self.clinic.name} here again. How can I help? Reply STOP to stop.")

    def escalated_notice(self, now: datetime) -> str:
        """Shown in the web widget the moment a conversation goes to staff: who answers, and when."""
        return f"Your conversation is now with the clinic team, who will reply here. {reply_expectation(self.clinic, now)}"

    def with_the_team(self, now: datetime) -> OutboundMessage:
        """The acknowledgement of a message written while the clinic team has the conversation."""
        return OutboundMessage(
            f"Thanks, your message is with the clinic team. {reply_expectation(self.clinic, now)} "
            f"If it's urgent, call {self.clinic.phone}.")

    def red_flag_reminder(self) -> OutboundMessage:
        """Repeated on every message until a staff member takes an urgent case."""
        return OutboundMessage(
            "The clinic team has been alerted to what you described. Please don't wait for a reply here: "
            f"if you have trouble breathing, swelling of the face, lips or throat, or heavy bleeding, call "
            f"{self.clinic.emergency_number} now. Otherwise call the clinic on {self.clinic.phone}, or go to "
            "urgent care.")

    def staff_joined_notice(self) -> str:
        """Shown in the web widget when a staff member takes the conversation."""
        return "A member of the clinic team has joined the conversation."

    def staff_left_notice(self) -> str:
        """Shown in the web widget when staff hand the conversation back to the assistant."""
        return "You are chatting with the assistant again."

    def handed_back(self) -> OutboundMessage:
        """Sent when staff hand the conversation back to the bot."""
        return OutboundMessage(
            "The clinic team has handed you back to the automated assistant. Ask me anything about your "
            "treatment, or ask for a person at any time.")
