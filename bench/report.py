"""The targets (PASS/MISS) and the Markdown tables of bench/results/scale.md, from scale.json's figures.

A configuration with several replicas of our server ("postgres2") gets its own rows: its comparison
with one `rasa run` process is context (result "info"), not the throughput target, which stays the
single-process comparison; its memory target is per replica.
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional

from bench.deployments import server_label
from bench.stats import ratio

THROUGHPUT_RATIO = 1.5
FIRST_REPLY_RATIO = 1.2
LONG_CONVERSATION_CHANGE = 0.10
WEBHOOK_ACK_P99_MS = 50.0
STARTUP_SECONDS = 15.0
RESIDENT_MB = 1200.0


def _get(data: Any, *path: Any) -> Any:
    """data[path[0]][path[1]]..., or None where anything is missing."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def verdict(passed: Optional[bool]) -> str:
    """PASS, MISS, or n/a when the figures are missing."""
    return "n/a" if passed is None else ("PASS" if passed else "MISS")


def _row(target: str, configuration: str, ours: Any, reference: Any, goal: str,
         passed: Optional[bool]) -> dict:
    """One target row."""
    return {"target": target, "configuration": configuration, "ours": ours, "reference": reference,
            "goal": goal, "result": verdict(passed)}


def _info_row(target: str, configuration: str, ours: Any, reference: Any, goal: str) -> dict:
    """A row that gives context and is judged neither PASS nor MISS."""
    return {**_row(target, configuration, ours, reference, goal, None), "result": "info"}


def replicas(figures: dict) -> int:
    """How many replicas of our server the configuration ran (1 unless it says otherwise)."""
    return figures.get("replicas") or 1


def _count(number: int) -> str:
    """"one", "two", ... for small numbers, else the digits."""
    return {1: "one", 2: "two", 3: "three", 4: "four"}.get(number, str(number))


def _ran(results: dict) -> Iterable[tuple]:
    """(name, figures) of the configurations that have server figures."""
    for name, figures in (results.get("configurations") or {}).items():
        if _get(figures, "servers", "ours"):
            yield name, figures


def throughput_targets(name: str, figures: dict) -> List[dict]:
    """Ours >= 1.5x rasa run's msgs/s with a p99 no worse, per concurrency."""
    rows = []
    for level, ours in (_get(figures, "servers", "ours", "phases") or {}).items():
        rasa = _get(figures, "servers", "rasa", "phases", level)
        speedup = ratio(ours.get("msgs_per_sec"), _get(rasa, "msgs_per_sec"))
        our_p99, rasa_p99 = _get(ours, "first_reply_ms", "p99"), _get(rasa, "first_reply_ms", "p99")
        passed = None if speedup is None or our_p99 is None or rasa_p99 is None else (
            speedup >= THROUGHPUT_RATIO and our_p99 <= rasa_p99)
        rows.append(_row(f"msgs/s vs rasa run, N={level} (p99 ms)", name,
                         f"{ours.get('msgs_per_sec')} ({our_p99})",
                         f"{_get(rasa, 'msgs_per_sec')} ({rasa_p99}); x{speedup}",
                         f">= {THROUGHPUT_RATIO}x, p99 no worse", passed))
    return rows


def scale_out_label(count: int, cpus: Any, level: str) -> str:
    """The target-table label of the replicas against one rasa run, explicit about the processes."""
    return (f"{_count(count)} replicas on {cpus} cores vs one rasa run ({count} processes vs 1): "
            f"msgs/s, N={level} (p99 ms)")


def scale_out_targets(name: str, figures: dict, cpus: Any) -> List[dict]:
    """Per concurrency, our replicas' msgs/s (p99) against one rasa run's: context, not a target."""
    rows = []
    for level, ours in (_get(figures, "servers", "ours", "phases") or {}).items():
        rasa = _get(figures, "servers", "rasa", "phases", level)
        speedup = ratio(ours.get("msgs_per_sec"), _get(rasa, "msgs_per_sec"))
        rows.append(_info_row(scale_out_label(replicas(figures), cpus, level), name,
                              f"{ours.get('msgs_per_sec')} ({_get(ours, 'first_reply_ms', 'p99')})",
                              f"{_get(rasa, 'msgs_per_sec')} ({_get(rasa, 'first_reply_ms', 'p99')}); "
                              f"x{speedup}", "context; the target is the one-process row"))
    return rows


