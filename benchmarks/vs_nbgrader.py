"""The kit's grader against `nbgrader autograde` on the same collected class of notebooks.

Builds an nbgrader course in a temporary folder the way docs/nbgrader.md says
(`autograder nbgrader COURSE_DIR`, then `nbgrader generate_assignment LAB` per lab), and a
class of --students complete submissions: for each student and lab, the released notebook
with every solution cell filled from the source notebook (the reference solution), and a
function nothing calls added to its last one so that no two students hand in the same code
(the kit grades identical code once), put in `submitted/<student>/<lab>/<lab>.ipynb` with a
timestamp.txt, as `nbgrader collect` leaves it. The course folder is then copied, so each grader starts from the same untouched state:

  nbgrader: `nbgrader autograde LAB`, one command per lab (nbgrader takes one assignment
            per command), the times summed;
  kit:      `autograder grade COURSE_DIR --nbgrader --assignment LABS --out OUT --workers W`,
            one command (W: --workers, default auto, the kit's default; nbgrader autograde
            has no such option: it runs one notebook after another).

Each side is timed once, wall clock of the commands (start-up included). Jupyter's and
IPython's folders and HOME are temporary for every subprocess; MNIST comes from the kit's
cache ($MNIST_CACHE or course.toml), the device from --device (the notebooks' checks get it
through AUTOGRADER_DEVICE).

Read the output: the ratio nbgrader/kit > 1 means nbgrader autograde took that many times
longer for the same class. The scores line compares, per student and lab, the kit's
grades.csv with nbgrader's gradebook (`nbgrader export`): IDENTICAL, or each difference.
All numbers come from this one invocation.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import _common

COURSE_ID = "bench"
TIMESTAMP = "2026-11-26 12:00:00.000000 UTC"  # nbgrader's own format (Exchange.timestamp_format)


def make_env(base: Path, device: str) -> dict:
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "HOME"):
        (base / var.lower()).mkdir()
        env[var] = str(base / var.lower())
    env["PATH"] = f"{_common.VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls alembic from PATH
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_common.ROOT), env.get("PYTHONPATH")) if p)
    env["MNIST_CACHE"] = str(_common.course().mnist_cache)  # resolved before HOME moves
    env["AUTOGRADER_DEVICE"] = device  # what the notebooks' check() uses under nbgrader
    env.pop("JPY_SESSION_NAME", None)
    return env


def run(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def grade_ids(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def build_course(course_dir: Path, base: Path, env: dict, labs: list[str], students: list[str]) -> None:
    run([str(_common.VENV_BIN / "autograder"), "nbgrader", str(course_dir), "--course-id", COURSE_ID,
         "--exchange", str(base / "exchange"), "--labs", ",".join(labs)], base, env)
    for lab in labs:
        run([str(_common.VENV_BIN / "nbgrader"), "generate_assignment", lab], course_dir, env)
        source = grade_ids(json.loads((course_dir / "source" / lab / f"{lab}.ipynb").read_text()))
        released = json.loads((course_dir / "release" / lab / f"{lab}.ipynb").read_text())
        # A complete submission: the student's copy with every solution cell's answer filled in.
        for grade_id, cell in grade_ids(released).items():
            if cell["metadata"]["nbgrader"].get("solution"):
                cell["source"] = source[grade_id]["source"]
        last = [c for c in grade_ids(released).values() if c["metadata"]["nbgrader"].get("solution")][-1]
        answer = "".join(last["source"])
        for i, student in enumerate(students, 1):
            # Each submission different (the kit grades identical code once): a function nothing calls.
            last["source"] = answer + _common.UNIQUE.format(tag=i)
            folder = course_dir / "submitted" / student / lab
            folder.mkdir(parents=True)
            (folder / f"{lab}.ipynb").write_text(json.dumps(released, indent=1))
            (folder / "timestamp.txt").write_text(TIMESTAMP)


def read_scores(path: Path, student_col: str, lab_col: str) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, lab) -> (score, max_score)."""
    with open(path, newline="") as f:
        return {(r[student_col], r[lab_col]): (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)}


def main() -> None:
    p = _common.class_parser(__doc__, 20, "complete submissions")
    p.add_argument("--skip-nbgrader", action="store_true", help="time the kit only")
    p.add_argument("--workers", default="auto", help="the kit's --workers (default auto, its own default)")
    args = p.parse_args()
    device = _common.resolve_device(args.device)
    labs = args.labs.split(",") if args.labs else list(_common.course().labs)
    students = [f"student{i:02d}" for i in range(1, args.students + 1)]
    print(_common.describe_machine(device))
    print(f"class: {len(students)} complete submissions (reference answers in the released notebooks), "
          f"labs {','.join(labs)}; each side timed once; the kit with --workers {args.workers}\n", flush=True)

    with _common.scratch("bench-nbgrader-", args.keep) as base:
        env = make_env(base, device)
        build_course(base / "course-nbgrader", base, env, labs, students)
        shutil.copytree(base / "course-nbgrader", base / "course-kit")  # the same class, untouched, for the kit

        kit_s = run([str(_common.VENV_BIN / "autograder"), "grade", str(base / "course-kit"), "--nbgrader",
                     "--assignment", ",".join(labs), "--out", str(base / "kit-out"), "--workers", args.workers,
                     "--device", device, "--no-progress"], base, env)
        kit = read_scores(base / "kit-out" / "grades.csv", "student", "lab")
        print(f"kit  autograder grade --nbgrader: {kit_s:7.1f} s  ({kit_s / len(students):.2f} s/student)")
        # The reference should score full marks: identical zeros would prove nothing.
        counts = Counter((lab, kit[(s, lab)]) for s in students for lab in labs if (s, lab) in kit)
        print("kit scores (lab score/max x students): "
              + "; ".join(f"{lab} {sc:g}/{mx:g} x{n}" for (lab, (sc, mx)), n in sorted(counts.items())))
        if args.skip_nbgrader:
            print("--skip-nbgrader: nothing to compare")
            return

        nbg_s = sum(run([str(_common.VENV_BIN / "nbgrader"), "autograde", lab], base / "course-nbgrader", env)
                    for lab in labs)
        print(f"nbgrader autograde (per lab)    : {nbg_s:7.1f} s  ({nbg_s / len(students):.2f} s/student)")
        run([str(_common.VENV_BIN / "nbgrader"), "export", "--to", str(base / "nbgrader.csv")],
            base / "course-nbgrader", env)
        nbg = {k: v for k, v in read_scores(base / "nbgrader.csv", "student_id", "assignment").items()
               if k[0] in students and k[1] in labs}

        diffs = [f"  {s} {lab}: kit {kit.get((s, lab))} nbgrader {nbg.get((s, lab))}"
                 for s in students for lab in labs if kit.get((s, lab)) != nbg.get((s, lab))]
        print(f"scores ({len(students)} students x {len(labs)} labs): "
              + ("IDENTICAL" if not diffs else "DIFFERENT\n" + "\n".join(diffs)))
        print(f"ratio nbgrader/kit: {nbg_s / kit_s:.2f}x")



if __name__ == "__main__":
    main()
