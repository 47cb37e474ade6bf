"""course.toml: the one place for points, visibility, thresholds, budgets and settings.

A course is a folder holding course.toml (its *root*). A lab's checks and probes are
`autograder/checks/<lab>.py` and `autograder/probes/<lab>.py`, or, for a lab that the
course adds, `ROOT/checks/<lab>.py` and `ROOT/probes/<lab>.py` (docs/adding-a-lab.md);
its solution and stub are `ROOT/solutions/<lab>/` and `ROOT/assignments/<lab>/`.
"""
from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import os
import sys
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # autograder/
KIT_ROOT = PACKAGE_DIR.parent
CHECKS_DIR = PACKAGE_DIR / "checks"
PROBES_DIR = PACKAGE_DIR / "probes"
LAB_PACKAGES = {"checks": "autograder.checks", "probes": "autograder.probes"}
# Torch threads of every judge session and worker. Parallelism comes from grading several
# labs at once (--workers), which scales better than threads for these small networks and
# keeps every result bit for bit the same whatever the number of workers.
TORCH_THREADS = 1


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use, for `--workers auto` (one worker, or one training run,
    per CPU): the affinity's, capped by a cgroup CPU quota (a container's `docker --cpus`,
    Gradescope's CPU setting, a cluster job's limit), rounded up: cgroup v2's `cpu.max`
    ("QUOTA PERIOD", or "max PERIOD" for none), else v1's `cpu/cpu.cfs_quota_us` (-1: none)
    over `cpu/cpu.cfs_period_us`, as the kernel's CFS bandwidth control defines them."""
    cpus = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1)
    for quota_file, period_file in [(cgroup / "cpu.max", None),
                                    (cgroup / "cpu" / "cpu.cfs_quota_us", cgroup / "cpu" / "cpu.cfs_period_us")]:
        try:
            fields = quota_file.read_text().split()
            quota = fields[0]
            period = fields[1] if period_file is None else period_file.read_text().strip()
            if quota in ("max", "-1"):
                return cpus
            return max(1, min(cpus, -(-int(quota) // int(period))))
        except (OSError, IndexError, ValueError):
            continue
    return cpus


# A GPU's device files: without any of them CUDA cannot be available (NVIDIA's driver, WSL 2's
# paravirtualised GPU, ROCm's).
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


def resolve_device(name: str) -> str:
    """The device `name` means: "auto" becomes "cuda" when a GPU is visible, else "cpu";
    other names stay. On Linux without a GPU's device files the answer is "cpu" without
    loading torch (about 1 s of CPU; the class grader asks while its servers start)."""
    if name != "auto":
        return name
    if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in GPU_DEVICE_FILES):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# What student code may import besides Python's standard library: installed wherever student
# code runs (pinned in pyproject.toml's dependencies, which the student bundle shares), and
# imported once in the zygote before it forks a worker where the import is slow
# (boundary/zygote.py). The lecture's notebooks use all of them.
STUDENT_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "tqdm")


def default_course_file() -> Path:
    """course.toml from $COURSE_TOML, else the one at the kit's root (or the bundle's)."""
    return Path(os.environ.get("COURSE_TOML", KIT_ROOT / "course.toml"))


@dataclass(frozen=True)
class Limits:
    """What one worker may use; course.toml's [sandbox] table sets them (docs/security.md)."""

    memory_mb: int = 4096  # address space beyond what the worker holds when it starts
    cpu_s: int = 300  # CPU seconds, all threads together
    file_mb: int = 64  # largest file it may write
    tmp_mb: int = 256  # its private /tmp, the submission copy included
    processes: int = 256  # processes and threads of its uid
    open_files: int = 256


@dataclass(frozen=True)
class Resources:
    """What grading one submission of a lab takes, reserved per lab by a cluster executor
    (integrations/ray); course.toml's [labs.<lab>.resources] sets them from measurements
    (docs/scale.md). The defaults serve a lab the course has not measured."""

    cpus: float = 1.0  # cores kept busy: the judge session and the worker take turns on one
    memory_mb: int = 512  # what one lab in flight adds to its node's memory, with headroom
    gpus: float = 0.0625  # the fraction of a GPU it takes on CUDA; its worker's allocator is capped to match


@dataclass(frozen=True)
class LatePolicy:
    """course.toml's [late] table: when labs are due and what lateness costs (docs/late.md).
    The rule itself is course/late.py's. Due dates are timezone-aware."""

    due: dt.datetime | None = None  # every lab's due date, unless `due_dates` names the lab
    due_dates: dict[str, dt.datetime] = field(default_factory=dict)  # lab id -> its own due date
    timezone: str | None = None  # IANA name: due dates and submission times written without an offset are in it
    grace_minutes: float = 0.0  # the due date moves this much later for everyone
    percent_per_day: float = 0.0  # of the score earned, per started day late
    max_days: int | None = None  # later than this many days: zero; None: no limit

    def due_for(self, lab_id: str) -> dt.datetime | None:
        """The lab's due date, or None when it has none (never late)."""
        return self.due_dates.get(lab_id, self.due)

    def zone(self) -> dt.tzinfo | None:
        return zoneinfo.ZoneInfo(self.timezone) if self.timezone else None


@dataclass(frozen=True)
class Reports:
    """What the students' pages (feedback.html, `autograder check --html`) show of hidden
    checks besides their message; course.toml's [reports] table sets them (docs/reports.md).
    The instructor's class report shows everything."""

    hidden_plots: bool = True  # the plots a hidden check recorded (the student's own results)
    hidden_thresholds: bool = False  # a hidden check's threshold, drawn in its plot


@dataclass(frozen=True)
class Check:
    """One graded check: a test function `test_<id>` in autograder/checks/<lab>.py."""

    lab: str
    id: str
    points: float
    public: bool
    timeout_s: float
    params: dict[str, Any] = field(default_factory=dict)
    topic: str = ""  # the lecture topic a failure points at ([labs.<lab>.topics])

    @property
    def name(self) -> str:
        return f"{self.lab}/{self.id}"


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    module: str
    checks: tuple[Check, ...]
    hidden_elsewhere: int = 0  # hidden checks left out of this file (the student bundle's)
    # The student API: the public top-level functions and classes of the solution file
    # (api_names); empty when the course has no solution for the lab.
    api: tuple[str, ...] = ()
    resources: Resources = Resources()

    @property
    def hidden_count(self) -> int:
        return sum(1 for c in self.checks if not c.public) + self.hidden_elsewhere

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def trains_on_mnist(self) -> bool:
        """Whether the lab has an MNIST check: an epoch on MNIST, its longest work."""
        return any(c.id == "mnist_accuracy" for c in self.checks)

    def check(self, check_id: str) -> Check:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(f"lab {self.id} has no check {check_id!r}")


@dataclass(frozen=True)
class Course:
    name: str
    device: str
    seed: int
    import_timeout_s: float
    labs: dict[str, Lab]
    mnist_cache: Path
    path: Path
    raw: dict[str, Any]
    limits: Limits = Limits()
    late: LatePolicy | None = None  # None: no [late] table, no penalties
    reports: Reports = Reports()

    def lab(self, lab_id: str) -> Lab:
        try:
            return self.labs[lab_id]
        except KeyError:
            raise KeyError(f"unknown lab {lab_id!r}; the labs are {', '.join(self.labs)}") from None

    @property
    def root(self) -> Path:
        """The course's folder: the one holding course.toml, solutions/ and assignments/."""
        return self.path.parent

    def lab_dirs(self, kind: str) -> list[Path]:
        """Where the labs' `kind` modules ("checks" or "probes") live: the package's folder,
        then ROOT/<kind>/ when the course adds labs of its own."""
        own = self.root / kind
        package = PACKAGE_DIR / kind
        return [package] + ([own] if own.is_dir() and own.resolve() != package.resolve() else [])

    def lab_file(self, kind: str, lab_id: str) -> Path:
        """The file of lab `lab_id`'s checks or probes module (the course's own first)."""
        for folder in reversed(self.lab_dirs(kind)):
            if (folder / f"{lab_id}.py").is_file():
                return folder / f"{lab_id}.py"
        raise FileNotFoundError(f"lab {lab_id!r} has no {kind} module: expected {self.root / kind / lab_id}.py "
                                f"or {PACKAGE_DIR / kind / lab_id}.py (docs/adding-a-lab.md)")

    def trains_on_mnist(self) -> bool:
        """Whether any lab has an MNIST check (the workers then get the MNIST inputs)."""
        return any(lab.trains_on_mnist for lab in self.labs.values())


_CHECK_KEYS = {"points", "public", "timeout_s"}
_LATE_KEYS = {"due", "due_dates", "timezone", "grace_minutes", "percent_per_day", "max_days"}


def _zone(name: object, where: str) -> zoneinfo.ZoneInfo:
    try:
        if not isinstance(name, str):
            raise ValueError
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ValueError(f"{where}: timezone must be an IANA time zone name such as \"Asia/Seoul\" or \"UTC\", "
                         f"found {name!r}") from None


def aware_time(value: object, zone: dt.tzinfo | None, where: str) -> dt.datetime:
    """A date and time with its time zone: a TOML date-time or an ISO 8601 string
    ("2026-04-10T23:59:00+09:00", "2026-04-10 23:59"); one written without an offset is in
    `zone`. Raises ValueError, naming `where`, for a date alone, a time alone, anything
    else, or a time without offset when `zone` is None."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not a date and time; write it as "
                             f"2026-04-10T23:59:00 (ISO 8601, optionally with an offset like +09:00)") from None
    if not isinstance(value, dt.datetime):
        kind = "a date without a time" if isinstance(value, dt.date) else f"{type(value).__name__} {value!r}"
        raise ValueError(f"{where}: expected a date and time such as 2026-04-10T23:59:00, found {kind}")
    if value.tzinfo is None:
        if zone is None:
            raise ValueError(f"{where}: {value.isoformat()} has no time zone; add an offset "
                             f"(2026-04-10T23:59:00+09:00) or set [late] timezone in course.toml")
        value = value.replace(tzinfo=zone)
    return value


def _number(table: dict, key: str, where: str, low: float, high: float | None = None, integer: bool = False):
    value = table[key]
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
        raise ValueError(f"{where}: {key} must be {'a whole number' if integer else 'a number'} {span}, "
                         f"found {value!r}")
    return value


def load_late_policy(raw: dict, labs: dict[str, "Lab"], path: Path) -> LatePolicy | None:
    """[late] of course.toml, or None when the table is absent; errors name the key at fault."""
    if "late" not in raw:
        return None
    table, where = raw["late"], f"{path}: [late]"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(table) - _LATE_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; the keys are {sorted(_LATE_KEYS)}")
    zone = _zone(table["timezone"], where) if "timezone" in table else None
    due = aware_time(table["due"], zone, f"{where} due") if "due" in table else None
    per_lab = table.get("due_dates", {})
    if not isinstance(per_lab, dict):
        raise ValueError(f"{where} due_dates must be a table of lab id = due date")
    strangers = set(per_lab) - set(labs)
    if strangers:
        raise ValueError(f"{where} due_dates names labs the course does not have: {sorted(strangers)}; "
                         f"the labs are {', '.join(labs)}")
    due_dates = {lab: aware_time(value, zone, f"{path}: [late.due_dates] {lab}") for lab, value in per_lab.items()}
    return LatePolicy(
        due=due, due_dates=due_dates, timezone=table.get("timezone"),
        grace_minutes=float(_number(table, "grace_minutes", where, 0)) if "grace_minutes" in table else 0.0,
        percent_per_day=float(_number(table, "percent_per_day", where, 0, 100)) if "percent_per_day" in table else 0.0,
        max_days=_number(table, "max_days", where, 0, integer=True) if "max_days" in table else None,
    )


def api_names(source: str) -> tuple[str, ...]:
    """The student API of a solution module's source: its top-level functions and classes
    whose names do not start with "_", in the order they are defined. Raises SyntaxError."""
    tree = ast.parse(source)
    return tuple(node.name for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and not node.name.startswith("_"))


def _lab_api(root: Path, lab_id: str, module: str, table: dict) -> tuple[str, ...]:
    """The lab's API from ROOT/solutions/<lab>/<module>.py, the one place for it; a course
    without solutions (the student bundle) lists it as `api` in the lab's table, written by
    `autograder release` from the same file."""
    solution = root / "solutions" / lab_id / f"{module}.py"
    if solution.is_file():
        return api_names(solution.read_text(encoding="utf-8"))
    return tuple(str(name) for name in table.get("api", ()))


def _resources(path: Path, lab_id: str, table: dict) -> Resources:
    """[labs.<lab>.resources]: positive numbers, `gpus` at most one GPU."""
    where = f"{path}: [labs.{lab_id}.resources]"
    names = {f.name for f in dataclasses.fields(Resources)}
    if set(table) - names:
        raise ValueError(f"{where} has unknown keys {sorted(set(table) - names)}; expected {sorted(names)}")
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{where}: {key} must be a number > 0, found {value!r}")
    if table.get("gpus", 0) > 1:
        raise ValueError(f"{where}: gpus is the fraction of one GPU a lab takes, at most 1; found {table['gpus']!r}")
    return Resources(**{k: int(v) if k == "memory_mb" else float(v) for k, v in table.items()})


def topic_for(topics: dict[str, str], check_id: str) -> str:
    """The topic of [labs.<lab>.topics] whose key is the longest prefix of `check_id` ("" if none):
    `dropout = "..."` covers dropout_zero_fraction, dropout_scaling, ..."""
    keys = [k for k in topics if check_id.startswith(k)]
    return str(topics[max(keys, key=len)]) if keys else ""


def _table(raw: dict, name: str, cls, path: Path):
    """course.toml's [name] table as `cls` (a dataclass of settings); unknown keys are an error."""
    table = raw.get(name, {})
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = set(table) - set(names)
    if unknown:
        raise ValueError(f"{path}: [{name}] has unknown keys {sorted(unknown)}; the settings are {names}")
    return cls(**{k: type(getattr(cls(), k))(v) for k, v in table.items()})


def load_course(path: str | Path | None = None) -> Course:
    """Read and validate course.toml; errors name the table and key at fault."""
    path = Path(path) if path else default_course_file()
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    course = raw.get("course", {})
    default_timeout = float(course.get("check_timeout_s", 60))
    labs = {}
    for lab_id, table in raw.get("labs", {}).items():
        checks = []
        for check_id, spec in table.get("checks", {}).items():
            where = f"{path}: [labs.{lab_id}.checks.{check_id}]"
            if "points" not in spec:
                raise ValueError(f"{where} has no 'points'")
            if not isinstance(spec["points"], (int, float)) or spec["points"] < 0:
                raise ValueError(f"{where}: points must be a number >= 0, found {spec['points']!r}")
            checks.append(
                Check(
                    lab=lab_id,
                    id=check_id,
                    points=float(spec["points"]),
                    public=bool(spec.get("public", False)),
                    timeout_s=float(spec.get("timeout_s", default_timeout)),
                    params={k: v for k, v in spec.items() if k not in _CHECK_KEYS},
                    topic=topic_for(table.get("topics", {}), check_id),
                )
            )
        labs[lab_id] = Lab(
            id=lab_id, title=table.get("title", lab_id), module=table["module"], checks=tuple(checks),
            hidden_elsewhere=int(table.get("hidden_checks", 0)),
            api=_lab_api(path.resolve().parent, lab_id, table["module"], table),
            resources=_resources(path, lab_id, table.get("resources", {})),
        )
    cache = os.environ.get("MNIST_CACHE") or raw.get("data", {}).get("cache_dir", "~/.cache/dnn-grading-kit")
    return Course(
        name=course.get("name", "course"),
        device=course.get("device", "auto"),
        seed=int(course.get("seed", 0)),
        import_timeout_s=float(course.get("import_timeout_s", 60)),
        labs=labs,
        mnist_cache=Path(cache).expanduser(),
        path=path.resolve(),
        raw=raw,
        limits=_table(raw, "sandbox", Limits, path),
        late=load_late_policy(raw, labs, path),
        reports=_table(raw, "reports", Reports, path),
    )
