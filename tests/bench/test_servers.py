"""Process handling (tests/support/processes.py, as the benchmark uses it) and the run plan of the
benchmark (no model, no server of ours)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bench.deployments import Deployment, child_env, our_server
from bench.servers import CONFIGURATIONS, Backend, memory_mb, replica_memory
from tests.support.ports import free_port, free_ports
from tests.support.processes import ManagedProcess

GRANDCHILD = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/status") as status:  # a zombie is not alive
        return "zombie" not in status.read()


def test_stop_ends_the_whole_process_group(tmp_path):
    process = ManagedProcess("sleeper", [sys.executable, "-c", GRANDCHILD], dict(os.environ), tmp_path / "log")
    process.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        if children:
            break
        time.sleep(0.05)
    assert children
    process.stop()
    assert not process.alive
    deadline = time.monotonic() + 5  # the grandchild got the signal too; give it a moment to go
    while alive(int(children[0])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(int(children[0]))
    process.stop()  # twice is fine


async def test_ready_time_is_measured_from_spawn(tmp_path):
    port = free_port()
    process = ManagedProcess("http", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            dict(os.environ), tmp_path / "log")
    process.start()
    try:
        async with aiohttp.ClientSession() as http:
            seconds = await process.wait_until_ok(http, f"http://127.0.0.1:{port}/", timeout=20)
        assert 0 < seconds < 20
    finally:
        process.stop()


async def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    process = ManagedProcess("broken", [sys.executable, "-c", "print('no model here'); raise SystemExit(3)"],
                            dict(os.environ), tmp_path / "log")
    process.start()
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(RuntimeError, match="no model here"):
                await process.wait_until_ok(http, f"http://127.0.0.1:{free_port()}/", timeout=20)
    finally:
        process.stop()


def test_memory_of_a_live_process():
    figures = memory_mb(os.getpid())
    assert 0 < figures["vm_rss_mb"] <= figures["vm_hwm_mb"]
    assert memory_mb(2 ** 22 + 1) == {"vm_rss_mb": None, "vm_hwm_mb": None}


def test_memory_of_replicas_is_summed_and_kept_per_replica():
    one = replica_memory([os.getpid()])
    assert set(one) == {"vm_rss_mb", "vm_hwm_mb"}  # one process: as memory_mb()
    two = replica_memory([os.getpid(), os.getpid()])
    assert len(two["replicas"]) == 2 and two["replicas"][0]["vm_hwm_mb"] > 0
    assert two["vm_hwm_mb"] == round(sum(item["vm_hwm_mb"] for item in two["replicas"]), 1)
    gone = replica_memory([os.getpid(), 2 ** 22 + 1])
    assert gone["vm_rss_mb"] is None and gone["replicas"][1] == {"vm_rss_mb": None, "vm_hwm_mb": None}


def test_free_ports_are_distinct():
    ports = free_ports(4)
    assert len(set(ports)) == 4


def test_engine_threads_reach_our_server_only_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_THREADS", "7")  # the benchmark's own environment does not leak through
    assert "ENGINE_THREADS" not in child_env()
    store = Backend("sqlite:///x.db")
    default = our_server(store, 8001, "http://actions", "http://stub", tmp_path / "log")
    assert "ENGINE_THREADS" not in default.env
    two = our_server(store, 8002, "http://actions", "http://stub", tmp_path / "log", engine_threads=2)
    assert two.env["ENGINE_THREADS"] == "2" and two.env["PORT"] == "8002"


def test_a_deployment_of_replicas_is_labelled_as_several_processes(tmp_path):
    servers = tuple(ManagedProcess(f"our server {index}", ["true"], {}, tmp_path / "log") for index in (1, 2))
    scaled = Deployment("ours", CONFIGURATIONS["postgres2"], ("http://a", "http://b"), servers,
                        (21.5, 24.0), {})
    assert scaled.label == "our server x2 (2 processes)" and scaled.base_url == "http://a"
    assert scaled.startup() == {"startup_seconds": 24.0, "startup_seconds_per_replica": [21.5, 24.0]}
    single = Deployment("rasa", CONFIGURATIONS["postgres2"], ("http://c",), servers[:1], (40.0,), {})
    assert single.label == "rasa run" and single.startup() == {"startup_seconds": 40.0}
