"""Tests write their figures outside the checkout unless told where (make test: results/)."""
from pathlib import Path

from tests.reports import reports_dir

REPO = Path(__file__).resolve().parents[1]


def test_without_a_setting_reports_go_outside_the_checkout(monkeypatch):
    monkeypatch.delenv("TEST_REPORTS_DIR", raising=False)
    assert REPO not in reports_dir().parents


def test_the_setting_chooses_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_REPORTS_DIR", str(tmp_path / "figures"))
    assert reports_dir() == (tmp_path / "figures").resolve()
