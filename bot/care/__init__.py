"""Proactive care: the messages the assistant writes first around each booked session (issue 14).

schedule.py (the clinic profile's plan), plan.py (the outbox rows), sender.py (exactly-once sending),
status.py (delivery statuses), replies.py (a reminder's "1" confirms, "2" and "3" ask staff), cli.py
and task.py (`python -m bot care ...` and the server's periodic run).
"""
