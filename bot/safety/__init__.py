"""The clinical red-flag screen, run on every patient message before the bot replies.

    from bot.safety import RedFlagScreen, red_flag_reply, after_effect_reply
    screen = RedFlagScreen.load(nlp)      # once at start-up, with the project's spaCy pipeline
    result = screen.check(text)
    if result.is_red_flag: reply = red_flag_reply(result, clinic)
    elif result.kind == "after_effect": reply = after_effect_reply(clinic)
"""
from bot.safety.replies import after_effect_reply, red_flag_reply, red_flag_summary
from bot.safety.screen import DEFAULT_VOCABULARY, NO_FLAG, RedFlagScreen, ScreenResult

__all__ = ["DEFAULT_VOCABULARY", "NO_FLAG", "RedFlagScreen", "ScreenResult", "after_effect_reply",
           "red_flag_reply", "red_flag_summary"]
