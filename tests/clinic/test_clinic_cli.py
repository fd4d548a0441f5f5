"""`python -m bot db-upgrade | import-bookings FILE | seed-demo`: exit codes and what is printed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clinic_testing import DATA

from bot.__main__ import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(monkeypatch, db_url: str) -> str:
    """Point the settings at a fresh SQLite file."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("CLINIC_PROFILE", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return db_url


def test_commands_are_registered() -> None:
    assert {"db-upgrade", "import-bookings", "seed-demo"} <= set(COMMANDS)


def test_db_upgrade(database, capsys) -> None:
    assert main(["db-upgrade"]) == 0
    assert capsys.readouterr().out == "database schema is up to date\n"


def test_import_bookings(database, capsys) -> None:
    assert main(["import-bookings", str(DATA / "bookings_good.csv")]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "imported 7 rows: 3 patients created, 0 updated; 7 appointments created, 0 updated; 0 rows unchanged\n"
    )
    assert "imported 7/7 rows" in err
    assert main(["import-bookings", str(DATA / "bookings_good.csv")]) == 0
    assert "7 rows unchanged" in capsys.readouterr().out


def test_import_bad_file_exits_1_with_the_problems(database, capsys) -> None:
    assert main(["import-bookings", str(DATA / "bookings_broken.csv")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("the bookings file has 7 problems; nothing was imported:\n")
    assert "  line 5: status must be booked, completed, cancelled or no-show, got 'pending'\n" in err


def test_import_missing_file(database, capsys, tmp_path: Path) -> None:
    assert main(["import-bookings", str(tmp_path / "nope.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_seed_demo(database, capsys) -> None:
    assert main(["seed-demo"]) == 0
    out = capsys.readouterr().out
    assert "MC-4827  Alex Morgan  born 1988-04-12  phone +447700900123" in out
    assert "MC-7315  Sam Rivera  born 1979-11-02  phone +447700900456" in out
    assert "completed yesterday at 10:00" in out
    assert main(["seed-demo"]) == 0
    assert capsys.readouterr().out == "the database already has patients; demo data not added\n"


def test_real_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.db'}", "LOG_LEVEL": "WARNING"}
    bad = subprocess.run([sys.executable, "-m", "bot", "import-bookings", str(DATA / "bookings_broken.csv")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "line 9: has 4 fields, expected 10" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "bot", "import-bookings", str(DATA / "bookings_good.csv")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0 and good.stdout.startswith("imported 7 rows")
    assert "Jordan" not in good.stderr and "900001" not in good.stderr
