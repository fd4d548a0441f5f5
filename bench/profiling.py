"""BENCH_PROFILE=1: a py-spy flame graph of our server while it is under load."""
from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

DURATION_SECONDS = 20
RATE_PER_SECOND = 100


def py_spy_path() -> Optional[str]:
    """py-spy from the venv, else from PATH; None when it is not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """`py-spy record` of one process for DURATION_SECONDS, written as an SVG flame graph."""

    def __init__(self, executable: str, pid: int, output: Path) -> None:
        """Profile `pid` into `output` with the py-spy at `executable` (use `maybe()`)."""
        self.executable = executable
        self.pid = pid
        self.output = output
        self.process: Optional[subprocess.Popen] = None

    @classmethod
    def maybe(cls, wanted: bool, pid: int, output: Path) -> Optional["Profiler"]:
        """A profiler when `wanted` and py-spy is installed (a warning when it is not), else None."""
        if not wanted:
            return None
        executable = py_spy_path()
        if executable is None:
            logger.warning("BENCH_PROFILE=1 but py-spy is not installed (.venv/bin/pip install py-spy)")
            return None
        return cls(executable, pid, output)

    def start(self) -> None:
        """Start sampling in the background."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        command = [self.executable, "record", "-o", str(self.output), "--pid", str(self.pid),
                   "--duration", str(DURATION_SECONDS), "--rate", str(RATE_PER_SECOND)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def finish(self) -> dict:
        """Wait for py-spy to write its file (stopped if it overruns); where it is, or what went wrong."""
        if self.process is None:
            return {"error": "not started"}
        try:
            output, _ = self.process.communicate(timeout=DURATION_SECONDS + 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        if self.process.returncode == 0 and self.output.exists():
            return {"svg": str(self.output)}
        tail = (output or b"").decode(errors="replace").strip().splitlines()[-3:]
        return {"error": f"py-spy exit status {self.process.returncode}: {' / '.join(tail)}"}


def stop_quietly(profiler: Optional[Profiler]) -> None:
    """Kill a profiler that is still running (used on errors)."""
    if profiler is not None and profiler.process is not None and profiler.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            profiler.process.kill()
        profiler.process.wait()
