"""The application's wiring: every typed app key is read somewhere, every inbox event kind is real."""
import ast
import re
from pathlib import Path

import pytest

import bot.appkeys as appkeys
from bot.conversations.events import EVENT_KINDS, InboxEvent

BOT = Path(__file__).resolve().parents[2] / "bot"


def sources():
    return {path: path.read_text(encoding="utf-8") for path in BOT.rglob("*.py")}


def test_every_app_key_is_read_outside_the_place_that_sets_it():
    keys = [name for name, value in vars(appkeys).items() if type(value).__name__ == "AppKey"]
    assert keys
    code = "\n".join(text for path, text in sources().items() if path.name != "appkeys.py")
    unread = [k for k in keys if not re.search(rf"\[{k}\](?!\s*=[^=])", code)]
    assert unread == []


def test_app_keys_are_typed_with_what_they_hold():
    from sqlalchemy.orm import sessionmaker

    from bot.conversations.router import ConversationRouter
    from bot.settings import Settings

    assert appkeys.SETTINGS._t is Settings
    assert appkeys.SESSION_FACTORY._t is sessionmaker
    assert appkeys.ROUTER._t is ConversationRouter


def published_kinds():
    """Every literal kind passed to InboxEvent(...) in bot/."""
    kinds = set()
    for text in sources().values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InboxEvent" and node.args:
                if isinstance(node.args[0], ast.Constant):
                    kinds.add(node.args[0].value)
    return kinds


def test_the_listed_event_kinds_are_exactly_the_published_ones():
    assert published_kinds() == set(EVENT_KINDS)


def test_an_unknown_event_kind_is_refused():
    with pytest.raises(ValueError, match="unknown inbox event kind"):
        InboxEvent("request_created")


def test_only_the_handoff_module_changes_owners_or_escalations():
    """`bot/conversations/handoff.py` is the one writer of a conversation's owner and escalation state."""
    writes = re.compile(r"\.(owner|assigned_to|resolved_at)\s*=[^=]|(?<!class )\bEscalation\(")
    offenders = [f"{path.relative_to(BOT.parent)}:{number}"
                 for root in (BOT, BOT.parent / "actions") for path in root.rglob("*.py")
                 if path.name != "handoff.py" or path.parent.name != "conversations"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if writes.search(line) and not line.lstrip().startswith("#")]
    assert offenders == []


def test_the_action_server_only_asks_for_a_handoff():
    """actions/ runs in another process: it sends a HandoffRequest and never calls the writers."""
    writers = {"escalate", "assign", "hand_back"}
    called = []
    for path in (BOT.parent / "actions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "bot.conversations.handoff":
                called += [f"{path.name}: import {alias.name}" for alias in node.names if alias.name in writers]
            if isinstance(node, ast.Attribute) and node.attr in writers and getattr(node.value, "id", "") == "handoff":
                called.append(f"{path.name}: handoff.{node.attr}")
    assert called == []
