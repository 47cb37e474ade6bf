"""A bundle tried on this machine, laid out as Gradescope lays it out (the kit's tests and
benchmarks/gradescope_run.py use it).

Gradescope unzips the bundle into /autograder/source, copies run_autograder to
/autograder/run_autograder and runs setup.sh, which copies the kit to
/opt/dnn-grading-kit and installs Python and the packages. For each submission it fills
/autograder/submission and /autograder/submission_metadata.json and runs
/autograder/run_autograder (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
Here the same folders are made under `top`, the kit is copied and compiled as setup.sh does,
and the Python that runs the kit is this machine's; nothing is installed.
"""
from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

KIT_IN_IMAGE = "opt/dnn-grading-kit"  # setup.sh's $KIT, relative to /


@dataclass(frozen=True)
class Image:
    root: Path  # Gradescope's /autograder
    kit: Path  # setup.sh's /opt/dnn-grading-kit


def install(bundle: Path, top: Path) -> Image:
    """Gradescope's image build under the new folder `top`, setup.sh's installs left out:
    the bundle in ROOT/source, ROOT/run_autograder, the kit copied to top/opt/dnn-grading-kit.
    Every folder is left open to all users, as in an image, so that only what run_autograder
    closes is closed."""
    root, kit = top / "autograder", top / KIT_IN_IMAGE
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    shutil.copytree(root / "source" / "kit", kit)  # setup.sh: cp -r "$SOURCE/kit" "$KIT"
    compileall.compile_dir(kit / "autograder", quiet=1)  # setup.sh: python -m compileall
    (root / "submission").mkdir()
    (root / "results").mkdir()
    for path in [top, *top.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.name in ("run_autograder", "setup.sh") else 0o644)
    return Image(root, kit)


def submit(image: Image, upload: dict[str, bytes], metadata: dict) -> None:
    """What Gradescope does before a run: the student's files (relative path -> bytes) in
    ROOT/submission, and ROOT/submission_metadata.json."""
    for rel, data in upload.items():
        path = image.root / "submission" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o644)
    (image.root / "submission_metadata.json").write_text(json.dumps(metadata, indent=2))


def command(image: Image, python: Path, env: dict | None = None) -> tuple[list[str], dict]:
    """(argv, environment) of ROOT/run_autograder with the root, the kit and the Python moved
    to this machine's by its environment variables."""
    env = {**os.environ, **(env or {}), "AUTOGRADER_ROOT": str(image.root), "AUTOGRADER_KIT": str(image.kit),
           "AUTOGRADER_PYTHON": str(python)}
    return [str(image.root / "run_autograder")], env


def run(image: Image, python: Path, env: dict | None = None, timeout: float = 2400) -> subprocess.CompletedProcess:
    """Run ROOT/run_autograder (`command`) in ROOT, as Gradescope does; returns the finished
    process (stdout: the instructor's log)."""
    argv, env = command(image, python, env)
    return subprocess.run(argv, cwd=image.root, env=env, capture_output=True, text=True, timeout=timeout)
