"""The `autograder` command (also `python -P -m autograder`).

What it prints may quote students (folder names in grades.csv, paths in error messages):
all of it goes through escape.terminal, so no escape sequence of theirs reaches the terminal.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.course import config
from autograder.reports import escape
from autograder.reports.model import counted


def say(text: str, file=None, end: str = "\n") -> None:
    """print(), with control characters and escape sequences removed (escape.terminal)."""
    print(escape.terminal(text), file=file or sys.stdout, end=end)


# Instructor commands need modules that the student bundle leaves out.
INSTRUCTOR_MODULES = {"grade": "engine/grading.py", "release": "authoring/release.py", "stubs": "authoring/stubs.py",
                      "calibrate": "authoring/calibrate.py", "nbgrader": "integrations/nbgrader/course_dir.py",
                      "gradescope": "integrations/gradescope/bundle.py", "export": "integrations/canvas.py"}


def _available(command: str) -> bool:
    module = INSTRUCTOR_MODULES.get(command)
    return module is None or (config.PACKAGE_DIR / module).is_file()


def _workers(text: str) -> int:
    """--workers: 'auto' (one per CPU core) or a positive number."""
    if text == "auto":
        from autograder.engine.executors import auto_workers

        return auto_workers()
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', found {text!r}")
    return n


def _runs_at_once(text: str) -> int | None:
    """--workers of `experiments`: 'auto' (None: one per CPU core, decided where it runs) or a number."""
    return None if text == "auto" else _workers(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograder", description=__doc__)
    p.add_argument("--course", type=Path, default=None, help="course.toml to use (default: the kit's)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="self-check one lab with the public checks")
    c.add_argument("lab", help="lab id, e.g. lab09_3_dropout")
    c.add_argument("path", nargs="?", type=Path, default=Path("."), help="the lab folder or its parent")
    c.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto")
    c.add_argument("--html", type=Path, default=None, metavar="PATH",
                   help="also write the results as a web page with plots (the same page as feedback.html)")

    x = sub.add_parser("experiments", help="reproduce the lecture's claims on the reference or on your code, "
                                           "with a report (docs/experiments.md)")
    x.add_argument("lab", nargs="?", default="all", help="a lab id, or all (default): the experiments that run its code")
    x.add_argument("--submission", type=Path, default=None, metavar="PATH",
                   help="your work, found as grading finds it: the folder holding your lab folders, a lab folder, "
                        "a zip, or one notebook or .py file for one LAB (default: the course's reference solutions)")
    x.add_argument("--quick", action="store_true",
                   help="a small budget (about 2 minutes on 2 CPU cores for all six); default: the lecture's budget")
    x.add_argument("--out", type=Path, required=True, help="where report.html, report.md and the data files go")
    x.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: course.toml)")
    x.add_argument("--workers", default="auto", type=_runs_at_once,
                   help="training runs at once: a number, or 'auto' (default: one per CPU core, within a container's CPU quota)")
    x.add_argument("--seeds", type=int, default=None, help="how many seeds, from 777 (default: 3, or 2 with --quick)")
    x.add_argument("--no-progress", action="store_true", help="no progress bar")

    d = sub.add_parser("data", help="prepare MNIST: import idx files or download, verify, cache")
    d.add_argument("--from", dest="source", type=Path, default=None,
                   help="folder with the four idx files, plain or .gz (default: $MNIST_DIR; else download)")
    d.add_argument("--cache", type=Path, default=None, help="cache folder (default: course.toml / $MNIST_CACHE)")
    d.add_argument("--force", action="store_true", help="prepare again even if the cache exists")

    if _available("grade"):
        g = sub.add_parser("grade", help="grade a class folder")
        g.add_argument("submissions", type=Path, help="folder with one folder per student")
        g.add_argument("--out", type=Path, required=True,
                       help="where results.json, feedback.md, feedback.html, grades.csv and report.html go")
        g.add_argument("--labs", default=None, help="comma-separated lab ids (default: all)")
        g.add_argument("--workers", default=None, type=_workers,
                       help="labs graded at once: a number, or 'auto' (default: one per CPU core, within a container's CPU quota); with "
                            "--executor ray, submissions kept ready (default: the labs the cluster holds)")
        g.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: course.toml)")
        g.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="where labs are graded: this machine (default), or a Ray cluster (needs the "
                            "[ray] extra; docs/scale.md)")
        g.add_argument("--address", default=None,
                       help="with --executor ray: the cluster, 'auto' (default: one started on this machine, "
                            "or $RAY_ADDRESS) or HOST:PORT of its head")
        g.add_argument("--no-progress", action="store_true", help="no progress bar")
        g.add_argument("--nbgrader", action="store_true",
                       help="SUBMISSIONS is an nbgrader course directory: grade its submitted/<student>/<lab>/ "
                            "and write the scores into its gradebook (found on its own when the folder "
                            "holds nbgrader_config.py and submitted/)")
        g.add_argument("--assignment", default=None,
                       help="with --nbgrader: comma-separated assignments (lab ids); default: all submitted")
        g.add_argument("--submitted-at", type=Path, default=None, metavar="TIMES.csv",
                       help="a CSV student,lab,time of when each lab was handed in, for course.toml's [late] "
                            "penalties (docs/late.md); an empty lab means every lab of the student. With --nbgrader, "
                            "nbgrader's timestamp.txt gives the times")
    if _available("release"):
        r = sub.add_parser("release", help="write the student bundle")
        r.add_argument("out", type=Path)
    if _available("stubs"):
        s = sub.add_parser("stubs", help="regenerate assignments/ from solutions/")
        s.add_argument("--check", action="store_true", help="only report stale stubs; exit 1 if any")
    if _available("nbgrader"):
        n = sub.add_parser("nbgrader", help="create or update an nbgrader course directory from the kit")
        n.add_argument("course_dir", type=Path)
        n.add_argument("--course-id", default=None, help="nbgrader course id (default: kept, else from the course name)")
        n.add_argument("--exchange", default=None,
                       help="nbgrader exchange root (default: kept, else /srv/nbgrader/exchange)")
        n.add_argument("--labs", default=None, help="comma-separated lab ids (default: all)")
    if _available("gradescope"):
        gs = sub.add_parser("gradescope", help="write a Gradescope autograder bundle (docs/gradescope.md)")
        gs.add_argument("out", type=Path, help="the zip to write, e.g. dnn-autograder.zip")
        gs.add_argument("--labs", default=None,
                        help="comma-separated lab ids this assignment grades (default: all, one assignment for the unit)")
        gs.add_argument("--mnist", type=Path, default=None, metavar="DIR",
                        help="put the four MNIST idx files of DIR in the bundle (default: setup.sh downloads them)")
        gs.add_argument("--workers", default="auto",
                        help="labs graded at once on Gradescope (default auto: one per CPU of the container)")
    if _available("export"):
        e = sub.add_parser("export", help="grades in an LMS's import format (docs/lms-export.md)")
        e.add_argument("lms", choices=["canvas"], help="the LMS: canvas (its gradebook import CSV)")
        e.add_argument("results", type=Path, help="the --out folder of `autograder grade` (OUT/<student>/results.json)")
        e.add_argument("--roster", type=Path, required=True,
                       help="Canvas's gradebook export (Grades > Export), or a CSV with its columns Student, ID, "
                            "SIS Login ID and optionally SIS User ID, Section")
        e.add_argument("--out", type=Path, required=True, help="the CSV to write and import into Canvas")
        e.add_argument("--login-column", default="SIS Login ID",
                       help="the roster column that holds the kit's student names (default: SIS Login ID)")
        e.add_argument("--assignment", action="append", default=[], metavar="LAB=ID",
                       help="a lab's Canvas assignment id, when the roster has no column named after the lab's title "
                            "(repeat for each lab)")
    if _available("calibrate"):
        k = sub.add_parser("calibrate", help="measure the reference's MNIST accuracy over seeds")
        k.add_argument("--seeds", type=int, default=10)
        k.add_argument("--labs", default=None)
        k.add_argument("--device", default="cpu")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from autograder.course.mnist import MnistError

    executor_errors = ()  # the student bundle grades nothing
    if _available("grade"):
        from autograder.engine.executors import ExecutorError

        executor_errors = (ExecutorError,)

    try:
        course = config.load_course(args.course)
        return _run(args, course)
    except MnistError as e:
        say(f"autograder: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as e:
        say(f"autograder: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except executor_errors as e:
        say(f"autograder: {e}", file=sys.stderr)
        return 1


def _looks_like_nbgrader(folder: Path) -> bool:
    """An nbgrader course directory rather than a class folder."""
    return (folder / "nbgrader_config.py").is_file() and (folder / "submitted").is_dir()


def _print_grades(course: config.Course, out: Path, grades_csv: Path) -> None:
    """The end of `autograder grade`: the table per lab, then where the grades, the class
    report and, when students handed in identical code, shared_files.csv are."""
    from rich.console import Console

    from autograder.reports import class_report, files, results_json, shared_files, summary

    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough for the table, not the 80 columns of a guess
        console = Console(width=120)
    console.print(summary.terminal_table(summary.lab_summaries(course, files.read_class(out, results_json.FILE))))
    say(f"grades:       {grades_csv}")
    say(f"class report: {out / class_report.FILE}")
    if len((out / shared_files.FILE).read_text().splitlines()) > 1:
        say(f"shared code:  {out / shared_files.FILE}")


def _executor(args, course: config.Course):
    """The executor --executor asks for, as a context manager that closes it: a Ray cluster,
    or nothing (the class grader then grades on this machine's --workers)."""
    import contextlib

    from autograder.engine.executors import ExecutorError

    if args.executor == "local":
        if args.address:
            raise ValueError("--address is the Ray cluster of --executor ray; the local executor has none")
        return contextlib.nullcontext()
    try:
        from autograder.integrations.ray.executor import RayExecutor
    except ImportError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise ExecutorError("--executor ray needs Ray, which is not installed here: pip install "
                            "'dnn-grading-kit[ray]' (Ray 2.60.0), here and on every node of the cluster") from None
    return RayExecutor(course, address=args.address or "auto", device=args.device or course.device,
                       workers=args.workers)


def _grade(args, course: config.Course, executor) -> int:
    """`autograder grade`: a class folder, or an nbgrader course directory."""
    from autograder.engine.executors import auto_workers

    workers = args.workers or auto_workers()
    if args.nbgrader or _looks_like_nbgrader(args.submissions):
        from autograder.integrations.nbgrader.gradebook import grade_nbgrader
        assignments = args.assignment.split(",") if args.assignment else (args.labs.split(",") if args.labs else None)
        summary = grade_nbgrader(course, args.submissions, args.out, assignments=assignments, workers=workers,
                                 device=args.device, progress=not args.no_progress, executor=executor)
        say(f"{counted(summary.students, 'student')}: {summary.graded} labs graded, {summary.reused} unchanged "
            f"and kept; scores written to {summary.gradebook}")
        if summary.skipped:
            say(f"skipped (not in the gradebook, or not a lab of the course): {', '.join(summary.skipped)}")
        _print_grades(course, args.out, summary.grades_csv)
        return 0

    from autograder.engine.grading import find_students, grade_class
    from autograder.intake.submission_times import read_times
    labs = args.labs.split(",") if args.labs else None
    times = read_times(args.submitted_at, course) if args.submitted_at else None
    if times:
        strangers = sorted({s for s, _ in times} - {p.name for p in find_students(args.submissions)})
        if strangers:
            say(f"{args.submitted_at}: times for students not in {args.submissions}, unused: "
                f"{', '.join(s for s in strangers)}", file=sys.stderr)
    summary = grade_class(course, args.submissions, args.out, labs=labs, workers=workers, device=args.device,
                          progress=not args.no_progress, submitted_at=times, executor=executor)
    shared = f" ({summary.shared} identical to another student's and graded once)" if summary.shared else ""
    say(f"{counted(summary.students, 'student')}: {summary.graded} labs graded{shared}, {summary.reused} unchanged and kept")
    _print_grades(course, args.out, summary.grades_csv)
    return 0


def _run(args, course: config.Course) -> int:
    if args.command == "check":
        from autograder.engine.selfcheck import self_check

        return 0 if self_check(course, args.lab, args.path, device=args.device, html=args.html) else 1

    if args.command == "experiments":
        from autograder.experiments.report import HTML, MARKDOWN
        from autograder.experiments.reproduce import reproduce

        data = reproduce(course, args.lab, args.out, submission=args.submission, quick=args.quick, device=args.device,
                         workers=args.workers, seeds=args.seeds, progress=not args.no_progress)
        for s in data["sections"]:
            verdicts = [f["verdict"] for f in s["findings"]]
            counts = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts)) or "not run"
            say(f"{s['number']}. {s['title']}: {counts}")
        say(f"{data['run']['seconds']:.0f} s; report: {args.out / HTML} (and {MARKDOWN}, with the data files)")
        return 0

    if args.command == "data":
        from autograder.course import mnist

        cache = args.cache or course.mnist_cache
        if (cache / mnist.CACHE_FILE).is_file() and not args.force:
            say(f"MNIST is already prepared in {cache / mnist.CACHE_FILE} (--force prepares it again)")
            return 0
        source = args.source or (Path(os.environ["MNIST_DIR"]) if os.environ.get("MNIST_DIR") else None)
        path = mnist.prepare(cache, source=source, download=source is None)
        say(f"MNIST verified and cached in {path}")
        return 0

    if args.command == "grade":
        with _executor(args, course) as executor:
            return _grade(args, course, executor)

    if args.command == "release":
        from autograder.authoring.release import build_bundle

        out = build_bundle(course, args.out)
        say(f"student bundle written to {out}")
        return 0

    if args.command == "stubs":
        from autograder.authoring import stubs

        if args.check:
            stale = stubs.stale_stubs(course)
            for path, diff in stale.items():
                say(diff)
            say(f"{len(stale)} stale stub(s)" if stale else "assignments/ is up to date")
            return 1 if stale else 0
        changed = stubs.write_stubs(course)
        say("\n".join(f"wrote {p}" for p in changed) or "assignments/ is up to date")
        return 0

    if args.command == "nbgrader":
        from autograder.integrations.nbgrader.course_dir import write_course

        labs = args.labs.split(",") if args.labs else None
        written = write_course(course, args.course_dir, course_id=args.course_id, exchange=args.exchange, labs=labs)
        say("\n".join(f"wrote {p}" for p in written) or f"{args.course_dir} is up to date")
        say(f"next: cd {args.course_dir} && nbgrader generate_assignment LAB (see docs/nbgrader.md)")
        return 0

    if args.command == "gradescope":
        from autograder.integrations.gradescope.bundle import build_bundle

        labs = args.labs.split(",") if args.labs else list(course.labs)
        path = build_bundle(course, args.out, labs=labs, mnist_dir=args.mnist, workers=args.workers)
        points = sum(course.lab(lab).max_points for lab in labs)
        say(f"Gradescope autograder bundle written to {path} ({path.stat().st_size / 1e6:.1f} MB): "
              f"{', '.join(labs)}, {points:g} points. Upload it under Configure Autograder "
              f"(base image Ubuntu 22.04) and set the assignment's points to {points:g} (docs/gradescope.md).")
        return 0

    if args.command == "export":
        from autograder.integrations.canvas import export_canvas

        ids = {}
        for item in args.assignment:
            lab, sep, number = item.partition("=")
            if not sep:
                raise ValueError(f"--assignment {item}: expected LAB=ID, e.g. lab08_1_perceptron=10101")
            ids[lab.strip()] = number.strip()
        done = export_canvas(course, args.results, args.roster, args.out, login=args.login_column, assignment_ids=ids)
        say(f"{len(done.matched)} students written to {done.path}")
        for title in done.new_assignments:
            say(f"column {title!r}: no assignment of that name in the roster; Canvas will offer to create it "
                  f"(or give its id: --assignment LAB=ID)")
        if done.not_graded:
            say(f"on the roster but not graded ({len(done.not_graded)}; their cells are blank, Canvas keeps their "
                  f"grades): {'; '.join(escape.terminal(s) for s in done.not_graded)}", file=sys.stderr)
        if done.not_on_roster:
            say(f"graded but not on the roster ({len(done.not_on_roster)}; not in {done.path}): "
                  f"{'; '.join(escape.terminal(s) for s in done.not_on_roster)}", file=sys.stderr)
        return 0

    if args.command == "calibrate":
        from autograder.authoring.calibrate import calibrate

        labs = args.labs.split(",") if args.labs else None
        say(calibrate(course, seeds=args.seeds, labs=labs, device=args.device))
        return 0
    raise AssertionError(args.command)
