"""What run_autograder runs on Gradescope: grade the submission, write results.json.

Gradescope's layout (https://gradescope-autograders.readthedocs.io/en/latest/specs/), under a
root that is /autograder there and a temporary folder in the kit's tests:

    submission/                 what the student uploaded: a notebook, the .py file alone, a zip, folders
    submission_metadata.json    the submission time and due dates (metadata.py)
    results/results.json        what this writes, once, at the end
    source/                     the unpacked bundle

The submission is graded by the kit's engine (engine.grading.grade_students) as one student,
with the labs of bundle.json. Student code runs only in the confined workers; the whole
root (the results, the bundle, the metadata) is among the folders hidden from them, and
where the container refuses namespaces the workers' own uid cannot read or write what
`protect` closes. results.json is written by this process alone, after grading, replacing
anything that was there.

An error of the kit itself (not of the submission) ends the run without a results file, so
that Gradescope reports "The autograder failed to execute correctly" and marks the run as
an autograder error, which does not count against the student.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.course import config
from autograder.engine import grading
from autograder.engine.executors import auto_workers
from autograder.integrations.gradescope.bundle import BUNDLE_FILE
from autograder.integrations.gradescope.metadata import read_submitted
from autograder.intake.collect import LabIntake
from autograder.reports import escape
from autograder.reports.files import read_results, write_atomic
from autograder.reports.results_json import FILE as RESULTS_FILE

STUDENT = "submission"  # the one student's folder name in the engine's reports


@dataclass(frozen=True)
class Layout:
    """Gradescope's paths under `root`."""

    root: Path

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def metadata(self) -> Path:
        return self.root / "submission_metadata.json"

    @property
    def results(self) -> Path:
        return self.root / "results" / RESULTS_FILE

    @property
    def source(self) -> Path:
        return self.root / "source"

    def hidden(self) -> list[Path]:
        """What the workers must not see: the whole root, and by name what matters most in it."""
        return [self.root, self.results.parent, self.source, self.metadata, self.submission]


def protect(layout: Layout, course: config.Course) -> list[Path]:
    """Close to everyone but root what the workers must not read or write, for when the
    container refuses the namespaces that hide it (docs/security.md, "Fallback"): the
    bundle, the results folder, the metadata, the course's checks, course.toml and the
    MNIST cache with its test labels. Only paths inside the root or the kit's own folder are
    touched; nothing is done unless this runs as root (the workers then have uids of their
    own). Returns what it closed."""
    if os.getuid() != 0:
        return []
    layout.results.parent.mkdir(parents=True, exist_ok=True)
    candidates = [layout.source, layout.results.parent, layout.metadata, layout.submission, course.path,
                  *course.lab_dirs("checks"), course.mnist_cache, config.KIT_ROOT / "mnist"]
    mine = [layout.root.resolve(), config.KIT_ROOT.resolve()]
    closed = []
    for path in candidates:
        if path.exists() and any(path.resolve().is_relative_to(m) for m in mine):
            path.chmod(0o700 if path.is_dir() else 0o600)
            closed.append(path)
    return closed


def _special_files(folder: str, names: list[str]) -> list[str]:
    """Names copytree must leave alone: neither a folder, a regular file nor a link (a FIFO
    would block the copy)."""
    return [n for n in names if not (os.path.islink(p := os.path.join(folder, n)) or os.path.isdir(p)
                                     or os.path.isfile(p))]


def stage(submission: Path, dest: Path, labs: list[str], course: config.Course) -> Path:
    """The submission laid out as intake expects a student's folder: for one lab, everything
    inside the lab's folder (so a lone notebook or .py is that lab's) unless it holds that
    folder already; for several, as uploaded, with each loose file named after a lab or its
    module (lab09_3_dropout.ipynb, dropout.ipynb, a zip) moved into that lab's folder. Links
    are copied as links (intake ignores them). Returns the student folder."""
    student = dest / "student"
    if not submission.is_dir():  # nothing uploaded: every lab is missing
        student.mkdir(parents=True)
        return student
    if len(labs) == 1 and not (submission / labs[0]).is_dir():
        shutil.copytree(submission, student / labs[0], symlinks=True, ignore=_special_files)
        return student
    shutil.copytree(submission, student, symlinks=True, ignore=_special_files)
    for entry in sorted(student.iterdir()):
        if not entry.is_file() or entry.is_symlink():
            continue
        owners = [lab for lab in labs if lab in entry.name or entry.stem == course.lab(lab).module]
        if len(owners) == 1:
            (student / owners[0]).mkdir(exist_ok=True)
            entry.rename(student / owners[0] / entry.name)
    return student


def _output(results: dict, records: dict[str, dict]) -> str:
    """The top-level output students see, markdown: the reports' summary (the public checks,
    labs not graded, the late penalty), then what intake noted about each lab (file names are
    the student's: escaped, escape.markdown)."""
    lines = [f"- {escape.markdown(f'{lab}: {note}')}" for lab, record in records.items()
             for note in record.get("notes", [])]
    text = "\n".join(["**Notes on your submission**", *lines] if lines else [])
    return "\n\n".join(t for t in (results.get("output", ""), text) if t)


def grade_submission(course: config.Course, root: Path, labs: list[str], *, workers: int,
                     device: str = "cpu", log=print) -> dict:
    """Grade `root`/submission for `labs`, write `root`/results/results.json (Gradescope's
    format, schema results.schema.json) and return what was written. The top-level score
    is the final one, late penalty deducted (course/late.py)."""
    started = time.monotonic()
    layout = Layout(root)
    for path in protect(layout, course):
        log(f"closed to the workers: {path}")
    submitted, why = read_submitted(layout.metadata)
    if why:
        log(why)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        out = Path(tmp) / "out"

        def prepare(student: str, wanted: list[str], dest: Path) -> dict[str, LabIntake]:
            with tempfile.TemporaryDirectory(prefix="staged-") as staging:
                folder = stage(layout.submission, Path(staging), wanted, course)
                return grading.intake_labs(folder, course, dest, wanted, lambda lab: submitted)

        grading.grade_students(course, {STUDENT: labs}, prepare, out, workers=workers, device=device,
                               progress=False, hide=layout.hidden())
        results = read_results(out / STUDENT / RESULTS_FILE)
    if results is None:
        raise RuntimeError("the engine wrote no results for the submission")
    records = results["extra_data"]["labs"]
    output = _output(results, records)
    if output:
        results.update(output=output, output_format="md")
    results["execution_time"] = round(time.monotonic() - started, 1)
    write_atomic(layout.results, json.dumps(results, indent=2) + "\n")
    for lab, record in records.items():
        confinement = record.get("sandbox") or {}
        log(f"{lab}: {record['status']}; workers confined: network={confinement.get('network')} "
            f"files={confinement.get('files')} pid_namespace={confinement.get('pid_namespace')} "
            f"{'; '.join(confinement.get('notes') or [])}")
    log(f"score {results['score']:g}, written to {layout.results} in {results['execution_time']:g} s")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="run_autograder", description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's root (default /autograder)")
    args = p.parse_args(argv)
    course = config.load_course()
    bundle = json.loads((config.KIT_ROOT / BUNDLE_FILE).read_text())
    workers = auto_workers() if bundle.get("workers", "auto") == "auto" else int(bundle["workers"])
    grade_submission(course, args.root.resolve(), bundle["labs"], workers=workers,
                     device=course.device)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
