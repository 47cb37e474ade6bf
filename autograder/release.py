"""`autograder release OUT`: the student bundle.

What goes in: the stubs and lab READMEs, the self-check (the grading engine with the
public checks only) and a course.toml that lists only public checks. What stays out:
solutions, hidden checks (their functions are removed from the check modules), hidden
thresholds and the instructor commands.
"""
from __future__ import annotations

import ast
import shutil
import tomllib
from pathlib import Path

from autograder import config

# The modules the self-check needs; grading a class, releasing and calibrating stay home.
BUNDLE_MODULES = [
    "__init__.py", "__main__.py", "cli.py", "config.py", "mnist.py", "plugin.py", "runner.py",
    "seeding.py", "selfcheck.py", "student.py", "traps.py",
]

STUDENT_README = """# {name}: your lab bundle

Each folder `lab*/` holds one lab: a README with the task and a module to complete.
Replace every `raise NotImplementedError(...)` with your code; keep the names and signatures.

Set up once (Python 3.11):

    python3 -m venv .venv && .venv/bin/pip install -e .
    .venv/bin/autograder data            # downloads MNIST (or: --from DIR with the idx files)

Check yourself before you submit, from this folder:

    .venv/bin/autograder check lab08_1_perceptron

The self-check runs the public checks; more checks are graded after you submit.
"""


def strip_hidden_checks(source: str, hidden: set[str]) -> str:
    """The check module without the test functions of hidden checks."""
    tree = ast.parse(source)
    tree.body = [node for node in tree.body
                 if not (isinstance(node, ast.FunctionDef) and node.name.removeprefix("test_") in hidden)]
    return ast.unparse(tree) + "\n"


def public_course_toml(course: config.Course) -> str:
    """course.toml with the public checks only (their points and parameters)."""
    lines = [f'# Public part of the course settings for the self-check.\n[course]\nname = "{course.name}"',
             f'device = "auto"\nseed = {course.seed}\n']
    for lab in course.labs.values():
        lines.append(f'[labs.{lab.id}]\ntitle = "{lab.title}"\nmodule = "{lab.module}"\n')
        for check in lab.checks:
            if not check.public:
                continue
            lines.append(f"[labs.{lab.id}.checks.{check.id}]")
            lines.append(f"points = {check.points:g}\npublic = true\ntimeout_s = {check.timeout_s:g}")
            for key, value in check.params.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
    text = "\n".join(lines)
    tomllib.loads(text)  # what we write must read back
    return text


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def build_bundle(course: config.Course, out: Path, root: Path = config.KIT_ROOT) -> Path:
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder for the bundle")
    out.mkdir(parents=True, exist_ok=True)
    for lab in course.labs.values():
        shutil.copytree(root / "assignments" / lab.id, out / lab.id,
                        ignore=shutil.ignore_patterns("__pycache__"))
    pkg = out / "autograder"
    (pkg / "checks").mkdir(parents=True)
    for name in BUNDLE_MODULES:
        shutil.copyfile(config.PACKAGE_DIR / name, pkg / name)
    for name in ["__init__.py", "common.py", "pytest.ini"]:
        shutil.copyfile(config.CHECKS_DIR / name, pkg / "checks" / name)
    for lab in course.labs.values():
        hidden = {c.id for c in lab.checks if not c.public}
        source = (config.CHECKS_DIR / f"{lab.id}.py").read_text()
        (pkg / "checks" / f"{lab.id}.py").write_text(strip_hidden_checks(source, hidden))
    (out / "course.toml").write_text(public_course_toml(course))
    (out / "README.md").write_text(STUDENT_README.format(name=course.name))
    pyproject = (root / "pyproject.toml").read_text()
    (out / "pyproject.toml").write_text(pyproject)
    return out
