"""The analytics figures for the console: JSON-ready data with readable titles, the CSV rows and
the charts of the analytics page (bot.clinic.analytics counts; this only names and shapes).

JSON (`/staff/analytics.json`) and CSV (`/staff/analytics.csv`) carry the same figures as the
page; rates are fractions (0.25), times are seconds; there are no patient data in any of them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from markupsafe import Markup

from bot.clinic.analytics import CARE_OUTCOMES, Figures, Timing, rate
from bot.console import charts
from bot.console.present import REASON_LABELS

CATEGORY_LABELS = {
    "allergy": "Allergic reaction", "breathing": "Breathing difficulty", "infection": "Signs of infection",
    "bleeding": "Bleeding", "severe_pain": "Severe pain", "skin_damage": "Skin damage",
    "faint": "Fainting or dizziness", "after_effect": "Expected after-effect",
}
UNCATEGORISED = "Category not recorded"
CARE_LABELS = {"due": "Due", "sent": "Sent", "delivered": "Delivered", "failed": "Failed",
               "replied": "Replied within 48 hours"}
RANGE_LABELS = {"day": "Today", "week": "Last 7 days", "month": "Last 30 days", "custom": "Custom dates"}
CSV_COLUMNS = ("figure", "item", "title", "value")


def _timing(value: Timing) -> Dict[str, Any]:
    """A timing as JSON."""
    return {"count": value.count, "p50_seconds": value.p50_seconds, "p90_seconds": value.p90_seconds}


def as_data(figures: Figures) -> Dict[str, Any]:
    """Every figure as JSON-ready data (the API's answer, and what the page and CSV are made of)."""
    period, total = figures.period, figures.conversations
    return {
        "range": {"name": period.name, "title": RANGE_LABELS[period.name], "from": period.first_day.isoformat(),
                  "to": period.last_day.isoformat(), "timezone": period.tz.key,
                  "from_utc": period.start.isoformat(), "to_utc": period.end.isoformat()},
        "conversations": {"total": total, "by_day": [
            {"date": d.day.isoformat(), "conversations": d.conversations} for d in figures.by_day]},
        "contained": {"conversations": figures.contained, "rate": rate(figures.contained, total)},
        "escalations": {"conversations": figures.escalated, "rate": rate(figures.escalated, total), "by_reason": [
            {"reason": reason, "title": REASON_LABELS[reason], "conversations": count, "rate": rate(count, total)}
            for reason, count in figures.escalated_by_reason.items()]},
        "red_flags": {"total": figures.red_flags, "uncategorised": figures.red_flags_uncategorised,
                      "by_category": [{"category": category, "title": CATEGORY_LABELS.get(category, category),
                                       "escalations": count}
                                      for category, count in figures.red_flags_by_category.items()]},
        "not_understood": {
            "patient_messages": figures.patient_messages, "fallback_turns": figures.fallback_messages,
            "rate": rate(figures.fallback_messages, figures.patient_messages),
            "by_day": [{"date": d.day.isoformat(), "patient_messages": d.patient_messages,
                        "fallback_turns": d.fallback_messages, "rate": rate(d.fallback_messages, d.patient_messages)}
                       for d in figures.by_day]},
        "first_response": _timing(figures.first_response),
        "resolution": _timing(figures.resolution),
        "care_messages": {outcome: figures.care[outcome] for outcome in CARE_OUTCOMES},
        "capped": figures.timed_rows_capped,
    }


def csv_rows(data: Dict[str, Any]) -> List[List[Any]]:
    """The figures as CSV rows (figure, item, title, value), in the page's order."""
    rows: List[List[Any]] = [["range", key, "", data["range"][key]] for key in ("name", "from", "to", "timezone")]
    conversations = data["conversations"]
    rows += [["conversations", d["date"], "Conversations", d["conversations"]] for d in conversations["by_day"]]
    rows.append(["conversations", "total", "Conversations", conversations["total"]])
    rows += [["contained", "conversations", "Contained", data["contained"]["conversations"]],
             ["contained", "rate", "Contained", data["contained"]["rate"]],
             ["escalations", "conversations", "Escalated", data["escalations"]["conversations"]],
             ["escalations", "rate", "Escalated", data["escalations"]["rate"]]]
    for item in data["escalations"]["by_reason"]:
        rows += [["escalations_by_reason", item["reason"], item["title"], item["conversations"]],
                 ["escalation_rate_by_reason", item["reason"], item["title"], item["rate"]]]
    rows.append(["red_flags", "total", "Red flags", data["red_flags"]["total"]])
    rows += [["red_flags_by_category", item["category"], item["title"], item["escalations"]]
             for item in data["red_flags"]["by_category"]]
    rows.append(["red_flags_by_category", "uncategorised", UNCATEGORISED, data["red_flags"]["uncategorised"]])
    understood = data["not_understood"]
    rows += [["not_understood", key, "Not understood", understood[key]]
             for key in ("patient_messages", "fallback_turns", "rate")]
    for name in ("first_response", "resolution"):
        rows += [[name, key, name.replace("_", " ").capitalize(), data[name][key]]
                 for key in ("count", "p50_seconds", "p90_seconds")]
    rows += [["care_messages", outcome, CARE_LABELS[outcome], data["care_messages"][outcome]]
             for outcome in CARE_OUTCOMES]
    return rows


def percent(value: Optional[float]) -> str:
    """A rate as the page shows it: "25.0%", or a dash when there was nothing to count."""
    return "–" if value is None else f"{value * 100:.1f}%"


def duration(seconds: Optional[float]) -> str:
    """Seconds as the page shows them: "45 s", "12 min", "3 h 5 min", "2 d 4 h"; a dash for none."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours = whole // 60, whole // 3600
    if hours == 0:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


def day_label(iso_date: str) -> str:
    """20 Nov from 2026-11-20 (charts and tables)."""
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{int(iso_date[8:10])} {months[int(iso_date[5:7]) - 1]}"


def page_charts(data: Dict[str, Any]) -> Dict[str, Markup]:
    """The page's charts, each drawn from the same data as the table beside it."""
    by_day = data["conversations"]["by_day"]
    understood = data["not_understood"]["by_day"]
    return {
        "conversations": charts.bar_chart("chart-conversations", "Conversations per day", [
            (day_label(d["date"]), d["conversations"]) for d in by_day]),
        "not_understood": charts.line_chart("chart-not-understood", "Messages not understood per day (%)", [
            (day_label(d["date"]), None if d["rate"] is None else round(d["rate"] * 100, 1)) for d in understood],
            unit="%"),
        "escalations": charts.hbar_chart("chart-escalations", "Escalated conversations by reason (%)", [
            (item["title"], None if item["rate"] is None else round(item["rate"] * 100, 1))
            for item in data["escalations"]["by_reason"]], unit="%"),
        "red_flags": charts.hbar_chart("chart-red-flags", "Red flags by category", [
            (item["title"], item["escalations"]) for item in data["red_flags"]["by_category"]]),
        "care": charts.hbar_chart("chart-care", "Care messages", [
            (CARE_LABELS[outcome], count) for outcome, count in data["care_messages"].items()]),
    }
