"""Running the experiments' training runs: the submission taken in as grading takes it, each
run in a confined worker of its own, several at once.

The reference is the course's solutions folder taken in the same way, so that the reference
and a student's code travel one path. The student's code runs only in the workers (forked by
the zygote, confined by boundary/sandbox.py); this process sends the runs' inputs and
receives plain data (boundary/wire.py), as grading does.
"""
from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from autograder.boundary import remote
from autograder.course import config
from autograder.engine.selfcheck import take_in
from autograder.experiments.plan import Arm
from autograder.intake.collect import LabIntake

PROBES = "experiments"  # the worker's probe module: autograder/probes/experiments.py


@dataclass
class Submission:
    """What the experiments run on: a name to show, and per lab what intake found."""

    name: str
    reference: bool
    labs: dict[str, LabIntake] = field(default_factory=dict)

    def folder(self, lab: str) -> Path | None:
        got = self.labs.get(lab)
        return got.folder if got is not None else None


def take_in_submission(course: config.Course, labs: list[str], path: Path | None, dest: Path,
                       named: str | None = None) -> Submission:
    """Each of `labs` from PATH, found as grading finds it (engine/selfcheck.take_in: a folder of
    lab folders, a lab folder, an archive); without PATH, from the course's solutions folder
    (the reference). One notebook or .py file is the work of one lab, `named` (the LAB asked
    for); the other labs are then missing.

    Raises FileNotFoundError when PATH does not exist, or when there is no PATH and no solutions
    folder (the student bundle), and ValueError for one file when no single lab was named."""
    reference = path is None
    if reference:
        path = course.root / "solutions"
        if not path.is_dir():
            raise FileNotFoundError(
                "the reference solutions are not part of this bundle; run the experiments on your own work: "
                "autograder experiments LAB --submission PATH (your lab folders, or your notebook) --out DIR")
    elif not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass the folder that holds your lab folders, or your "
                                "notebook: --submission PATH")
    if path.is_file() and named is None:
        raise ValueError(f"{path.name} is one file, which holds one lab's work; name the lab: "
                         f"autograder experiments LAB --submission {path.name} --out DIR")
    got = Submission("the reference solutions" if reference else path.resolve().name, reference)
    for lab in labs:
        if path.is_file() and lab != named:
            got.labs[lab] = LabIntake(lab, None, "missing", f"not in {path.name}, which holds {named}'s work")
        else:
            got.labs[lab] = take_in(course, course.lab(lab), path, dest / lab)
    return got


@dataclass
class ArmResult:
    """What one training run returned: a reply per probe call, or the reason it stopped."""

    replies: list = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def describe_failure(exc: Exception, lab: config.Lab, timeout_s: float) -> str:
    """Why a run stopped, in the student's terms (their exception as data: escaped where shown)."""
    if isinstance(exc, remote.StudentError):
        if exc.is_a("NotImplementedError"):
            return f"{lab.module}.py: {exc.describe()} (not written yet)"
        return f"{lab.module}.py raised {exc.describe()}"
    if isinstance(exc, remote.ImportFailed):
        return f"{lab.module}.py could not be imported: {exc}"
    if isinstance(exc, remote.WorkerTimeout):
        return f"one step of this run took longer than {timeout_s:g} s and was stopped (an endless loop?)"
    if isinstance(exc, remote.OutOfMemory):
        return "this run ran out of memory"
    if isinstance(exc, remote.ForbiddenCall):
        return str(exc)
    return f"the worker running this code ended without answering ({exc})"


class Runner:
    """Runs arms in confined workers, `workers` at once, on `device`."""

    def __init__(self, course: config.Course, submission: Submission, device: str, workers: int,
                 limits: config.Limits, timeout_s: float, work: Path, hidden: list[Path] = ()):
        self.course, self.submission, self.device, self.work = course, submission, device, work
        self.workers, self.limits, self.timeout_s = max(1, workers), limits, timeout_s
        self.hidden = remote.hidden_paths(course, list(hidden))
        self.gpu_share = 0.9 / self.workers if device.startswith("cuda") else 1.0
        self._zygote: remote.Zygote | None = None

    def run(self, arms: list[Arm], progress: bool = True) -> dict[str, ArmResult]:
        """Every arm's result by Arm.key; arms whose lab was not found are left out. The
        longest arms start first."""
        folders = {a.key: self.folder_for(a) for a in arms}
        todo = [a for a in sorted(arms, key=lambda a: -a.cost) if folders[a.key] is not None]
        results: dict[str, ArmResult] = {}
        if not todo:
            return results
        bar = tqdm(total=sum(a.calls for a in todo), desc="experiments", unit="step", disable=not progress)
        lock = threading.Lock()
        self._zygote = remote.Zygote.start("autograder.boundary.zygote", *remote.zygote_args(self.course))
        try:
            def job(arm: Arm) -> None:
                result = self._run_arm(arm, folders[arm.key], lambda: _tick(bar, lock))
                with lock:
                    results[arm.key] = result
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="experiment") as pool:
                list(pool.map(job, todo))
        finally:
            self._zygote.close()
            bar.close()
        return results

    def folder_for(self, arm: Arm) -> Path | None:
        """The folder the arm's worker gets: its lab's, with the modules of the labs it `uses`
        beside it (a folder of its own under the work folder); None when one was not found."""
        base = self.submission.folder(arm.lab)
        extra = [(self.course.lab(lab), self.submission.folder(lab)) for lab in arm.uses]
        if base is None or any(folder is None for _, folder in extra):
            return None
        if not extra:
            return base
        merged = self.work / "+".join((arm.lab, *arm.uses))
        if not merged.is_dir():
            shutil.copytree(base, merged)
            for lab, folder in extra:
                if not (merged / f"{lab.module}.py").exists():
                    shutil.copyfile(folder / f"{lab.module}.py", merged / f"{lab.module}.py")
        return merged

    def _run_arm(self, arm: Arm, folder: Path, tick) -> ArmResult:
        lab = self.course.lab(arm.lab)
        spec = remote.spec_for(lab, folder, self.device, forbidden=[], limits=self.limits,
                               hidden=self.hidden, gpu_share=self.gpu_share, probes=PROBES)
        result, start = ArmResult(), time.monotonic()
        try:
            worker = self._zygote.connect(spec)
        except remote.WorkerDied as e:
            return ArmResult(error=describe_failure(e, lab, self.timeout_s))
        try:
            worker.deadline = time.monotonic() + self.course.import_timeout_s
            worker.probe("__import__", 0)
            for call in range(arm.calls):
                worker.deadline = time.monotonic() + self.timeout_s
                result.replies.append(worker.probe(arm.probe, arm.call_seed(call), **arm.args))
                tick()
        except (remote.StudentError, remote.ImportFailed, remote.WorkerTimeout, remote.OutOfMemory,
                remote.WorkerDied, remote.ForbiddenCall) as e:
            result.error = describe_failure(e, lab, self.timeout_s)
            for _ in range(arm.calls - len(result.replies)):
                tick()
        finally:
            worker.close()
        result.seconds = time.monotonic() - start
        return result


def _tick(bar, lock) -> None:
    with lock:
        bar.update()


def limits_for(course: config.Course, cpu_s: int) -> config.Limits:
    """course.toml's [sandbox] limits with the CPU time of one training run (a worker serves
    one run, which may train for many epochs)."""
    return dataclasses.replace(course.limits, cpu_s=max(course.limits.cpu_s, cpu_s))
