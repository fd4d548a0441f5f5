"""The most dangerous mistake for a clinic, by name: another intent swallowed by a confident FAQ answer.

The old model answered these first messages of new web chats with an FAQ text (the understanding
issue's examples): a price question got the session length, the weather got a treatment
description, laser hair removal got "what is mesotherapy", a booking question got the procedure.
"""
import pytest

from tests.nlu.evaluation import predicted_label

pytestmark = pytest.mark.model

NOT_FAQ = [
    ("how much is meso per session at ur clinic", "ask_cost"),
    ("whats the price of one session of meso? like 150 or more", "ask_cost"),
    ("what's the weather like in london", "out_of_scope"),
    ("any good pizza places near the clinic?", "out_of_scope"),
    ("do you guys also do laser hair removal?", "ask_other_treatment"),
    ("do u do botox or fillers too", "ask_other_treatment"),
    ("whats the time of my next meso session again?", "ask_next_appointment"),
    ("i want to check my next session", "ask_next_appointment"),
    ("my date of birth is 14/02/1985, when is my next session?", "ask_next_appointment"),
    ("do I have anything booked next week", "ask_next_appointment"),
    ("bye!", "goodbye"),
    ("i've been losing hair for years and tried everything, can I talk to a person?", "request_human"),
]
RIGHT_FAQ = [
    ("can stress really make ur hair fall out?", "faq/hair_loss_causes"),
]


@pytest.fixture(scope="module")
async def agent(trained_model):
    from rasa.core.agent import load_agent

    return await load_agent(model_path=str(trained_model))


@pytest.mark.parametrize("text, expected", NOT_FAQ + RIGHT_FAQ)
async def test_each_message_gets_its_own_intent_not_an_faq_answer(agent, text, expected):
    parse = await agent.parse_message(text)
    assert predicted_label(parse) == expected, (text, parse["intent"])
