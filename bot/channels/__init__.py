"""Channel adapters: each knows one platform's wire format (verify, parse, render, send), not Rasa.

- `messages`: the shared InboundMessage / OutboundMessage / Button shapes and `choose_button`.
- `twilio`: Twilio SMS and WhatsApp-through-Twilio.
- `whatsapp`: Meta's WhatsApp Cloud API.
- `keywords`: carrier consent keywords (STOP / START / HELP).
"""
