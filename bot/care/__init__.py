"""Proactive care: the messages the assistant writes first around each booked session (issue 14),
their delivery statuses (status.py), and the patient's replies to them (replies.py: a reminder's "1"
confirms, "2" and "3" ask staff).
"""
