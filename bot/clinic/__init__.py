"""The clinic domain: bookings, identity checks, aftercare timing, staff requests and imports.

Plain Python over SQLAlchemy, shared by `bot/` and `actions/`. Nothing in this package imports
rasa, rasa_sdk or aiohttp, and nothing does I/O at import time. Functions that need the time take
`now` (a timezone-aware datetime) instead of reading the clock, so they are easy to test.
"""
