"""Privacy: how long conversations are kept (retention.py, `python -m bot purge` and a periodic
purge in the server, schedule.py) and erasing a patient's conversations on request (erasure.py).

Both delete from the clinic tables and from Rasa's tracker store (the `events` table in the same
database, tracker_events.py). Bookings, patients, consent (STOP) records and the audit log are
never deleted here: the audit log holds ids and counts only.
"""
