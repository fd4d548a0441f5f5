"""`python -m bot new-secret`, the command the settings and the README point to."""
from cryptography.fernet import Fernet

from bot.__main__ import main
from bot.console.security import session_fernet
from bot.settings import Settings


def test_new_secret_prints_a_key_the_console_accepts(capsys):
    assert main(["new-secret"]) == 0
    key = capsys.readouterr().out.strip()
    fernet = session_fernet(Settings.from_env({"SESSION_SECRET": key}))
    assert fernet.decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert main(["new-secret"]) == 0
    assert capsys.readouterr().out.strip() != key
