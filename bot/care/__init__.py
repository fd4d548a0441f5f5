"""Proactive care: the messages the assistant writes first, before and after each booked session."""
