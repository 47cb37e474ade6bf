"""What keeps one complete submission fast (docs/performance.md, benchmarks/submission_speed.py):
the labs that train on MNIST start first, and the class grader starts its servers before it
loads torch. Behaviour only; the seconds are the benchmark's."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import Future

import pytest

from autograder.boundary import wire
from autograder.engine import grading, runner
from tests.conftest import ROOT


class RecordingExecutor:
    """An executor that grades nothing: it records the order labs are handed to it."""

    device, n = "cpu", 1

    def __init__(self):
        self.order: list[str] = []

    def submit(self, course, lab, folder, **kwargs) -> Future:
        self.order.append(lab)
        future = Future()
        future.set_result(runner.not_gradable(course, lab, "error", "not graded by this test"))
        return future

    def close(self) -> None:
        pass


def test_labs_that_train_on_mnist_are_handed_out_first(course, tmp_path):
    student = tmp_path / "class" / "alice"
    for lab in course.labs:
        shutil.copytree(ROOT / "solutions" / lab, student / lab)
    pool = RecordingExecutor()
    grading.grade_class(course, tmp_path / "class", tmp_path / "out", progress=False, executor=pool)
    mnist_labs = [lab for lab in course.labs if course.lab(lab).trains_on_mnist]
    assert mnist_labs and len(mnist_labs) < len(course.labs)
    assert pool.order == mnist_labs + [lab for lab in course.labs if lab not in mnist_labs], (
        "the longest labs first, each group in course order")


def test_the_class_grader_starts_its_servers_before_it_loads_torch(tmp_path):
    (tmp_path / "class" / "alice").mkdir(parents=True)
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import autograder.cli
        from autograder.course import config
        from autograder.engine import grading, runner
        assert "torch" not in sys.modules, "importing the command and the engine loaded torch"

        def start_servers(course):
            print("torch loaded when the servers start:", "torch" in sys.modules)
            raise SystemExit(0)

        runner.start_servers = start_servers
        grading.grade_class(config.load_course(), Path({str(tmp_path / 'class')!r}), Path({str(tmp_path / 'out')!r}),
                            device="auto", progress=False)
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch loaded when the servers start: False"


def test_plain_messages_cross_the_wire_without_torch():
    script = textwrap.dedent("""
        import socket, sys
        from autograder.boundary import wire
        a, b = socket.socketpair()
        message = {"args": ["-q", "x"], "pid": 12, "big": 2**60, "pair": (1, "a")}
        wire.send(a, message)
        assert wire.recv(b) == message
        assert "torch" not in sys.modules, "plain data loaded torch"
        print("ok")
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_tensors_still_cross_the_wire_as_plain_tensors():
    import socket

    import torch

    class Marked(torch.Tensor):
        pass

    a, b = socket.socketpair()
    wire.send(a, {"t": torch.arange(6.0).reshape(2, 3), "m": torch.ones(2).as_subclass(Marked), "model": torch.nn.Linear(1, 1)})
    got = wire.recv(b)
    assert torch.equal(got["t"], torch.arange(6.0).reshape(2, 3)) and type(got["t"]) is torch.Tensor
    assert type(got["m"]) is torch.Tensor and torch.equal(got["m"], torch.ones(2))
    assert got["model"] == wire.Opaque("Linear")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the device files are Linux's")
def test_auto_is_the_cpu_without_loading_torch_where_no_gpu_device_exists():
    script = textwrap.dedent("""
        import sys
        from autograder.course import config
        config.GPU_DEVICE_FILES = ("/nonexistent/nvidiactl",)
        assert config.resolve_device("auto") == "cpu"
        assert "torch" not in sys.modules
        config.GPU_DEVICE_FILES = (sys.executable,)  # a device file that exists: torch decides
        import torch
        assert config.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
        assert config.resolve_device("cuda:1") == "cuda:1"
        print("ok")
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
