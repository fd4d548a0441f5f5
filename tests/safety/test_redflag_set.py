"""The red-flag screen against the blind, labelled set in `tests/safety/data/redflag_messages.yml`.

The set was written by someone who never read the screen; it is evaluation only and is never used to
tune the screen (see its header). This module gates on what must hold in CI — every red flag is
caught, the set is big enough, an expected after-effect never triggers "call the emergency number" —
and reports the rest (recall per category, emergency/urgent agreement, false alarms per benign kind,
timing) to `results/redflag_screen.json` and as one summary line.
"""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from bot.safety import RedFlagScreen
from bot.safety.loader import load_default_screen
from bot.settings import Settings
from tests.reports import reports_dir

ROOT = Path(__file__).resolve().parents[2]
BLIND_SET = Path(__file__).resolve().parent / "data" / "redflag_messages.yml"
RESULTS = reports_dir() / "redflag_screen.json"
RED_FLAG_KINDS = ("emergency", "urgent")


@pytest.fixture(scope="module")
def screen() -> RedFlagScreen:
    """The screen exactly as the application builds it (built once for this module)."""
    return load_default_screen(Settings.from_env())


@pytest.fixture(scope="module")
def blind_set() -> Dict[str, List[Dict[str, str]]]:
    data = yaml.safe_load(BLIND_SET.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and {"red_flags", "benign"} <= set(data), "unexpected layout"
    return data


@dataclass
class Report:
    """The figures written to results/, and every screened item (kept out of pytest's failure output)."""

    figures: Dict[str, Any]
    red_flags: List[Dict[str, Any]] = field(repr=False)
    benign: List[Dict[str, Any]] = field(repr=False)

    def __repr__(self) -> str:
        recall, alarms = self.figures["recall"]["rate"], self.figures["false_alarms"]["rate"]
        return f"Report(recall={recall}, false_alarms={alarms})"


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


@pytest.fixture(scope="module")
def report(screen, blind_set) -> Report:
    """Screen every message once; work out the figures and write them to results/."""
    timings: List[float] = []

    def check(text: str):
        started = time.perf_counter()
        result = screen.check(text)
        timings.append((time.perf_counter() - started) * 1000)
        return result

    red_flags = [dict(item, result=check(item["text"])) for item in blind_set["red_flags"]]
    benign = [dict(item, result=check(item["text"])) for item in blind_set["benign"]]

    missed = [item for item in red_flags if not item["result"].is_red_flag]
    per_category: Dict[str, Dict[str, Any]] = {}
    for category in sorted({item["category"] for item in red_flags}):
        items = [i for i in red_flags if i["category"] == category]
        caught = sum(i["result"].is_red_flag for i in items)
        per_category[category] = {"caught": caught, "total": len(items), "recall": _rate(caught, len(items))}

    caught_items = [i for i in red_flags if i["result"].is_red_flag]
    severity = Counter(f"{i['severity']}->{i['result'].kind}" for i in caught_items)
    agree = sum(i["severity"] == i["result"].kind for i in caught_items)

    per_kind: Dict[str, Dict[str, Any]] = {}
    for kind in sorted({item["kind"] for item in benign}):
        items = [i for i in benign if i["kind"] == kind]
        alarms = sum(i["result"].is_red_flag for i in items)
        per_kind[kind] = {
            "false_alarms": alarms, "total": len(items), "rate": _rate(alarms, len(items)),
            "emergency": sum(i["result"].kind == "emergency" for i in items),
            "after_effect_reply": sum(i["result"].kind == "after_effect" for i in items),
        }
    false_alarms = [i for i in benign if i["result"].is_red_flag]

    figures = {
        "set": str(BLIND_SET.relative_to(ROOT)),
        "red_flags": len(red_flags),
        "benign": len(benign),
        "recall": {"caught": len(red_flags) - len(missed), "total": len(red_flags),
                   "rate": _rate(len(red_flags) - len(missed), len(red_flags)),
                   "missed": [i["text"] for i in missed]},
        "recall_per_category": per_category,
        "severity_agreement": {"agree": agree, "total": len(caught_items),
                               "rate": _rate(agree, len(caught_items)),
                               "labelled->screened": dict(sorted(severity.items())),
                               "disagreements": [{"labelled": i["severity"], "screened": i["result"].kind,
                                                  "category": i["category"], "text": i["text"]}
                                                 for i in caught_items if i["severity"] != i["result"].kind]},
        "false_alarms": {"count": len(false_alarms), "total": len(benign),
                         "rate": _rate(len(false_alarms), len(benign)),
                         "texts": [{"kind": i["kind"], "screened": i["result"].kind, "text": i["text"]}
                                   for i in false_alarms]},
        "false_alarms_per_kind": per_kind,
        "check_ms": {"median": round(statistics.median(timings), 3),
                     "p95": round(sorted(timings)[int(0.95 * (len(timings) - 1))], 3),
                     "max": round(max(timings), 3)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return Report(figures, red_flags, benign)


def test_the_set_is_big_enough(blind_set):
    assert len(blind_set["red_flags"]) >= 60
    assert len(blind_set["benign"]) >= 30
    assert all(item.get("text") for item in blind_set["red_flags"] + blind_set["benign"])
    assert {item["severity"] for item in blind_set["red_flags"]} <= set(RED_FLAG_KINDS)


def test_every_red_flag_is_caught(report):
    missed = report.figures["recall"]["missed"]
    assert not missed, f"{len(missed)} red flag(s) missed:\n" + "\n".join(f"  - {t!r}" for t in missed)


def test_no_expected_after_effect_is_an_emergency(report):
    emergencies = [i["text"] for i in report.benign
                   if i["kind"] == "expected_after_effect" and i["result"].kind == "emergency"]
    assert not emergencies, "expected after-effects screened as emergencies:\n" + "\n".join(
        f"  - {t!r}" for t in emergencies)


def test_summary(report, capsys):
    """Report, never gate: severity agreement and false alarms are tuning figures, not pass/fail."""
    figures = report.figures
    recall, fa, sev = figures["recall"], figures["false_alarms"], figures["severity_agreement"]
    kinds = ", ".join(f"{kind} {v['false_alarms']}/{v['total']}"
                      for kind, v in figures["false_alarms_per_kind"].items())
    line = (f"red-flag screen on blind set: recall {recall['caught']}/{recall['total']}, "
            f"severity agreement {sev['agree']}/{sev['total']}, "
            f"false alarms {fa['count']}/{fa['total']} ({kinds}), "
            f"median check {figures['check_ms']['median']} ms -> {RESULTS}")
    with capsys.disabled():
        print("\n" + line)
    assert RESULTS.exists()
