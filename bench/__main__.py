"""`python -m bench` (`make bench`): how fast and how big the assistant is, as a server and in-process.

In one run, on the trained model (models/clinic.tar.gz):

1. in-process (bench/inprocess.py): model load, NLU parse and FAQ turn times, peak memory; and
   the sentence encoder alone (bench/encoder.py): time per message, memory it adds;
2. per storage configuration (SQLite, the embedded default; PostgreSQL + Redis), our server
   (`python -m bot serve`) and plain `rasa run` (its socketio channel), each on a fresh database
   with its own action server: start-up time to ready, then N concurrent web conversations over
   the real socket.io endpoint (time to first reply p50/p95/p99, msgs/s, VmRSS/VmHWM), one long
   conversation (turns 1-10 against the last 10), and for our server signed Twilio and Meta
   webhooks at a steady rate beside 10 web conversations (acknowledgement time);
   "postgres2" is the scaled-out form: two replicas of our server (each its own port; the same
   database, Redis and action server) with the web conversations spread round-robin over them,
   against one `rasa run` process, at the same N and workload (no long conversation or webhooks);
3. a timed `rasa train --force` into a temporary folder;
4. care messages (bench/care.py): planning and sending for 10,000 bookings on SQLite (and
   PostgreSQL when it answers): time, ms and SQL statements per message.

Writes bench/results/scale.json and scale.md (also model.json, the in-process figures) and prints
the Markdown. Server logs go to bench/results/logs/.

Environment: BENCH_QUICK=1 a smoke run (N = 1 and 10, few turns, turn 20, no training, SQLite
only unless BENCH_CONFIGS says otherwise; each server still loads the model, about a minute here);
BENCH_SKIP_TRAIN=1 no training (reported as null); BENCH_PROFILE=1 py-spy flame graph of our
server during its N=10 phase (bench/results/profile-<config>.svg, when py-spy is installed);
BENCH_CONFIGS=sqlite,postgres,postgres2 the configurations to run (the default of a full run);
BENCH_ENGINE_THREADS=2 ENGINE_THREADS for our servers (unset: the server's default, 1).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import aiohttp

from bench import report
from bench.deployments import MODEL, Deployment, deployment
from bench.profiling import Profiler, stop_quietly
from bench.servers import CONFIGURATIONS, ROOT, Configuration, unavailable_reason
from bench.workload import (
    calibrate,
    faq_questions,
    is_plain_single_reply,
    run_phase,
    spread,
    webhooks_under_load,
)
from tests.support.platforms import PlatformStub
from tests.support.processes import ManagedProcess

RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
TRAINING_TIMEOUT_SECONDS = 4 * 3600
IN_PROCESS_TIMEOUT_SECONDS = 1800
EARLY_TURNS = 10
MIN_QUESTIONS = 5
ENGINE_FAILURE_LOG = "engine failed"  # the router's log line when a turn got the apology instead

logger = logging.getLogger("bench")


def _flag(env: Mapping[str, str], name: str) -> bool:
    """True when the variable is set to something other than empty, 0, false or no."""
    return env.get(name, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Plan:
    """What one run measures, from BENCH_* environment variables."""

    quick: bool
    concurrency: Tuple[int, ...]
    turns: Dict[int, int]
    long_turns: int
    webhook_rate: float
    webhook_seconds: float
    webhook_conversations: int
    calibration_questions: Optional[int]
    in_process_passes: int
    configurations: Tuple[str, ...]
    train: bool
    profile: bool
    skip_reasons: List[str] = field(default_factory=list)
    engine_threads: Optional[int] = None  # ENGINE_THREADS of our servers; None: the server's default

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Plan":
        """The full run, or the smoke run with BENCH_QUICK=1."""
        quick = _flag(env, "BENCH_QUICK")
        names = _configurations(env, "sqlite" if quick else "sqlite,postgres,postgres2")
        reasons = (("BENCH_QUICK=1", quick), ("BENCH_SKIP_TRAIN=1", _flag(env, "BENCH_SKIP_TRAIN")))
        skip_training = [reason for reason, on in reasons if on]
        common = dict(webhook_rate=10.0, webhook_conversations=10, configurations=names,
                      train=not skip_training, profile=_flag(env, "BENCH_PROFILE"),
                      skip_reasons=skip_training, engine_threads=_engine_threads(env))
        if quick:
            return cls(quick=True, concurrency=(1, 10), turns={1: 10, 10: 5}, long_turns=20,
                       webhook_seconds=5.0, calibration_questions=40, in_process_passes=1, **common)
        return cls(quick=False, concurrency=(1, 10, 50), turns={1: 20, 10: 10, 50: 5}, long_turns=200,
                   webhook_seconds=20.0, calibration_questions=None, in_process_passes=3, **common)


def _configurations(env: Mapping[str, str], default: str) -> Tuple[str, ...]:
    """BENCH_CONFIGS (or `default`) as configuration names; SystemExit for an unknown one."""
    raw_names = env.get("BENCH_CONFIGS", default).split(",")
    names = tuple(name.strip() for name in raw_names if name.strip())
    unknown = [name for name in names if name not in CONFIGURATIONS]
    if unknown:
        raise SystemExit(f"BENCH_CONFIGS: unknown configuration(s) {unknown}; known: {list(CONFIGURATIONS)}")
    return names


def _engine_threads(env: Mapping[str, str]) -> Optional[int]:
    """BENCH_ENGINE_THREADS as a positive whole number, or None when unset; SystemExit otherwise."""
    raw = env.get("BENCH_ENGINE_THREADS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"BENCH_ENGINE_THREADS: expected a whole number >= 1, got {raw!r}")
    return int(raw)


# ---- in-process and training --------------------------------------------------------------------

def run_to_completion(process: ManagedProcess, timeout: float) -> int:
    """Start `process`, wait for it (up to `timeout` s) and return its exit status; always stopped."""
    try:
        process.start()
        return process.process.wait(timeout=timeout)
    finally:
        process.stop()


def measure_in_process(plan: Plan) -> dict:
    """bench/inprocess.py in a child process (its figures, or {"error": ...})."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        output = Path(scratch) / "model.json"
        command = [sys.executable, "-m", "bench.inprocess", str(output)]
        env = {**os.environ, "BENCH_INPROCESS_PASSES": str(plan.in_process_passes)}
        status = run_to_completion(ManagedProcess("in-process", command, env, LOGS / "in-process.log"),
                                   IN_PROCESS_TIMEOUT_SECONDS)
        if status != 0 or not output.exists():
            return {"error": f"exit status {status}; see {LOGS / 'in-process.log'}"}
        return json.loads(output.read_text())


