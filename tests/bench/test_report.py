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


def replica_phase(msgs, p50, p99, turns_per_replica, hwm=(900.0, 910.0)):
    figures = phase(msgs, p50, p99)
    each = [{"vm_rss_mb": value - 50, "vm_hwm_mb": value} for value in hwm]
    figures["memory"] = {"vm_rss_mb": sum(item["vm_rss_mb"] for item in each), "vm_hwm_mb": sum(hwm),
                         "replicas": each}
    figures["turns_per_replica"] = turns_per_replica
    return figures


def scaled_results(engine_threads=None):
    """The postgres configuration (one replica) and postgres2 (two replicas) of one run."""
    figures = results()
    figures["plan"]["engine_threads"] = engine_threads
    one = server({"1": phase(20.0, 50.0, 80.0), "10": phase(30.0, 300.0, 900.0)}, 12.0, 50.0, 54.0)
    rasa = server({"1": phase(10.0, 90.0, 150.0), "10": phase(25.0, 380.0, 700.0)}, 18.0, 60.0, 90.0)
    figures["configurations"]["postgres"] = {"label": "PostgreSQL + Redis", "storage": "postgres",
                                             "replicas": 1, "servers": {"ours": one, "rasa": rasa}}
    two = {"startup_seconds": 24.0, "startup_seconds_per_replica": [21.5, 24.0],
           "phases": {"1": replica_phase(19.0, 52.0, 85.0, [10, 0]),
                      "10": replica_phase(48.0, 200.0, 600.0, [25, 25], hwm=(950.0, 1250.0))},
           "memory": {"vm_rss_mb": 2000.0, "vm_hwm_mb": 2200.0,
                      "replicas": [{"vm_rss_mb": 940.0, "vm_hwm_mb": 950.0},
                                   {"vm_rss_mb": 1060.0, "vm_hwm_mb": 1250.0}]}}
    rasa2 = {"startup_seconds": 40.0, "memory": {"vm_rss_mb": 1600.0, "vm_hwm_mb": 1613.0},
             "phases": {"1": phase(11.0, 88.0, 140.0), "10": phase(24.0, 390.0, 720.0)}}
    figures["configurations"]["postgres2"] = {"label": "two replicas", "storage": "postgres", "replicas": 2,
                                              "servers": {"ours": two, "rasa": rasa2}}
    figures["targets"] = evaluate_targets(figures)
    return figures


def test_two_replicas_get_a_context_row_beside_the_single_process_target():
    rows = [row for row in scaled_results()["targets"] if row["configuration"] == "postgres2"]
    assert [(row["target"], row["result"]) for row in rows] == [
        ("two replicas on 2 cores vs one rasa run (2 processes vs 1): msgs/s, N=1 (p99 ms)", "info"),
        ("two replicas on 2 cores vs one rasa run (2 processes vs 1): msgs/s, N=10 (p99 ms)", "info"),
        ("resident MB per replica (VmHWM)", "MISS"),  # the larger replica's 1250 MB, not the 2200 MB sum
    ]
    assert rows[1]["ours"] == "48.0 (600.0)" and rows[1]["reference"] == "24.0 (720.0); x2.0"
    assert rows[2]["ours"] == 1250.0
    main = {row["target"]: row["result"] for row in scaled_results()["targets"]
            if row["configuration"] == "postgres"}
    assert main["msgs/s vs rasa run, N=10 (p99 ms)"] == "MISS"  # the one-process row is still the target
    assert "turns 191-200 vs 1-10 (median ms)" in main


def test_markdown_shows_the_replicas_against_rasa_run_and_one_replica():
    text = markdown(scaled_results())
    assert ("| postgres2 | 10 | 25 / 25 | 48.0 | 24.0 (x2.0) | 30.0 (x1.6) | 200.0 | 600.0 | 600.0 | 720.0 "
            "| 2100.0 | 2200.0 | 950.0 / 1250.0 |") in text
    assert "| postgres2 | 1 | 10 / 0 | 19.0 | 11.0 (x1.727) | 20.0 (x0.95) |" in text
    web = "| postgres2 | our server x2 (2 processes) | 10 | 10 | 0/0 | 0 | 48.0 | 200.0 | 600.0 | 600.0 |"
    assert web + " 2100.0 | 2200.0 |" in text  # memory summed
    assert "| postgres2 | our server x2 (2 processes) | 10 | 2.0 | 0.513 | 0.833 |" in text  # the ratio table
    assert "| postgres2 | our server x2 (2 processes): replica 2 | 24.0 | 1060.0 | 1250.0 |" in text
    total = "| postgres2 | our server x2 (2 processes): slowest start-up, memory summed |"
    assert total + " 24.0 | 2000.0 | 2200.0 |" in text
    assert "| postgres2 | rasa run | 40.0 | 1600.0 | 1613.0 |" in text
    assert "| postgres2 | rasa run | 1-10" not in text and "| postgres2 | twilio |" not in text  # not measured


def test_the_header_says_how_many_engine_threads_our_servers_ran():
    assert "engine threads per server of ours: 1 (the server's default" in markdown(scaled_results())
    assert "engine threads per server of ours: 2 (BENCH_ENGINE_THREADS=2)" in markdown(scaled_results(2))


def test_no_scale_out_table_without_replicas():
    assert "## Scale-out" not in markdown(results())


def test_the_encoder_goals_pass_or_miss_and_its_figures_are_shown():
    figures = results()
    figures["encoder"] = {"messages": 316, "load_seconds": 0.3, "p50_ms": 4.5, "p99_ms": 8.0,
                          "batched_messages_per_second": 420.0, "added_rss_mb": 210.0, "added_peak_mb": 290.0,
                          "goals": {"p50_ms": 10.0, "added_mb": 200.0}}
    rows = {row["target"]: row["result"] for row in evaluate_targets(figures)}
    assert rows["sentence encoder ms/message p50"] == "PASS"
    assert rows["sentence encoder MB added (VmRSS)"] == "MISS"
    figures["targets"] = evaluate_targets(figures)
    assert "| 316 | 0.3 | 4.5 | 8.0 | 420.0 | 210.0 | 290.0 |" in markdown(figures)


def test_a_failed_encoder_measurement_is_reported_not_judged():
    figures = results()
    figures["encoder"] = {"error": "exit status 1; see bench/results/logs/encoder.log"}
    assert not [row for row in evaluate_targets(figures) if row["target"].startswith("sentence encoder")]
    assert "failed: exit status 1" in markdown({**figures, "targets": evaluate_targets(figures)})


def test_the_console_pages_are_judged_against_their_goals_and_tabled():
    console = {"analytics": {"periods": {"month": {"seconds": 0.173, "statements": 9, "seq_scans": []},
                                         "custom_90_days": {"seconds": 1.2, "statements": 9,
                                                            "seq_scans": ["messages: 411428 rows"]}}},
               "inbox": {"cases": {"open_page_1": {"seconds": 0.041, "statements": 4, "seq_scans": []},
                                   "search_text_no_match": {"seconds": 0.54, "statements": 4, "seq_scans": []}}}}
    rows = {row["target"]: row["result"] for row in evaluate_targets({"console": console})}
    assert rows == {"analytics month s": "PASS", "analytics custom_90_days s": "MISS",
                    "inbox open_page_1 s": "PASS", "inbox search_text_no_match s": "MISS"}
    text = markdown({"console": console, "configurations": {}})
    assert "| analytics | custom_90_days | 1.2 | 9 | messages: 411428 rows |" in text
    assert "| inbox | open_page_1 | 0.041 | 4 | none |" in text
