"""`autograder gradescope OUT.zip`: the autograder bundle Gradescope builds its image from.

Gradescope's specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
a zip with `setup.sh` and `run_autograder` at its root; it is unpacked into
/autograder/source, setup.sh runs once as root to build the image, and run_autograder runs
for every submission and writes /autograder/results/results.json. The bundle holds

    setup.sh          installs Python 3.11, the kit's pinned dependencies (torch's CPU build), MNIST
    run_autograder    grades /autograder/submission (run.py)
    kit/              the autograder package, the instructor's course.toml (hidden checks and
                      thresholds included), the course's own checks and probes, requirements.txt
                      and bundle.json (the labs this assignment grades)
    mnist/            the four MNIST idx files, when given (else setup.sh downloads them)

No solution, stub or test of the kit goes in.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import tomllib
import zipfile
from pathlib import Path

from autograder.course import config, mnist

FILES = Path(__file__).resolve().parent / "files"
BUNDLE_FILE = "bundle.json"  # in kit/: what run.py reads
REQUIREMENTS = "requirements.txt"
CPU_INDEX_PACKAGES = ("torch", "torchvision")  # installed from torch's CPU wheel index
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def pinned_dependencies() -> tuple[list[str], list[str]]:
    """The kit's runtime dependencies from pyproject.toml, as (torch's CPU-index ones, the rest)."""
    project = tomllib.loads((config.KIT_ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    return ([d for d in deps if _name(d) in CPU_INDEX_PACKAGES], [d for d in deps if _name(d) not in CPU_INDEX_PACKAGES])


def setup_script() -> str:
    """setup.sh with the torch pins of pyproject.toml."""
    torch, _ = pinned_dependencies()
    return (FILES / "setup.sh").read_text().replace("{torch_pins}", " ".join(f"'{p}'" for p in torch))


def _add_tree(archive: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            archive.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")


def _add_text(archive: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def build_bundle(course: config.Course, out: Path, labs: list[str] | None = None,
                 mnist_dir: Path | None = None, workers: str = "auto") -> Path:
    """Write the bundle for `labs` (default: every lab, one assignment for the unit) to the
    zip `out`; returns it. `mnist_dir` holds the MNIST idx files to ship (verified first);
    `workers` is how many labs run_autograder grades at once ("auto": one per CPU the
    container may use). Raises KeyError for an unknown lab, FileNotFoundError or
    mnist.MnistError for an MNIST folder without the right files."""
    labs = labs or list(course.labs)
    for lab in labs:
        course.lab(lab)
    if workers != "auto" and not (workers.isdigit() and int(workers) > 0):
        raise ValueError(f"workers must be a positive number or 'auto', found {workers!r}")
    _, rest = pinned_dependencies()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", delete=False) as tmp:
        part = Path(tmp.name)
    try:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_text(archive, "setup.sh", setup_script(), executable=True)
            _add_text(archive, "run_autograder", (FILES / "run_autograder").read_text(), executable=True)
            with tempfile.TemporaryDirectory() as staging:
                shutil.copytree(config.PACKAGE_DIR, Path(staging) / "autograder", ignore=IGNORED)
                _add_tree(archive, Path(staging) / "autograder", "kit/autograder")
            for kind in ("checks", "probes"):  # the course's own labs, beside its course.toml
                for folder in course.lab_dirs(kind)[1:]:
                    _add_tree(archive, folder, f"kit/{kind}")
            _add_text(archive, "kit/course.toml", course.path.read_text(encoding="utf-8"))
            _add_text(archive, "kit/pyproject.toml", (config.KIT_ROOT / "pyproject.toml").read_text())
            _add_text(archive, f"kit/{REQUIREMENTS}", "".join(f"{r}\n" for r in rest))
            _add_text(archive, f"kit/{BUNDLE_FILE}", json.dumps({"labs": labs, "workers": workers}, indent=2) + "\n")
            if mnist_dir is not None:
                for path in mnist.source_files(mnist_dir):
                    archive.write(path, f"mnist/{path.name}")
        part.replace(out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return out