def child_figures(name: str, module: str) -> dict:
    """`python -m <module> <output.json>` in a child process: the figures it wrote, or {"error": ...}."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        output = Path(scratch) / f"{name}.json"
        command = [sys.executable, "-m", module, str(output)]
        status = run_to_completion(ManagedProcess(name, command, dict(os.environ), LOGS / f"{name}.log"),
                                   IN_PROCESS_TIMEOUT_SECONDS)
        if status != 0 or not output.exists():
            return {"error": f"exit status {status}; see {LOGS / f'{name}.log'}"}
        return json.loads(output.read_text())


def measure_encoder() -> dict:
    """bench/encoder.py in a child process (its figures, or {"error": ...})."""
    return child_figures("encoder", "bench.encoder")


def measure_care() -> dict:
    """bench/care.py in a child process: care messages for 10,000 bookings (or {"error": ...})."""
    return child_figures("care", "bench.care")


def measure_console() -> dict:
    """bench/analytics.py and bench/inbox.py in child processes (PostgreSQL, 100,000 conversations):
    the analytics figures and the inbox page, by range and by filter (or {"error": ...} each). Each
    writes bench/results/<name>.json itself; a non-zero exit with figures (a slow range scanned a big
    table) keeps the figures and says so."""
    figures: dict = {}
    for name in ("analytics", "inbox"):
        output = RESULTS / f"{name}.json"
        output.unlink(missing_ok=True)
        command = [sys.executable, "-m", f"bench.{name}"]
        status = run_to_completion(ManagedProcess(name, command, dict(os.environ), LOGS / f"{name}.log"),
                                   IN_PROCESS_TIMEOUT_SECONDS)
        if not output.exists():
            figures[name] = {"error": f"exit status {status}; see {LOGS / f'{name}.log'}"}
            continue
        figures[name] = {**json.loads(output.read_text()), "exit_status": status}
    return figures


def time_training(plan: Plan) -> dict:
    """Seconds of `rasa train --force --fixed-model-name bench` into a temporary folder, or why not."""
    if not plan.train:
        return {"seconds": None, "skipped": ", ".join(plan.skip_reasons)}
    rasa = Path(sys.executable).parent / "rasa"
    with tempfile.TemporaryDirectory(prefix="bench-train-") as out:
        command = [str(rasa), "train", "--force", "--fixed-model-name", "bench", "--out", out]
        started = time.perf_counter()
        status = run_to_completion(ManagedProcess("rasa train", command, dict(os.environ), LOGS / "train.log"),
                                   TRAINING_TIMEOUT_SECONDS)
        seconds = round(time.perf_counter() - started, 1)
    if status != 0:
        return {"seconds": None, "error": f"exit status {status}; see {LOGS / 'train.log'}"}
    return {"seconds": seconds}


# ---- servers ------------------------------------------------------------------------------------

def choose_questions(pool: Sequence[str], ours: Dict[str, List[dict]],
                     rasa: Dict[str, List[dict]]) -> Tuple[list, dict]:
    """The questions both servers answer with one plain reply, and how calibration went."""
    kept = [question for question in pool if is_plain_single_reply(ours[question])
            and is_plain_single_reply(rasa[question])]
    differs = [question for question in kept
               if ours[question][0].get("text") != rasa[question][0].get("text")]
    counts = {question: [len(ours[question]), len(rasa[question])] for question in pool
              if len(ours[question]) != len(rasa[question])}
    summary = {"asked": len(pool), "kept_ours": sum(is_plain_single_reply(ours[q]) for q in pool),
               "kept_rasa": sum(is_plain_single_reply(rasa[q]) for q in pool), "kept_both": len(kept),
               "reply_text_differs": len(differs), "reply_text_differs_examples": differs[:5],
               "reply_counts_differ": len(counts),
               "reply_counts_differ_examples": dict(list(counts.items())[:5])}
    return kept, summary


async def measure_phases(http: aiohttp.ClientSession, target: Deployment, questions: Sequence[str],
                         plan: Plan, figures: dict) -> None:
    """The N-concurrency phases into figures["phases"] (round-robin over replicas; BENCH_PROFILE
    profiles our first process at N=10 into figures["profile"])."""
    for level in plan.concurrency:
        profiler = Profiler.maybe(plan.profile and target.kind == "ours" and level == 10, target.server.pid,
                                  RESULTS / f"profile-{target.configuration.name}.svg")
        logger.info("%s %s: N=%d", target.configuration.name, target.label, level)
        try:
            result = await run_phase(http, target.base_urls, questions, level, turns=plan.turns[level],
                                     on_start=profiler.start if profiler else None)
        except BaseException:
            stop_quietly(profiler)
            raise
        figures["phases"][str(level)] = {**result.figures(), "memory": target.memory()}
        if profiler:
            figures["profile"] = profiler.finish()
        _check_alive(target)


async def measure_long_conversation(http: aiohttp.ClientSession, target: Deployment,
                                    questions: Sequence[str], plan: Plan) -> dict:
    """One conversation of plan.long_turns turns: its first 10 turns against its last 10."""
    logger.info("%s %s: long conversation of %d turns", target.configuration.name, target.label,
                plan.long_turns)
    long = await run_phase(http, target.base_url, questions, 1, turns=plan.long_turns)
    late = range(plan.long_turns - EARLY_TURNS + 1, plan.long_turns + 1)
    return {**long.turn_medians(range(1, EARLY_TURNS + 1), late), "timeouts": long.timeouts,
            "errors": len(long.errors), "first_reply_ms": long.figures()["first_reply_ms"],
            "per_turn_ms": long.per_turn_ms()}


async def measure_server(http: aiohttp.ClientSession, target: Deployment, questions: Sequence[str],
                         plan: Plan, stub: Optional[PlatformStub], extras: bool = True) -> dict:
    """Every figure of one running server: the N-concurrency phases and, with `extras`, the long
    conversation and (given a `stub`) the webhooks."""
    figures: dict = {**target.startup(), "memory_at_ready": target.memory_at_ready, "phases": {}}
    await measure_phases(http, target, questions, plan, figures)
    if extras:
        figures["long_conversation"] = await measure_long_conversation(http, target, questions, plan)
    if extras and stub is not None:
        logger.info("%s %s: webhooks under load", target.configuration.name, target.label)
        figures["webhooks"] = await webhooks_under_load(
            http, target.base_url, questions, stub, plan.webhook_rate, plan.webhook_seconds,
            plan.webhook_conversations)
    _check_alive(target)
    figures["memory"] = target.memory()
    if target.kind == "ours":
        figures["engine_failures_logged"] = sum(log_count(server.log_path, ENGINE_FAILURE_LOG)
                                                for server in target.servers)
    return figures


def log_count(path: Path, needle: str) -> int:
    """How many lines of the log at `path` contain `needle`."""
    try:
        return sum(needle in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def _check_alive(target: Deployment) -> None:
    """RuntimeError (with its log) when a process of the server under test has exited."""
    for server in target.servers:
        if not server.alive:
            raise RuntimeError(f"{server.name} ({target.label}) exited:\n{server.tail()}")


async def benchmark_configuration(configuration: Configuration, plan: Plan, pool: Sequence[str]) -> dict:
    """Both servers on one configuration (ours as its replicas); {"error": ...} if something failed."""
    out: dict = {"label": configuration.label, "storage": configuration.storage,
                 "replicas": configuration.replicas, "servers": {}}
    reason = unavailable_reason(configuration)
    if reason:
        return {**out, "skipped": reason}
    stub = await PlatformStub().start()
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http, AsyncExitStack() as stack:
            running = {}
            for kind in ("ours", "rasa"):
                own = AsyncExitStack()
                stack.push_async_callback(own.aclose)
                logger.info("%s: starting %s", configuration.name, kind)
                threads = plan.engine_threads if kind == "ours" else None
                running[kind] = (await own.enter_async_context(
                    deployment(kind, configuration, http, LOGS, stub.base, threads)), own)
            logger.info("%s: calibrating %d questions on both servers", configuration.name, len(pool))
            answers = {kind: await calibrate(http, target.base_urls, pool)
                       for kind, (target, _) in running.items()}
            questions, out["questions"] = choose_questions(pool, answers["ours"], answers["rasa"])
            if len(questions) < MIN_QUESTIONS:
                kept = out["questions"]
                raise RuntimeError(f"only {len(questions)} questions got one plain reply on both servers "
                                   f"(ours {kept['kept_ours']}, rasa run {kept['kept_rasa']}); see {LOGS}")
            for kind, (target, own) in running.items():
                out["servers"][kind] = await measure_server(http, target, questions, plan,
                                                            stub if kind == "ours" else None,
                                                            extras=configuration.replicas == 1)
                await own.aclose()  # the other server is measured alone
    except Exception as error:  # noqa: BLE001 - report it and carry on with the next configuration
        logger.error("%s failed:\n%s", configuration.name, traceback.format_exc())
        out["error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        await stub.stop()
    return out


# ---- the run ------------------------------------------------------------------------------------

def write_results(results: dict) -> str:
    """scale.json, scale.md (returned) and model.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))
    if results.get("in_process") and not results["in_process"].get("error"):
        (RESULTS / "model.json").write_text(json.dumps(results["in_process"], indent=2))
    text = report.markdown(results)
    (RESULTS / "scale.md").write_text(text)
    return text


