"""Run one lab's checks on one submission in a pytest session of their own.

The session is forked from the judge server (judge_server.py), the student's code runs in
workers forked from the zygote (zygote.py). A watchdog kills the session when a check
outlives its time limit; a kill costs only the check that was running, and the remaining
checks run again in a fresh session. Results come back through the JSON-lines report
that the plugin writes.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from autograder.boundary import remote
from autograder.course import config
from autograder.engine import judge_server
from autograder.reports.model import CheckOutcome, LabRun

GRACE_S = 15.0  # beyond pytest-timeout's own limit, before the watchdog kills
STARTUP_S = 120.0  # a session's start (the judge server's, the first time), before its first event


def _read_report(path: Path) -> list[dict]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line cut short by a kill
    return events


def _unfinished(events: list[dict]) -> dict | None:
    """The start event of the check that began and has not ended, if any."""
    running = None
    for event in events:
        if event["event"] == "start":
            running = event
        elif event["event"] == "end":
            running = None
    return running


def _pytest_args(lab: config.Lab, workdir: Path, report: Path, course: config.Course,
                 only: list[str], device: str | None) -> list[str]:
    checks = course.lab_file("checks", lab.id)
    # The kit's own ini, rootdir and plugins; no conftest.py from anywhere (a submission's
    # copy, the folder the grader was started in): the session decides grades.
    args = [
        str(checks),
        "-c", str(config.CHECKS_DIR / "pytest.ini"), "--rootdir", str(checks.parent), "--noconftest",
        "-p", "autograder.engine.plugin", "-p", "pytest_timeout", "-p", "no:cacheprovider",
        "--assert=plain", "-q", "--no-header",
        "--lab", lab.id, "--submission", str(workdir), "--report", str(report),
        "--course", str(course.path), "--only", ",".join(only),
    ]
    if device:
        args += ["--device", device]
    return args


def _run_once(session: judge_server.Session, report: Path, lab: config.Lab,
              course_import_s: float) -> tuple[int | None, str | None]:
    """Watch a pytest session until it ends or the watchdog kills it; return (returncode, id
    of the check killed for time). Results come through the report."""
    started = time.monotonic()
    killed_for = None
    try:
        while session.poll() is None:
            time.sleep(0.05)
            events = _read_report(report)
            last_start = _unfinished(events)
            if not events and time.monotonic() - started > STARTUP_S:
                killed_for = "<startup>"
            elif last_start is not None:
                limit = lab.check(last_start["check"]).timeout_s + course_import_s + GRACE_S
                if time.time() - last_start["time"] > limit:
                    killed_for = last_start["check"]
            if killed_for:
                break
    finally:
        session.kill()  # anything left behind in the session's group goes too
        session.wait()
    return session.returncode, killed_for


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def start_servers(course: config.Course) -> tuple[judge_server.JudgeServer, remote.Zygote]:
    """The judge server and the zygote, started together (each imports torch) if they are
    not running yet; returns at once, without waiting for them to be ready."""
    return judge_server.shared_judge_server(course, wait=False), remote.shared_zygote(course, wait=False)


def servers_for(course: config.Course) -> tuple[judge_server.JudgeServer, remote.Zygote]:
    """The judge server and the zygote, started together and ready."""
    judges, zygote = start_servers(course)
    judges.wait_ready()
    zygote.wait_ready()
    return judges, zygote


def not_gradable(course: config.Course, lab_id: str, status: str, message: str,
                 checks: list[str] | None = None) -> LabRun:
    """The record of a lab that intake could not hand over (missing, ambiguous, unreadable):
    its checks (all, or `checks`) failed without a message of their own, and the reason
    once, for the lab."""
    lab = course.lab(lab_id)
    lab_status = "missing" if status == "missing" else "error"
    ids = checks if checks is not None else [c.id for c in lab.checks]
    return LabRun(lab.id, lab_status, {c: CheckOutcome(c, "failed", "") for c in ids}, message=message,
                  intake=status)


def run_lab(course: config.Course, lab_id: str, lab_dir: Path, *, device: str | None = None,
            only: list[str] | None = None, public_only: bool = False,
            gpu_share: float = 1.0, gpu_index: int | None = None, hide: list[Path] = ()) -> LabRun:
    """Grade `lab_dir` (a folder holding the lab's module) and return every check's outcome.
    `gpu_share`: the fraction of the GPU's memory the lab's workers may take (on CUDA);
    `gpu_index`: which of several GPUs they run on (grading.Workers spreads them)."""
    lab = course.lab(lab_id)
    wanted = [c.id for c in lab.checks
              if (not only or c.id in only) and (c.public or not public_only)]
    t0 = time.monotonic()
    if not (lab_dir / f"{lab.module}.py").is_file():
        where = f"{lab_dir}" if lab_dir.is_dir() else f"no folder {lab_dir.name}"
        return not_gradable(course, lab.id, "missing", f"not submitted: no {lab.module}.py ({where}); expected "
                            f"{lab.id}/{lab.module}.py", wanted)

    outcomes: dict[str, CheckOutcome] = {}
    started: dict[str, float] = {}  # check id -> the time its start event says
    meta: dict = {}
    sandbox: dict = {}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", AUTOGRADER_GPU_SHARE=str(gpu_share),
               AUTOGRADER_GPU_INDEX="" if gpu_index is None else str(gpu_index))
    # Out of the workers' sight besides the kit's own folders: the class, the results, MNIST.
    env["AUTOGRADER_HIDE"] = os.pathsep.join(str(p) for p in [*hide, course.mnist_cache])
    # The pytest sessions come from this process's judge server and the workers from its
    # zygote: torch, pytest, the checks and MNIST are loaded once per class, not per lab.
    judges, zygote = servers_for(course)
    env["AUTOGRADER_ZYGOTE"] = str(zygote.sock_path)
    with tempfile.TemporaryDirectory(prefix=f"grade-{lab.id}-") as tmp:
        tmp = Path(tmp)
        workdir = tmp / "submission"
        # The student's code runs on a copy: whatever it writes stays out of the class folder.
        shutil.copytree(lab_dir, workdir, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        report = tmp / "report.jsonl"
        remaining = list(wanted)
        while remaining:
            report.unlink(missing_ok=True)
            # The session works in this run's own folder, never in the submission's copy.
            session = judges.launch(_pytest_args(lab, workdir, report, course, remaining, device), tmp, env)
            code, killed_for = _run_once(session, report, lab, course.import_timeout_s)
            events = _read_report(report)
            for event in events:
                if event["event"] == "session":
                    meta = event
                elif event["event"] == "sandbox":
                    sandbox = {k: v for k, v in event.items() if k not in ("event", "uid")}
                elif event["event"] == "start":
                    started[event["check"]] = event["time"]
                elif event["event"] == "end":
                    outcomes[event["check"]] = CheckOutcome(
                        event["check"], event["status"], event["message"], event.get("seed"), event.get("plots", []),
                        event["time"] - started.get(event["check"], event["time"]))
            running = (_unfinished(events) or {}).get("check")
            remaining = [c for c in remaining if c not in outcomes]
            if not remaining:
                break
            if running is None:  # died outside any check: nothing more can be learned
                why = "timed out while starting" if killed_for else f"stopped ({_exit_text(code)})"
                for c in remaining:
                    outcomes[c] = CheckOutcome(c, "error", f"the grading process {why} before this check ran")
                break
            if killed_for == running:
                timeout = lab.check(running).timeout_s
                outcomes[running] = CheckOutcome(
                    running, "timeout", f"timed out after {timeout:.0f} s and was stopped "
                    "(an endless loop, or far too slow?)")
            else:
                outcomes[running] = CheckOutcome(
                    running, "error", f"the grading process died during this check "
                    f"({_exit_text(code)}): os._exit, a crash, or running out of memory")
            remaining = [c for c in remaining if c != running]

    statuses = {o.status for o in outcomes.values()}
    if any("could not import your module" in o.message for o in outcomes.values()):
        status = "error"
    elif "timeout" in statuses:
        status = "timeout"
    elif "oom" in statuses:
        status = "oom"
    elif "error" in statuses:
        status = "error"
    else:
        status = "graded"
    return LabRun(lab.id, status, {c: outcomes[c] for c in wanted}, meta.get("device", ""),
                  meta.get("torch", ""), time.monotonic() - t0, sandbox)
