"""Process handling and the run plan of the benchmark (no model, no server of ours)."""
from __future__ import annotations

import os
import sys
import time

import aiohttp
import pytest

from bench.servers import ServerProcess, free_port, memory_mb

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
    process = ServerProcess("sleeper", [sys.executable, "-c", GRANDCHILD], dict(os.environ), tmp_path / "log")
    process.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()
        if children:
            break
        time.sleep(0.05)
    assert children
    process.stop()
    assert not process.running()
    deadline = time.monotonic() + 5  # the grandchild got the signal too; give it a moment to go
    while alive(int(children[0])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(int(children[0]))
    process.stop()  # twice is fine


async def test_ready_time_is_measured_from_spawn(tmp_path):
    port = free_port()
    process = ServerProcess("http", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            dict(os.environ), tmp_path / "log")
    process.start()
    try:
        async with aiohttp.ClientSession() as http:
            seconds = await process.wait_until_ok(http, f"http://127.0.0.1:{port}/", timeout=20)
        assert 0 < seconds < 20
    finally:
        process.stop()


async def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    process = ServerProcess("broken", [sys.executable, "-c", "print('no model here'); raise SystemExit(3)"],
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