def first_reply_target(name: str, figures: dict, in_process: dict) -> dict:
    """p50 time to first reply at N=1 <= 1.2x the in-process FAQ turn p50."""
    ours = _get(figures, "servers", "ours", "phases", "1", "first_reply_ms", "p50")
    baseline = _get(in_process, "faq_turn_ms", "p50")
    share = ratio(ours, baseline)
    reference = f"{baseline}; x{share}"
    ongoing = _get(in_process, "faq_turn_ongoing_ms", "p50")
    if ongoing is not None:
        reference += f" (ongoing-conversation turns {ongoing}; x{ratio(ours, ongoing)})"
    return _row("p50 first reply N=1 vs in-process faq_turn_ms p50", name, ours, reference,
                f"<= {FIRST_REPLY_RATIO}x", None if share is None else share <= FIRST_REPLY_RATIO)


def long_conversation_target(name: str, figures: dict) -> dict:
    """The median of the last 10 turns within 10% of the first 10."""
    long = _get(figures, "servers", "ours", "long_conversation") or {}
    change = long.get("change")
    late = long.get("turns_late") or ["?", "?"]
    return _row(f"turns {late[0]}-{late[1]} vs 1-10 (median ms)", name, long.get("late_median_ms"),
                f"{long.get('early_median_ms')}; change {change}", f"<= +{LONG_CONVERSATION_CHANGE:.0%}",
                None if change is None else change <= LONG_CONVERSATION_CHANGE)


def webhook_target(name: str, figures: dict) -> dict:
    """Webhook acknowledgement p99 under 50 ms while web conversations run."""
    webhooks = _get(figures, "servers", "ours", "webhooks") or {}
    p99 = _get(webhooks, "all_ack_ms", "p99")
    failed = sum((_get(webhooks, platform, "errors") or 0) for platform in ("twilio", "meta"))
    return _row("webhook ack p99 ms under load", name, p99,
                f"{webhooks.get('rate_per_sec')}/s for {webhooks.get('seconds')} s; {failed} failed",
                f"< {WEBHOOK_ACK_P99_MS:.0f} ms",
                None if p99 is None else p99 < WEBHOOK_ACK_P99_MS and not failed)


def startup_target(name: str, figures: dict) -> dict:
    """Spawn to /healthz 200 within 15 s."""
    ours = _get(figures, "servers", "ours", "startup_seconds")
    rasa = _get(figures, "servers", "rasa", "startup_seconds")
    return _row("start-up s (spawn -> ready)", name, ours, rasa, f"<= {STARTUP_SECONDS:.0f} s",
                None if ours is None else ours <= STARTUP_SECONDS)


def peak_per_replica(memory: Optional[dict]) -> Optional[float]:
    """The largest VmHWM of one process: of the only one, or of the replicas when there are several."""
    each = (memory or {}).get("replicas") or [memory or {}]
    peaks = [item.get("vm_hwm_mb") for item in each]
    return None if not peaks or None in peaks else max(peaks)


def memory_target(name: str, figures: dict) -> dict:
    """Peak resident memory (VmHWM) of our server within 1200 MB (the largest replica's)."""
    ours = peak_per_replica(_get(figures, "servers", "ours", "memory"))
    return _row("resident MB per replica (VmHWM)", name, ours,
                _get(figures, "servers", "rasa", "memory", "vm_hwm_mb"), f"<= {RESIDENT_MB:.0f} MB",
                None if ours is None else ours <= RESIDENT_MB)


