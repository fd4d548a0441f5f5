"""Targets and the Markdown report from a made-up set of figures."""
from __future__ import annotations

from bench.report import evaluate_targets, markdown


def phase(msgs, p50, p99, hwm=900.0):
    return {"conversations": 1, "turns": 10, "timeouts": 0, "errors": 0, "stray_replies": 0,
            "msgs_per_sec": msgs,
            "first_reply_ms": {"n": 10, "p50": p50, "p95": p99, "p99": p99, "mean": p50},
            "memory": {"vm_rss_mb": hwm - 50, "vm_hwm_mb": hwm}}


def server(phases, startup, early, late, webhooks=None):
    figures = {"startup_seconds": startup, "phases": phases,
               "memory": {"vm_rss_mb": 850.0, "vm_hwm_mb": 900.0},
               "long_conversation": {"turns_early": [1, 10], "turns_late": [191, 200],
                                     "early_median_ms": early, "late_median_ms": late,
                                     "change": round((late - early) / early, 3),
                                     "timeouts": 0, "errors": 0}}
    if webhooks:
        figures["webhooks"] = webhooks
    return figures


def results():
    ack = {"n": 100, "p50": 4.0, "p95": 9.0, "p99": 12.0, "mean": 5.0}
    webhooks = {"rate_per_sec": 10.0, "seconds": 20.0, "all_ack_ms": ack, "twilio_replies": 100,
                "graph_replies": 200,
                "twilio": {"sent": 100, "statuses": {"200": 100}, "errors": 0, "ack_ms": ack},
                "meta": {"sent": 100, "statuses": {"200": 100}, "errors": 0, "ack_ms": ack}}
    ours = server({"1": phase(20.0, 50.0, 80.0), "10": phase(30.0, 300.0, 900.0)}, 12.0, 50.0, 54.0, webhooks)
    rasa = server({"1": phase(10.0, 90.0, 150.0), "10": phase(25.0, 380.0, 700.0)}, 18.0, 60.0, 90.0)
    figures = {"generated_at": "2030-01-01T00:00:00+00:00", "cpus": 2,
               "plan": {"quick": True, "concurrency": [1, 10]},
               "in_process": {"faq_turn_ms": {"n": 10, "p50": 45.0, "p95": 60.0, "p99": 70.0, "mean": 48.0}},
               "training": {"seconds": None, "skipped": "BENCH_QUICK=1"},
               "configurations": {"sqlite": {"label": "SQLite", "servers": {"ours": ours, "rasa": rasa},
                                             "questions": {"asked": 40, "kept_ours": 35, "kept_rasa": 36,
                                                           "kept_both": 34, "reply_text_differs": 0}},
                                  "postgres": {"label": "PostgreSQL + Redis", "servers": {},
                                               "skipped": "PostgreSQL unreachable"}}}
    figures["targets"] = evaluate_targets(figures)
    return figures


def test_each_target_passes_or_misses_on_its_figures():
    rows = {row["target"]: row["result"] for row in results()["targets"]}
    assert rows == {
        "msgs/s vs rasa run, N=1 (p99 ms)": "PASS",   # 2x and a lower p99
        "msgs/s vs rasa run, N=10 (p99 ms)": "MISS",  # 1.2x, and a worse p99
        "p50 first reply N=1 vs in-process faq_turn_ms p50": "PASS",  # 50 / 45 = 1.11
        "turns 191-200 vs 1-10 (median ms)": "PASS",  # +8%
        "webhook ack p99 ms under load": "PASS",
        "start-up s (spawn -> ready)": "PASS",
        "resident MB per replica (VmHWM)": "PASS",
    }
    assert {row["configuration"] for row in results()["targets"]} == {"sqlite"}  # postgres was skipped


def test_markdown_has_the_targets_the_figures_and_the_skipped_configuration():
    text = markdown(results())
    assert "| msgs/s vs rasa run, N=10 (p99 ms) | sqlite | 30.0 (900.0) | 25.0 (700.0); x1.2 |" in text
    row = "| sqlite | our server | 10 | 10 | 0/0 | 0 | 30.0 | 300.0 | 900.0 | 900.0 | 850.0 | 900.0 |"
    assert row in text
    assert "| sqlite | rasa run | 1-10: 60.0 | 191-200: 90.0 | 0.5 | 0/0 |" in text
    assert "| sqlite | meta | 100 | 200: 100 | 0 | 4.0 | 9.0 | 12.0 | 200 |" in text
    assert "postgres: skipped: PostgreSQL unreachable" in text
    assert "training (rasa train --force): - s (BENCH_QUICK=1)" in text


def test_missing_figures_give_n_a_not_a_crash():
    figures = results()
    del figures["configurations"]["sqlite"]["servers"]["rasa"]
    rows = {row["target"]: row["result"] for row in evaluate_targets(figures)}
    assert rows["msgs/s vs rasa run, N=1 (p99 ms)"] == "n/a"
    assert rows["start-up s (spawn -> ready)"] == "PASS"
    assert "| sqlite | our server |" in markdown(figures)
