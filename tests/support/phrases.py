"""What no answer of the assistant may say, whoever checks it (the knowledge base, the replies)."""

# Promotional or unsupported claims and the seeds' country tips: never in an answer.
BANNED_PHRASES = [
    r"miracle", r"guarantee", r"painless", r"permanent cure", r"\bno risks?\b", r"risk[- ]free",
    r"100 ?%", r"\bcure[sd]? (?:your )?hair loss", r"works for everyone", r"\bproven\b",
    r"\biran\b", r"\bturkey\b", r"\bindia\b", r"medical tourism", r"\bcheap(?:er|est)?\b",
    r"best (?:clinic|treatment)", r"no side effects",
]
