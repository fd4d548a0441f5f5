"""One inbound message at a time: store it, screen it, decide who answers (bot or staff), reply."""
