"""What the benchmark scripts share: the machine line, the device, a timing helper, and the
kit's own pieces (course.toml's budgets, the reference solutions by file path)."""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py`: the kit is importable without installing
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from autograder.course import config  # noqa: E402

VENV_BIN = Path(sys.executable).parent  # the venv that runs the benchmark also runs the CLIs


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device: str) -> str:
    """One line per fact, printed first, so that a pasted result says where it came from."""
    lines = [f"cpu: {cpu_model()}, {os.cpu_count()} cores ({platform.system()} {platform.machine()})",
             f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, python {platform.python_version()}"]
    if device.startswith("cuda"):
        lines.append(f"device: {device} = {torch.cuda.get_device_name(torch.device(device))}")
    else:
        lines.append(f"device: {device}")
    return "\n".join(lines)


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, or auto (cuda when available)")


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch's own). On a busy machine 1 avoids "
                        "threads spinning while another process holds a core")


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)


def training_parser(doc: str) -> argparse.ArgumentParser:
    """The options of the scripts that time training: --device, --repeat, --threads, --seed."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_arg(p)
    p.add_argument("--repeat", type=int, default=5, help="runs of each measurement; the best is reported (default 5)")
    add_threads_arg(p)
    p.add_argument("--seed", type=int, default=0)
    return p


def class_parser(doc: str, students: int, what: str) -> argparse.ArgumentParser:
    """The options of the scripts that grade a class: --device, --students, --labs, --keep."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_arg(p)
    p.add_argument("--students", type=int, default=students, help=f"{what} (default {students})")
    p.add_argument("--labs", default=None, help="comma-separated lab ids (default: all six, a complete submission)")
    p.add_argument("--keep", action="store_true", help="keep the class and outputs (the folder is printed)")
    return p


def class_args(doc: str, students: int, what: str) -> tuple[argparse.Namespace, str, list[str]]:
    """The class scripts' options parsed, the machine printed: (args, device, lab ids)."""
    args = class_parser(doc, students, what).parse_args()
    device = resolve_device(args.device)
    labs = args.labs.split(",") if args.labs else list(course().labs)
    print(describe_machine(device))
    return args, device, labs


def timed(cmd: list[str], run=None, **kwargs):
    """Run `cmd` once (with `run`, subprocess.run's signature, by default subprocess.run) and
    return (wall seconds, the completed process); exit with its output if it failed."""
    import subprocess

    t0 = time.perf_counter()
    proc = (run or subprocess.run)(cmd, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-5000:]}")
    return seconds, proc


def scratch(prefix: str, keep: bool):
    """A temporary folder, removed afterwards unless `keep` (then its path is printed)."""
    import contextlib
    import shutil
    import tempfile

    @contextlib.contextmanager
    def folder():
        path = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield path
        finally:
            if keep:
                print(f"kept in {path}")
            else:
                shutil.rmtree(path, ignore_errors=True)
    return folder()


def resolve_device(name: str) -> str:
    name = config.resolve_device(name)
    if name.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"--device {name}: CUDA is not available here (torch {torch.__version__})")
    return name


def sync(device: str) -> None:
    """CUDA runs asynchronously: a timer must wait for the queued work, or it times the launch only."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def repeat(fn, n: int, device: str = "cpu") -> list[float]:
    """Wall seconds of n calls of fn(). Callers report the best (the least disturbed by other
    processes on a shared machine) and show all of them."""
    times = []
    for _ in range(n):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> str:
    runs = ", ".join(f"{t:.3f}" for t in times)
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s of {len(times)} [{runs}]"


# Appended to a copy of a module: a function nothing calls, so that the copy is graded like
# the original and never as its duplicate.
UNIQUE = "\n\ndef _submission_{tag}():\n    return {tag}\n"


def distinct_copy(lab_dir: Path, dest: Path, tag: int) -> None:
    """Copy a lab folder (its README left out), each module made different from every other
    copy by a function that nothing calls: the grader, which grades identical code once per
    class (engine/grading.py), grades every copy, and gives it the original's grade."""
    import shutil

    shutil.copytree(lab_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    for module in dest.glob("*.py"):
        module.write_text(module.read_text() + UNIQUE.format(tag=tag))


def course() -> config.Course:
    return config.load_course()


def mnist_budget(lab: str = "lab09_1_relu") -> dict:
    """The MNIST check's budget from course.toml (epochs, batch_size, lr, ...): one place for the numbers."""
    return course().lab(lab).check("mnist_accuracy").params


def load_solution(lab: str):
    """The reference module of a lab, imported by file path (solutions/ is not a package)."""
    module = course().lab(lab).module
    path = ROOT / "solutions" / lab / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{lab}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mnist_tensors(device: str) -> dict:
    """The kit's cached MNIST tensors (uint8 images) on the device, as grading loads them."""
    from autograder.course import mnist

    return mnist.load(course().mnist_cache, device)
