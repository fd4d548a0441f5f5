"""The custom message the "did you mean...?" action sends when the assistant did not understand the
patient's message (first or second miss), so the router can queue that message for teaching.
Never shown to the patient (bot.engine.turn reads it)."""
NOT_UNDERSTOOD_NOTICE = {"understood": False}