def encoder_targets(encoder: Optional[dict]) -> List[dict]:
    """The sentence encoder's goals: p50 per message and the resident memory it adds."""
    if not encoder or encoder.get("error"):
        return []
    goals = encoder.get("goals") or {}
    p50, added = encoder.get("p50_ms"), encoder.get("added_rss_mb")
    return [_row("sentence encoder ms/message p50", "in-process", p50, None, f"<= {goals.get('p50_ms')} ms",
                 None if p50 is None else p50 <= goals.get("p50_ms", 0)),
            _row("sentence encoder MB added (VmRSS)", "in-process", added, None, f"<= {goals.get('added_mb')} MB",
                 None if added is None else added <= goals.get("added_mb", 0))]


ANALYTICS_GOAL_SECONDS = 1.0
INBOX_GOAL_SECONDS = 0.3


def console_targets(console: Optional[dict]) -> List[dict]:
    """The staff console's goals at 100,000 conversations on PostgreSQL: every analytics range under
    1 s, and every inbox view and filter (searches included) under 300 ms."""
    rows: List[dict] = []
    for name, goal, cases in (("analytics", ANALYTICS_GOAL_SECONDS, "periods"), ("inbox", INBOX_GOAL_SECONDS, "cases")):
        measured = _get(console, name, cases)
        if not measured:
            continue
        for case, figures in measured.items():
            seconds = figures.get("seconds")
            rows.append(_row(f"{name} {case} s", "postgres 100k", seconds, None, f"< {goal} s",
                             None if seconds is None else seconds < goal))
    return rows


def evaluate_targets(results: dict) -> List[dict]:
    """Every target row, configuration by configuration (replicas: scale-out context and memory)."""
    rows: List[dict] = encoder_targets(results.get("encoder")) + console_targets(results.get("console"))
    for name, figures in _ran(results):
        if replicas(figures) > 1:
            rows += scale_out_targets(name, figures, results.get("cpus"))
            rows.append(memory_target(name, figures))
            continue
        rows += throughput_targets(name, figures)
        rows += [first_reply_target(name, figures, results.get("in_process") or {}),
                 long_conversation_target(name, figures), webhook_target(name, figures),
                 startup_target(name, figures), memory_target(name, figures)]
    return rows


# ---- Markdown ---------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    """A table cell: '-' for missing values."""
    return "-" if value is None else str(value).replace("|", "/")


