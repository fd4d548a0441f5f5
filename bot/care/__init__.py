"""Proactive care: the messages the assistant writes first, before and after each booked session.

- `schedule`: the care schedule of the clinic profile (`care_messages:` in clinic.yml): quiet hours,
  and per kind whether it is on, when it is due, when it is too late to matter, its text and its
  WhatsApp template; renders a message with the patient's own times.
- `plan`: `plan_care()` keeps the outbox (care_messages) in step with the bookings and consent.
- `sender`: `send_due()` claims due rows and sends each at most once, on one replica or many.
- `task`: the server's periodic plan-and-send (aiohttp cleanup context).

The planning and sending parts import no aiohttp; the channels are reached through a
`ProactiveDeliverer` (bot/care/sender.py).
"""
