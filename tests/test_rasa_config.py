"""Rasa's own configuration files as Rasa reads them."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_action_endpoint_comes_from_the_environment(monkeypatch):
    from rasa.core.utils import read_endpoints_from_path

    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:5999/webhook")
    endpoints = read_endpoints_from_path(str(ROOT / "endpoints.yml"))
    assert endpoints.action.url == "http://127.0.0.1:5999/webhook"
