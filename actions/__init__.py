"""Custom actions for the clinic assistant (`rasa run actions`): thin over the clinic domain in bot.clinic."""
