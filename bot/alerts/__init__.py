"""Alerts for urgent cases: the on-call SMS when nobody takes one in time (the console's own
alerts, desktop notification, sound and title badge, are in bot/static/console/console.js)."""