def table(headers: List[str], rows: Iterable[Iterable[Any]]) -> List[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _servers(figures: dict) -> Iterable[tuple]:
    """(label, server figures) for ours (its replicas) then rasa run, where present."""
    for kind in ("ours", "rasa"):
        server = _get(figures, "servers", kind)
        if server:
            yield server_label(kind, replicas(figures) if kind == "ours" else 1), server


def web_rows(results: dict) -> Iterable[list]:
    """One row per configuration, server and concurrency."""
    for name, figures in _ran(results):
        for label, server in _servers(figures):
            for level, phase in (server.get("phases") or {}).items():
                latency = phase.get("first_reply_ms") or {}
                memory = phase.get("memory") or {}
                failures = f"{phase.get('timeouts')}/{phase.get('errors')}"
                yield [name, label, level, phase.get("turns"), failures, phase.get("stray_replies"),
                       phase.get("msgs_per_sec"), latency.get("p50"), latency.get("p95"), latency.get("p99"),
                       memory.get("vm_rss_mb"), memory.get("vm_hwm_mb")]


def ratio_rows(results: dict) -> Iterable[list]:
    """Ours (its replicas) / rasa run per configuration and concurrency."""
    for name, figures in _ran(results):
        for level, ours in (_get(figures, "servers", "ours", "phases") or {}).items():
            rasa = _get(figures, "servers", "rasa", "phases", level) or {}
            yield [name, server_label("ours", replicas(figures)), level,
                   ratio(ours.get("msgs_per_sec"), rasa.get("msgs_per_sec")),
                   ratio(_get(ours, "first_reply_ms", "p50"), _get(rasa, "first_reply_ms", "p50")),
                   ratio(_get(ours, "first_reply_ms", "p99"), _get(rasa, "first_reply_ms", "p99"))]


def long_rows(results: dict) -> Iterable[list]:
    """Early and late turn medians of the long conversation."""
    for name, figures in _ran(results):
        for label, server in _servers(figures):
            long = server.get("long_conversation")
            if not long:
                continue
            early, late = long.get("turns_early") or ["?", "?"], long.get("turns_late") or ["?", "?"]
            yield [name, label, f"{early[0]}-{early[1]}: {_cell(long.get('early_median_ms'))}",
                   f"{late[0]}-{late[1]}: {_cell(long.get('late_median_ms'))}", long.get("change"),
                   f"{long.get('timeouts')}/{long.get('errors')}"]


def webhook_rows(results: dict) -> Iterable[list]:
    """Acknowledgement times per platform, our server only."""
    for name, figures in _ran(results):
        webhooks = _get(figures, "servers", "ours", "webhooks")
        if not webhooks:
            continue
        for platform in ("twilio", "meta"):
            part = webhooks.get(platform) or {}
            ack = part.get("ack_ms") or {}
            replies = webhooks.get("twilio_replies" if platform == "twilio" else "graph_replies")
            statuses = ", ".join(f"{code}: {count}" for code, count in (part.get("statuses") or {}).items())
            yield [name, platform, part.get("sent"), statuses or "-", part.get("errors"), ack.get("p50"),
                   ack.get("p95"), ack.get("p99"), replies]


def startup_rows(results: dict) -> Iterable[list]:
    """Seconds from spawn to ready, and the peak memory; replicas one row each, then their sum."""
    for name, figures in _ran(results):
        for label, server in _servers(figures):
            memory = server.get("memory") or {}
            each = memory.get("replicas") or []
            seconds = server.get("startup_seconds_per_replica") or []
            for index, (replica, startup) in enumerate(zip(each, seconds), start=1):
                yield [name, f"{label}: replica {index}", startup, replica.get("vm_rss_mb"),
                       replica.get("vm_hwm_mb")]
            total = f"{label}: slowest start-up, memory summed" if each else label
            yield [name, total, server.get("startup_seconds"), memory.get("vm_rss_mb"),
                   memory.get("vm_hwm_mb")]


def scale_out_rows(results: dict) -> Iterable[list]:
    """Per configuration with replicas and concurrency: msgs/s against one rasa run and against one
    replica of ours on the same storage (when that configuration ran), latency and memory."""
    for name, figures in _ran(results):
        if replicas(figures) == 1:
            continue
        single = (results.get("configurations") or {}).get(figures.get("storage")) or {}
        single = single if replicas(single) == 1 else {}
        for level, ours in (_get(figures, "servers", "ours", "phases") or {}).items():
            rasa = _get(figures, "servers", "rasa", "phases", level) or {}
            one = _get(single, "servers", "ours", "phases", level) or {}
            yield scale_out_row(name, level, ours, rasa, one)


def scale_out_row(name: str, level: str, ours: dict, rasa: dict, single: dict) -> list:
    """One row of the scale-out table (see scale_out_rows)."""
    latency, memory = ours.get("first_reply_ms") or {}, ours.get("memory") or {}
    msgs = ours.get("msgs_per_sec")
    per_replica = " / ".join(_cell(item.get("vm_hwm_mb")) for item in memory.get("replicas") or [])
    return [name, level, " / ".join(map(str, ours.get("turns_per_replica") or [])) or "-", msgs,
            f"{_cell(rasa.get('msgs_per_sec'))} (x{_cell(ratio(msgs, rasa.get('msgs_per_sec')))})",
            f"{_cell(single.get('msgs_per_sec'))} (x{_cell(ratio(msgs, single.get('msgs_per_sec')))})",
            latency.get("p50"), latency.get("p95"), latency.get("p99"), _get(rasa, "first_reply_ms", "p99"),
            memory.get("vm_rss_mb"), memory.get("vm_hwm_mb"), per_replica or "-"]


def problem_lines(results: dict) -> List[str]:
    """Skipped or failed configurations, and calibration notes."""
    lines = []
    for name, figures in (results.get("configurations") or {}).items():
        for key in ("skipped", "error"):
            if figures.get(key):
                lines.append(f"- {name}: {key}: {figures[key]}")
        failures = _get(figures, "servers", "ours", "engine_failures_logged")
        if failures:
            lines.append(f"- {name}: our server logged {failures} engine failures (apology sent, "
                         "conversation handed to staff): a turn over ENGINE_TIMEOUT_SECONDS, or a failed "
                         "custom action call")
        questions = figures.get("questions")
        if questions:
            lines.append(f"- {name}: questions: {questions.get('asked')} asked, {questions.get('kept_ours')} "
                         f"one plain reply on ours, {questions.get('kept_rasa')} on rasa run, "
                         f"{questions.get('kept_both')} used; reply text differs between servers for "
                         f"{questions.get('reply_text_differs')}")
    return lines


def in_process_lines(results: dict) -> List[str]:
    """The in-process model figures and the training time."""
    in_process = results.get("in_process") or {}
    lines = []
    if in_process.get("error"):
        lines.append(f"- in-process: error: {in_process['error']}")
    elif in_process:
        lines.append(f"- model load {in_process.get('model_load_seconds')} s; peak resident "
                     f"{in_process.get('peak_resident_mb')} MB")
        for key in ("nlu_parse_ms", "faq_turn_ms", "faq_turn_ongoing_ms"):
            row = in_process.get(key)
            if not row:
                continue
            lines.append(f"- {key}: n={row.get('n')} p50 {row.get('p50')} p95 {row.get('p95')} "
                         f"p99 {row.get('p99')} mean {row.get('mean')}")
    training = results.get("training") or {}
    note = f" ({training['skipped']})" if training.get("skipped") else ""
    note += f" (error: {training['error']})" if training.get("error") else ""
    lines.append(f"- training (rasa train --force): {_cell(training.get('seconds'))} s{note}")
    return lines


def engine_threads_note(plan: dict) -> str:
    """The header's note on ENGINE_THREADS of our servers."""
    threads = plan.get("engine_threads")
    if threads is None:
        return "engine threads per server of ours: 1 (the server's default; BENCH_ENGINE_THREADS unset)"
    return f"engine threads per server of ours: {threads} (BENCH_ENGINE_THREADS={threads})"


def scale_out_section(results: dict) -> List[str]:
    """The replicas table, when a configuration with replicas ran."""
    rows = list(scale_out_rows(results))
    if not rows:
        return []
    lines = ["", "## Scale-out: our server as replicas (one process each, conversations round-robin) "
             "vs one rasa run process (ms, MB)", ""]
    return lines + table(["config", "N", "turns per replica", "msgs/s", "rasa run msgs/s (ratio)",
                          "one replica msgs/s (ratio)", "p50", "p95", "p99", "rasa run p99", "VmRSS MB sum",
                          "VmHWM MB sum", "VmHWM MB per replica"], rows)


def encoder_lines(encoder: Optional[dict]) -> List[str]:
    """The encoder's figures as a small table (or why there are none)."""
    if not encoder:
        return ["not measured"]
    if encoder.get("error"):
        return [f"failed: {encoder['error']}"]
    return table(["messages", "load s", "p50 ms", "p99 ms", "batched msgs/s", "MB added (VmRSS)",
                  "MB added at peak (VmHWM)"],
                 [[encoder.get("messages"), encoder.get("load_seconds"), encoder.get("p50_ms"),
                   encoder.get("p99_ms"), encoder.get("batched_messages_per_second"),
                   encoder.get("added_rss_mb"), encoder.get("added_peak_mb")]])


def markdown(results: dict) -> str:
    """scale.md: targets first, then every figure."""
    plan = results.get("plan") or {}
    kind = "quick" if plan.get("quick") else "full"
    lines = [f"# Scale benchmark ({kind} run, {results.get('generated_at')})", ""]
    lines += [f"{results.get('cpus')} CPUs; N = {plan.get('concurrency')}; turns per conversation "
              f"{plan.get('turns')}; long conversation {plan.get('long_turns')} turns; webhooks "
              f"{plan.get('webhook_rate')}/s for {plan.get('webhook_seconds')} s beside "
              f"{plan.get('webhook_conversations')} web conversations; {engine_threads_note(plan)}.", ""]
    lines += ["## Targets", ""]
    columns = ("target", "configuration", "ours", "reference", "goal", "result")
    lines += table(["target", "config", "ours", "reference", "goal", "result"],
                   ([row[column] for column in columns] for row in results.get("targets") or []))
    lines += ["", "## Web conversations over socket.io (time to first reply, ms; replicas: memory summed)",
              ""]
    lines += table(["config", "server", "N", "turns", "timeouts/errors", "stray", "msgs/s", "p50", "p95",
                    "p99", "VmRSS MB", "VmHWM MB"], web_rows(results))
    lines += ["", "## Ours / rasa run (msgs/s higher is better; latency lower is better)", ""]
    lines += table(["config", "ours", "N", "msgs/s ratio", "p50 ratio", "p99 ratio"], ratio_rows(results))
    lines += scale_out_section(results)
    lines += ["", "## One long conversation (median time to first reply, ms)", ""]
    lines += table(["config", "server", "early turns", "late turns", "change", "timeouts/errors"],
                   long_rows(results))
    lines += ["", "## Webhook acknowledgement under load (our server, ms)", ""]
    lines += table(["config", "platform", "sent", "statuses", "errors", "p50", "p95", "p99",
                    "replies to stub"], webhook_rows(results))
    lines += ["", "## Start-up (spawn -> ready) and peak memory", ""]
    lines += table(["config", "server", "seconds", "VmRSS MB (end)", "VmHWM MB"], startup_rows(results))
    lines += ["", "## In-process model and training", ""] + in_process_lines(results)
    lines += ["", "## Sentence encoder alone (bench/encoder.py)", ""] + encoder_lines(results.get("encoder"))
    lines += ["", "## Care messages (bench/care.py: plan and send for N bookings, recording deliverer)", ""]
    lines += care_lines(results.get("care"))
    lines += ["", "## Staff console at 100,000 conversations (bench/analytics.py, bench/inbox.py; PostgreSQL)", ""]
    lines += console_lines(results.get("console"))
    problems = problem_lines(results)
    if problems:
        lines += ["", "## Notes", ""] + problems
    return "\n".join(lines) + "\n"


def console_lines(console: Optional[dict]) -> List[str]:
    """Seconds (best of three), SQL statements and the big tables scanned, per analytics range and inbox case."""
    if not console:
        return ["not measured"]
    rows = []
    for name, cases in (("analytics", "periods"), ("inbox", "cases")):
        part = console.get(name) or {}
        if part.get("error"):
            rows.append([name, "error", part["error"], "", ""])
            continue
        for case, figures in (part.get(cases) or {}).items():
            rows.append([name, case, figures.get("seconds"), figures.get("statements"),
                         ", ".join(figures.get("seq_scans") or []) or "none"])
    return table(["page", "case", "seconds", "SQL statements", "sequential scans"], rows)


def care_lines(care: Optional[dict]) -> List[str]:
    """The care table: per backend, planning time and statements, then time and statements per message."""
    if not care:
        return ["not measured"]
    if care.get("error"):
        return [f"error: {care['error']}"]
    rows = []
    for backend, figures in care.items():
        if figures.get("skipped"):
            rows.append([backend, figures["skipped"], "", "", "", "", "", ""])
            continue
        plan, again, send = figures.get("plan", {}), figures.get("plan_again", {}), figures.get("send", {})
        rows.append([backend, figures.get("bookings"), f"{plan.get('seconds')} s / {plan.get('statements')}",
                     f"{again.get('seconds')} s / {again.get('statements')}", send.get("sent"),
                     send.get("ms_per_message"), send.get("statements_per_message"),
                     _get(figures, "send_again", "sent")])
    return table(["backend", "bookings", "plan (time / SQL)", "plan again", "sent", "ms per message",
                  "SQL per message", "second send sent"], rows)