def main() -> int:
    """Run every measurement of the plan, write the figures and print the table."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s", datefmt="%H:%M:%S")
    plan = Plan.from_env(os.environ)
    if not MODEL.exists():
        print(f"no model at {MODEL}: run `make train`", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    LOGS.mkdir(parents=True, exist_ok=True)
    results: dict = {"generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "cpus": os.cpu_count(), "model": str(MODEL), "plan": asdict(plan)}
    logger.info("in-process model figures")
    results["in_process"] = measure_in_process(plan)
    logger.info("sentence encoder figures")
    results["encoder"] = measure_encoder()
    logger.info("care messages: planning and sending for 10,000 bookings")
    results["care"] = measure_care()
    logger.info("staff console: analytics and inbox at 100,000 conversations (PostgreSQL)")
    results["console"] = measure_console()
    pool = faq_questions()
    pool = spread(pool, plan.calibration_questions) if plan.calibration_questions else pool
    results["configurations"] = {}
    for name in plan.configurations:
        figures = asyncio.run(benchmark_configuration(CONFIGURATIONS[name], plan, pool))
        results["configurations"][name] = figures
    logger.info("training time")
    results["training"] = time_training(plan)
    results["targets"] = report.evaluate_targets(results)
    print(write_results(results))
    print(f"written to {RESULTS / 'scale.json'} and {RESULTS / 'scale.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
