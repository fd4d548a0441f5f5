"""The run plan, and the choice of questions after calibration."""
from __future__ import annotations

import pytest

from bench.__main__ import Plan, choose_questions
from bench.servers import CONFIGURATIONS


def test_quick_plan_is_small_and_never_trains():
    quick = Plan.from_env({"BENCH_QUICK": "1"})
    assert quick.concurrency == (1, 10) and quick.long_turns == 20 and not quick.train
    full = Plan.from_env({"BENCH_SKIP_TRAIN": "1", "BENCH_CONFIGS": "sqlite"})
    assert full.concurrency == (1, 10, 50) and full.long_turns == 200 and not full.train
    assert full.configurations == ("sqlite",) and full.skip_reasons == ["BENCH_SKIP_TRAIN=1"]
    assert Plan.from_env({}).train
    assert Plan.from_env({}).configurations == ("sqlite", "postgres", "postgres2")
    assert quick.configurations == ("sqlite",)
    assert Plan.from_env({"BENCH_QUICK": "1", "BENCH_CONFIGS": "postgres"}).configurations == ("postgres",)
    with pytest.raises(SystemExit):
        Plan.from_env({"BENCH_CONFIGS": "mysql"})


def test_engine_threads_are_the_servers_default_unless_set():
    assert Plan.from_env({}).engine_threads is None
    assert Plan.from_env({"BENCH_ENGINE_THREADS": " 2 "}).engine_threads == 2
    for wrong in ("0", "two", "-1", "1.5"):
        with pytest.raises(SystemExit, match="BENCH_ENGINE_THREADS"):
            Plan.from_env({"BENCH_ENGINE_THREADS": wrong})


def test_two_replicas_are_a_configuration_of_their_own():
    assert Plan.from_env({"BENCH_QUICK": "1", "BENCH_CONFIGS": "postgres2"}).configurations == ("postgres2",)
    scaled = CONFIGURATIONS["postgres2"]
    assert (scaled.storage, scaled.replicas) == ("postgres", 2)
    assert all(CONFIGURATIONS[name].replicas == 1 for name in ("sqlite", "postgres"))


def test_questions_are_those_with_one_plain_reply_on_both_servers():
    one = [{"text": "answer"}]
    ours = {"a": one, "b": one, "c": [{"text": "x"}, {"text": "y"}], "d": [{"text": "other"}]}
    rasa = {"a": one, "b": [], "c": one, "d": one}
    kept, summary = choose_questions(["a", "b", "c", "d"], ours, rasa)
    assert kept == ["a", "d"]
    assert summary["kept_ours"] == 3 and summary["kept_rasa"] == 3 and summary["kept_both"] == 2
    assert summary["reply_text_differs"] == 1 and summary["reply_text_differs_examples"] == ["d"]
    assert summary["reply_counts_differ_examples"] == {"b": [1, 0], "c": [2, 1]}
