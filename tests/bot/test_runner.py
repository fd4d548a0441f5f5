"""The runner starts the action server on loopback only, with the application's database."""
from bot.runner import child_environment
from bot.settings import Settings


def test_action_server_listens_on_the_action_url_host_only(monkeypatch):
    monkeypatch.delenv("SANIC_HOST", raising=False)
    settings = Settings.from_env({"DATABASE_URL": "sqlite:////tmp/x.db"})
    env = child_environment(settings)
    assert env["SANIC_HOST"] == "127.0.0.1"
    assert env["DATABASE_URL"] == "sqlite:////tmp/x.db"
    assert env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:5055/webhook"
